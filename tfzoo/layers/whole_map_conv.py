"""`WholeMapConv2D`: a convolution that runs as one matrix product when its window covers the whole input.

A stride-1 "valid" convolution whose kernel is as large as its input map has
exactly one output position, where it is a fully connected layer: the kernel,
read as a ``(kh * kw * cin, filters)`` matrix, times the flattened input.
This happens in three places of the zoo: squeeze-excite's two 1x1 convs on the
globally pooled 1x1 map, MobileNetV3's 1x1 ``conv_head`` after pooling, and
VGG's 7x7 ``pre_logits_fc1`` on the 7x7 map of a 224 px input (followed by the
1x1 ``pre_logits_fc2``). On CPU, TensorFlow's convolution kernels pay a large
fixed cost on these degenerate maps; the matrix product does not
(``scripts/bench_vs_keras.py --patch whole_map_conv`` measured VGG-16 1.16x and
MobileNetV3-Large about 1.4x faster, see BENCHMARKS.md).

Weights, names, initializers and outputs stay those of `keras.layers.Conv2D`
(same kernel shape, so checkpoints and the timm converter are unaffected);
any input the window does not cover exactly falls back to the convolution.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops


@keras.saving.register_keras_serializable(package="tfzoo")
class WholeMapConv2D(keras.layers.Conv2D):
    """`keras.layers.Conv2D` computed as a matrix product where its window covers the whole input map."""

    def _covers_whole_map(self, shape) -> bool:
        return (self.padding == "valid" and self.data_format == "channels_last" and self.groups == 1
                and tuple(self.strides) == (1, 1) and tuple(self.dilation_rate) == (1, 1)
                and tuple(shape[1:3]) == tuple(self.kernel_size))

    def call(self, inputs):
        if not self._covers_whole_map(inputs.shape):
            return super().call(inputs)
        flat = ops.reshape(inputs, (-1, int(np.prod(inputs.shape[1:]))))
        outputs = ops.matmul(flat, ops.reshape(self.kernel, (-1, self.filters)))
        if self.use_bias:
            outputs = outputs + self.bias
        outputs = ops.reshape(outputs, (-1, 1, 1, self.filters))
        return self.activation(outputs) if self.activation is not None else outputs
