"""Convolution + normalization + activation, the unit every CNN family reuses.

Strided convolutions pad explicitly and symmetrically (``kernel // 2`` on each
side), as PyTorch does, instead of Keras' ``padding="same"``, which pads the
bottom/right more for even inputs. This keeps outputs identical to the
PyTorch reference implementations and weights convertible between them.
"""

from __future__ import annotations

import keras

from tfzoo.layers.activations import activation
from tfzoo.layers.norm import NormConfig, norm_layer
from tfzoo.layers.ws_conv import WSConv2D

# Initializers are built fresh for every layer: a Keras initializer instance
# without a seed fixes one when it is created, so a single shared instance
# would give every layer of the same shape identical starting weights, drawn
# from a seed that `keras.utils.set_random_seed` (hence `--seed`) does not
# reach. A new instance per layer draws its seed from Python's RNG, which that
# call seeds: distinct weights per layer, reproducible per seed.


def conv_init() -> keras.initializers.Initializer:
    """He-normal over fan-out (PyTorch ``kaiming_normal_(mode="fan_out")``, untruncated), as timm and
    torchvision initialize convolutions; untruncated sampling is also several times faster to draw."""
    return keras.initializers.VarianceScaling(scale=2.0, mode="fan_out", distribution="untruncated_normal")


def dense_init() -> keras.initializers.Initializer:
    """Uniform(-1/sqrt(fan_out), 1/sqrt(fan_out)), timm's initialization of classifier layers."""
    return keras.initializers.VarianceScaling(scale=1.0 / 3.0, mode="fan_out", distribution="uniform")


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None, round_limit: float = 0.9) -> int:
    """Rounds a channel count to a multiple of `divisor`, never more than 10% below `value`.

    The rule of the TF MobileNet reference, used by timm and torchvision.
    """
    min_value = min_value or divisor
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if rounded < round_limit * value:
        rounded += divisor
    return rounded


def _padding(x, kernel_size: int, strides: int, dilation: int, name: str):
    """Symmetric PyTorch-style padding; returns (tensor, keras padding mode)."""
    if strides == 1 and kernel_size % 2 == 1:
        return x, "same"
    pad = ((strides - 1) + dilation * (kernel_size - 1)) // 2
    if pad == 0:
        return x, "valid"
    return keras.layers.ZeroPadding2D(pad, name=f"{name}_pad")(x), "valid"


def conv2d(
    x,
    filters: int,
    kernel_size: int,
    *,
    name: str,
    strides: int = 1,
    groups: int = 1,
    dilation: int = 1,
    use_bias: bool = False,
    weight_standardized: bool = False,
):
    """A 2D convolution with PyTorch-style symmetric padding (a `WSConv2D` when `weight_standardized`)."""
    x, padding = _padding(x, kernel_size, strides, dilation, name)
    conv_class = WSConv2D if weight_standardized else keras.layers.Conv2D
    return conv_class(
        filters,
        kernel_size,
        strides=strides,
        padding=padding,
        groups=groups,
        dilation_rate=dilation,
        use_bias=use_bias,
        kernel_initializer=conv_init(),
        name=name,
    )(x)


def depthwise_conv2d(x, kernel_size: int, *, name: str, strides: int = 1, dilation: int = 1, use_bias: bool = False):
    """A depthwise convolution (channel multiplier 1) with symmetric padding."""
    x, padding = _padding(x, kernel_size, strides, dilation, name)
    return keras.layers.DepthwiseConv2D(
        kernel_size,
        strides=strides,
        padding=padding,
        dilation_rate=dilation,
        use_bias=use_bias,
        depthwise_initializer=conv_init(),
        name=name,
    )(x)


def conv_norm_act(
    x,
    filters: int | None,
    kernel_size: int,
    *,
    conv_name: str,
    norm_name: str,
    act: str | None,
    act_name: str | None = None,
    norm: NormConfig = NormConfig(),
    strides: int = 1,
    groups: int = 1,
    depthwise: bool = False,
):
    """Conv (no bias) -> norm -> optional activation.

    Args:
        x: Input tensor, channels last.
        filters: Output channels (ignored when `depthwise`).
        kernel_size: Square kernel size.
        conv_name: Name of the convolution layer.
        norm_name: Name of the normalization layer.
        act: timm-style activation name, or None for no activation.
        act_name: Name of the activation layer (default ``f"{norm_name}_act"``).
        norm: Normalization settings; ``"gn_ws"`` also makes the convolution a `WSConv2D`.
        strides: Convolution stride.
        groups: Convolution groups.
        depthwise: Use a depthwise convolution.
    """
    if depthwise:
        x = depthwise_conv2d(x, kernel_size, strides=strides, name=conv_name)
    else:
        x = conv2d(x, filters, kernel_size, strides=strides, groups=groups, name=conv_name,
                   weight_standardized=norm.weight_standardized)
    x = norm_layer(norm, norm_name, channels=x.shape[-1])(x)
    if act is not None:
        x = activation(act, act_name or f"{norm_name}_act")(x)
    return x
