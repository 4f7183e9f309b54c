"""Inception v3.

Paper: "Rethinking the Inception Architecture for Computer Vision", Szegedy
et al. 2016, arXiv 1512.00567.
Reference: timm ``inception_v3.py`` (``inception_v3``), torchvision's
Inception3 with the auxiliary classifier off by default (timm
``aux_logits=False``), which gives the 23,834,568 trainable parameters.

Structure: a stem of plain 3x3 convolutions and max pools (299 -> 35 px),
three InceptionA blocks (``Mixed_5b..5d``), a grid reduction (InceptionB,
``Mixed_6a``), four InceptionC blocks with factorized 1x7 / 7x1 convolutions
(``Mixed_6b..6e``), a second reduction (InceptionD, ``Mixed_7a``), two
InceptionE blocks with split 1x3 / 3x1 branches (``Mixed_7b``, ``Mixed_7c``),
then global average pooling, dropout and the classifier.

Matching the reference:
- Every convolution is torchvision's BasicConv2d: conv without bias, BN with
  epsilon 1e-3 (not PyTorch's default 1e-5; Inception's TF-Slim heritage),
  ReLU.
- Padding is the reference's, not "same" throughout: the stride-2 convs, the
  stem's unpadded 3x3 convs (``Conv2d_2a_3x3``, ``Conv2d_4a_3x3``) and the
  3x3/2 max pools use none ("valid"); the other convs pad to keep the size,
  which for stride 1 and odd kernels (including 1x7 and 7x1) is Keras "same".
- The pooling branches of InceptionA/C/E average 3x3 with stride 1 and padding
  1 counting the padded zeros (PyTorch's ``count_include_pad=True``), not Keras
  "same" average pooling, which excludes them at the border.
- The unpadded stem needs at least 75 px input (75 -> 37 -> 35 -> 17 -> 15 ->
  7 -> 3 -> 1); sides are not multiples of the stride (299 px gives 35, 17, 8).
- The auxiliary classifier (a training-time loss on ``Mixed_6e``) is not
  built, as in timm's default.
- timm initializes convs and the classifier with a truncated normal (std 0.1);
  tfzoo uses its usual He-normal / uniform initializers. Only training from
  scratch sees the difference.

Layer names mirror timm's module paths (``Mixed_6b_branch7x7_2_conv`` is
``Mixed_6b.branch7x7_2.conv``; the BN's ReLU is ``..._bn_act``).
"""

from __future__ import annotations

import keras

from tfzoo.layers import NormConfig, activation, norm_layer
from tfzoo.layers.conv import conv_init
from tfzoo.layers.padded_pooling import avg_pool2d, max_pool2d
from tfzoo.models._builder import CommonArgs, builder_doc
from tfzoo.models.registry import FeatureInfo, ModelSpec, register_model

MIN_INPUT_SIZE = 75
SAME, VALID = "same", "valid"


def _conv(x, filters: int, kernel, name: str, norm: NormConfig, strides: int = 1, padding: str = SAME):
    """torchvision's BasicConv2d: conv (no bias) -> BN -> ReLU.

    Not `tfzoo.layers.conv_norm_act`, which always pads and takes square
    kernels; Inception needs unpadded 3x3 convs and 1x7 / 7x1 kernels. The
    padding modes used here are exact: "valid" is PyTorch's padding 0, and
    "same" at stride 1 with odd kernels pads symmetrically as PyTorch does.
    """
    x = keras.layers.Conv2D(filters, kernel, strides=strides, padding=padding, use_bias=False,
                            kernel_initializer=conv_init(), name=f"{name}_conv")(x)
    x = norm_layer(norm, f"{name}_bn")(x)
    return activation("relu", f"{name}_bn_act")(x)


def _chain(x, name: str, norm: NormConfig, convs):
    """A branch of BasicConv2d layers: ``convs`` is ``[(suffix, filters, kernel[, strides, padding]), ...]``."""
    for suffix, filters, kernel, *rest in convs:
        x = _conv(x, filters, kernel, f"{name}_{suffix}", norm, *rest)
    return x


