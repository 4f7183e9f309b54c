"""ResNet, ResNeXt and SE-ResNeXt.

Papers:
- "Deep Residual Learning for Image Recognition", He et al. 2015, arXiv 1512.03385.
- "Aggregated Residual Transformations for Deep Neural Networks" (ResNeXt), Xie et al. 2016, arXiv 1611.05431.
- "Squeeze-and-Excitation Networks", Hu et al. 2017, arXiv 1709.01507.

Reference: timm ``resnet.py`` (``resnet18`` ... ``resnet152``,
``resnext50_32x4d`` ..., ``seresnext50_32x4d`` ...), whose plain ResNets
have the same parameters and structure as torchvision's.

Matching the reference:
- "ResNet v1.5": a bottleneck's stride sits on its 3x3 conv, not on the first
  1x1 conv as in the paper (and keras.applications' ResNet50).
- Projection shortcuts (a strided 1x1 conv + BN, ``downsample.0`` /
  ``downsample.1``) wherever the stride or the width changes; identity elsewhere.
- Stem: 7x7/2 conv, BN, ReLU, then a 3x3/2 max pool with padding 1. PyTorch
  pads the max pool with -inf; it follows a ReLU, so every value is >= 0 and
  every window holds at least one real value, so zero padding gives the same
  maximum.
- Strided convolutions pad symmetrically (PyTorch), not Keras "same".
- BatchNorm epsilon 1e-5, momentum 0.9 (PyTorch defaults).
- SE-ResNeXt: timm's ``SEModule`` after the last BN of each bottleneck,
  width ``make_divisible(out_channels / 16, 8, round_limit=0)``, ReLU, sigmoid.
- Stochastic depth rises linearly from 0 (first block) to
  `drop_path_rate` (last block); dropout sits before the classifier.
- ``norm=`` ("bn", "gn", "gn_ws", "ln", "in"; see `tfzoo.layers.norm`) swaps
  every BatchNorm, keeping the layer names (``bn1`` is then a GroupNorm, as in
  timm with ``norm_layer=GroupNorm``); ``"gn_ws"`` also makes every conv of
  the stem, blocks and shortcuts a `WSConv2D` (the SE convs stay plain). Only
  the default "bn" has reference counts and outputs.
- Defaults (crop, interpolation, test size) are those of timm's default
  pretrained tag of each name.

Layer names mirror timm's module paths (``layer2_0_downsample_0`` is
``layer2.0.downsample.0``), so the timm converter needs no table.
"""

from __future__ import annotations

from typing import NamedTuple

import keras

from tfzoo.errors import UsageError
from tfzoo.layers import NormConfig, conv_norm_act, make_divisible
from tfzoo.layers.norm import NORM_KINDS
from tfzoo.layers.bottleneck import basic_block, bottleneck_block, resnext_width
from tfzoo.models._builder import check_head_args, finish_model, image_input
from tfzoo.models.registry import ModelSpec, register_model


class Arch(NamedTuple):
    """One row of the architecture table."""

    block: str  # "basic" (expansion 1) or "bottleneck" (expansion 4)
    layers: tuple  # blocks per stage
    groups: int = 1  # cardinality of the 3x3 convs
    base_width: int = 64  # channels per group at planes 64
    se: bool = False  # squeeze-excite in every block


ARCHITECTURES = {
    "resnet18": Arch("basic", (2, 2, 2, 2)),
    "resnet34": Arch("basic", (3, 4, 6, 3)),
    "resnet50": Arch("bottleneck", (3, 4, 6, 3)),
    "resnet101": Arch("bottleneck", (3, 4, 23, 3)),
    "resnet152": Arch("bottleneck", (3, 8, 36, 3)),
    "resnext50_32x4d": Arch("bottleneck", (3, 4, 6, 3), groups=32, base_width=4),
    "resnext101_32x4d": Arch("bottleneck", (3, 4, 23, 3), groups=32, base_width=4),
    "resnext101_32x8d": Arch("bottleneck", (3, 4, 23, 3), groups=32, base_width=8),
    "resnext101_64x4d": Arch("bottleneck", (3, 4, 23, 3), groups=64, base_width=4),
    "seresnext50_32x4d": Arch("bottleneck", (3, 4, 6, 3), groups=32, base_width=4, se=True),
    "seresnext101_32x4d": Arch("bottleneck", (3, 4, 23, 3), groups=32, base_width=4, se=True),
}

