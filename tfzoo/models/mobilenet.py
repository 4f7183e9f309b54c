"""MobileNetV1 and MobileNetV2.

Papers: "MobileNets: Efficient Convolutional Neural Networks for Mobile Vision
Applications", Howard et al. 2017, arXiv 1704.04861; "MobileNetV2: Inverted
Residuals and Linear Bottlenecks", Sandler et al. 2018, arXiv 1801.04381.
Reference: timm ``efficientnet.py`` (``mobilenetv1_100``, ``mobilenetv2_100``,
``mobilenetv2_140``), which builds both with its generic EfficientNet class;
tfzoo does the same with `tfzoo.models.efficientnet.build_efficientnet_model`.

Matching the reference:
- ReLU6 everywhere, BatchNorm epsilon 1e-5 and momentum 0.9 (PyTorch
  defaults); strided convolutions pad symmetrically (PyTorch), not Keras
  "same".
- MobileNetV1 is timm's ``mobilenetv1_100``: a 3x3/2 stem and 13
  depthwise-separable blocks with ReLU6 after both convs (timm ``dsa``
  blocks), no head conv, so global pooling sees the 1024-channel block
  output (4,231,976 parameters). timm's ``mobilenetv1_100h`` variant adds a
  1x1 head conv; the paper's network, keras.applications' ``MobileNet`` and
  this one do not.
- MobileNetV2 as timm's ``_gen_mobilenet_v2``: a width multiplier scales the
  stem and every block (``make_divisible(c * width)``), and the 1x1 head conv
  is ``max(1280, make_divisible(1280 * width))`` wide, so it only grows
  (1792 for ``mobilenet_v2_140``).

Defaults that differ from ``timm.create_model`` (training only; parameters
and inference outputs are unaffected): MobileNetV2's ``dropout`` is 0.2, as
in the TF-slim reference training and torchvision; timm defaults it to 0.
MobileNetV1 keeps timm's 0: the paper trains it with little regularization.
Input sizes, crop fractions and normalization come from timm's default
pretrained configs: MobileNetV1's ``ra4`` weights use mean = std = 0.5 and
evaluate at 256 px (timm crops those at 0.95, which the registry's single
``crop_pct`` cannot express; 0.875 is the training-resolution figure).

Layer names mirror timm's module paths (``blocks_3_2_conv_dw`` is
``blocks.3.2.conv_dw``), so a converter is a name table and a transpose.
"""

from __future__ import annotations

import keras

from tfzoo.models.efficientnet import MIN_INPUT_SIZE, Stage, build_efficientnet_model, feature_layers, round_channels
from tfzoo.models.registry import ModelSpec, register_model

# timm's arch_def strings for each family, spelled out.
V1_STAGES = (
    Stage("dsa", 1, 3, 1, 1, 64),
    Stage("dsa", 2, 3, 2, 1, 128),
    Stage("dsa", 2, 3, 2, 1, 256),
    Stage("dsa", 6, 3, 2, 1, 512),
    Stage("dsa", 2, 3, 2, 1, 1024),
)
V2_STAGES = (
    Stage("ds", 1, 3, 1, 1, 16),
    Stage("ir", 2, 3, 2, 6, 24),
    Stage("ir", 3, 3, 2, 6, 32),
    Stage("ir", 4, 3, 2, 6, 64),
    Stage("ir", 3, 3, 1, 6, 96),
    Stage("ir", 3, 3, 2, 6, 160),
    Stage("ir", 1, 3, 1, 6, 320),
)
STEM_CHANNELS = 32
V2_HEAD_CHANNELS = 1280


def _v2_head_channels(width_multiplier: float) -> int:
    return max(V2_HEAD_CHANNELS, round_channels(V2_HEAD_CHANNELS, width_multiplier))


