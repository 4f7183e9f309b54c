"""NF-ResNets and NFNets: normalizer-free residual networks.

Papers:
- "Characterizing signal propagation to close the performance gap in
  unnormalized ResNets" (NF-ResNet), Brock et al. 2021, arXiv 2101.08692.
- "High-Performance Large-Scale Image Recognition Without Normalization"
  (NFNet), Brock et al. 2021, arXiv 2102.06171.

Reference: the DeepMind implementation (deepmind-research/nfnets) for the
method, and timm ``nfnet.py`` (``nf_resnet26/50/101``, ``dm_nfnet_f0`` ...
``dm_nfnet_f6``) for the parameter counts, the module names and the outputs
(stored reference tensors in ``tests/reference_data``).

No BatchNorm. Each residual block computes

    h = act(x) * beta;  out = x' + alpha * skip_gain * f(h)

with ``x' = x``, or a (avg pool +) 1x1 conv of ``h`` in transition blocks;
``alpha = 0.2``; ``beta = 1 / expected_std`` of the block input, where the
expected variance grows by ``alpha**2`` per block and resets to
``1 + alpha**2`` after each stage's first (transition) block. Every conv is a
`ScaledWSConv2D` (gain * (w - mean) / sqrt(max(N var, 1e-4)), with bias).
Each activation is scaled by its gamma constant (`NF_GAMMAS`: relu 1.71396,
gelu 1.70150, silu 1.78813), restoring unit variance for unit-Gaussian input.

NFNet-F (``dm_nfnet_f*``, DeepMind's F-series): a 4-conv stem (16, 32, 64,
128 channels, stride 4 in total), bottleneck ratio 0.5 with an extra grouped
3x3 conv (group width 128), squeeze-excite (ratio 0.5, ReLU) whose output is
doubled, widths 256/512/1536/1536 with depths N * (1, 2, 6, 3), a learnable
``skipinit_gain`` initialised to 0 on every residual branch, a 1x1 final conv
to 3072 (2 x 1536) channels and GELU. Convolutions pad TF-style ("same", the
bottom/right gets the extra pixel), as the JAX reference and timm's
``ScaledStdConv2dSame`` do. Dropout before the classifier (``drop_rate``) is 0.2, 0.3, 0.4,
0.4, 0.5, 0.5, 0.5 for F0-F6 (the builder's default); train / test sizes
(F0 192/256 ... F6 448/576) are in `tfzoo.model_info`.

NF-ResNet (timm's pre-activation ``nf_resnet*``): 7x7/2 stem conv + 3x3/2
max pool (padding -inf), ResNet-v1.5 bottlenecks (ratio 0.25, widths 256 ...
2048), ReLU, no SE, no final conv, PyTorch symmetric padding. The residual
branch starts at zero through the last conv's gain (initialised to 0).

Matching timm, and where it differs from DeepMind:
- timm's NF-ResNets fold the activation gamma into every conv's weight scale
  instead of the activation (``gamma_in_act=False``), so the stem conv is
  scaled by gamma too and the final ReLU is not; tfzoo follows timm there
  (``gamma_in_act`` in the table). ``dm_nfnet_*`` apply gamma in the
  activation, as DeepMind.
- Weight-standardization epsilon: see `tfzoo.layers.ws_conv`; tfzoo uses
  DeepMind's ``max(N var, 1e-4)`` by default. The stored reference outputs
  were recorded from timm with ``std_conv_eps=1e-10``, where the two formulas
  agree; ``std_conv_eps=1e-5`` computes timm's form, which models loaded
  from timm checkpoints use (``tests/reference_data/pretrained``).
- GELU is the exact (erf) form, as timm's ported weights use.
- Stochastic depth grows linearly with the block index as in DeepMind,
  ``drop_path_rate * index / num_blocks`` (timm: ``index / (num_blocks - 1)``).
- The classifier, ``head_fc``, has timm's module name; AGC excludes it.

Layer names mirror timm's module paths: ``stem_conv1``,
``stages_1_0_downsample_conv``, ``stages_1_0_conv2b``,
``stages_1_0_attn_last_fc1``, ``final_conv``, ``head_fc``; the block's
``skipinit_gain`` lives in the `NFResidual` layer named after the block
(``stages_1_0``).
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import keras

from tfzoo.layers.bottleneck import RESNET_SE_NAMES
from tfzoo.layers.conv import _padding as symmetric_padding
from tfzoo.layers.conv import make_divisible
from tfzoo.layers.drop_path import DropPath
from tfzoo.layers.nf_layers import NF_GAMMAS, NFResidual, ScaleByConstant, ScaledActivation
from tfzoo.layers.padded_pooling import max_pool2d
from tfzoo.layers.squeeze_excite import squeeze_excite
from tfzoo.layers.ws_conv import ScaledWSConv2D
from tfzoo.models._builder import CommonArgs, builder_doc, one_of, resolve_variant
from tfzoo.models.registry import FeatureInfo, ModelSpec, register_model

MIN_INPUT_SIZE = 32


def nf_conv_init() -> keras.initializers.Initializer:
    """Unit-variance-preserving kaiming init (fan-in, linear), as timm and DeepMind initialise these convs.

    A fresh instance per layer, for the reason `tfzoo.layers.conv.conv_init` gives.
    """
    return keras.initializers.VarianceScaling(scale=1.0, mode="fan_in", distribution="untruncated_normal")


class NFArch(NamedTuple):
    """One row of the architecture table."""

    depths: tuple
    channels: tuple
    stem: str  # "7x7_pool" (NF-ResNet) or "deep_quad" (NFNet)
    stem_channels: int
    bottle_ratio: float
    act: str
    group_size: int | None = None
    extra_conv: bool = False  # second grouped 3x3 conv (NFNet)
    se_ratio: float = 0.0  # squeeze-excite width / block width, 0 for none
    num_features: int = 0  # final 1x1 conv width, 0 for none
    gamma_in_act: bool = True  # False: timm NF-ResNet folds gamma into the convs
    same_padding: bool = False  # TF "same" padding (ported JAX weights) vs PyTorch symmetric
    skipinit: bool = False  # learnable scalar skip gain (init 0) instead of a zero conv gain
    drop_rate: float = 0.0  # default classifier dropout
    alpha: float = 0.2
    se_gain: float = 2.0


def _nf_resnet(depths) -> NFArch:
    return NFArch(depths=depths, channels=(256, 512, 1024, 2048), stem="7x7_pool", stem_channels=64,
                  bottle_ratio=0.25, act="relu", gamma_in_act=False)


def _dm_nfnet(multiplier: int, drop_rate: float) -> NFArch:
    return NFArch(depths=tuple(multiplier * d for d in (1, 2, 6, 3)), channels=(256, 512, 1536, 1536),
                  stem="deep_quad", stem_channels=128, bottle_ratio=0.5, act="gelu", group_size=128,
                  extra_conv=True, se_ratio=0.5, num_features=3072, same_padding=True, skipinit=True,
                  drop_rate=drop_rate)


ARCHITECTURES = {
    "nf_resnet26": _nf_resnet((2, 2, 2, 2)),
    "nf_resnet50": _nf_resnet((3, 4, 6, 3)),
    "nf_resnet101": _nf_resnet((3, 4, 23, 3)),
    **{f"dm_nfnet_f{i}": _dm_nfnet(i + 1, rate) for i, rate in enumerate((0.2, 0.3, 0.4, 0.4, 0.5, 0.5, 0.5))},
}


class _Context(NamedTuple):
    arch: NFArch
    gamma: float  # the activation's gamma constant
    std_conv_eps: float | None = None  # timm's weight-standardization epsilon (None: DeepMind's form)

    @property
    def act_gamma(self) -> float:
        return self.gamma if self.arch.gamma_in_act else 1.0

    @property
    def conv_gamma(self) -> float:
        return 1.0 if self.arch.gamma_in_act else self.gamma


def _conv(x, ctx: _Context, filters: int, kernel_size: int, *, name: str, strides: int = 1, groups: int = 1,
          gain_init: float = 1.0):
    if ctx.arch.same_padding:
        padding = "same"
    else:
        x, padding = symmetric_padding(x, kernel_size, strides, 1, name)
    return ScaledWSConv2D(filters, kernel_size, strides=strides, padding=padding, groups=groups,
                          gain_init=gain_init, gamma=ctx.conv_gamma, kernel_initializer=nf_conv_init(),
                          std_conv_eps=ctx.std_conv_eps, name=name)(x)


def _act(x, ctx: _Context, name: str, beta: float = 1.0):
    return ScaledActivation(ctx.arch.act, scale=ctx.act_gamma * beta, name=name)(x)


def _stem(x, ctx: _Context):
    arch = ctx.arch
    if arch.stem == "7x7_pool":
        x = _conv(x, ctx, arch.stem_channels, 7, strides=2, name="stem_conv")
        # The stem conv output is signed, so the pool's padding must count as -inf (max_pool2d does).
        return max_pool2d(x, 3, strides=2, padding=1, name="stem_pool")
    widths = (arch.stem_channels // 8, arch.stem_channels // 4, arch.stem_channels // 2, arch.stem_channels)
    for i, (width, strides) in enumerate(zip(widths, (2, 1, 1, 2))):
        if i:
            x = _act(x, ctx, f"stem_act{i + 1}")
        x = _conv(x, ctx, width, 3, strides=strides, name=f"stem_conv{i + 1}")
    return x


def nf_block(x, ctx: _Context, out_channels: int, *, name: str, strides: int, beta: float, drop_path_rate: float):
    """timm's ``NormFreeBlock`` (ResNet form): pre-activation bottleneck with a scaled residual.

    Args:
        x: Block input.
        ctx: Architecture row and activation gamma.
        out_channels: Output width.
        name: Layer-name prefix, e.g. ``"stages_1_0"``.
        strides: Stride of the (first) 3x3 conv and the shortcut.
        beta: ``1 / expected_std`` of `x`.
        drop_path_rate: Stochastic depth rate of the residual branch.
    """
    arch = ctx.arch
    mid = make_divisible(out_channels * arch.bottle_ratio, 8)
    groups = mid // arch.group_size if arch.group_size else 1
    if arch.group_size:
        mid = arch.group_size * groups
    h = _act(x, ctx, f"{name}_act1", beta=beta)
    shortcut = x
    if strides != 1 or x.shape[-1] != out_channels:
        pooled = h
        if strides > 1:
            # timm's AvgPool2d(2, 2, ceil_mode=True, count_include_pad=False) is Keras "same" pooling.
            pooled = keras.layers.AveragePooling2D(2, strides=strides, padding="same",
                                                   name=f"{name}_downsample_pool")(h)
        shortcut = _conv(pooled, ctx, out_channels, 1, name=f"{name}_downsample_conv")
    y = _conv(h, ctx, mid, 1, name=f"{name}_conv1")
    y = _act(y, ctx, f"{name}_act2")
    y = _conv(y, ctx, mid, 3, strides=strides, groups=groups, name=f"{name}_conv2")
    if arch.extra_conv:
        y = _act(y, ctx, f"{name}_act2b")
        y = _conv(y, ctx, mid, 3, groups=groups, name=f"{name}_conv2b")
    y = _act(y, ctx, f"{name}_act3")
    # The branch starts at zero: through the skip gain, or else through the last conv's gain.
    y = _conv(y, ctx, out_channels, 1, gain_init=1.0 if arch.skipinit else 0.0, name=f"{name}_conv3")
    if arch.se_ratio:
        reduced = make_divisible(out_channels * arch.se_ratio, 8, round_limit=0.0)
        y = squeeze_excite(y, reduced, name=f"{name}_attn_last", conv_names=RESNET_SE_NAMES)
        y = ScaleByConstant(arch.se_gain, name=f"{name}_attn_gain")(y)
    if drop_path_rate > 0.0:
        y = DropPath(drop_path_rate, name=f"{name}_drop_path")(y)
    return NFResidual(alpha=arch.alpha, skipinit=arch.skipinit, name=name)([y, shortcut])


def feature_info(arch: NFArch) -> tuple:
    """Each stage's last block (strides 4, 8, 16), then the final activation (stride 32)."""
    stage_ends = tuple(FeatureInfo(stride=4 * 2 ** i, layer=f"stages_{i}_{n - 1}") for i, n in enumerate(arch.depths))
    return stage_ends[:3] + (FeatureInfo(stride=32, layer="final_act"),)


