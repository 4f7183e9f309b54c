"""Small layers of normalizer-free networks (NF-ResNets, NFNets).

"Characterizing signal propagation to close the performance gap in
unnormalized ResNets" (Brock et al. 2021, arXiv 2101.08692) and
"High-Performance Large-Scale Image Recognition Without Normalization"
(Brock et al. 2021, arXiv 2102.06171):

- `ScaledActivation`: ``scale * act(x)``. The activation gamma (the constant
  that restores unit variance after the nonlinearity, e.g. 1.7015 for GELU)
  and the block's ``beta = 1 / expected_std`` fold into one constant.
- `ScaleByConstant`: ``scale * x`` (the SE output gain of 2).
- `NFResidual`: ``shortcut + alpha * skip_gain * branch``, with the learnable
  scalar ``skipinit_gain`` (initialised to 0, so every block starts as the
  identity) when `skipinit` is set, as DeepMind's NFNets (timm ``skipinit``).

`NF_GAMMAS` holds the DeepMind reference's gamma constants.
"""

from __future__ import annotations

import keras
from keras import ops

from tfzoo.layers.activations import keras_activation_name

# E[act(x)^2]^(-1/2) for x ~ N(0, 1), from deepmind-research/nfnets (base.nonlinearities).
NF_GAMMAS = {
    "identity": 1.0,
    "relu": 1.7139588594436646,
    "gelu": 1.7015043497085571,
    "silu": 1.7881293296813965,
    "swish": 1.7881293296813965,
    "tanh": 1.5939117670059204,
    "sigmoid": 4.803835391998291,
}


@keras.saving.register_keras_serializable(package="tfzoo")
class ScaledActivation(keras.layers.Layer):
    """``scale * activation(x)``.

    Args:
        activation: timm-style activation name (``relu``, ``gelu``, ``silu`` ...).
        scale: Constant factor applied after the activation.
    """

    def __init__(self, activation: str = "relu", scale: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.activation = activation
        self.scale = float(scale)
        self._fn = keras.activations.get(keras_activation_name(activation))

    def call(self, inputs):
        outputs = self._fn(inputs)
        return outputs if self.scale == 1.0 else outputs * ops.cast(self.scale, outputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"activation": self.activation, "scale": self.scale})
        return config


@keras.saving.register_keras_serializable(package="tfzoo")
class ScaleByConstant(keras.layers.Layer):
    """``scale * x`` for a fixed constant.

    Args:
        scale: The constant.
    """

    def __init__(self, scale: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.scale = float(scale)

    def call(self, inputs):
        return inputs * ops.cast(self.scale, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"scale": self.scale})
        return config


@keras.saving.register_keras_serializable(package="tfzoo")
class NFResidual(keras.layers.Layer):
    """``shortcut + alpha * skipinit_gain * branch``, called on ``[branch, shortcut]``.

    Args:
        alpha: Residual scale (0.2 in NF-ResNets and NFNets).
        skipinit: Learn a scalar ``skipinit_gain`` on the branch, initialised to `skipinit_init`.
        skipinit_init: Initial value of ``skipinit_gain`` (0: each block starts as the identity).
    """

    def __init__(self, alpha: float = 0.2, skipinit: bool = False, skipinit_init: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.alpha = float(alpha)
        self.skipinit = bool(skipinit)
        self.skipinit_init = float(skipinit_init)

    def build(self, input_shape):
        if self.skipinit:
            self.skipinit_gain = self.add_weight(
                name="skipinit_gain", shape=(), initializer=keras.initializers.Constant(self.skipinit_init))
        self.built = True

    def call(self, inputs):
        branch, shortcut = inputs
        if self.skipinit:
            branch = branch * ops.cast(self.skipinit_gain, branch.dtype)
        return shortcut + branch * ops.cast(self.alpha, branch.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape[1]

    def get_config(self):
        config = super().get_config()
        config.update({"alpha": self.alpha, "skipinit": self.skipinit, "skipinit_init": self.skipinit_init})
        return config
