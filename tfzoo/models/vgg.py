"""VGG-11/13/16/19, with and without BatchNorm, and global-average-pooling (GAP) head versions.

Paper: "Very Deep Convolutional Networks for Large-Scale Image Recognition",
Simonyan & Zisserman 2014, arXiv 1409.1556.
Reference: timm ``vgg.py`` (``vgg11`` ... ``vgg19_bn``), which has the
parameters of torchvision's VGG with the fully connected layers written as
convolutions.

Matching the reference:
- The conv stack: 3x3 convs with bias (kept in the ``_bn`` versions, as in
  timm / torchvision), [BatchNorm], ReLU; 2x2/2 max pools. Layer names are
  timm's ``features.<index>`` (``features_0`` conv, ``features_1`` BN or ReLU ...).
- Pre-logits (timm ``ConvMlp``): 7x7 conv -> 4096 (``pre_logits_fc1``),
  ReLU, dropout, 1x1 conv 4096 (``pre_logits_fc2``), ReLU; then the
  classifier head: global average pooling, dropout, ``head_fc``. At 224 px the
  7x7 conv sees the whole 7x7 map (the paper's first FC layer); larger inputs
  give a map the head averages.
- Small inputs: when the feature map is smaller than 7x7 (inputs under
  224 px), timm first resizes it to ``max(7, size)`` by PyTorch adaptive average
  pooling, which for a smaller map replicates rows and columns (each output
  cell averages input cells ``floor(i * n / 7)`` to ``ceil((i + 1) * n / 7) - 1``).
  `MinSizeAdaptiveAvgPool2D` does the same, so every input of at least 32 px
  works and matches timm.
- Dropout defaults to 0 (timm ``drop_rate``); the paper and torchvision train
  with 0.5. One rate serves both dropouts, as in timm.

GAP versions (``vgg11_gap`` ... ``vgg19_gap``) are not in timm. They keep the
plain conv stack (no BatchNorm) and replace the three fully connected layers by
global average pooling and one classifier, the design of Network in Network
(Lin et al. 2013, arXiv 1312.4400) and of class activation maps (Zhou et al.
2016, arXiv 1512.04150), which removes about 90% of VGG's parameters. Their
parameter count is the conv stack plus ``512 * 1000 + 1000``, computed by
`gap_num_params` from the same table the model is built from.
"""

from __future__ import annotations

import dataclasses

import keras
from keras import ops

from tfzoo.layers import NormConfig, conv2d, norm_layer
from tfzoo.layers.conv import conv_init
from tfzoo.layers.whole_map_conv import WholeMapConv2D
from tfzoo.models._builder import BN_ARGS, CommonArgs, builder_doc, one_of, resolve_variant, variant_entry_point
from tfzoo.models.registry import FeatureInfo, ModelSpec, register_model


@dataclasses.dataclass(frozen=True, kw_only=True)
class Variant:
    """One VGG depth: the paper's configuration and timm's parameter counts (tv_in1k: 224 px, crop 0.875)."""

    convs: tuple  # output channels of each 3x3 conv, "M" for a 2x2 max pool
    num_params: int  # timm vgg<variant>, 1000 classes
    bn_num_params: int  # timm vgg<variant>_bn


