"""RegNetX and RegNetY.

Paper: "Designing Network Design Spaces", Radosavovic et al. 2020, arXiv 2003.13678.
Reference: timm ``regnet.py`` (``regnetx_002`` ... ``regnetx_320``,
``regnety_002`` ... ``regnety_320``), a port of pycls' RegNet.

Each model is five numbers from the paper's design space: initial width
``w0``, slope ``wa``, width multiplier ``wm``, depth ``d`` and group width
``g`` (plus the SE ratio for RegNet-Y). `stage_plan` turns them into stages:

1. Linear widths ``u_j = w0 + wa * j`` for blocks ``j = 0 .. d-1``.
2. Quantized: ``s_j = round(log(u_j / w0) / log(wm))``, width
   ``round(w0 * wm ** s_j / 8) * 8``; blocks of equal width form a stage.
3. Group-width compatibility: the group width is capped at the stage width,
   and the stage width rounded to a multiple of it (``round(w / g) * g``).

The widths are computed in float32, as timm does (with torch), so rounding
ties resolve the same way.

Blocks are bottlenecks with bottleneck ratio 1 (all three convs equally wide),
a grouped 3x3 conv carrying the stride and, in RegNet-Y, squeeze-excite after
the 3x3 conv with width ``round(0.25 * block input width)``. Stem: 3x3/2 conv
with 32 channels; each of the four stages halves the resolution; the head is
global average pooling and the classifier (no final conv).

Matching the reference: PyTorch-style symmetric padding on strided convs,
BatchNorm epsilon 1e-5 / momentum 0.9, stochastic depth rising linearly over
the blocks, defaults (crop, interpolation, test size) of timm's default
pretrained tag. Layer names mirror timm's module paths (``s2_b1_conv2_conv`` is
``s2.b1.conv2.conv``).
"""

from __future__ import annotations

from typing import NamedTuple

import keras
import numpy as np

from tfzoo.layers import NormConfig, conv_norm_act
from tfzoo.layers.bottleneck import REGNET_NAMES, bottleneck_block
from tfzoo.models._builder import BN_ARGS, CommonArgs, builder_doc, resolve_variant
from tfzoo.models.registry import FeatureInfo, ModelSpec, register_model


class DesignParams(NamedTuple):
    """A point of the RegNet design space (timm's ``RegNetCfg``)."""

    w0: int  # initial width
    wa: float  # width slope
    wm: float  # quantization multiplier
    depth: int  # number of blocks
    group_size: int  # channels per group of the 3x3 convs
    se_ratio: float = 0.0  # SE width as a fraction of the block input width (RegNet-Y)


class Stage(NamedTuple):
    """One stage as built: its width, depth and group width."""

    width: int
    depth: int
    group_size: int


