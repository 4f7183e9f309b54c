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

import dataclasses

import keras

from tfzoo.errors import UsageError
from tfzoo.layers import NormConfig, conv_norm_act, make_divisible
from tfzoo.layers.norm import NORM_KINDS
from tfzoo.layers.bottleneck import basic_block, bottleneck_block, resnext_width
from tfzoo.models._builder import BN_ARGS, CommonArgs, builder_doc, one_of, resolve_variant, variant_entry_point
from tfzoo.models.registry import FeatureInfo, ModelSpec, register_model


@dataclasses.dataclass(frozen=True, kw_only=True)
class Variant:
    """One registered name: its architecture and timm's default pretrained config."""

    family: str  # "resnet", "resnext" or "seresnext"
    variant: str  # the entry point's variant, e.g. "50" or "50_32x4d"
    block: str  # "basic" (expansion 1) or "bottleneck" (expansion 4)
    layers: tuple  # blocks per stage
    groups: int = 1  # cardinality of the 3x3 convs
    base_width: int = 64  # channels per group at planes 64
    se: bool = False  # squeeze-excite in every block
    num_params: int  # timm trainable parameters, 1000 classes
    test_input_size: int = 288
    crop_pct: float = 0.95
    interpolation: str = "bicubic"


_R18, _R34_50, _R101, _R152 = (2, 2, 2, 2), (3, 4, 6, 3), (3, 4, 23, 3), (3, 8, 36, 3)
_TV = dict(test_input_size=224, crop_pct=0.875, interpolation="bilinear")  # timm's tv_in1k tags
# Registered name: the variant; test size, crop and interpolation from the default pretrained
# tag of each timm name (a1_in1k, a1h_in1k, tv_in1k, racm_in1k ...).
VARIANTS = {
    "resnet18": Variant(family="resnet", variant="18", block="basic", layers=_R18, num_params=11_689_512),
    "resnet34": Variant(family="resnet", variant="34", block="basic", layers=_R34_50, num_params=21_797_672),
    "resnet50": Variant(family="resnet", variant="50", block="bottleneck", layers=_R34_50, num_params=25_557_032),
    "resnet101": Variant(family="resnet", variant="101", block="bottleneck", layers=_R101, num_params=44_549_160),
    "resnet152": Variant(family="resnet", variant="152", block="bottleneck", layers=_R152, num_params=60_192_808),
    "resnext50_32x4d": Variant(family="resnext", variant="50_32x4d", block="bottleneck", layers=_R34_50, groups=32,
                               base_width=4, num_params=25_028_904),
    "resnext101_32x4d": Variant(family="resnext", variant="101_32x4d", block="bottleneck", layers=_R101, groups=32,
                                base_width=4, num_params=44_177_704, **_TV),
    "resnext101_32x8d": Variant(family="resnext", variant="101_32x8d", block="bottleneck", layers=_R101, groups=32,
                                base_width=8, num_params=88_791_336, **_TV),
    "resnext101_64x4d": Variant(family="resnext", variant="101_64x4d", block="bottleneck", layers=_R101, groups=64,
                                base_width=4, num_params=83_455_272),
    "seresnext50_32x4d": Variant(family="seresnext", variant="50_32x4d", block="bottleneck", layers=_R34_50,
                                 groups=32, base_width=4, se=True, num_params=27_559_896, crop_pct=0.875),
    "seresnext101_32x4d": Variant(family="seresnext", variant="101_32x4d", block="bottleneck", layers=_R101,
                                  groups=32, base_width=4, se=True, num_params=48_955_416, test_input_size=224,
                                  crop_pct=0.875),
}
# Each entry point's own table: variant -> Variant.
FAMILY_TABLES = {family: {v.variant: v for v in VARIANTS.values() if v.family == family}
                 for family in ("resnet", "resnext", "seresnext")}

STAGE_PLANES = (64, 128, 256, 512)
EXPANSION = {"basic": 1, "bottleneck": 4}
SE_REDUCTION = 16
STEM_CHANNELS = 64
MIN_INPUT_SIZE = 32  # total stride


def se_width(channels: int) -> int:
    """timm's ``SEModule`` default width: ``channels / 16`` rounded to a multiple of 8, never bumped up."""
    return make_divisible(channels / SE_REDUCTION, 8, round_limit=0.0)


def _final_act(arch: Variant) -> str:
    return "act2" if arch.block == "basic" else "act3"


def feature_info(arch: Variant) -> tuple:
    """Each stage's last block output (strides 4, 8, 16, 32)."""
    return tuple(FeatureInfo(stride=4 * 2 ** i, layer=f"layer{i + 1}_{n - 1}_{_final_act(arch)}")
                 for i, n in enumerate(arch.layers))


