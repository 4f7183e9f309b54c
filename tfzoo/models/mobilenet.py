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
and inference outputs are unaffected): MobileNetV2's ``drop_rate`` is 0.2, as
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

import dataclasses
from typing import Callable

import keras

from tfzoo.models._builder import BN_ARGS, CommonArgs, builder_doc
from tfzoo.models.efficientnet import MIN_INPUT_SIZE, Stage, build_efficientnet_model, feature_info, round_channels
from tfzoo.models.registry import IMAGENET_MEAN, IMAGENET_STD, ModelSpec, register_model

# timm's arch_def strings for each family, spelled out.
V1_STAGES = (
    Stage(kind="dsa", repeats=1, kernel=3, stride=1, expansion=1, channels=64),
    Stage(kind="dsa", repeats=2, kernel=3, stride=2, expansion=1, channels=128),
    Stage(kind="dsa", repeats=2, kernel=3, stride=2, expansion=1, channels=256),
    Stage(kind="dsa", repeats=6, kernel=3, stride=2, expansion=1, channels=512),
    Stage(kind="dsa", repeats=2, kernel=3, stride=2, expansion=1, channels=1024),
)
V2_STAGES = (
    Stage(kind="ds", repeats=1, kernel=3, stride=1, expansion=1, channels=16),
    Stage(kind="ir", repeats=2, kernel=3, stride=2, expansion=6, channels=24),
    Stage(kind="ir", repeats=3, kernel=3, stride=2, expansion=6, channels=32),
    Stage(kind="ir", repeats=4, kernel=3, stride=2, expansion=6, channels=64),
    Stage(kind="ir", repeats=3, kernel=3, stride=1, expansion=6, channels=96),
    Stage(kind="ir", repeats=3, kernel=3, stride=2, expansion=6, channels=160),
    Stage(kind="ir", repeats=1, kernel=3, stride=1, expansion=6, channels=320),
)
STEM_CHANNELS = 32
V2_HEAD_CHANNELS = 1280


def _v2_head_channels(width_multiplier: float) -> int:
    return max(V2_HEAD_CHANNELS, round_channels(V2_HEAD_CHANNELS, width_multiplier))


_WIDTH = """\
    width_multiplier: Channel multiplier of the stem and every block (the paper's alpha){head}.
"""


@builder_doc("Builds MobileNetV1 (timm's ``mobilenetv1_*``: no head conv).", extra=_WIDTH.format(head="") + BN_ARGS,
             drop_path=None)
def MobileNetV1(width_multiplier: float = 1.0, *, bn_momentum: float = 0.9, bn_epsilon: float = 1e-5,
                **common) -> keras.Model:
    # The blocks have no residual connections, so there is no stochastic depth.
    args = CommonArgs.parse(common, builder="MobileNetV1", name=f"mobilenet_v1_{round(width_multiplier * 100):03d}",
                            input_size=224, min_size=MIN_INPUT_SIZE, drop_path_rate=None)
    return build_efficientnet_model(args, stages=V1_STAGES, head_channels=0,
                                    stem_channels=round_channels(STEM_CHANNELS, width_multiplier), act="relu6",
                                    width_multiplier=width_multiplier, bn_momentum=bn_momentum,
                                    bn_epsilon=bn_epsilon)


@builder_doc("Builds MobileNetV2.", extra=_WIDTH.format(head="; the head conv is ``max(1280, 1280 * width)``"
                                                        " rounded to a multiple of 8") + BN_ARGS,
             drop_rate=" (default 0.2)", drop_path=", rising linearly over the blocks to this value",
             defaults={"drop_rate": 0.2})
def MobileNetV2(width_multiplier: float = 1.0, *, bn_momentum: float = 0.9, bn_epsilon: float = 1e-5,
                **common) -> keras.Model:
    args = CommonArgs.parse(common, builder="MobileNetV2", name=f"mobilenet_v2_{round(width_multiplier * 100):03d}",
                            input_size=224, min_size=MIN_INPUT_SIZE, drop_rate=0.2)
    return build_efficientnet_model(args, stages=V2_STAGES, head_channels=_v2_head_channels(width_multiplier),
                                    stem_channels=round_channels(STEM_CHANNELS, width_multiplier), act="relu6",
                                    width_multiplier=width_multiplier, bn_momentum=bn_momentum,
                                    bn_epsilon=bn_epsilon)


_V1_PAPER = "MobileNets: Efficient Convolutional Neural Networks for Mobile Vision Applications " \
            "(Howard et al. 2017, arXiv 1704.04861)"
_V2_PAPER = "MobileNetV2: Inverted Residuals and Linear Bottlenecks (Sandler et al. 2018, arXiv 1801.04381)"
_HALF = (0.5, 0.5, 0.5)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Variant:
    """One registered MobileNetV1 / V2 and timm's default pretrained config of it."""

    family: str
    builder: Callable
    stages: tuple
    width: float
    num_params: int  # timm trainable parameters, 1000 classes
    paper: str
    test_input_size: int | None = None
    mean: tuple = IMAGENET_MEAN
    std: tuple = IMAGENET_STD


VARIANTS = {
    "mobilenet_v1_100": Variant(family="mobilenet_v1", builder=MobileNetV1, stages=V1_STAGES, width=1.0,
                                num_params=4_231_976, paper=_V1_PAPER, test_input_size=256, mean=_HALF, std=_HALF),
    "mobilenet_v2_100": Variant(family="mobilenet_v2", builder=MobileNetV2, stages=V2_STAGES, width=1.0,
                                num_params=3_504_872, paper=_V2_PAPER),
    "mobilenet_v2_140": Variant(family="mobilenet_v2", builder=MobileNetV2, stages=V2_STAGES, width=1.4,
                                num_params=6_108_776, paper=_V2_PAPER),
}

for _name, _v in VARIANTS.items():
    register_model(ModelSpec(
        name=_name,
        family=_v.family,
        builder=_v.builder,
        kwargs={"width_multiplier": _v.width},
        paper=_v.paper,
        reference=f"timm {_name.replace('_v', 'v')}",  # mobilenet_v2_100 -> mobilenetv2_100
        num_params=_v.num_params,
        test_input_size=_v.test_input_size,
        min_input_size=MIN_INPUT_SIZE,
        interpolation="bicubic",
        mean=_v.mean,
        std=_v.std,
        feature_info=feature_info(_v.stages, round_channels(STEM_CHANNELS, _v.width), _v.width),
    ))
