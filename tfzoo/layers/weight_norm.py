"""Weight normalization as a Keras wrapper for `Conv2D` and `Dense`.

"Weight Normalization: A Simple Reparameterization to Accelerate Training of
Deep Neural Networks" (Salimans & Kingma 2016, arXiv 1602.07868): each output
unit's weight vector is ``w = g * v / ||v||``, with the direction ``v`` (the
wrapped layer's kernel) and the length ``g`` learned separately. ``g`` starts
at ``||v||`` (the paper's data-independent initialisation), so the wrapped
layer initially computes exactly what the unwrapped one would.

Like PyTorch's ``torch.nn.utils.weight_norm(dim=0)`` (and TF Addons'
``WeightNormalization`` without data-dependent init), the norm runs over every
kernel axis except the output one: ``(kh, kw, in)`` for a Conv2D kernel,
``in`` for a Dense kernel. The data-dependent initialisation of the paper
(first-batch statistics) is not implemented.
"""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="tfzoo")
class WeightNormalization(keras.layers.Wrapper):
    """Wraps a `keras.layers.Conv2D` or `keras.layers.Dense`: ``kernel = g * v / ||v||`` per output unit.

    Args:
        layer: The layer to wrap (a Conv2D, including subclasses, or a Dense).
        eps: Added to ``||v||`` to avoid dividing by zero.
        **kwargs: Layer keyword arguments (``name`` ...).
    """

    def __init__(self, layer, eps: float = 1e-12, **kwargs):
        if not isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense)):
            raise ValueError(f"WeightNormalization wraps Conv2D or Dense layers, got {type(layer).__name__}")
        super().__init__(layer, **kwargs)
        self.eps = float(eps)

    def build(self, input_shape):
        if not self.layer.built:
            self.layer.build(input_shape)
        kernel = self.layer.kernel
        self._axes = tuple(range(len(kernel.shape) - 1))
        axes = self._axes

        def norm_of_v(shape, dtype=None):
            return ops.cast(ops.sqrt(ops.sum(ops.square(kernel), axis=axes)), dtype or "float32")

        self.g = self.add_weight(name="g", shape=(kernel.shape[-1],), initializer=norm_of_v, trainable=True)
        self.built = True

    def normalized_kernel(self):
        """``g * v / ||v||``, the kernel the wrapped layer computes with."""
        v = self.layer.kernel
        norm = ops.sqrt(ops.sum(ops.square(v), axis=self._axes, keepdims=True))
        return v * (self.g / (norm + self.eps))

    def call(self, inputs):
        layer = self.layer
        kernel = self.normalized_kernel()
        if isinstance(layer, keras.layers.Conv2D):
            outputs = layer.convolution_op(inputs, kernel)
        else:
            outputs = ops.matmul(inputs, kernel)
        if layer.use_bias:
            outputs = outputs + layer.bias
        if layer.activation is not None:
            outputs = layer.activation(outputs)
        return outputs

    def compute_output_shape(self, input_shape):
        return self.layer.compute_output_shape(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update({"eps": self.eps})
        return config