# Each entry point's variants: variant -> registered name (the `ARCHITECTURES` key).
FAMILY_TABLES = {
    "nfnet": {name[len("dm_nfnet_"):]: name for name in ARCHITECTURES if name.startswith("dm_nfnet_")},
    "nf_resnet": {name[len("nf_resnet"):]: name for name in ARCHITECTURES if name.startswith("nf_resnet")},
}


def _build(family: str, variant: str, depths, std_conv_eps, common) -> keras.Model:
    """The one body behind `NFNet` and `NFResNet`."""
    arch_name = resolve_variant(FAMILY_TABLES[family], variant, family)
    arch = ARCHITECTURES[arch_name]
    if depths is not None:
        arch = arch._replace(depths=tuple(int(d) for d in depths))
    args = CommonArgs.parse(common, builder=family, name=arch_name, input_size=224, min_size=MIN_INPUT_SIZE,
                            drop_rate=arch.drop_rate)
    ctx = _Context(arch, NF_GAMMAS[arch.act], std_conv_eps)

    inputs = args.inputs()
    x = _stem(inputs, ctx)
    total, index, expected_var = sum(arch.depths), 0, 1.0
    for stage, depth in enumerate(arch.depths):
        for block in range(depth):
            x = nf_block(x, ctx, arch.channels[stage], strides=2 if stage > 0 and block == 0 else 1,
                         beta=expected_var ** -0.5, drop_path_rate=args.drop_path_rate * index / total,
                         name=f"stages_{stage}_{block}")
            if block == 0:
                expected_var = 1.0  # a transition block's output variance restarts from its shortcut's
            expected_var += arch.alpha ** 2
            index += 1
    if arch.num_features:
        x = _conv(x, ctx, arch.num_features, 1, name="final_conv")
    x = _act(x, ctx, "final_act")
    return args.finish(inputs, x, classifier_name="head_fc", pool_name="head_global_pool")


