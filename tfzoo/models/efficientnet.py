"""EfficientNet B0-B7, and the stage builder MobileNetV1 / V2 share with it.

Paper: "EfficientNet: Rethinking Model Scaling for Convolutional Neural
Networks", Tan & Le 2019, arXiv 1905.11946.
Reference: timm ``efficientnet.py`` (``efficientnet_b0`` ... ``efficientnet_b7``,
the PyTorch-native definitions, not the ``tf_efficientnet_*`` ports).

Matching the reference:
- Compound scaling as timm's ``_gen_efficientnet``: every channel count
  (stem, blocks, head) is ``make_divisible(channels * width)`` with divisor 8,
  and each stage repeats its block ``ceil(repeats * depth)`` times.
- MBConv blocks with swish (SiLU). The squeeze-excite width is
  ``round(expanded_channels * 0.25 / expansion)``, i.e. a quarter of the
  block's *input* channels (timm's ``se_from_exp=False``), with a swish
  reduction and a sigmoid gate.
- Strided convolutions pad symmetrically (PyTorch), not Keras "same". The
  TensorFlow original (timm ``tf_efficientnet_*``) pads "same"; those
  weights would need that padding and BN epsilon 1e-3.
- BatchNorm epsilon 1e-5 and momentum 0.9 (PyTorch defaults).
- ``include_top=False`` keeps the 1x1 head conv + BN + swish, as timm's
  ``forward_features`` and keras.applications do.

Defaults that differ from ``timm.create_model`` (they change training only,
never parameters or inference outputs): ``drop_rate`` is the per-variant rate
of the paper (0.2 for B0/B1, 0.3 B2/B3, 0.4 B4/B5, 0.5 B6/B7) and
``drop_path_rate`` is 0.2, the values timm's model definitions note "for
train"; ``timm.create_model`` itself defaults both to 0.
Input sizes, crop fractions and normalization are those of timm's default
pretrained config of each variant.

Layer names mirror timm's module paths (``blocks_2_1_se_conv_reduce`` is
``blocks.2.1.se.conv_reduce``), so a converter is a name table and a transpose.
"""

from __future__ import annotations

import math
from typing import Iterator, NamedTuple

import keras

from tfzoo.errors import UsageError
from tfzoo.layers import NormConfig, conv_norm_act, depthwise_separable, inverted_residual, make_divisible
from tfzoo.models._builder import BN_ARGS, CommonArgs, builder_doc, one_of, resolve_variant, variant_entry_point
from tfzoo.models.registry import FeatureInfo, ModelSpec, register_model

MIN_INPUT_SIZE = 32  # total stride


class Stage(NamedTuple):
    """One stage of timm's ``arch_def`` (one block string, spelled out)."""

    kind: str  # "ds" depthwise separable, "dsa" ds with act after pw (no residual), "ir" inverted residual
    repeats: int
    kernel: int
    stride: int
    expansion: float
    channels: int
    se_ratio: float = 0.0


class _Block(NamedTuple):
    """One block after width and depth scaling."""

    name: str
    stage: Stage
    in_channels: int
    out_channels: int
    stride: int
    drop_path_rate: float
    total_stride: int

    @property
    def has_skip(self) -> bool:
        return self.stage.kind != "dsa" and self.stride == 1 and self.in_channels == self.out_channels

    @property
    def output_layer(self) -> str:
        """Name of the block's last layer, as `tfzoo.layers.mobile_blocks` names it."""
        if self.has_skip:
            return f"{self.name}_add"
        return {"ds": f"{self.name}_bn2", "dsa": f"{self.name}_bn2_act", "ir": f"{self.name}_bn3"}[self.stage.kind]


def round_channels(channels: int, width_multiplier: float) -> int:
    """timm's ``round_channels``: channels scaled by the width multiplier, rounded to a multiple of 8."""
    return make_divisible(channels * width_multiplier)


def _scaled_blocks(stages, stem_channels: int, width_multiplier: float, depth_multiplier: float,
                   drop_path_rate: float = 0.0) -> Iterator[_Block]:
    """Every block of the network after width and depth scaling (timm's ``EfficientNetBuilder``)."""
    # timm's ``_scale_stage_depth`` with ``depth_trunc="ceil"`` (one block definition per stage).
    repeats = [int(math.ceil(stage.repeats * depth_multiplier)) for stage in stages]
    total = sum(repeats)
    index, in_channels, total_stride = 0, stem_channels, 2
    for stage_idx, (stage, count) in enumerate(zip(stages, repeats)):
        out_channels = round_channels(stage.channels, width_multiplier)
        for block_idx in range(count):
            stride = stage.stride if block_idx == 0 else 1
            total_stride *= stride
            yield _Block(f"blocks_{stage_idx}_{block_idx}", stage, in_channels, out_channels, stride,
                         drop_path_rate * index / total, total_stride)
            in_channels = out_channels
            index += 1


