"""Convolutions with standardized weights.

- `WSConv2D`: Weight Standardization, from "Micro-Batch Training with
  Batch-Channel Normalization and Weight Standardization" (Qiao et al. 2019,
  arXiv 1903.10520). Every call standardizes each output channel's kernel over
  its fan-in: ``w_hat = (w - mean) / (std + eps)``. Paired with GroupNorm it
  is the micro-batch recipe (`tfzoo.layers.NormConfig` kind ``"gn_ws"``).
- `ScaledWSConv2D`: Scaled Weight Standardization, from "High-Performance
  Large-Scale Image Recognition Without Normalization" (NFNets, Brock et al.
  2021, arXiv 2102.06171), matching the DeepMind reference
  (deepmind-research/nfnets ``base.WSConv2D``):
  ``w_hat = gain * (w - mean) / sqrt(max(N * var, eps))`` with N the fan-in,
  eps 1e-4 and a learnable per-output-channel ``gain`` initialised to 1.

The fan-in axes of a Keras ``(kh, kw, in / groups, out)`` kernel are the first
three, so both layers work unchanged with ``groups``.

Difference from timm's ``ScaledStdConv2d``: timm runs ``F.batch_norm`` over
the flattened kernel with ``eps`` (1e-5 in its NF models) added to the
variance *before* the ``1 / sqrt(N)`` scale, i.e. it divides by
``sqrt(N * var + N * eps)``, while DeepMind divides by
``sqrt(max(N * var, 1e-4))``. For a kernel with ``N * var`` near 1 (the usual
``1 / fan_in`` initialisation) timm's denominator is larger by a relative
``N * eps / 2`` (0.6% at fan-in 1152). ``gamma`` is a constant factor for
timm's NF-ResNets, which fold the activation's gamma into every convolution.
`ScaledWSConv2D` computes timm's form when ``std_conv_eps`` is set (a config
option, so a saved model keeps it): models loaded from timm checkpoints use
it with timm's 1e-5 (`tfzoo.convert.pretrained`); DeepMind's form stays the
default for models trained here.
"""

from __future__ import annotations

import keras
from keras import ops

_FAN_IN_AXES = (0, 1, 2)


@keras.saving.register_keras_serializable(package="tfzoo")
class WSConv2D(keras.layers.Conv2D):
    """`keras.layers.Conv2D` whose kernel is weight-standardized on every call (Qiao et al. 2019).

    Args:
        *args: As `keras.layers.Conv2D`.
        eps: Added to the per-channel standard deviation.
        **kwargs: As `keras.layers.Conv2D`.
    """

    def __init__(self, *args, eps: float = 1e-5, **kwargs):
        super().__init__(*args, **kwargs)
        self.eps = float(eps)

    def standardized_kernel(self):
        """The kernel the convolution uses: ``(w - mean) / (std + eps)`` per output channel."""
        kernel = self.kernel
        mean = ops.mean(kernel, axis=_FAN_IN_AXES, keepdims=True)
        centered = kernel - mean
        std = ops.sqrt(ops.mean(ops.square(centered), axis=_FAN_IN_AXES, keepdims=True))
        return centered / (std + self.eps)

    def call(self, inputs):
        outputs = self.convolution_op(inputs, self.standardized_kernel())
        if self.use_bias:
            shape = (1, 1, 1, self.filters) if self.data_format == "channels_last" else (1, self.filters, 1, 1)
            outputs = ops.add(outputs, ops.reshape(self.bias, shape))
        if self.activation is not None:
            return self.activation(outputs)
        return outputs

    def get_config(self):
        config = super().get_config()
        config.update({"eps": self.eps})
        return config


@keras.saving.register_keras_serializable(package="tfzoo")
class ScaledWSConv2D(WSConv2D):
    """`keras.layers.Conv2D` with Scaled Weight Standardization and a learnable gain (NFNets).

    ``w_hat = gamma * gain * (w - mean) / sqrt(max(N * var, eps))``, N the
    fan-in, mean and (biased) variance over the fan-in axes; with
    ``std_conv_eps`` set, timm's ``ScaledStdConv2d`` form
    ``gamma * gain * (w - mean) / sqrt(N * (var + std_conv_eps))``.

    Args:
        *args: As `keras.layers.Conv2D`.
        eps: Lower bound of ``N * var`` (DeepMind: 1e-4); unused with ``std_conv_eps``.
        gain_init: Initial value of the per-output-channel gain.
        gamma: Constant factor (timm's NF-ResNets fold the activation gamma in here).
        std_conv_eps: None (DeepMind's form) or timm's epsilon, added to the
            variance inside the square root (timm's NF models: 1e-5).
        **kwargs: As `keras.layers.Conv2D` (bias on by default, as in the reference).
    """

    def __init__(self, *args, eps: float = 1e-4, gain_init: float = 1.0, gamma: float = 1.0,
                 std_conv_eps: float | None = None, **kwargs):
        kwargs.setdefault("use_bias", True)
        super().__init__(*args, eps=eps, **kwargs)
        self.gain_init = float(gain_init)
        self.gamma = float(gamma)
        self.std_conv_eps = None if std_conv_eps is None else float(std_conv_eps)

    def build(self, input_shape):
        super().build(input_shape)
        self.gain = self.add_weight(name="gain", shape=(self.filters,),
                                    initializer=keras.initializers.Constant(self.gain_init), trainable=True)

    def standardized_kernel(self):
        kernel = self.kernel
        fan_in = float(kernel.shape[0] * kernel.shape[1] * kernel.shape[2])
        mean = ops.mean(kernel, axis=_FAN_IN_AXES, keepdims=True)
        var = ops.var(kernel, axis=_FAN_IN_AXES, keepdims=True)
        if self.std_conv_eps is not None:  # timm
            scale = ops.rsqrt((var + self.std_conv_eps) * fan_in) * (self.gain * self.gamma)
        else:  # DeepMind
            scale = ops.rsqrt(ops.maximum(var * fan_in, self.eps)) * (self.gain * self.gamma)
        return (kernel - mean) * scale

    # Keras' Conv2D saves exactly [kernel, bias]; the gain goes after them (in .keras files and checkpoints).
    def save_own_variables(self, store):
        super().save_own_variables(store)
        if self.built:
            store[str(2 if self.use_bias else 1)] = self.gain

    def load_own_variables(self, store):
        super().load_own_variables(store)
        if self.built:
            self.gain.assign(store[str(2 if self.use_bias else 1)])

    def get_config(self):
        config = super().get_config()
        config.update({"gain_init": self.gain_init, "gamma": self.gamma})
        if self.std_conv_eps is not None:
            config["std_conv_eps"] = self.std_conv_eps
        return config
