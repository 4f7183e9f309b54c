"""DenseNet-BC 121, 161, 169 and 201.

Paper: "Densely Connected Convolutional Networks", Huang et al. 2017,
arXiv 1608.06993.
Reference: timm ``densenet.py`` (``densenet121`` ... ``densenet201``), a copy
of torchvision's DenseNet with the same parameters.

Structure (torchvision / timm):
- Stem: conv 7x7/2 (``2 * growth_rate`` channels: 64, or 96 for 161), BN,
  ReLU, max pool 3x3/2 with padding 1.
- Four dense blocks. Dense layer ``i`` sees the concatenation of the block
  input and every earlier layer's output and adds ``growth_rate`` channels:
  BN-ReLU-conv 1x1 (``bn_size * growth_rate`` = 4k channels), BN-ReLU-conv 3x3.
- Transitions between blocks halve the channels and the resolution:
  BN-ReLU-conv 1x1-average pool 2x2/2.
- A final BN + ReLU (timm ``features.norm5``, a BatchNormAct) before global
  average pooling and the classifier.

Matching the reference:
- BatchNorm epsilon 1e-5 and momentum 0.9 (PyTorch defaults).
- The dense block concatenates in the reference's channel order (block input
  first). It keeps a running concatenation instead of re-concatenating the
  whole list per layer as PyTorch does; the tensors are the same.
- torchvision's ``memory_efficient`` (gradient checkpointing) does not change
  the function and has no counterpart here. timm's anti-aliased and deep-stem
  variants (``densenetblur121d``, ``densenet264d``) are not built.

Layer names mirror timm's module paths (``features_denseblock2_denselayer3_conv1``
is ``features.denseblock2.denselayer3.conv1``).
"""

from __future__ import annotations

import dataclasses

import keras

from tfzoo.layers import NormConfig, activation, conv2d, conv_norm_act, norm_layer
from tfzoo.layers.padded_pooling import max_pool2d
from tfzoo.models._builder import BN_ARGS, CommonArgs, builder_doc, one_of, resolve_variant, variant_entry_point
from tfzoo.models.registry import FeatureInfo, ModelSpec, register_model


@dataclasses.dataclass(frozen=True, kw_only=True)
class Variant:
    """One DenseNet variant and timm's default pretrained config of it."""

    growth_rate: int
    block_config: tuple  # dense layers per block
    num_params: int  # timm trainable parameters, 1000 classes
    # densenet121.ra_in1k evaluates at 288 px (crop 0.95); the others (tv_in1k) at 224.
    test_input_size: int | None = None


VARIANTS = {
    "121": Variant(growth_rate=32, block_config=(6, 12, 24, 16), num_params=7_978_856, test_input_size=288),
    "161": Variant(growth_rate=48, block_config=(6, 12, 36, 24), num_params=28_681_000),
    "169": Variant(growth_rate=32, block_config=(6, 12, 32, 32), num_params=14_149_480),
    "201": Variant(growth_rate=32, block_config=(6, 12, 48, 32), num_params=20_013_928),
}

BN_SIZE = 4  # bottleneck width = BN_SIZE * growth_rate
MIN_INPUT_SIZE = 32  # total stride
# Last layer at strides 4/8/16/32, as timm's feature_info: the first three
# dense blocks (before their transitions), then the final BN + ReLU.
FEATURE_INFO = (FeatureInfo(stride=4, layer="features_denseblock1_concat"),
                FeatureInfo(stride=8, layer="features_denseblock2_concat"),
                FeatureInfo(stride=16, layer="features_denseblock3_concat"),
                FeatureInfo(stride=32, layer="features_norm5_act"))


def _norm_relu(x, norm: NormConfig, name: str):
    """timm's BatchNormAct2d: BN ``name`` and its ReLU ``f"{name}_act"``."""
    x = norm_layer(norm, name)(x)
    return activation("relu", f"{name}_act")(x)


def _dense_block(x, num_layers: int, growth_rate: int, norm: NormConfig, dropout: float, name: str):
    for i in range(1, num_layers + 1):
        layer = f"{name}_denselayer{i}"
        y = _norm_relu(x, norm, f"{layer}_norm1")
        y = conv2d(y, BN_SIZE * growth_rate, 1, name=f"{layer}_conv1")
        y = _norm_relu(y, norm, f"{layer}_norm2")
        y = conv2d(y, growth_rate, 3, name=f"{layer}_conv2")
        if dropout > 0.0:
            y = keras.layers.Dropout(dropout, name=f"{layer}_drop")(y)
        concat_name = f"{name}_concat" if i == num_layers else f"{layer}_concat"
        x = keras.layers.Concatenate(axis=-1, name=concat_name)([x, y])
    return x


def _transition(x, norm: NormConfig, name: str):
    x = _norm_relu(x, norm, f"{name}_norm")
    x = conv2d(x, x.shape[-1] // 2, 1, name=f"{name}_conv")
    return keras.layers.AveragePooling2D(2, strides=2, padding="valid", name=f"{name}_pool")(x)


@builder_doc("Builds DenseNet-BC 121, 161, 169 or 201.", variant=one_of(VARIANTS), drop_path=None,
             extra="""\
    dense_layer_dropout: Dropout on each dense layer's new features (timm
        ``proj_drop_rate``, torchvision ``drop_rate``; default 0).
""" + BN_ARGS)
def DenseNet(variant: str = "121", *, dense_layer_dropout: float = 0.0, bn_momentum: float = 0.9,
             bn_epsilon: float = 1e-5, **common) -> keras.Model:
    arch = resolve_variant(VARIANTS, variant, "densenet")
    args = CommonArgs.parse(common, builder="DenseNet", name=f"densenet{variant}", input_size=224,
                            min_size=MIN_INPUT_SIZE, drop_path_rate=None)
    norm = NormConfig(momentum=bn_momentum, epsilon=bn_epsilon)

    inputs = args.inputs()
    x = conv_norm_act(inputs, 2 * arch.growth_rate, 7, strides=2, act="relu", norm=norm,
                      conv_name="features_conv0", norm_name="features_norm0")
    x = max_pool2d(x, 3, strides=2, padding=1, name="features_pool0")
    for index, num_layers in enumerate(arch.block_config, start=1):
        x = _dense_block(x, num_layers, arch.growth_rate, norm, dense_layer_dropout, f"features_denseblock{index}")
        if index < len(arch.block_config):
            x = _transition(x, norm, f"features_transition{index}")
    x = _norm_relu(x, norm, "features_norm5")
    return args.finish(inputs, x)


DenseNet121 = variant_entry_point(DenseNet, "121", "DenseNet121", "DenseNet-121")
DenseNet161 = variant_entry_point(DenseNet, "161", "DenseNet161", "DenseNet-161")
DenseNet169 = variant_entry_point(DenseNet, "169", "DenseNet169", "DenseNet-169")
DenseNet201 = variant_entry_point(DenseNet, "201", "DenseNet201", "DenseNet-201")


_PAPER = "Densely Connected Convolutional Networks (Huang et al. 2017, arXiv 1608.06993)"

for _variant, _arch in VARIANTS.items():
    register_model(ModelSpec(
        name=f"densenet{_variant}",
        family="densenet",
        builder=DenseNet,
        kwargs={"variant": _variant},
        paper=_PAPER,
        reference=f"timm densenet{_variant}",
        num_params=_arch.num_params,
        input_size=224,
        test_input_size=_arch.test_input_size,
        min_input_size=MIN_INPUT_SIZE,
        crop_pct=0.875,
        interpolation="bicubic",
        feature_info=FEATURE_INFO,
    ))