def feature_info(stages, stem_channels: int, width_multiplier: float = 1.0, depth_multiplier: float = 1.0) -> tuple:
    """The last block output at strides 4, 8, 16 and 32."""
    last = {}
    for block in _scaled_blocks(stages, stem_channels, width_multiplier, depth_multiplier):
        last[block.total_stride] = block.output_layer
    return tuple(FeatureInfo(stride=stride, layer=last[stride]) for stride in (4, 8, 16, 32))


def _stages(x, stages, *, width_multiplier: float, depth_multiplier: float, act: str, norm: NormConfig,
            drop_path_rate: float):
    blocks = _scaled_blocks(stages, x.shape[-1], width_multiplier, depth_multiplier, drop_path_rate)
    for block in blocks:
        stage = block.stage
        common = dict(strides=block.stride, act=act, norm=norm, drop_path_rate=block.drop_path_rate,
                      name=block.name, se_act=act, se_gate="sigmoid")
        if stage.kind in ("ds", "dsa"):
            se = round(block.in_channels * stage.se_ratio) if stage.se_ratio else None
            x = depthwise_separable(x, block.out_channels, stage.kernel, se_channels=se, pw_act=stage.kind == "dsa",
                                    skip=stage.kind == "ds", **common)
        elif stage.kind == "ir":
            mid = make_divisible(block.in_channels * stage.expansion)
            # timm divides the SE ratio by the expansion, so the width follows the block input.
            se = round(mid * (stage.se_ratio / stage.expansion)) if stage.se_ratio else None
            x = inverted_residual(x, block.out_channels, mid, stage.kernel, se_channels=se, **common)
        else:
            raise ValueError(f"unknown block kind {stage.kind!r}")
    return x


def build_efficientnet_model(args: CommonArgs, *, stages, stem_channels: int, head_channels: int, act: str,
                             width_multiplier: float = 1.0, depth_multiplier: float = 1.0, bn_momentum: float = 0.9,
                             bn_epsilon: float = 1e-5) -> keras.Model:
    """timm's generic ``EfficientNet`` network, which MobileNetV1 / V2 also use.

    Stem conv 3x3/2 + BN + act -> scaled stages -> [head conv 1x1 + BN + act]
    -> global pool -> dropout -> classifier.

    Args:
        args: The parsed common arguments (`tfzoo.models._builder.CommonArgs`).
        stages: Sequence of `Stage` rows.
        stem_channels: Stem width, already scaled.
        head_channels: Width of the 1x1 head conv, already scaled; 0 for none (MobileNetV1).
        act: Activation of the stem, blocks, SE reduction and head.
        width_multiplier: Channel multiplier of the blocks.
        depth_multiplier: Repeat multiplier of the stages (rounded up).
        bn_momentum, bn_epsilon: BatchNorm settings.
    """
    if width_multiplier <= 0 or depth_multiplier <= 0:
        raise UsageError(f"{args.name}: width and depth multipliers must be positive, "
                         f"got {width_multiplier} and {depth_multiplier}")
    norm = NormConfig(momentum=bn_momentum, epsilon=bn_epsilon)

    inputs = args.inputs()
    x = conv_norm_act(inputs, stem_channels, 3, strides=2, act=act, norm=norm, conv_name="conv_stem", norm_name="bn1")
    x = _stages(x, stages, width_multiplier=width_multiplier, depth_multiplier=depth_multiplier, act=act, norm=norm,
                drop_path_rate=args.drop_path_rate)
    if head_channels:
        x = conv_norm_act(x, head_channels, 1, act=act, norm=norm, conv_name="conv_head", norm_name="bn2")
    return args.finish(inputs, x)


# timm's ``_gen_efficientnet`` arch_def (the B0 baseline of the paper's Table 1).
STAGES = (
    Stage(kind="ds", repeats=1, kernel=3, stride=1, expansion=1, channels=16, se_ratio=0.25),
    Stage(kind="ir", repeats=2, kernel=3, stride=2, expansion=6, channels=24, se_ratio=0.25),
    Stage(kind="ir", repeats=2, kernel=5, stride=2, expansion=6, channels=40, se_ratio=0.25),
    Stage(kind="ir", repeats=3, kernel=3, stride=2, expansion=6, channels=80, se_ratio=0.25),
    Stage(kind="ir", repeats=3, kernel=5, stride=1, expansion=6, channels=112, se_ratio=0.25),
    Stage(kind="ir", repeats=4, kernel=5, stride=2, expansion=6, channels=192, se_ratio=0.25),
    Stage(kind="ir", repeats=1, kernel=3, stride=1, expansion=6, channels=320, se_ratio=0.25),
)
STEM_CHANNELS = 32
HEAD_CHANNELS = 1280