def _pool_branch(x, filters: int, name: str, norm: NormConfig):
    """3x3/1 average pool counting the padding (PyTorch's default), then a 1x1 BasicConv2d."""
    x = avg_pool2d(x, 3, strides=1, padding=1, name=f"{name}_avg_pool")
    return _conv(x, filters, 1, f"{name}_branch_pool", norm)


def _concat(branches, name: str):
    return keras.layers.Concatenate(axis=-1, name=f"{name}_concat")(branches)


def inception_a(x, name: str, norm: NormConfig, pool_features: int):
    """35x35 block: 1x1, 5x5, double 3x3 and pooling branches."""
    return _concat([
        _chain(x, name, norm, [("branch1x1", 64, 1)]),
        _chain(x, name, norm, [("branch5x5_1", 48, 1), ("branch5x5_2", 64, 5)]),
        _chain(x, name, norm, [("branch3x3dbl_1", 64, 1), ("branch3x3dbl_2", 96, 3), ("branch3x3dbl_3", 96, 3)]),
        _pool_branch(x, pool_features, name, norm),
    ], name)


def inception_b(x, name: str, norm: NormConfig):
    """35 -> 17 grid reduction: strided 3x3, strided double 3x3 and max pool branches."""
    return _concat([
        _chain(x, name, norm, [("branch3x3", 384, 3, 2, VALID)]),
        _chain(x, name, norm, [("branch3x3dbl_1", 64, 1), ("branch3x3dbl_2", 96, 3),
                               ("branch3x3dbl_3", 96, 3, 2, VALID)]),
        max_pool2d(x, 3, strides=2, name=f"{name}_max_pool"),
    ], name)


def inception_c(x, name: str, norm: NormConfig, channels_7x7: int):
    """17x17 block with factorized 7x7 convolutions (1x7 and 7x1)."""
    c7 = channels_7x7
    return _concat([
        _chain(x, name, norm, [("branch1x1", 192, 1)]),
        _chain(x, name, norm, [("branch7x7_1", c7, 1), ("branch7x7_2", c7, (1, 7)), ("branch7x7_3", 192, (7, 1))]),
        _chain(x, name, norm, [("branch7x7dbl_1", c7, 1), ("branch7x7dbl_2", c7, (7, 1)),
                               ("branch7x7dbl_3", c7, (1, 7)), ("branch7x7dbl_4", c7, (7, 1)),
                               ("branch7x7dbl_5", 192, (1, 7))]),
        _pool_branch(x, 192, name, norm),
    ], name)


def inception_d(x, name: str, norm: NormConfig):
    """17 -> 8 grid reduction."""
    return _concat([
        _chain(x, name, norm, [("branch3x3_1", 192, 1), ("branch3x3_2", 320, 3, 2, VALID)]),
        _chain(x, name, norm, [("branch7x7x3_1", 192, 1), ("branch7x7x3_2", 192, (1, 7)),
                               ("branch7x7x3_3", 192, (7, 1)), ("branch7x7x3_4", 192, 3, 2, VALID)]),
        max_pool2d(x, 3, strides=2, name=f"{name}_max_pool"),
    ], name)


def _split_1x3_3x1(x, name: str, prefix: str, norm: NormConfig):
    """The parallel 1x3 and 3x1 convs that end InceptionE's branches, concatenated."""
    return keras.layers.Concatenate(axis=-1, name=f"{name}_{prefix}_concat")([
        _conv(x, 384, (1, 3), f"{name}_{prefix}a", norm),
        _conv(x, 384, (3, 1), f"{name}_{prefix}b", norm),
    ])


def inception_e(x, name: str, norm: NormConfig):
    """8x8 block with expanded (split 1x3 / 3x1) branches."""
    branch3x3 = _chain(x, name, norm, [("branch3x3_1", 384, 1)])
    branch3x3dbl = _chain(x, name, norm, [("branch3x3dbl_1", 448, 1), ("branch3x3dbl_2", 384, 3)])
    return _concat([
        _chain(x, name, norm, [("branch1x1", 320, 1)]),
        _split_1x3_3x1(branch3x3, name, "branch3x3_2", norm),
        _split_1x3_3x1(branch3x3dbl, name, "branch3x3dbl_3", norm),
        _pool_branch(x, 192, name, norm),
    ], name)


