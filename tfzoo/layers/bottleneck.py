"""Residual blocks of the ResNet family: basic block, bottleneck (grouped, optional SE), shortcut.

One implementation serves ResNet / ResNeXt / SE-ResNeXt (He et al. 2015,
arXiv 1512.03385; Xie et al. 2016, arXiv 1611.05431; Hu et al. 2017, arXiv
1709.01507) and RegNet (Radosavovic et al. 2020, arXiv 2003.13678), following
timm's ``resnet.py`` and ``regnet.py``:

- `basic_block`: 3x3 conv -> norm/act -> 3x3 conv -> norm -> [SE] -> + shortcut -> act.
- `bottleneck_block`: 1x1 conv -> norm/act -> 3x3 grouped conv (carries the
  stride, "ResNet v1.5") -> norm/act -> 1x1 conv -> norm -> + shortcut -> act,
  with squeeze-excite after the last norm (SE-ResNeXt) or after the 3x3 conv
  (RegNet-Y, where timm moves it).
- `shortcut`: identity, or a strided 1x1 conv + norm when the stride or the
  width changes.

The two references name the same layers differently (ResNet ``conv1`` /
``bn1`` / ``downsample.0``; RegNet's ``ConvNormAct`` modules ``conv1.conv`` /
``conv1.bn`` / ``downsample.conv``); `BlockNames` holds both spellings so
layer names mirror the reference module paths and weights convert by name.
"""

from __future__ import annotations

import dataclasses
import math

import keras

from tfzoo.layers.activations import activation
from tfzoo.layers.conv import conv_norm_act
from tfzoo.layers.drop_path import DropPath
from tfzoo.layers.norm import NormConfig
from tfzoo.layers.squeeze_excite import RESNET_SE_NAMES, squeeze_excite


@dataclasses.dataclass(frozen=True)
class BlockNames:
    """Layer-name suffixes of a residual block, as the reference names its modules.

    ``conv[i]`` / ``norm[i]`` / ``act[i]`` are the i-th convolution of the
    residual branch, its normalization and activation (the last activation
    follows the addition). ``shortcut_conv`` / ``shortcut_norm`` form the
    projection shortcut.
    """

    conv: tuple = ("conv1", "conv2", "conv3")
    norm: tuple = ("bn1", "bn2", "bn3")
    act: tuple = ("act1", "act2", "act3")
    shortcut_conv: str = "downsample_0"
    shortcut_norm: str = "downsample_1"


# timm resnet.py: plain modules inside the block.
RESNET_NAMES = BlockNames()
# timm regnet.py: ConvNormAct modules (``conv1.conv``, ``conv1.bn``), the act inside the BatchNormAct.
REGNET_NAMES = BlockNames(
    conv=("conv1_conv", "conv2_conv", "conv3_conv"),
    norm=("conv1_bn", "conv2_bn", "conv3_bn"),
    act=("conv1_bn_act", "conv2_bn_act", "act3"),
    shortcut_conv="downsample_conv",
    shortcut_norm="downsample_bn",
)


def resnext_width(planes: int, groups: int = 1, base_width: int = 64) -> int:
    """Width of a ResNeXt bottleneck's grouped 3x3 conv: ``floor(planes * base_width / 64) * groups``.

    ``resnext50_32x4d`` (32 groups of 4 channels at planes 64) gives 128; a
    plain ResNet (1 group, base width 64) gives ``planes``.
    """
    return int(math.floor(planes * (base_width / 64)) * groups)


def se_module(x, reduced_channels: int, *, name: str):
    """timm's ``SEModule`` (ReLU, sigmoid gate, layers ``{name}_fc1`` / ``{name}_fc2``)."""
    return squeeze_excite(x, reduced_channels, name=name, conv_names=RESNET_SE_NAMES)


def shortcut(x, out_channels: int, *, name: str, strides: int = 1, norm: NormConfig = NormConfig(),
             names: BlockNames = RESNET_NAMES):
    """Identity, or a strided 1x1 conv + norm when the stride or the width changes (ResNet option B)."""
    if strides == 1 and x.shape[-1] == out_channels:
        return x
    return conv_norm_act(x, out_channels, 1, strides=strides, act=None, norm=norm,
                         conv_name=f"{name}_{names.shortcut_conv}", norm_name=f"{name}_{names.shortcut_norm}")


