"""MobileNetV3 Large and Small.

Paper: "Searching for MobileNetV3", Howard et al. 2019, arXiv 1905.02244.
Reference: timm ``mobilenetv3.py`` (``mobilenetv3_large_100`` /
``mobilenetv3_small_100``), which has the same trainable parameters as
torchvision's ``mobilenet_v3_large`` / ``mobilenet_v3_small``.

Matching the reference:
- Strided convolutions pad symmetrically (PyTorch), not Keras "same".
- BatchNorm epsilon 1e-5 and momentum 0.9 (PyTorch defaults). keras.applications
  uses momentum 0.999, whose moving averages lag so far behind the weights that
  a model trained for a few hundred steps evaluates at chance.
- Squeeze-excite width is ``make_divisible(expanded_channels / 4)``, with ReLU
  and a hard-sigmoid gate.
- The "efficient head" pools before a 1x1 conv with bias (1280 / 1024 wide),
  then hard-swish, dropout and the classifier. A width multiplier scales
  every block (and the stem when >= 0.75) but not the head, as in timm.

Layer names mirror timm's module paths (``blocks_3_1_conv_dw`` is
``blocks.3.1.conv_dw``), so a converter is a name table and a transpose.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import keras

from tfzoo.errors import UsageError
from tfzoo.layers import (NormConfig, activation, conv_norm_act, depthwise_separable, global_pool, inverted_residual,
                          make_divisible)
from tfzoo.layers.whole_map_conv import WholeMapConv2D
from tfzoo.models._builder import BN_ARGS, CommonArgs, builder_doc, one_of, resolve_variant, variant_entry_point
from tfzoo.models.registry import FeatureInfo, ModelSpec, register_model


class Block(NamedTuple):
    """One row of an architecture table (timm's block string, spelled out)."""

    kind: str  # "ds" depthwise separable, "ir" inverted residual, "cn" conv-bn-act
    repeats: int
    kernel: int
    stride: int
    expansion: float
    channels: int
    se_ratio: float
    act: str  # "relu" or "hard_swish"


RE, HS = "relu", "hard_swish"


@dataclasses.dataclass(frozen=True, kw_only=True)
class Arch:
    """One MobileNetV3 size."""

    stages: tuple  # stages of `Block` rows; each is one stage (timm's ``blocks.<stage>``)
    num_features: int  # width of the efficient head's 1x1 conv
    feature_info: tuple  # `FeatureInfo` at strides 4, 8, 16, 32 (timm's feature_info)


def _features(*layers) -> tuple:
    return tuple(FeatureInfo(stride=4 * 2 ** i, layer=layer) for i, layer in enumerate(layers))


ARCHITECTURES = {
    "large": Arch(
        stages=(
            [Block(kind="ds", repeats=1, kernel=3, stride=1, expansion=1, channels=16, se_ratio=0, act=RE)],
            [Block(kind="ir", repeats=1, kernel=3, stride=2, expansion=4, channels=24, se_ratio=0, act=RE),
             Block(kind="ir", repeats=1, kernel=3, stride=1, expansion=3, channels=24, se_ratio=0, act=RE)],
            [Block(kind="ir", repeats=3, kernel=5, stride=2, expansion=3, channels=40, se_ratio=0.25, act=RE)],
            [Block(kind="ir", repeats=1, kernel=3, stride=2, expansion=6, channels=80, se_ratio=0, act=HS),
             Block(kind="ir", repeats=1, kernel=3, stride=1, expansion=2.5, channels=80, se_ratio=0, act=HS),
             Block(kind="ir", repeats=2, kernel=3, stride=1, expansion=2.3, channels=80, se_ratio=0, act=HS)],
            [Block(kind="ir", repeats=2, kernel=3, stride=1, expansion=6, channels=112, se_ratio=0.25, act=HS)],
            [Block(kind="ir", repeats=3, kernel=5, stride=2, expansion=6, channels=160, se_ratio=0.25, act=HS)],
            [Block(kind="cn", repeats=1, kernel=1, stride=1, expansion=1, channels=960, se_ratio=0, act=HS)],
        ),
        num_features=1280,
        feature_info=_features("blocks_1_1_add", "blocks_2_2_add", "blocks_4_1_add", "blocks_6_0_bn1_act"),
    ),
    "small": Arch(
        stages=(
            [Block(kind="ds", repeats=1, kernel=3, stride=2, expansion=1, channels=16, se_ratio=0.25, act=RE)],
            [Block(kind="ir", repeats=1, kernel=3, stride=2, expansion=4.5, channels=24, se_ratio=0, act=RE),
             Block(kind="ir", repeats=1, kernel=3, stride=1, expansion=3.67, channels=24, se_ratio=0, act=RE)],
            [Block(kind="ir", repeats=1, kernel=5, stride=2, expansion=4, channels=40, se_ratio=0.25, act=HS),
             Block(kind="ir", repeats=2, kernel=5, stride=1, expansion=6, channels=40, se_ratio=0.25, act=HS)],
            [Block(kind="ir", repeats=2, kernel=5, stride=1, expansion=3, channels=48, se_ratio=0.25, act=HS)],
            [Block(kind="ir", repeats=3, kernel=5, stride=2, expansion=6, channels=96, se_ratio=0.25, act=HS)],
            [Block(kind="cn", repeats=1, kernel=1, stride=1, expansion=1, channels=576, se_ratio=0, act=HS)],
        ),
        num_features=1024,
        feature_info=_features("blocks_0_0_bn2", "blocks_1_1_add", "blocks_3_1_add", "blocks_5_0_bn1_act"),
    ),
}

STEM_CHANNELS = 16
MIN_INPUT_SIZE = 32  # total stride


def _blocks(x, stages, width_multiplier: float, norm: NormConfig, drop_path_rate: float):
    total = sum(b.repeats for stage in stages for b in stage)
    index = 0
    for stage_idx, stage in enumerate(stages):
        block_idx = 0
        for block in stage:
            for repeat in range(block.repeats):
                name = f"blocks_{stage_idx}_{block_idx}"
                stride = block.stride if repeat == 0 else 1
                out_channels = make_divisible(block.channels * width_multiplier)
                in_channels = x.shape[-1]
                dpr = drop_path_rate * index / total
                if block.kind == "ds":
                    se = make_divisible(in_channels * block.se_ratio) if block.se_ratio else None
                    x = depthwise_separable(x, out_channels, block.kernel, strides=stride, act=block.act,
                                            se_channels=se, se_gate="hard_sigmoid", norm=norm,
                                            drop_path_rate=dpr, name=name)
                elif block.kind == "ir":
                    mid = make_divisible(in_channels * block.expansion)
                    se = make_divisible(mid * block.se_ratio) if block.se_ratio else None
                    x = inverted_residual(x, out_channels, mid, block.kernel, strides=stride, act=block.act,
                                          se_channels=se, se_gate="hard_sigmoid", norm=norm,
                                          drop_path_rate=dpr, name=name)
                else:
                    x = conv_norm_act(x, out_channels, block.kernel, strides=stride, act=block.act, norm=norm,
                                      conv_name=f"{name}_conv", norm_name=f"{name}_bn1")
                block_idx += 1
                index += 1
    return x


@builder_doc("Builds MobileNetV3 Large or Small.", variant=one_of(ARCHITECTURES),
             extra="    width_multiplier: Channel multiplier (timm's ``channel_multiplier``), e.g. 0.75.\n" + BN_ARGS,
             drop_rate=" (default 0.2, the paper's)", drop_path=", rising linearly over the blocks",
             defaults={"drop_rate": 0.2})
def MobileNetV3(variant: str = "large", *, width_multiplier: float = 1.0, bn_momentum: float = 0.9,
                bn_epsilon: float = 1e-5, **common) -> keras.Model:
    arch = resolve_variant(ARCHITECTURES, variant, "mobilenet_v3")
    args = CommonArgs.parse(common, builder="MobileNetV3", name=f"mobilenet_v3_{variant}", input_size=224,
                            min_size=MIN_INPUT_SIZE, drop_rate=0.2)
    if width_multiplier <= 0:
        raise UsageError(f"{args.name}: width_multiplier must be positive, got {width_multiplier}")
    norm = NormConfig(momentum=bn_momentum, epsilon=bn_epsilon)

    inputs = args.inputs()
    stem = STEM_CHANNELS if width_multiplier < 0.75 else make_divisible(STEM_CHANNELS * width_multiplier)
    x = conv_norm_act(inputs, stem, 3, strides=2, act=HS, norm=norm, conv_name="conv_stem", norm_name="bn1")
    x = _blocks(x, arch.stages, width_multiplier, norm, args.drop_path_rate)
    if args.include_top:  # the efficient head pools first, then a 1x1 conv with bias
        x = global_pool(x, "avg", keepdims=True)
        x = WholeMapConv2D(arch.num_features, 1, use_bias=True, name="conv_head")(x)
        x = activation(HS, "act2")(x)
        x = keras.layers.Flatten(name="flatten")(x)
    return args.finish(inputs, x, head_pooling=None)


MobileNetV3Large = variant_entry_point(MobileNetV3, "large", "MobileNetV3Large", "MobileNetV3-Large")
MobileNetV3Small = variant_entry_point(MobileNetV3, "small", "MobileNetV3Small", "MobileNetV3-Small")


_PAPER = "Searching for MobileNetV3 (Howard et al. 2019, arXiv 1905.02244)"



@dataclasses.dataclass(frozen=True, kw_only=True)
class Variant:
    """One registered MobileNetV3 and timm's default pretrained config of it."""

    variant: str  # "large" or "small"
    width: float
    num_params: int  # timm trainable parameters, 1000 classes
    reference: str
    interpolation: str = "bilinear"
    aliases: tuple = ()


VARIANTS = {
    "mobilenet_v3_large": Variant(variant="large", width=1.0, num_params=5_483_032, interpolation="bicubic",
                                  aliases=("mobilenet_v3",), reference="timm mobilenetv3_large_100"),
    "mobilenet_v3_large_075": Variant(variant="large", width=0.75, num_params=3_993_528,
                                      reference="timm mobilenetv3_large_075"),
    "mobilenet_v3_small": Variant(variant="small", width=1.0, num_params=2_542_856,
                                  reference="timm mobilenetv3_small_100"),
    "mobilenet_v3_small_075": Variant(variant="small", width=0.75, num_params=2_041_872,
                                      reference="timm mobilenetv3_small_075"),
    "mobilenet_v3_small_050": Variant(variant="small", width=0.5, num_params=1_593_224,
                                      reference="timm mobilenetv3_small_050"),
}

for _name, _v in VARIANTS.items():
    register_model(ModelSpec(
        name=_name,
        family="mobilenet_v3",
        builder=MobileNetV3,
        kwargs={"variant": _v.variant, "width_multiplier": _v.width},
        paper=_PAPER,
        reference=_v.reference,
        num_params=_v.num_params,
        min_input_size=MIN_INPUT_SIZE,
        interpolation=_v.interpolation,
        aliases=_v.aliases,
        feature_info=ARCHITECTURES[_v.variant].feature_info,
    ))