ARCHITECTURES = {
    "x_002": DesignParams(w0=24, wa=36.44, wm=2.49, depth=13, group_size=8),
    "x_004": DesignParams(w0=24, wa=24.48, wm=2.54, depth=22, group_size=16),
    "x_006": DesignParams(w0=48, wa=36.97, wm=2.24, depth=16, group_size=24),
    "x_008": DesignParams(w0=56, wa=35.73, wm=2.28, depth=16, group_size=16),
    "x_016": DesignParams(w0=80, wa=34.01, wm=2.25, depth=18, group_size=24),
    "x_032": DesignParams(w0=88, wa=26.31, wm=2.25, depth=25, group_size=48),
    "x_040": DesignParams(w0=96, wa=38.65, wm=2.43, depth=23, group_size=40),
    "x_064": DesignParams(w0=184, wa=60.83, wm=2.07, depth=17, group_size=56),
    "x_080": DesignParams(w0=80, wa=49.56, wm=2.88, depth=23, group_size=120),
    "x_120": DesignParams(w0=168, wa=73.36, wm=2.37, depth=19, group_size=112),
    "x_160": DesignParams(w0=216, wa=55.59, wm=2.1, depth=22, group_size=128),
    "x_320": DesignParams(w0=320, wa=69.86, wm=2.0, depth=23, group_size=168),
    "y_002": DesignParams(w0=24, wa=36.44, wm=2.49, depth=13, group_size=8, se_ratio=0.25),
    "y_004": DesignParams(w0=48, wa=27.89, wm=2.09, depth=16, group_size=8, se_ratio=0.25),
    "y_006": DesignParams(w0=48, wa=32.54, wm=2.32, depth=15, group_size=16, se_ratio=0.25),
    "y_008": DesignParams(w0=56, wa=38.84, wm=2.4, depth=14, group_size=16, se_ratio=0.25),
    "y_016": DesignParams(w0=48, wa=20.71, wm=2.65, depth=27, group_size=24, se_ratio=0.25),
    "y_032": DesignParams(w0=80, wa=42.63, wm=2.66, depth=21, group_size=24, se_ratio=0.25),
    "y_040": DesignParams(w0=96, wa=31.41, wm=2.24, depth=22, group_size=64, se_ratio=0.25),
    "y_064": DesignParams(w0=112, wa=33.22, wm=2.27, depth=25, group_size=72, se_ratio=0.25),
    "y_080": DesignParams(w0=192, wa=76.82, wm=2.19, depth=17, group_size=56, se_ratio=0.25),
    "y_120": DesignParams(w0=168, wa=73.36, wm=2.37, depth=19, group_size=112, se_ratio=0.25),
    "y_160": DesignParams(w0=200, wa=106.23, wm=2.48, depth=18, group_size=112, se_ratio=0.25),
    "y_320": DesignParams(w0=232, wa=115.89, wm=2.53, depth=20, group_size=232, se_ratio=0.25),
}

STEM_CHANNELS = 32
WIDTH_QUANTUM = 8
MIN_INPUT_SIZE = 32  # total stride


def stage_plan(params: DesignParams) -> list[Stage]:
    """Per-stage widths, depths and group widths of a design point (see the module docstring)."""
    index = np.arange(params.depth, dtype=np.float32)
    widths_cont = index * np.float32(params.wa) + np.float32(params.w0)
    exponents = np.round(np.log(widths_cont / np.float32(params.w0)) / np.float32(np.log(params.wm)))
    widths = np.round(np.float32(params.w0) * np.power(np.float32(params.wm), exponents) / WIDTH_QUANTUM)
    widths = (widths * WIDTH_QUANTUM).astype(np.int64)
    stage_widths, depths = np.unique(widths, return_counts=True)
    stages = []
    for width, depth in zip(stage_widths.tolist(), depths.tolist()):
        group = min(params.group_size, width)
        stages.append(Stage(int(round(width / group) * group), depth, group))
    return stages


@builder_doc("Builds a RegNetX or RegNetY.",
             variant="``\"x_002\"`` ... ``\"x_320\"``, ``\"y_002\"`` ... ``\"y_320\"`` (MF / 100)",
             drop_path=" of the last block (0 turns it off)",
             extra="    norm: Normalization kind (`tfzoo.layers.NormConfig` ``kind``), ``\"bn\"``.\n" + BN_ARGS)
def RegNet(variant: str = "y_040", *, norm: str = "bn", bn_momentum: float = 0.9, bn_epsilon: float = 1e-5,
           **common) -> keras.Model:
    params = resolve_variant(ARCHITECTURES, variant, "regnet")
    args = CommonArgs.parse(common, builder="RegNet", name=f"regnet{variant}", input_size=224,
                            min_size=MIN_INPUT_SIZE)
    norm_config = NormConfig(kind=norm, momentum=bn_momentum, epsilon=bn_epsilon)

    inputs = args.inputs()
    x = conv_norm_act(inputs, STEM_CHANNELS, 3, strides=2, act="relu", norm=norm_config,
                      conv_name="stem_conv", norm_name="stem_bn")
    stages = stage_plan(params)
    total = sum(stage.depth for stage in stages)
    index = 0
    for stage_idx, stage in enumerate(stages):
        for block in range(stage.depth):
            in_channels = x.shape[-1]
            se = int(round(in_channels * params.se_ratio)) if params.se_ratio else None
            x = bottleneck_block(x, stage.width, stage.width, strides=2 if block == 0 else 1,
                                 groups=stage.width // stage.group_size, se_channels=se, se_after="conv2",
                                 norm=norm_config, drop_path_rate=args.drop_path_rate * index / max(total - 1, 1),
                                 names=REGNET_NAMES, name=f"s{stage_idx + 1}_b{block + 1}")
            index += 1
    return args.finish(inputs, x, classifier_name="head_fc", pool_name="head_global_pool")