def _stages(x, arch: Variant, norm: NormConfig, drop_path_rate: float):
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


def _build(family: str, variant: str, norm: str, bn_momentum: float, bn_epsilon: float, common) -> keras.Model:
    """The one ResNet body behind `ResNet`, `ResNeXt` and `SEResNeXt`."""
    arch = resolve_variant(FAMILY_TABLES[family], variant, family)
    args = CommonArgs.parse(common, builder=family, name=f"{family}{variant}", input_size=224,
                            min_size=MIN_INPUT_SIZE)
    if norm not in NORM_KINDS:
        raise UsageError(f"{args.name}: norm must be one of {', '.join(NORM_KINDS)}, got {norm!r}")
    norm_config = NormConfig(kind=norm, momentum=bn_momentum, epsilon=bn_epsilon)

    inputs = args.inputs()
    x = conv_norm_act(inputs, STEM_CHANNELS, 7, strides=2, act="relu", norm=norm_config,
                      conv_name="conv1", norm_name="bn1", act_name="act1")
    # Zero padding stands in for PyTorch's -inf padding: the input is a ReLU output (see the module docstring).
    x = keras.layers.ZeroPadding2D(1, name="maxpool_pad")(x)
    x = keras.layers.MaxPooling2D(3, strides=2, name="maxpool")(x)
    x = _stages(x, arch, norm_config, args.drop_path_rate)
    return args.finish(inputs, x, classifier_name="fc")


_EXTRA = """\
    norm: Normalization kind (`tfzoo.layers.NormConfig` ``kind``): ``"bn"`` (the reference),
        ``"gn"``, ``"gn_ws"`` (GroupNorm + weight-standardized convs), ``"ln"`` or ``"in"``.
""" + BN_ARGS
_DROP_PATH = ", rising linearly from 0 (first block) to this value (last block)"


def _doc(summary: str, family: str):
    return builder_doc(summary, variant=one_of(FAMILY_TABLES[family]), extra=_EXTRA,
                       drop_path=_DROP_PATH)


@_doc("Builds ResNet-18/34/50/101/152 (ResNet v1.5).", "resnet")
def ResNet(variant: str = "50", *, norm: str = "bn", bn_momentum: float = 0.9, bn_epsilon: float = 1e-5,
           **common) -> keras.Model:
    return _build("resnet", variant, norm, bn_momentum, bn_epsilon, common)


@_doc("Builds a ResNeXt (grouped 3x3 convs).", "resnext")
def ResNeXt(variant: str = "50_32x4d", *, norm: str = "bn", bn_momentum: float = 0.9, bn_epsilon: float = 1e-5,
            **common) -> keras.Model:
    return _build("resnext", variant, norm, bn_momentum, bn_epsilon, common)


@_doc("Builds an SE-ResNeXt (ResNeXt with squeeze-excite).", "seresnext")
def SEResNeXt(variant: str = "50_32x4d", *, norm: str = "bn", bn_momentum: float = 0.9, bn_epsilon: float = 1e-5,
              **common) -> keras.Model:
    return _build("seresnext", variant, norm, bn_momentum, bn_epsilon, common)


ResNet18 = variant_entry_point(ResNet, "18", "ResNet18", "ResNet-18")
ResNet34 = variant_entry_point(ResNet, "34", "ResNet34", "ResNet-34")
ResNet50 = variant_entry_point(ResNet, "50", "ResNet50", "ResNet-50")
ResNet101 = variant_entry_point(ResNet, "101", "ResNet101", "ResNet-101")
ResNet152 = variant_entry_point(ResNet, "152", "ResNet152", "ResNet-152")


_PAPERS = {
    "resnet": "Deep Residual Learning for Image Recognition (He et al. 2015, arXiv 1512.03385)",
    "resnext": "Aggregated Residual Transformations for Deep Neural Networks (Xie et al. 2016, arXiv 1611.05431)",
    "seresnext": "Squeeze-and-Excitation Networks (Hu et al. 2017, arXiv 1709.01507)",
}
_ENTRY_POINTS = {"resnet": ResNet, "resnext": ResNeXt, "seresnext": SEResNeXt}

for _name, _arch in VARIANTS.items():
    register_model(ModelSpec(
        name=_name,
        family=_arch.family,
        builder=_ENTRY_POINTS[_arch.family],
        kwargs={"variant": _arch.variant},
        paper=_PAPERS[_arch.family],
        reference=f"timm {_name}",
        num_params=_arch.num_params,
        test_input_size=_arch.test_input_size,
        min_input_size=MIN_INPUT_SIZE,
        crop_pct=_arch.crop_pct,
        interpolation=_arch.interpolation,
        feature_info=feature_info(_arch),
    ))