_DEPTHS = """\
    depths: Blocks per stage, replacing the table's (the tests count the largest
        variants' parameters from a shallow build, see tests/models/test_nfnet.py).
    std_conv_eps: None for DeepMind's weight standardization (the default), or
        timm's epsilon (1e-5), added to the variance inside the square root as
        timm's ``ScaledStdConv2d`` does; models loaded from timm checkpoints set
        it (`tfzoo.convert.pretrained`).
"""
_DROP_PATH = ", reached by the last block"


@builder_doc("Builds NFNet-F0 ... F6 (DeepMind's ``dm_nfnet_*``).",
             variant=one_of(FAMILY_TABLES["nfnet"]),
             drop_rate="; None for the variant's (F0 0.2 ... F6 0.5)", drop_path=_DROP_PATH, extra=_DEPTHS,
             defaults={"drop_rate": None})
def NFNet(variant: str = "f0", *, depths: tuple | None = None, std_conv_eps: float | None = None,
          **common) -> keras.Model:
    return _build("nfnet", variant, depths, std_conv_eps, common)


@builder_doc("Builds NF-ResNet-26/50/101 (timm's ``nf_resnet*``).",
             variant=one_of(FAMILY_TABLES["nf_resnet"]), drop_path=_DROP_PATH, extra=_DEPTHS)