def MobileNetV1(
    width_multiplier: float = 1.0,
    *,
    include_top: bool = True,
    weights: str | None = None,
    input_shape: tuple | None = None,
    pooling: str | None = None,
    num_classes: int = 1000,
    classifier_activation: str | None = "softmax",
    dropout: float = 0.0,
    bn_momentum: float = 0.9,
    bn_epsilon: float = 1e-5,
    name: str | None = None,
) -> keras.Model:
    """Builds MobileNetV1 (timm's ``mobilenetv1_*``: no head conv).

    The blocks have no residual connections, so there is no stochastic depth.

    Args:
        width_multiplier: Channel multiplier of the stem and every block (the paper's alpha).
        include_top: Include the pooling and classifier.
        weights: None or a local ``.keras`` / ``.weights.h5`` path.
        input_shape: ``(height, width, 3)``; default ``(224, 224, 3)``.
        pooling: Without the top: None (4D features), ``"avg"`` or ``"max"``.
        num_classes: Classifier width.
        classifier_activation: Activation of the output, e.g. ``"softmax"`` or None for logits.
        dropout: Dropout before the classifier.
        bn_momentum: Keras BatchNorm momentum.
        bn_epsilon: BatchNorm epsilon.
        name: Model name.
    """
    return build_efficientnet_model(
        name=name or f"mobilenet_v1_{round(width_multiplier * 100):03d}",
        stages=V1_STAGES,
        stem_channels=round_channels(STEM_CHANNELS, width_multiplier),
        head_channels=0,
        act="relu6",
        width_multiplier=width_multiplier,
        include_top=include_top,
        weights=weights,
        input_shape=input_shape,
        pooling=pooling,
        num_classes=num_classes,
        classifier_activation=classifier_activation,
        dropout=dropout,
        bn_momentum=bn_momentum,
        bn_epsilon=bn_epsilon,
    )


def MobileNetV2(
    width_multiplier: float = 1.0,
    *,
    include_top: bool = True,
    weights: str | None = None,
    input_shape: tuple | None = None,
    pooling: str | None = None,
    num_classes: int = 1000,
    classifier_activation: str | None = "softmax",
    dropout: float = 0.2,
    drop_path_rate: float = 0.0,
    bn_momentum: float = 0.9,
    bn_epsilon: float = 1e-5,
    name: str | None = None,
) -> keras.Model:
    """Builds MobileNetV2.

    Args:
        width_multiplier: Channel multiplier of the stem and every block; the
            head conv is ``max(1280, 1280 * width)`` rounded to a multiple of 8.
        include_top: Include the pooling and classifier (the head conv is always built).
        weights: None or a local ``.keras`` / ``.weights.h5`` path.
        input_shape: ``(height, width, 3)``; default ``(224, 224, 3)``.
        pooling: Without the top: None (4D features), ``"avg"`` or ``"max"``.
        num_classes: Classifier width.
        classifier_activation: Activation of the output, e.g. ``"softmax"`` or None for logits.
        dropout: Dropout before the classifier.
        drop_path_rate: Stochastic depth rate, rising linearly over the blocks to this value.
        bn_momentum: Keras BatchNorm momentum.
        bn_epsilon: BatchNorm epsilon.
        name: Model name.
    """
    return build_efficientnet_model(
        name=name or f"mobilenet_v2_{round(width_multiplier * 100):03d}",
        stages=V2_STAGES,
        stem_channels=round_channels(STEM_CHANNELS, width_multiplier),
        head_channels=_v2_head_channels(width_multiplier),
        act="relu6",
        width_multiplier=width_multiplier,
        include_top=include_top,
        weights=weights,
        input_shape=input_shape,
        pooling=pooling,
        num_classes=num_classes,
        classifier_activation=classifier_activation,
        dropout=dropout,
        drop_path_rate=drop_path_rate,
        bn_momentum=bn_momentum,
        bn_epsilon=bn_epsilon,
    )


_V1_PAPER = "MobileNets: Efficient Convolutional Neural Networks for Mobile Vision Applications " \
            "(Howard et al. 2017, arXiv 1704.04861)"
_V2_PAPER = "MobileNetV2: Inverted Residuals and Linear Bottlenecks (Sandler et al. 2018, arXiv 1801.04381)"
_HALF = (0.5, 0.5, 0.5)

# name: (family, builder, stages, width, reference trainable params, extra ModelSpec fields)
VARIANTS = {
    "mobilenet_v1_100": ("mobilenet_v1", MobileNetV1, V1_STAGES, 1.0, 4_231_976,
                         dict(paper=_V1_PAPER, test_input_size=256, mean=_HALF, std=_HALF)),
    "mobilenet_v2_100": ("mobilenet_v2", MobileNetV2, V2_STAGES, 1.0, 3_504_872, dict(paper=_V2_PAPER)),
    "mobilenet_v2_140": ("mobilenet_v2", MobileNetV2, V2_STAGES, 1.4, 6_108_776, dict(paper=_V2_PAPER)),
}

for _name, (_family, _builder, _stages, _width, _params, _extra) in VARIANTS.items():
    register_model(ModelSpec(
        name=_name,
        family=_family,
        builder=_builder,
        kwargs={"width_multiplier": _width},
        reference=f"timm {_name.replace('_v', 'v')}",  # mobilenet_v2_100 -> mobilenetv2_100
        num_params=_params,
        min_input_size=MIN_INPUT_SIZE,
        interpolation="bicubic",
        feature_layers=feature_layers(_stages, round_channels(STEM_CHANNELS, _width), _width),
        **_extra,
    ))
