"""Squeeze-and-excitation (Hu et al. 2018, arXiv 1709.01507), built from core layers.

Layer names follow timm's ``SqueezeExcite`` (``conv_reduce``, ``conv_expand``)
so weights map one to one.
"""

import keras

from tfzoo.layers.activations import activation


def squeeze_excite(x, reduced_channels: int, *, name: str, act: str = "relu", gate: str = "sigmoid"):
    """Global average pool -> 1x1 conv (reduce) -> act -> 1x1 conv (expand) -> gate -> scale.

    Args:
        x: Input feature map, channels last.
        reduced_channels: Width of the bottleneck.
        name: Prefix of the layer names.
        act: Activation after the reduction.
        gate: Gating function (``sigmoid`` or ``hard_sigmoid``).
    """
    channels = x.shape[-1]
    s = keras.layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}_pool")(x)
    s = keras.layers.Conv2D(reduced_channels, 1, use_bias=True, name=f"{name}_conv_reduce")(s)
    s = activation(act, f"{name}_act")(s)
    s = keras.layers.Conv2D(channels, 1, use_bias=True, name=f"{name}_conv_expand")(s)
    s = activation(gate, f"{name}_gate")(s)
    return keras.layers.Multiply(name=f"{name}_scale")([x, s])