def NFResNet(variant: str = "50", *, depths: tuple | None = None, std_conv_eps: float | None = None,
             **common) -> keras.Model:
    return _build("nf_resnet", variant, depths, std_conv_eps, common)


_PAPERS = {
    "nf_resnet": "Characterizing signal propagation to close the performance gap in unnormalized ResNets "
                 "(Brock et al. 2021, arXiv 2101.08692)",
    "nfnet": "High-Performance Large-Scale Image Recognition Without Normalization (Brock et al. 2021, "
             "arXiv 2102.06171)",
}



@dataclasses.dataclass(frozen=True, kw_only=True)
class Variant:
    """timm's figures for one registered name (dm_nfnet_*.dm_in1k, nf_resnet50.ra2_in1k ...; F-series sizes
    are the paper's)."""

    kind: str  # "nfnet" or "nf_resnet"
    num_params: int  # trainable, 1000 classes
    input_size: int
    test_input_size: int
    crop_pct: float


VARIANTS = {
    "nf_resnet26": Variant(kind="nf_resnet", num_params=15_995_176, input_size=224, test_input_size=224, crop_pct=0.9),
    "nf_resnet50": Variant(kind="nf_resnet", num_params=25_557_032, input_size=256, test_input_size=288, crop_pct=0.94),
    "nf_resnet101": Variant(kind="nf_resnet", num_params=44_549_160, input_size=224, test_input_size=224,
                            crop_pct=0.9),
    "dm_nfnet_f0": Variant(kind="nfnet", num_params=71_489_284, input_size=192, test_input_size=256, crop_pct=0.9),
    "dm_nfnet_f1": Variant(kind="nfnet", num_params=132_634_256, input_size=224, test_input_size=320, crop_pct=0.91),
    "dm_nfnet_f2": Variant(kind="nfnet", num_params=193_779_228, input_size=256, test_input_size=352, crop_pct=0.92),
    "dm_nfnet_f3": Variant(kind="nfnet", num_params=254_924_200, input_size=320, test_input_size=416, crop_pct=0.94),
    "dm_nfnet_f4": Variant(kind="nfnet", num_params=316_069_172, input_size=384, test_input_size=512, crop_pct=0.951),
    "dm_nfnet_f5": Variant(kind="nfnet", num_params=377_214_144, input_size=416, test_input_size=544, crop_pct=0.954),
    "dm_nfnet_f6": Variant(kind="nfnet", num_params=438_359_116, input_size=448, test_input_size=576, crop_pct=0.956),
}


def _register():
    for name, variant in VARIANTS.items():
        register_model(ModelSpec(
            name=name,
            # One family, as timm's nfnet.py: the tests' per-family save/load sample is then the two
            # NF-ResNets, and test_nfnet.py round-trips the F-series' extra layers on a small model.
            family="nfnet",
            builder=NFNet if variant.kind == "nfnet" else NFResNet,
            kwargs={"variant": name[len("dm_nfnet_" if variant.kind == "nfnet" else "nf_resnet"):]},
            paper=_PAPERS[variant.kind],
            reference=f"timm {name}",
            num_params=variant.num_params,
            input_size=variant.input_size,
            test_input_size=variant.test_input_size,
            min_input_size=MIN_INPUT_SIZE,
            crop_pct=variant.crop_pct,
            interpolation="bicubic",
            feature_info=feature_info(ARCHITECTURES[name]),
        ))


_register()