# The paper's configurations A, B, D and E.
VARIANTS = {
    "11": Variant(convs=(64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
                  num_params=132_863_336, bn_num_params=132_868_840),
    "13": Variant(convs=(64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
                  num_params=133_047_848, bn_num_params=133_053_736),
    "16": Variant(convs=(64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"),
                  num_params=138_357_544, bn_num_params=138_365_992),
    "19": Variant(convs=(64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
                         512, 512, 512, 512, "M"),
                  num_params=143_667_240, bn_num_params=143_678_248),
}

HIDDEN_FEATURES = 4096
PRE_LOGITS_KERNEL = 7
MIN_INPUT_SIZE = 32  # total stride; smaller pre-logits inputs are resized (see the module docstring)


@keras.saving.register_keras_serializable(package="tfzoo")
class MinSizeAdaptiveAvgPool2D(keras.layers.Layer):
    """Resizes a feature map to at least `min_size` per side by PyTorch adaptive average pooling.

    A side of length ``n >= min_size`` is left alone; a shorter one becomes
    ``min_size`` cells, cell ``i`` averaging input positions
    ``floor(i * n / min_size)`` up to ``ceil((i + 1) * n / min_size) - 1``
    (``F.adaptive_avg_pool2d``; timm's ``ConvMlp`` applies it to keep its 7x7
    conv valid). The pooling is separable, so it is one matrix per axis.

    Args:
        min_size: Smallest output side.
    """

    def __init__(self, min_size: int = PRE_LOGITS_KERNEL, **kwargs):
        super().__init__(**kwargs)
        self.min_size = int(min_size)

    def _matrix(self, size, dtype):
        """``[out, in]`` averaging matrix for one axis of length `size` (int or scalar tensor)."""
        out = ops.maximum(size, self.min_size)
        rows = ops.expand_dims(ops.arange(out), 1)
        cols = ops.expand_dims(ops.arange(size), 0)
        start = (rows * size) // out
        end = ((rows + 1) * size + out - 1) // out
        inside = ops.logical_and(cols >= start, cols < end)
        return ops.cast(inside, dtype) / ops.cast(end - start, dtype)

    def call(self, inputs):
        height, width = inputs.shape[1], inputs.shape[2]
        if height is not None and width is not None and min(height, width) >= self.min_size:
            return inputs
        shape = ops.shape(inputs)
        x = ops.einsum("oh,bhwc->bowc", self._matrix(shape[1], inputs.dtype), inputs)
        return ops.einsum("ow,bhwc->bhoc", self._matrix(shape[2], inputs.dtype), x)

    def compute_output_shape(self, input_shape):
        def side(n):
            return None if n is None else max(int(n), self.min_size)
        return (input_shape[0], side(input_shape[1]), side(input_shape[2]), input_shape[3])

    def get_config(self):
        config = super().get_config()
        config.update({"min_size": self.min_size})
        return config


def _feature_indices(arch, batch_norm: bool):
    """timm's ``features`` numbering: ``([(index, item)], {stride: last index at that stride})``.

    Each conv takes the next index, then its BN (if any) and its ReLU one each;
    a pool takes one. A stride's last layer is the ReLU before its pool, and
    the final pool for stride 32 (timm's ``feature_info``).
    """
    index, stride, plan, taps = 0, 1, [], {}
    for item in arch:
        plan.append((index, item))
        if item == "M":
            taps[stride] = index - 1
            stride, index = stride * 2, index + 1
        else:
            index += 3 if batch_norm else 2
    taps[stride] = index - 1
    return plan, taps


def _conv_stack(x, arch, norm: NormConfig | None):
    plan, _ = _feature_indices(arch, norm is not None)
    for index, item in plan:
        if item == "M":
            x = keras.layers.MaxPooling2D(2, strides=2, name=f"features_{index}")(x)
            continue
        x = conv2d(x, item, 3, use_bias=True, name=f"features_{index}")
        if norm is not None:
            index += 1
            x = norm_layer(norm, f"features_{index}")(x)
        x = keras.layers.Activation("relu", name=f"features_{index + 1}")(x)
    return x


def feature_info(variant: str, batch_norm: bool) -> tuple:
    """Strides 4-32: the last ReLU before a pool, and the final pool (as timm's feature_info)."""
    _, taps = _feature_indices(VARIANTS[variant].convs, batch_norm)
    return tuple(FeatureInfo(stride=stride, layer=f"features_{taps[stride]}") for stride in (4, 8, 16, 32))


def conv_stack_num_params(variant: str, batch_norm: bool = False, in_channels: int = 3) -> int:
    """Trainable parameters of the conv stack: 3x3 kernels and biases, BN scale and shift."""
    total, channels = 0, in_channels
    for item in VARIANTS[variant].convs:
        if item != "M":
            total += 9 * channels * item + item + (2 * item if batch_norm else 0)
            channels = item
    return total


def gap_num_params(variant: str, num_classes: int = 1000) -> int:
    """Trainable parameters of a GAP-head VGG: the plain conv stack plus one 512 -> classes Dense."""
    return conv_stack_num_params(variant) + 512 * num_classes + num_classes


def _pre_logits(x, drop_rate: float):
    """timm's ``ConvMlp``: 7x7 conv -> 4096, ReLU, dropout, 1x1 conv 4096, ReLU (on a map of at least 7x7)."""
    x = MinSizeAdaptiveAvgPool2D(PRE_LOGITS_KERNEL, name="pre_logits_pool")(x)
    x = WholeMapConv2D(HIDDEN_FEATURES, PRE_LOGITS_KERNEL, kernel_initializer=conv_init(), name="pre_logits_fc1")(x)
    x = keras.layers.Activation("relu", name="pre_logits_act1")(x)
    if drop_rate > 0.0:
        x = keras.layers.Dropout(drop_rate, name="pre_logits_drop")(x)
    x = WholeMapConv2D(HIDDEN_FEATURES, 1, kernel_initializer=conv_init(), name="pre_logits_fc2")(x)
    return keras.layers.Activation("relu", name="pre_logits_act2")(x)


@builder_doc("Builds a VGG.", variant=one_of(VARIANTS), drop_path=None,
             drop_rate="; one rate serves the pre-logits dropout too, as in timm",
             extra="""\
    batch_norm: BatchNorm after every conv (timm ``vgg*_bn``).
    gap_head: Global average pooling and one classifier instead of the
        7x7-conv / 1x1-conv pre-logits (see the module docstring).
""" + BN_ARGS)
def VGG(variant: str = "16", *, batch_norm: bool = False, gap_head: bool = False, bn_momentum: float = 0.9,
        bn_epsilon: float = 1e-5, **common) -> keras.Model:
    arch = resolve_variant(VARIANTS, variant, "vgg")
    default_name = f"vgg{variant}" + ("_bn" if batch_norm else "") + ("_gap" if gap_head else "")
    args = CommonArgs.parse(common, builder="VGG", name=default_name, input_size=224, min_size=MIN_INPUT_SIZE,
                            drop_path_rate=None)
    norm = NormConfig(momentum=bn_momentum, epsilon=bn_epsilon) if batch_norm else None

    inputs = args.inputs()
    x = _conv_stack(inputs, arch.convs, norm)
    if args.include_top and not gap_head:
        x = _pre_logits(x, args.drop_rate)
    return args.finish(inputs, x, classifier_name="head_fc", pool_name="head_global_pool")


VGG11 = variant_entry_point(VGG, "11", "VGG11", "VGG-11")
VGG13 = variant_entry_point(VGG, "13", "VGG13", "VGG-13")
VGG16 = variant_entry_point(VGG, "16", "VGG16", "VGG-16")
VGG19 = variant_entry_point(VGG, "19", "VGG19", "VGG-19")


_PAPER = ("Very Deep Convolutional Networks for Large-Scale Image Recognition "
          "(Simonyan & Zisserman 2014, arXiv 1409.1556)")
_GAP_PAPER = ("VGG conv stack with a global-average-pooling head as in Network in Network (Lin et al. 2013, "
              "arXiv 1312.4400) and CAM (Zhou et al. 2016, arXiv 1512.04150); " + _PAPER)

for _variant, _arch in VARIANTS.items():
    for _suffix, _kwargs, _params, _paper, _reference in (
        ("", {}, _arch.num_params, _PAPER, f"timm vgg{_variant}"),
        ("_bn", {"batch_norm": True}, _arch.bn_num_params, _PAPER, f"timm vgg{_variant}_bn"),
        ("_gap", {"gap_head": True}, gap_num_params(_variant), _GAP_PAPER,
         f"tfzoo (no timm model; timm vgg{_variant} conv stack)"),
    ):
        register_model(ModelSpec(
            name=f"vgg{_variant}{_suffix}",
            family="vgg",
            builder=VGG,
            kwargs={"variant": _variant, **_kwargs},
            paper=_paper,
            reference=_reference,
            num_params=_params,
            min_input_size=MIN_INPUT_SIZE,
            feature_info=feature_info(_variant, _suffix == "_bn"),
        ))
