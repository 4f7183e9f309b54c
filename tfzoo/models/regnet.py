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
from tfzoo.models._builder import check_head_args, finish_model, image_input
from tfzoo.models.registry import ModelSpec, register_model


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
    "x_002": DesignParams(24, 36.44, 2.49, 13, 8),
    "x_004": DesignParams(24, 24.48, 2.54, 22, 16),
    "x_006": DesignParams(48, 36.97, 2.24, 16, 24),
    "x_008": DesignParams(56, 35.73, 2.28, 16, 16),
    "x_016": DesignParams(80, 34.01, 2.25, 18, 24),
    "x_032": DesignParams(88, 26.31, 2.25, 25, 48),
    "x_040": DesignParams(96, 38.65, 2.43, 23, 40),
    "x_064": DesignParams(184, 60.83, 2.07, 17, 56),
    "x_080": DesignParams(80, 49.56, 2.88, 23, 120),
    "x_120": DesignParams(168, 73.36, 2.37, 19, 112),
    "x_160": DesignParams(216, 55.59, 2.1, 22, 128),
    "x_320": DesignParams(320, 69.86, 2.0, 23, 168),
    "y_002": DesignParams(24, 36.44, 2.49, 13, 8, 0.25),
    "y_004": DesignParams(48, 27.89, 2.09, 16, 8, 0.25),
    "y_006": DesignParams(48, 32.54, 2.32, 15, 16, 0.25),
    "y_008": DesignParams(56, 38.84, 2.4, 14, 16, 0.25),
    "y_016": DesignParams(48, 20.71, 2.65, 27, 24, 0.25),
    "y_032": DesignParams(80, 42.63, 2.66, 21, 24, 0.25),
    "y_040": DesignParams(96, 31.41, 2.24, 22, 64, 0.25),
    "y_064": DesignParams(112, 33.22, 2.27, 25, 72, 0.25),
    "y_080": DesignParams(192, 76.82, 2.19, 17, 56, 0.25),
    "y_120": DesignParams(168, 73.36, 2.37, 19, 112, 0.25),
    "y_160": DesignParams(200, 106.23, 2.48, 18, 112, 0.25),
    "y_320": DesignParams(232, 115.89, 2.53, 20, 232, 0.25),
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


def RegNet(
    variant: str = "y_040",
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
    """Builds a RegNetX or RegNetY.

    Args:
        variant: ``"x_002"`` ... ``"x_320"``, ``"y_002"`` ... ``"y_320"`` (MF / 100).
        include_top: Include global average pooling and the classifier (``head_fc``).
        weights: None or a local ``.keras`` / ``.weights.h5`` path.
        input_shape: ``(height, width, 3)``; default ``(224, 224, 3)``.
        pooling: Without the top: None (4D features), ``"avg"`` or ``"max"``.
        num_classes: Classifier width.
        classifier_activation: Activation of the output, e.g. ``"softmax"`` or None for logits.
        dropout: Dropout before the classifier (timm ``drop_rate``, default 0).
        drop_path_rate: Stochastic depth rate of the last block.
        norm: Normalization kind (`tfzoo.layers.NormConfig` ``kind``), ``"bn"``.
        bn_momentum: Keras BatchNorm momentum.
        bn_epsilon: BatchNorm epsilon.
        name: Model name.
    """
    if variant not in ARCHITECTURES:
        raise ValueError(f"unknown RegNet variant {variant!r}; choose from {sorted(ARCHITECTURES)}")
    name = name or f"regnet{variant}"
    check_head_args(include_top=include_top, pooling=pooling, num_classes=num_classes, model_name=name)
    params = ARCHITECTURES[variant]
    norm_config = NormConfig(kind=norm, momentum=bn_momentum, epsilon=bn_epsilon)

    inputs = image_input(input_shape or (224, 224, 3), min_size=MIN_INPUT_SIZE, model_name=name)
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
                                 norm=norm_config, drop_path_rate=drop_path_rate * index / max(total - 1, 1),
                                 names=REGNET_NAMES, name=f"s{stage_idx + 1}_b{block + 1}")
            index += 1

    return finish_model(inputs, x, include_top=include_top, pooling=pooling, num_classes=num_classes, dropout=dropout,
                        classifier_activation=classifier_activation, name=name, weights=weights, classifier_name="head_fc", pool_name="head_global_pool")


def feature_layers(variant: str) -> tuple:
    """``(stride, layer)`` of each stage's last block output (strides 4, 8, 16, 32)."""
    stages = stage_plan(ARCHITECTURES[variant])
    return tuple((4 * 2 ** i, f"s{i + 1}_b{stage.depth}_act3") for i, stage in enumerate(stages))


_PAPER = "Designing Network Design Spaces (Radosavovic et al. 2020, arXiv 2003.13678)"

# variant: (timm trainable params, test input size, crop_pct), from the default
# pretrained tag of each timm name (pycls_in1k, tv2_in1k, ra3_in1k, sw_in12k_ft_in1k ...); all bicubic.
VARIANTS = {
    "x_002": (2_684_792, 224, 0.875),
    "x_004": (5_157_512, 224, 0.875),
    "x_006": (6_196_040, 224, 0.875),
    "x_008": (7_259_656, 224, 0.965),
    "x_016": (9_190_136, 224, 0.965),
    "x_032": (15_296_552, 224, 0.965),
    "x_040": (22_118_248, 224, 0.875),
    "x_064": (26_209_256, 224, 0.875),
    "x_080": (39_572_648, 224, 0.965),
    "x_120": (46_106_056, 224, 0.875),
    "x_160": (54_278_536, 224, 0.965),
    "x_320": (107_811_560, 224, 0.965),
    "y_002": (3_162_996, 224, 0.875),
    "y_004": (4_344_144, 224, 0.965),
    "y_006": (6_055_160, 224, 0.875),
    "y_008": (6_263_168, 224, 0.875),
    "y_016": (11_202_430, 224, 0.965),
    "y_032": (19_436_338, 288, 0.95),
    "y_040": (20_646_656, 288, 0.95),
    "y_064": (30_583_252, 288, 0.95),
    "y_080": (39_180_068, 288, 0.95),
    "y_120": (51_822_544, 288, 0.95),
    "y_160": (83_590_140, 288, 0.95),
    "y_320": (145_046_770, 224, 0.965),
}

for _variant, (_params, _test_size, _crop) in VARIANTS.items():
    register_model(ModelSpec(
        name=f"regnet{_variant}",
        family="regnet",
        builder=RegNet,
        kwargs={"variant": _variant},
        paper=_PAPER,
        reference=f"timm regnet{_variant}",
        num_params=_params,
        test_input_size=_test_size,
        min_input_size=MIN_INPUT_SIZE,
        crop_pct=_crop,
        interpolation="bicubic",
        feature_layers=feature_layers(_variant),
    ))