STAGE_PLANES = (64, 128, 256, 512)
EXPANSION = {"basic": 1, "bottleneck": 4}
SE_REDUCTION = 16
STEM_CHANNELS = 64
MIN_INPUT_SIZE = 32  # total stride


def se_width(channels: int) -> int:
    """timm's ``SEModule`` default width: ``channels / 16`` rounded to a multiple of 8, never bumped up."""
    return make_divisible(channels / SE_REDUCTION, 8, round_limit=0.0)


def _final_act(arch: Arch) -> str:
    return "act2" if arch.block == "basic" else "act3"


def feature_layers(arch: Arch) -> tuple:
    """``(stride, layer)`` of each stage's last block output (strides 4, 8, 16, 32)."""
    return tuple((4 * 2 ** i, f"layer{i + 1}_{n - 1}_{_final_act(arch)}") for i, n in enumerate(arch.layers))


def _stages(x, arch: Arch, norm: NormConfig, drop_path_rate: float):
    total = sum(arch.layers)
    index = 0
    for stage, (planes, repeats) in enumerate(zip(STAGE_PLANES, arch.layers)):
        out_channels = planes * EXPANSION[arch.block]
        for block in range(repeats):
            name = f"layer{stage + 1}_{block}"
            strides = 2 if stage > 0 and block == 0 else 1
            rate = drop_path_rate * index / max(total - 1, 1)
            se = se_width(out_channels) if arch.se else None
            if arch.block == "basic":
                x = basic_block(x, out_channels, strides=strides, se_channels=se, norm=norm,
                                drop_path_rate=rate, name=name)
            else:
                x = bottleneck_block(x, out_channels, resnext_width(planes, arch.groups, arch.base_width),
                                     strides=strides, groups=arch.groups, se_channels=se, norm=norm,
                                     drop_path_rate=rate, name=name)
            index += 1
    return x


def build_resnet(
    arch_name: str,
    *,
    include_top: bool = True,
    weights: str | None = None,
    input_shape: tuple | None = None,
    pooling: str | None = None,
    num_classes: int = 1000,
    classifier_activation: str | None = "softmax",
    dropout: float = 0.0,
    drop_path_rate: float = 0.0,
    norm: str = "bn",
    bn_momentum: float = 0.9,
    bn_epsilon: float = 1e-5,
    name: str | None = None,
) -> keras.Model:
    """Builds a ResNet / ResNeXt / SE-ResNeXt from the `ARCHITECTURES` table.

    Args:
        arch_name: A key of `ARCHITECTURES`, e.g. ``"resnet50"``.
        include_top: Include global average pooling and the classifier (``fc``).
        weights: None or a local ``.keras`` / ``.weights.h5`` path.
        input_shape: ``(height, width, 3)``; default ``(224, 224, 3)``.
        pooling: Without the top: None (4D features), ``"avg"`` or ``"max"``.
        num_classes: Classifier width.
        classifier_activation: Activation of the output, e.g. ``"softmax"`` or None for logits.
        dropout: Dropout before the classifier (timm ``drop_rate``, default 0).
        drop_path_rate: Stochastic depth rate of the last block.
        norm: Normalization kind (`tfzoo.layers.NormConfig` ``kind``): ``"bn"`` (the reference),
            ``"gn"``, ``"gn_ws"`` (GroupNorm + weight-standardized convs), ``"ln"`` or ``"in"``.
        bn_momentum: Keras BatchNorm momentum.
        bn_epsilon: BatchNorm epsilon.
        name: Model name.
    """
    if arch_name not in ARCHITECTURES:
        raise ValueError(f"unknown ResNet architecture {arch_name!r}; choose from {sorted(ARCHITECTURES)}")
    arch = ARCHITECTURES[arch_name]
    name = name or arch_name
    check_head_args(include_top=include_top, pooling=pooling, num_classes=num_classes, model_name=name)
    if norm not in NORM_KINDS:
        raise UsageError(f"{name}: norm must be one of {', '.join(NORM_KINDS)}, got {norm!r}")
    norm_config = NormConfig(kind=norm, momentum=bn_momentum, epsilon=bn_epsilon)

    inputs = image_input(input_shape or (224, 224, 3), min_size=MIN_INPUT_SIZE, model_name=name)
    x = conv_norm_act(inputs, STEM_CHANNELS, 7, strides=2, act="relu", norm=norm_config,
                      conv_name="conv1", norm_name="bn1", act_name="act1")
    # Zero padding stands in for PyTorch's -inf padding: the input is a ReLU output (see the module docstring).
    x = keras.layers.ZeroPadding2D(1, name="maxpool_pad")(x)
    x = keras.layers.MaxPooling2D(3, strides=2, name="maxpool")(x)
    x = _stages(x, arch, norm_config, drop_path_rate)

    return finish_model(inputs, x, include_top=include_top, pooling=pooling, num_classes=num_classes, dropout=dropout,
                        classifier_activation=classifier_activation, name=name, weights=weights, classifier_name="fc")


