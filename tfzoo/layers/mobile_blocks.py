"""Mobile inverted-bottleneck blocks (MobileNetV2 / V3, EfficientNet, MnasNet).

Two block types, named as timm's ``_efficientnet_blocks`` names their modules:

- `depthwise_separable` (timm ``ds``): dw conv -> BN/act -> [SE] -> pw conv -> BN;
  with ``pw_act`` the pw conv's BN is followed by the activation too (timm
  ``dsa``, MobileNetV1's block, which also passes ``skip=False``).
- `inverted_residual` (timm ``ir``): pw expand -> BN/act -> dw conv -> BN/act
  -> [SE] -> pw project -> BN.

Both add the input back (through optional stochastic depth) when the stride is
1 and the channel count is unchanged.
"""

from __future__ import annotations

import keras

from tfzoo.layers.conv import conv_norm_act
from tfzoo.layers.drop_path import DropPath
from tfzoo.layers.norm import NormConfig
from tfzoo.layers.squeeze_excite import squeeze_excite


def _residual(shortcut, x, drop_path_rate: float, name: str):
    if drop_path_rate > 0.0:
        x = DropPath(drop_path_rate, name=f"{name}_drop_path")(x)
    return keras.layers.Add(name=f"{name}_add")([shortcut, x])


def depthwise_separable(
    x,
    out_channels: int,
    kernel_size: int,
    *,
    name: str,
    strides: int = 1,
    act: str = "relu",
    se_channels: int | None = None,
    se_act: str = "relu",
    se_gate: str = "sigmoid",
    norm: NormConfig = NormConfig(),
    drop_path_rate: float = 0.0,
    skip: bool = True,
    pw_act: bool = False,
):
    """Depthwise-separable block; see the module docstring.

    ``pw_act`` applies `act` after the pointwise conv's BN as well;
    ``skip=False`` never adds the input back.
    """
    shortcut = x
    in_channels = x.shape[-1]
    y = conv_norm_act(x, None, kernel_size, strides=strides, depthwise=True, act=act, norm=norm,
                      conv_name=f"{name}_conv_dw", norm_name=f"{name}_bn1")
    if se_channels:
        y = squeeze_excite(y, se_channels, act=se_act, gate=se_gate, name=f"{name}_se")
    y = conv_norm_act(y, out_channels, 1, act=act if pw_act else None, norm=norm,
                      conv_name=f"{name}_conv_pw", norm_name=f"{name}_bn2")
    if skip and strides == 1 and in_channels == out_channels:
        y = _residual(shortcut, y, drop_path_rate, name)
    return y


def inverted_residual(
    x,
    out_channels: int,
    mid_channels: int,
    kernel_size: int,
    *,
    name: str,
    strides: int = 1,
    act: str = "relu",
    se_channels: int | None = None,
    se_act: str = "relu",
    se_gate: str = "sigmoid",
    norm: NormConfig = NormConfig(),
    drop_path_rate: float = 0.0,
):
    """Inverted-residual (MBConv) block; see the module docstring."""
    shortcut = x
    in_channels = x.shape[-1]
    y = conv_norm_act(x, mid_channels, 1, act=act, norm=norm, conv_name=f"{name}_conv_pw", norm_name=f"{name}_bn1")
    y = conv_norm_act(y, None, kernel_size, strides=strides, depthwise=True, act=act, norm=norm,
                      conv_name=f"{name}_conv_dw", norm_name=f"{name}_bn2")
    if se_channels:
        y = squeeze_excite(y, se_channels, act=se_act, gate=se_gate, name=f"{name}_se")
    y = conv_norm_act(y, out_channels, 1, act=None, norm=norm, conv_name=f"{name}_conv_pwl", norm_name=f"{name}_bn3")
    if strides == 1 and in_channels == out_channels:
        y = _residual(shortcut, y, drop_path_rate, name)
    return y
