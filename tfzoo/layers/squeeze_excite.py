"""Squeeze-and-excitation (Hu et al. 2018, arXiv 1709.01507), built from core layers.

Layer names follow timm's ``SqueezeExcite`` (``conv_reduce``, ``conv_expand``)
so weights map one to one.
"""

import keras

from tfzoo.layers.activations import activation
from tfzoo.layers.whole_map_conv import WholeMapConv2D


# timm names the two 1x1 convs differently in its two SE classes:
# ``SqueezeExcite`` (MobileNet/EfficientNet) and ``SEModule`` (ResNet/RegNet).
MOBILE_SE_NAMES = ("conv_reduce", "conv_expand")
RESNET_SE_NAMES = ("fc1", "fc2")


def squeeze_excite(x, reduced_channels: int, *, name: str, act: str = "relu", gate: str = "sigmoid",
                   conv_names: tuple = MOBILE_SE_NAMES):
    """Global average pool -> 1x1 conv (reduce) -> act -> 1x1 conv (expand) -> gate -> scale.

    Args:
        x: Input feature map, channels last.
        reduced_channels: Width of the bottleneck.
        name: Prefix of the layer names.
        act: Activation after the reduction.
        gate: Gating function (``sigmoid`` or ``hard_sigmoid``).
        conv_names: Suffixes of the reduce / expand convs (`MOBILE_SE_NAMES`
            or `RESNET_SE_NAMES`), so each family converts by name.
    """
    channels = x.shape[-1]
    reduce_name, expand_name = conv_names
    s = keras.layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}_pool")(x)
    s = WholeMapConv2D(reduced_channels, 1, use_bias=True, name=f"{name}_{reduce_name}")(s)
    s = activation(act, f"{name}_act")(s)
    s = WholeMapConv2D(channels, 1, use_bias=True, name=f"{name}_{expand_name}")(s)
    s = activation(gate, f"{name}_gate")(s)
    return keras.layers.Multiply(name=f"{name}_scale")([x, s])