def _merge(x, skip, *, name: str, final_act: str, drop_path_rate: float):
    if drop_path_rate > 0.0:
        x = DropPath(drop_path_rate, name=f"{name}_drop_path")(x)
    x = keras.layers.Add(name=f"{name}_add")([x, skip])
    return activation("relu", final_act)(x)


def basic_block(
    x,
    planes: int,
    *,
    name: str,
    strides: int = 1,
    se_channels: int | None = None,
    norm: NormConfig = NormConfig(),
    drop_path_rate: float = 0.0,
    names: BlockNames = RESNET_NAMES,
):
    """ResNet-18/34 block: two 3x3 convs (the first strided) and a residual connection.

    Args:
        x: Input feature map, channels last.
        planes: Output channels.
        name: Layer-name prefix, e.g. ``"layer2_0"``.
        strides: Stride of the first 3x3 conv and the shortcut.
        se_channels: Squeeze-excite width after the second norm, or None.
        norm: Normalization settings.
        drop_path_rate: Stochastic depth rate of the residual branch.
        names: Layer-name suffixes.
    """
    skip = shortcut(x, planes, strides=strides, norm=norm, names=names, name=name)
    y = conv_norm_act(x, planes, 3, strides=strides, act="relu", norm=norm, conv_name=f"{name}_{names.conv[0]}",
                      norm_name=f"{name}_{names.norm[0]}", act_name=f"{name}_{names.act[0]}")
    y = conv_norm_act(y, planes, 3, act=None, norm=norm, conv_name=f"{name}_{names.conv[1]}",
                      norm_name=f"{name}_{names.norm[1]}")
    if se_channels:
        y = se_module(y, se_channels, name=f"{name}_se")
    return _merge(y, skip, name=name, final_act=f"{name}_{names.act[1]}", drop_path_rate=drop_path_rate)


def bottleneck_block(
    x,
    out_channels: int,
    mid_channels: int,
    *,
    name: str,
    strides: int = 1,
    groups: int = 1,
    se_channels: int | None = None,
    se_after: str = "conv3",
    norm: NormConfig = NormConfig(),
    drop_path_rate: float = 0.0,
    names: BlockNames = RESNET_NAMES,
):
    """Bottleneck block: 1x1 reduce, 3x3 grouped conv with the stride, 1x1 expand, residual connection.

    Args:
        x: Input feature map, channels last.
        out_channels: Output channels (``planes * 4`` in ResNet).
        mid_channels: Width of the 3x3 conv (see `resnext_width`).
        name: Layer-name prefix, e.g. ``"layer3_0"`` or ``"s2_b1"``.
        strides: Stride of the 3x3 conv and the shortcut.
        groups: Groups of the 3x3 conv (ResNeXt cardinality).
        se_channels: Squeeze-excite width, or None for no SE.
        se_after: ``"conv3"`` (SE-ResNeXt: after the last norm) or ``"conv2"``
            (RegNet-Y: after the 3x3 conv's activation).
        norm: Normalization settings.
        drop_path_rate: Stochastic depth rate of the residual branch.
        names: Layer-name suffixes.
    """
    if se_after not in ("conv2", "conv3"):
        raise ValueError(f"se_after must be 'conv2' or 'conv3', got {se_after!r}")
    skip = shortcut(x, out_channels, strides=strides, norm=norm, names=names, name=name)
    y = conv_norm_act(x, mid_channels, 1, act="relu", norm=norm, conv_name=f"{name}_{names.conv[0]}",
                      norm_name=f"{name}_{names.norm[0]}", act_name=f"{name}_{names.act[0]}")
    y = conv_norm_act(y, mid_channels, 3, strides=strides, groups=groups, act="relu", norm=norm,
                      conv_name=f"{name}_{names.conv[1]}", norm_name=f"{name}_{names.norm[1]}",
                      act_name=f"{name}_{names.act[1]}")
    if se_channels and se_after == "conv2":
        y = se_module(y, se_channels, name=f"{name}_se")
    y = conv_norm_act(y, out_channels, 1, act=None, norm=norm, conv_name=f"{name}_{names.conv[2]}",
                      norm_name=f"{name}_{names.norm[2]}")
    if se_channels and se_after == "conv3":
        y = se_module(y, se_channels, name=f"{name}_se")
    return _merge(y, skip, name=name, final_act=f"{name}_{names.act[2]}", drop_path_rate=drop_path_rate)
