"""Separable convolution as Xception defines it: depthwise k x k, then pointwise 1x1.

No normalization or activation sits between the two convolutions (Chollet
2017, arXiv 1610.02357, section 4.7: no intermediate non-linearity converged
faster and ended better than an intermediate ReLU or ELU), and neither has a
bias, as in timm's ``SeparableConv2d`` modules. It is not
``keras.layers.SeparableConv2D``, which is one layer with two kernels: two
layers keep a one-to-one mapping to the reference's two modules (and their
names), so converting weights stays a name lookup.
"""

from __future__ import annotations

from tfzoo.layers.conv import conv2d, depthwise_conv2d


def separable_conv2d(
    x,
    filters: int,
    kernel_size: int = 3,
    *,
    depthwise_name: str,
    pointwise_name: str,
    strides: int = 1,
    dilation: int = 1,
):
    """Depthwise conv (PyTorch-style symmetric padding) followed by a 1x1 conv, both without bias.

    Args:
        x: Channels-last input.
        filters: Output channels of the pointwise conv.
        kernel_size: Depthwise kernel size.
        depthwise_name: Name of the depthwise layer (timm legacy Xception: ``...conv1``).
        pointwise_name: Name of the pointwise layer (timm legacy Xception: ``...pointwise``).
        strides: Depthwise stride.
        dilation: Depthwise dilation.
    """
    x = depthwise_conv2d(x, kernel_size, strides=strides, dilation=dilation, name=depthwise_name)
    return conv2d(x, filters, 1, name=pointwise_name)
