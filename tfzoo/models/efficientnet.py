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
never parameters or inference outputs): ``dropout`` is the per-variant rate
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

from tfzoo.layers import NormConfig, conv_norm_act, depthwise_separable, inverted_residual, make_divisible
from tfzoo.models._builder import check_head_args, finish_model, image_input
from tfzoo.models.registry import ModelSpec, register_model

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


def feature_layers(stages, stem_channels: int, width_multiplier: float = 1.0,
                   depth_multiplier: float = 1.0) -> tuple:
    """``((stride, layer), ...)``: the last block output at strides 4, 8, 16 and 32."""
    last = {}
    for block in _scaled_blocks(stages, stem_channels, width_multiplier, depth_multiplier):
        last[block.total_stride] = block.output_layer
    return tuple((stride, last[stride]) for stride in (4, 8, 16, 32))


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


def build_efficientnet_model(
    *,
    name: str,
    stages,
    stem_channels: int,
    head_channels: int,
    act: str,
    width_multiplier: float = 1.0,
    depth_multiplier: float = 1.0,
    default_size: int = 224,
    include_top: bool = True,
    weights: str | None = None,
    input_shape: tuple | None = None,
    pooling: str | None = None,
    num_classes: int = 1000,
    classifier_activation: str | None = "softmax",
    dropout: float = 0.0,
    drop_path_rate: float = 0.0,
    bn_momentum: float = 0.9,
    bn_epsilon: float = 1e-5,
) -> keras.Model:
    """timm's generic ``EfficientNet`` network, which MobileNetV1 / V2 also use.

    Stem conv 3x3/2 + BN + act -> scaled stages -> [head conv 1x1 + BN + act]
    -> global pool -> dropout -> classifier.

    Args:
        name: Model name.
        stages: Sequence of `Stage` rows.
        stem_channels: Stem width, already scaled.
        head_channels: Width of the 1x1 head conv, already scaled; 0 for none (MobileNetV1).
        act: Activation of the stem, blocks, SE reduction and head.
        width_multiplier: Channel multiplier of the blocks.
        depth_multiplier: Repeat multiplier of the stages (rounded up).
        default_size: Input side when `input_shape` is None.
        include_top, weights, input_shape, pooling, num_classes, classifier_activation, dropout,
        drop_path_rate, bn_momentum, bn_epsilon: As in `EfficientNet`.
    """
    if width_multiplier <= 0 or depth_multiplier <= 0:
        raise ValueError(f"{name}: width and depth multipliers must be positive, "
                         f"got {width_multiplier} and {depth_multiplier}")
    check_head_args(include_top=include_top, pooling=pooling, num_classes=num_classes, model_name=name)
    norm = NormConfig(momentum=bn_momentum, epsilon=bn_epsilon)

    inputs = image_input(input_shape or (default_size, default_size, 3), min_size=MIN_INPUT_SIZE, model_name=name)
    x = conv_norm_act(inputs, stem_channels, 3, strides=2, act=act, norm=norm, conv_name="conv_stem", norm_name="bn1")
    x = _stages(x, stages, width_multiplier=width_multiplier, depth_multiplier=depth_multiplier, act=act, norm=norm,
                drop_path_rate=drop_path_rate)
    if head_channels:
        x = conv_norm_act(x, head_channels, 1, act=act, norm=norm, conv_name="conv_head", norm_name="bn2")
    return finish_model(inputs, x, include_top=include_top, pooling=pooling, num_classes=num_classes, dropout=dropout,
                        classifier_activation=classifier_activation, name=name, weights=weights)


# timm's ``_gen_efficientnet`` arch_def (the B0 baseline of the paper's Table 1).
STAGES = (
    Stage("ds", 1, 3, 1, 1, 16, 0.25),
    Stage("ir", 2, 3, 2, 6, 24, 0.25),
    Stage("ir", 2, 5, 2, 6, 40, 0.25),
    Stage("ir", 3, 3, 2, 6, 80, 0.25),
    Stage("ir", 3, 5, 1, 6, 112, 0.25),
    Stage("ir", 4, 5, 2, 6, 192, 0.25),
    Stage("ir", 1, 3, 1, 6, 320, 0.25),
)
STEM_CHANNELS = 32
HEAD_CHANNELS = 1280


class Variant(NamedTuple):
    """Compound-scaling coefficients and timm's default pretrained config of one variant."""

    width: float
    depth: float
    dropout: float
    input_size: int
    test_input_size: int | None
    crop_pct: float
    mean: tuple
    std: tuple
    num_params: int  # timm, 1000 classes