# Stem: (timm module, filters, kernel, strides, padding); "pool" rows are 3x3/2 max pools without padding.
STEM = (
    ("Conv2d_1a_3x3", 32, 3, 2, VALID),
    ("Conv2d_2a_3x3", 32, 3, 1, VALID),
    ("Conv2d_2b_3x3", 64, 3, 1, SAME),
    ("Pool1", None, 3, 2, VALID),
    ("Conv2d_3b_1x1", 80, 1, 1, VALID),
    ("Conv2d_4a_3x3", 192, 3, 1, VALID),
    ("Pool2", None, 3, 2, VALID),
)

# Mixed blocks: (timm module, block function, extra arguments).
MIXED = (
    ("Mixed_5b", inception_a, {"pool_features": 32}),
    ("Mixed_5c", inception_a, {"pool_features": 64}),
    ("Mixed_5d", inception_a, {"pool_features": 64}),
    ("Mixed_6a", inception_b, {}),
    ("Mixed_6b", inception_c, {"channels_7x7": 128}),
    ("Mixed_6c", inception_c, {"channels_7x7": 160}),
    ("Mixed_6d", inception_c, {"channels_7x7": 160}),
    ("Mixed_6e", inception_c, {"channels_7x7": 192}),
    ("Mixed_7a", inception_d, {}),
    ("Mixed_7b", inception_e, {}),
    ("Mixed_7c", inception_e, {}),
)

# Last layer at strides 4/8/16/32, as timm's feature_info.
FEATURE_INFO = (FeatureInfo(stride=4, layer="Conv2d_4a_3x3_bn_act"), FeatureInfo(stride=8, layer="Mixed_5d_concat"),
                FeatureInfo(stride=16, layer="Mixed_6e_concat"), FeatureInfo(stride=32, layer="Mixed_7c_concat"))


@builder_doc("Builds Inception v3 (without the auxiliary classifier).", input_size=299, min_size=MIN_INPUT_SIZE,
             drop_path=None, drop_rate="; default 0, torchvision and the paper's training use 0.5", extra="""\
    bn_momentum: Keras BatchNorm momentum (0.9 is PyTorch's 0.1).
    bn_epsilon: BatchNorm epsilon (1e-3, as the reference).
""")
def InceptionV3(*, bn_momentum: float = 0.9, bn_epsilon: float = 1e-3, **common) -> keras.Model:
    args = CommonArgs.parse(common, builder="InceptionV3", name="inception_v3", input_size=299,
                            min_size=MIN_INPUT_SIZE, drop_path_rate=None)
    norm = NormConfig(momentum=bn_momentum, epsilon=bn_epsilon)

    inputs = args.inputs()
    x = inputs
    for module, filters, kernel, strides, padding in STEM:
        if filters is None:
            x = max_pool2d(x, kernel, strides=strides, name=module)
        else:
            x = _conv(x, filters, kernel, module, norm, strides, padding)
    for module, block, extra in MIXED:
        x = block(x, module, norm, **extra)
    return args.finish(inputs, x, classifier_name="fc")


register_model(ModelSpec(
    name="inception_v3",
    family="inception_v3",
    builder=InceptionV3,
    kwargs={},
    paper="Rethinking the Inception Architecture for Computer Vision (Szegedy et al. 2016, arXiv 1512.00567)",
    reference="timm inception_v3",
    num_params=23_834_568,
    input_size=299,
    min_input_size=MIN_INPUT_SIZE,
    crop_pct=0.875,
    interpolation="bicubic",
    mean=(0.5, 0.5, 0.5),
    std=(0.5, 0.5, 0.5),
    feature_info=FEATURE_INFO,
))
