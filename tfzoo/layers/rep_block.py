"""The RepVGG block: a multi-branch training form that folds into one 3x3 convolution.

Paper: "RepVGG: Making VGG-style ConvNets Great Again", Ding et al. 2021,
arXiv 2101.03697. Reference: ``RepVGGBlock`` of the official repository
(DingXiaoH/RepVGG, ``repvgg.py``).

Training form (``deploy=False``), as in the reference::

    relu(BN(conv3x3(x)) + BN(conv1x1(x)) + BN(x))

with the identity branch only where the block keeps the width and the
resolution (``in == out`` and stride 1), groups on both convolutions and
BatchNorm epsilon 1e-5. Deploy form (``deploy=True``): ``relu(conv3x3(x) + b)``
with a single grouped 3x3 convolution with bias.

Sublayer names are the reference's module paths below the block
(``rbr_dense_conv`` is ``rbr_dense.conv``, ``rbr_identity``, ``rbr_reparam``),
so a weight's path reads like the reference's state-dict key
(``stage1_0/rbr_dense_conv/kernel`` for ``stage1.0.rbr_dense.conv.weight``).

Padding is PyTorch's: one pixel on every side for the 3x3 convolution, none
for the 1x1 one. With stride 2 the 1x1 branch must sample the same pixels as
the 3x3 kernel's centre, so it runs on the unpadded input.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from tfzoo.layers.conv import conv_init
from tfzoo.layers.reparam import Reparameterizable, fold_batch_norm


@keras.saving.register_keras_serializable(package="tfzoo")
class RepVGGBlock(Reparameterizable, keras.layers.Layer):
    """A RepVGG block (3x3 + 1x1 + identity branches, then ReLU), or its deploy form.

    Args:
        filters: Output channels.
        strides: Stride of both convolutions (1 or 2).
        groups: Groups of both convolutions.
        deploy: Build the deploy form (one 3x3 convolution with bias).
        bn_momentum: Keras BatchNorm momentum (0.9 is PyTorch's 0.1).
        bn_epsilon: BatchNorm epsilon.
    """

    def __init__(self, filters: int, strides: int = 1, groups: int = 1, deploy: bool = False,
                 bn_momentum: float = 0.9, bn_epsilon: float = 1e-5, **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.strides = int(strides)
        self.groups = int(groups)
        self.deploy = bool(deploy)
        self.bn_momentum = float(bn_momentum)
        self.bn_epsilon = float(bn_epsilon)
        # "same" is symmetric for a 3x3 kernel at stride 1; strided convs pad explicitly (see the module docstring).
        self._pad = self.strides > 1
        padding = "valid" if self._pad else "same"

        def conv(kernel_size, name, use_bias=False, pad=padding):
            return keras.layers.Conv2D(self.filters, kernel_size, strides=self.strides, padding=pad,
                                       groups=self.groups, use_bias=use_bias, kernel_initializer=conv_init(),
                                       dtype=self.dtype_policy, name=name)

        if self.deploy:
            self.rbr_reparam = conv(3, "rbr_reparam", use_bias=True)
        else:
            self.rbr_dense_conv = conv(3, "rbr_dense_conv")
            self.rbr_dense_bn = self._batch_norm("rbr_dense_bn")
            self.rbr_1x1_conv = conv(1, "rbr_1x1_conv", pad="valid")
            self.rbr_1x1_bn = self._batch_norm("rbr_1x1_bn")
        self.rbr_identity = None

    def _batch_norm(self, name):
        return keras.layers.BatchNormalization(momentum=self.bn_momentum, epsilon=self.bn_epsilon,
                                               dtype=self.dtype_policy, name=name)

    def has_identity(self, in_channels: int) -> bool:
        """Whether the training form has the identity (BN-only) branch for this input width."""
        return in_channels == self.filters and self.strides == 1

    def build(self, input_shape):
        in_channels = int(input_shape[-1])
        if in_channels % self.groups or self.filters % self.groups:
            raise ValueError(f"{self.name}: {in_channels} -> {self.filters} channels do not split into "
                             f"{self.groups} groups")
        padded = tuple(input_shape[:1]) + tuple(None if s is None else s + 2 for s in input_shape[1:3]) + (
            in_channels,)
        if self.deploy:
            self.rbr_reparam.build(padded if self._pad else input_shape)
        else:
            self.rbr_dense_conv.build(padded if self._pad else input_shape)
            out_shape = self.rbr_dense_conv.compute_output_shape(padded if self._pad else input_shape)
            self.rbr_dense_bn.build(out_shape)
            self.rbr_1x1_conv.build(input_shape)
            self.rbr_1x1_bn.build(out_shape)
            if self.has_identity(in_channels):
                self.rbr_identity = self._batch_norm("rbr_identity")
                self.rbr_identity.build(input_shape)
        self.in_channels = in_channels
        super().build(input_shape)

    def _pad_input(self, x):
        return ops.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]]) if self._pad else x

    def call(self, inputs, training=None):
        if self.deploy:
            return ops.relu(self.rbr_reparam(self._pad_input(inputs)))
        out = self.rbr_dense_bn(self.rbr_dense_conv(self._pad_input(inputs)), training=training)
        out = out + self.rbr_1x1_bn(self.rbr_1x1_conv(inputs), training=training)
        if self.rbr_identity is not None:
            out = out + self.rbr_identity(inputs, training=training)
        return ops.relu(out)

    def compute_output_shape(self, input_shape):
        def side(size):
            return None if size is None else (size - 1) // self.strides + 1

        return (input_shape[0], side(input_shape[1]), side(input_shape[2]), self.filters)

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, strides=self.strides, groups=self.groups, deploy=self.deploy,
                      bn_momentum=self.bn_momentum, bn_epsilon=self.bn_epsilon)
        return config

    # --- re-parameterization -------------------------------------------------------------------------------

    def deploy_config(self) -> dict:
        return {**self.get_config(), "deploy": True}

    def reparameterize(self) -> list:
        """The deploy form's weights ``[kernel (3, 3, in / groups, out), bias (out,)]``, in float64.

        Each branch becomes a 3x3 kernel and a bias: its BatchNorm is folded
        into its convolution, the 1x1 kernel is zero-padded to 3x3 around the
        centre tap, and the identity is the 3x3 kernel that copies input
        channel ``o`` to output ``o`` (inside its group: input index
        ``o % (in / groups)``). The deploy kernel and bias are the sums.
        """
        if self.deploy:
            return [np.asarray(ops.convert_to_numpy(w), np.float64) for w in self.rbr_reparam.weights]
        kernel, bias = fold_batch_norm(self.rbr_dense_conv.kernel, None, self.rbr_dense_bn)
        kernel_1x1, bias_1x1 = fold_batch_norm(self.rbr_1x1_conv.kernel, None, self.rbr_1x1_bn)
        kernel[1:2, 1:2] += kernel_1x1
        bias += bias_1x1
        if self.rbr_identity is not None:
            group_width = self.in_channels // self.groups
            identity = np.zeros((3, 3, group_width, self.filters))
            identity[1, 1, np.arange(self.filters) % group_width, np.arange(self.filters)] = 1.0
            kernel_id, bias_id = fold_batch_norm(identity, None, self.rbr_identity)
            kernel += kernel_id
            bias += bias_id
        return [kernel, bias]