_IN, _HALF = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)), ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
VARIANTS = {
    "b0": Variant(1.0, 1.0, 0.2, 224, None, 0.875, *_IN, 5_288_548),
    "b1": Variant(1.0, 1.1, 0.2, 240, 288, 0.9, *_HALF, 7_794_184),
    "b2": Variant(1.1, 1.2, 0.3, 256, 288, 0.875, *_IN, 9_109_994),
    "b3": Variant(1.2, 1.4, 0.3, 288, 320, 0.875, *_IN, 12_233_232),
    "b4": Variant(1.4, 1.8, 0.4, 320, 384, 0.875, *_IN, 19_341_616),
    "b5": Variant(1.6, 2.2, 0.4, 448, None, 1.0, *_IN, 30_389_784),
    "b6": Variant(1.8, 2.6, 0.5, 528, None, 0.942, *_IN, 43_040_704),
    "b7": Variant(2.0, 3.1, 0.5, 600, None, 0.949, *_IN, 66_347_960),
}


def EfficientNet(
    variant: str = "b0",
    *,
    include_top: bool = True,
    weights: str | None = None,
    input_shape: tuple | None = None,
    pooling: str | None = None,
    num_classes: int = 1000,
    classifier_activation: str | None = "softmax",
    dropout: float | None = None,
    drop_path_rate: float = 0.2,
    bn_momentum: float = 0.9,
    bn_epsilon: float = 1e-5,
    name: str | None = None,
) -> keras.Model:
    """Builds EfficientNet-B0 ... B7.

    Args:
        variant: ``"b0"`` ... ``"b7"``.
        include_top: Include the pooling and classifier (the head conv is always built).
        weights: None or a local ``.keras`` / ``.weights.h5`` path.
        input_shape: ``(height, width, 3)``; default the variant's training resolution.
        pooling: Without the top: None (4D features), ``"avg"`` or ``"max"``.
        num_classes: Classifier width.
        classifier_activation: Activation of the output, e.g. ``"softmax"`` or None for logits.
        dropout: Dropout before the classifier; None for the variant's rate (0.2 ... 0.5).
        drop_path_rate: Stochastic depth rate, rising linearly over the blocks to this value.
        bn_momentum: Keras BatchNorm momentum.
        bn_epsilon: BatchNorm epsilon.
        name: Model name.
    """
    if variant not in VARIANTS:
        raise ValueError(f"unknown EfficientNet variant {variant!r}; choose from {sorted(VARIANTS)}")
    spec = VARIANTS[variant]
    return build_efficientnet_model(
        name=name or f"efficientnet_{variant}",
        stages=STAGES,
        stem_channels=round_channels(STEM_CHANNELS, spec.width),
        head_channels=round_channels(HEAD_CHANNELS, spec.width),
        act="swish",
        width_multiplier=spec.width,
        depth_multiplier=spec.depth,
        default_size=spec.input_size,
        include_top=include_top,
        weights=weights,
        input_shape=input_shape,
        pooling=pooling,
        num_classes=num_classes,
        classifier_activation=classifier_activation,
        dropout=spec.dropout if dropout is None else dropout,
        drop_path_rate=drop_path_rate,
        bn_momentum=bn_momentum,
        bn_epsilon=bn_epsilon,
    )


def EfficientNetB0(**kwargs) -> keras.Model:
    """EfficientNet-B0; see `EfficientNet` for the arguments."""
    return EfficientNet("b0", **kwargs)


def EfficientNetB1(**kwargs) -> keras.Model:
    """EfficientNet-B1; see `EfficientNet` for the arguments."""
    return EfficientNet("b1", **kwargs)


def EfficientNetB2(**kwargs) -> keras.Model:
    """EfficientNet-B2; see `EfficientNet` for the arguments."""
    return EfficientNet("b2", **kwargs)


def EfficientNetB3(**kwargs) -> keras.Model:
    """EfficientNet-B3; see `EfficientNet` for the arguments."""
    return EfficientNet("b3", **kwargs)


def EfficientNetB4(**kwargs) -> keras.Model:
    """EfficientNet-B4; see `EfficientNet` for the arguments."""
    return EfficientNet("b4", **kwargs)


def EfficientNetB5(**kwargs) -> keras.Model:
    """EfficientNet-B5; see `EfficientNet` for the arguments."""
    return EfficientNet("b5", **kwargs)


def EfficientNetB6(**kwargs) -> keras.Model:
    """EfficientNet-B6; see `EfficientNet` for the arguments."""
    return EfficientNet("b6", **kwargs)


def EfficientNetB7(**kwargs) -> keras.Model:
    """EfficientNet-B7; see `EfficientNet` for the arguments."""
    return EfficientNet("b7", **kwargs)


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
        feature_layers=feature_layers(STAGES, round_channels(STEM_CHANNELS, _spec.width), _spec.width, _spec.depth),
    ))