class Variant(NamedTuple):
    """Compound-scaling coefficients and timm's default pretrained config of one variant."""

    width: float
    depth: float
    drop_rate: float  # the paper's classifier dropout
    input_size: int
    test_input_size: int | None
    crop_pct: float
    mean: tuple
    std: tuple
    num_params: int  # timm, 1000 classes


_IN = dict(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
_HALF = dict(mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
VARIANTS = {
    "b0": Variant(width=1.0, depth=1.0, drop_rate=0.2, input_size=224, test_input_size=None, crop_pct=0.875, **_IN,
                  num_params=5_288_548),
    "b1": Variant(width=1.0, depth=1.1, drop_rate=0.2, input_size=240, test_input_size=288, crop_pct=0.9, **_HALF,
                  num_params=7_794_184),
    "b2": Variant(width=1.1, depth=1.2, drop_rate=0.3, input_size=256, test_input_size=288, crop_pct=0.875, **_IN,
                  num_params=9_109_994),
    "b3": Variant(width=1.2, depth=1.4, drop_rate=0.3, input_size=288, test_input_size=320, crop_pct=0.875, **_IN,
                  num_params=12_233_232),
    "b4": Variant(width=1.4, depth=1.8, drop_rate=0.4, input_size=320, test_input_size=384, crop_pct=0.875, **_IN,
                  num_params=19_341_616),
    "b5": Variant(width=1.6, depth=2.2, drop_rate=0.4, input_size=448, test_input_size=None, crop_pct=1.0, **_IN,
                  num_params=30_389_784),
    "b6": Variant(width=1.8, depth=2.6, drop_rate=0.5, input_size=528, test_input_size=None, crop_pct=0.942, **_IN,
                  num_params=43_040_704),
    "b7": Variant(width=2.0, depth=3.1, drop_rate=0.5, input_size=600, test_input_size=None, crop_pct=0.949, **_IN,
                  num_params=66_347_960),
}


@builder_doc("Builds EfficientNet-B0 ... B7.", variant=one_of(VARIANTS), extra=BN_ARGS,
             input_size="the variant's training resolution", drop_rate="; None for the variant's (0.2 ... 0.5)",
             drop_path=", rising linearly over the blocks to this value (default 0.2)",
             defaults={"drop_rate": None, "drop_path_rate": 0.2})
def EfficientNet(variant: str = "b0", *, bn_momentum: float = 0.9, bn_epsilon: float = 1e-5,
                 **common) -> keras.Model:
    spec = resolve_variant(VARIANTS, variant, "efficientnet")
    args = CommonArgs.parse(common, builder="EfficientNet", name=f"efficientnet_{variant}",
                            input_size=spec.input_size, min_size=MIN_INPUT_SIZE, drop_rate=spec.drop_rate,
                            drop_path_rate=0.2)
    return build_efficientnet_model(
        args, stages=STAGES, stem_channels=round_channels(STEM_CHANNELS, spec.width),
        head_channels=round_channels(HEAD_CHANNELS, spec.width), act="swish", width_multiplier=spec.width,
        depth_multiplier=spec.depth, bn_momentum=bn_momentum, bn_epsilon=bn_epsilon)


EfficientNetB0 = variant_entry_point(EfficientNet, "b0", "EfficientNetB0", "EfficientNet-B0")
EfficientNetB1 = variant_entry_point(EfficientNet, "b1", "EfficientNetB1", "EfficientNet-B1")
EfficientNetB2 = variant_entry_point(EfficientNet, "b2", "EfficientNetB2", "EfficientNet-B2")
EfficientNetB3 = variant_entry_point(EfficientNet, "b3", "EfficientNetB3", "EfficientNet-B3")
EfficientNetB4 = variant_entry_point(EfficientNet, "b4", "EfficientNetB4", "EfficientNet-B4")
EfficientNetB5 = variant_entry_point(EfficientNet, "b5", "EfficientNetB5", "EfficientNet-B5")
EfficientNetB6 = variant_entry_point(EfficientNet, "b6", "EfficientNetB6", "EfficientNet-B6")
EfficientNetB7 = variant_entry_point(EfficientNet, "b7", "EfficientNetB7", "EfficientNet-B7")


_PAPER = "EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks (Tan & Le 2019, arXiv 1905.11946)"

for _variant, _spec in VARIANTS.items():
    register_model(ModelSpec(
        name=f"efficientnet_{_variant}",
        family="efficientnet",
        builder=EfficientNet,
        kwargs={"variant": _variant},
        paper=_PAPER,
        reference=f"timm efficientnet_{_variant}",
        num_params=_spec.num_params,
        input_size=_spec.input_size,
        test_input_size=_spec.test_input_size,
        min_input_size=MIN_INPUT_SIZE,
        crop_pct=_spec.crop_pct,
        interpolation="bicubic",
        mean=_spec.mean,
        std=_spec.std,
        feature_info=feature_info(STAGES, round_channels(STEM_CHANNELS, _spec.width), _spec.width, _spec.depth),
    ))