def ResNet(variant: str = "50", **kwargs) -> keras.Model:
    """ResNet-18/34/50/101/152 (``variant="50"``); see `build_resnet` for the arguments."""
    return build_resnet(f"resnet{variant}", **kwargs)


def ResNeXt(variant: str = "50_32x4d", **kwargs) -> keras.Model:
    """ResNeXt (``variant="50_32x4d"``, ``"101_32x8d"`` ...); see `build_resnet` for the arguments."""
    return build_resnet(f"resnext{variant}", **kwargs)


def SEResNeXt(variant: str = "50_32x4d", **kwargs) -> keras.Model:
    """SE-ResNeXt (``variant="50_32x4d"`` or ``"101_32x4d"``); see `build_resnet` for the arguments."""
    return build_resnet(f"seresnext{variant}", **kwargs)


def ResNet18(**kwargs) -> keras.Model:
    """ResNet-18; see `build_resnet` for the arguments."""
    return ResNet("18", **kwargs)


def ResNet34(**kwargs) -> keras.Model:
    """ResNet-34; see `build_resnet` for the arguments."""
    return ResNet("34", **kwargs)


def ResNet50(**kwargs) -> keras.Model:
    """ResNet-50; see `build_resnet` for the arguments."""
    return ResNet("50", **kwargs)


def ResNet101(**kwargs) -> keras.Model:
    """ResNet-101; see `build_resnet` for the arguments."""
    return ResNet("101", **kwargs)


def ResNet152(**kwargs) -> keras.Model:
    """ResNet-152; see `build_resnet` for the arguments."""
    return ResNet("152", **kwargs)


_PAPERS = {
    "resnet": "Deep Residual Learning for Image Recognition (He et al. 2015, arXiv 1512.03385)",
    "resnext": "Aggregated Residual Transformations for Deep Neural Networks (Xie et al. 2016, arXiv 1611.05431)",
    "seresnext": "Squeeze-and-Excitation Networks (Hu et al. 2017, arXiv 1709.01507)",
}
_ENTRY_POINTS = {"resnet": ResNet, "resnext": ResNeXt, "seresnext": SEResNeXt}

# name: (family, variant, timm trainable params, test input size, crop_pct, interpolation),
# from the default pretrained tag of each timm name (a1_in1k, a1h_in1k, tv_in1k, racm_in1k ...).
VARIANTS = {
    "resnet18": ("resnet", "18", 11_689_512, 288, 0.95, "bicubic"),
    "resnet34": ("resnet", "34", 21_797_672, 288, 0.95, "bicubic"),
    "resnet50": ("resnet", "50", 25_557_032, 288, 0.95, "bicubic"),
    "resnet101": ("resnet", "101", 44_549_160, 288, 0.95, "bicubic"),
    "resnet152": ("resnet", "152", 60_192_808, 288, 0.95, "bicubic"),
    "resnext50_32x4d": ("resnext", "50_32x4d", 25_028_904, 288, 0.95, "bicubic"),
    "resnext101_32x4d": ("resnext", "101_32x4d", 44_177_704, 224, 0.875, "bilinear"),
    "resnext101_32x8d": ("resnext", "101_32x8d", 88_791_336, 224, 0.875, "bilinear"),
    "resnext101_64x4d": ("resnext", "101_64x4d", 83_455_272, 288, 0.95, "bicubic"),
    "seresnext50_32x4d": ("seresnext", "50_32x4d", 27_559_896, 288, 0.875, "bicubic"),
    "seresnext101_32x4d": ("seresnext", "101_32x4d", 48_955_416, 224, 0.875, "bicubic"),
}

for _name, (_family, _variant, _params, _test_size, _crop, _interp) in VARIANTS.items():
    register_model(ModelSpec(
        name=_name,
        family=_family,
        builder=_ENTRY_POINTS[_family],
        kwargs={"variant": _variant},
        paper=_PAPERS[_family],
        reference=f"timm {_name}",
        num_params=_params,
        test_input_size=_test_size,
        min_input_size=MIN_INPUT_SIZE,
        crop_pct=_crop,
        interpolation=_interp,
        feature_layers=feature_layers(ARCHITECTURES[_name]),
    ))