def feature_info(variant: str) -> tuple:
    """Each stage's last block output (strides 4, 8, 16, 32)."""
    stages = stage_plan(ARCHITECTURES[variant])
    return tuple(FeatureInfo(stride=4 * 2 ** i, layer=f"s{i + 1}_b{stage.depth}_act3")
                 for i, stage in enumerate(stages))


_PAPER = "Designing Network Design Spaces (Radosavovic et al. 2020, arXiv 2003.13678)"



class PretrainedConfig(NamedTuple):
    """timm's figures for one variant: its default pretrained tag (pycls_in1k, tv2_in1k, ra3_in1k ...; all bicubic)."""

    num_params: int  # trainable, 1000 classes
    test_input_size: int
    crop_pct: float


VARIANTS = {
    "x_002": PretrainedConfig(num_params=2_684_792, test_input_size=224, crop_pct=0.875),
    "x_004": PretrainedConfig(num_params=5_157_512, test_input_size=224, crop_pct=0.875),
    "x_006": PretrainedConfig(num_params=6_196_040, test_input_size=224, crop_pct=0.875),
    "x_008": PretrainedConfig(num_params=7_259_656, test_input_size=224, crop_pct=0.965),
    "x_016": PretrainedConfig(num_params=9_190_136, test_input_size=224, crop_pct=0.965),
    "x_032": PretrainedConfig(num_params=15_296_552, test_input_size=224, crop_pct=0.965),
    "x_040": PretrainedConfig(num_params=22_118_248, test_input_size=224, crop_pct=0.875),
    "x_064": PretrainedConfig(num_params=26_209_256, test_input_size=224, crop_pct=0.875),
    "x_080": PretrainedConfig(num_params=39_572_648, test_input_size=224, crop_pct=0.965),
    "x_120": PretrainedConfig(num_params=46_106_056, test_input_size=224, crop_pct=0.875),
    "x_160": PretrainedConfig(num_params=54_278_536, test_input_size=224, crop_pct=0.965),
    "x_320": PretrainedConfig(num_params=107_811_560, test_input_size=224, crop_pct=0.965),
    "y_002": PretrainedConfig(num_params=3_162_996, test_input_size=224, crop_pct=0.875),
    "y_004": PretrainedConfig(num_params=4_344_144, test_input_size=224, crop_pct=0.965),
    "y_006": PretrainedConfig(num_params=6_055_160, test_input_size=224, crop_pct=0.875),
    "y_008": PretrainedConfig(num_params=6_263_168, test_input_size=224, crop_pct=0.875),
    "y_016": PretrainedConfig(num_params=11_202_430, test_input_size=224, crop_pct=0.965),
    "y_032": PretrainedConfig(num_params=19_436_338, test_input_size=288, crop_pct=0.95),
    "y_040": PretrainedConfig(num_params=20_646_656, test_input_size=288, crop_pct=0.95),
    "y_064": PretrainedConfig(num_params=30_583_252, test_input_size=288, crop_pct=0.95),
    "y_080": PretrainedConfig(num_params=39_180_068, test_input_size=288, crop_pct=0.95),
    "y_120": PretrainedConfig(num_params=51_822_544, test_input_size=288, crop_pct=0.95),
    "y_160": PretrainedConfig(num_params=83_590_140, test_input_size=288, crop_pct=0.95),
    "y_320": PretrainedConfig(num_params=145_046_770, test_input_size=224, crop_pct=0.965),
}

for _variant, _config in VARIANTS.items():
    register_model(ModelSpec(
        name=f"regnet{_variant}",
        family="regnet",
        builder=RegNet,
        kwargs={"variant": _variant},
        paper=_PAPER,
        reference=f"timm regnet{_variant}",
        num_params=_config.num_params,
        test_input_size=_config.test_input_size,
        min_input_size=MIN_INPUT_SIZE,
        crop_pct=_config.crop_pct,
        interpolation="bicubic",
        feature_info=feature_info(_variant),
    ))
