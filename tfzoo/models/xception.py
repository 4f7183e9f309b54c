"""Xception, Chollet's original ImageNet model.

Paper: "Xception: Deep Learning with Depthwise Separable Convolutions",
Chollet 2017, arXiv 1610.02357.
Reference: timm ``xception.py``, registered as ``legacy_xception`` (called
``xception`` in older timm releases, which still resolves to it), the Cadene /
tstandley port of the Keras model: 22,855,952 trainable parameters. timm's
newer "aligned" Xceptions (``xception41`` ...) are a different architecture.

Structure (timm module names in brackets):
- Entry flow: conv 3x3/2 [conv1] and conv 3x3 [conv2], both unpadded, each
  with BN and ReLU; three residual blocks [block1..3] to 128, 256 and 728
  channels, each ending in a 3x3/2 max pool.
- Middle flow: eight residual blocks of three separable convs at 728 channels
  [block4..11].
- Exit flow: a residual block to 1024 channels [block12], then separable
  convs to 1536 [conv3] and 2048 [conv4], each with BN and ReLU; global
  average pooling and the classifier [fc].

A residual block is ``reps`` times ReLU -> separable conv (depthwise 3x3 then
pointwise 1x1, no BN between) -> BN, where the first ReLU is left out in
block1 ("start_with_relu"); the channels grow at the first separable conv, or
at the last one in block12 ("grow_first"). A strided block ends in a 3x3/2
max pool with padding 1, and its shortcut is a strided 1x1 conv + BN; the
middle-flow blocks add their input unchanged.

Matching the reference:
- BatchNorm epsilon 1e-5 and momentum 0.9 (PyTorch defaults, as timm).
- The blocks' max pools run on BN outputs, which can be negative, so they
  need PyTorch's -inf padding (`tfzoo.layers.padded_pooling.max_pool2d`):
  zero padding, or Keras "same" (which shifts the windows on even sides),
  would change the result.
- The stem convolutions are unpadded, so sides are not multiples of the
  stride: 299 px gives 147, 74, 37, 19, 10; 64 px gives 29, 15, 8, 4, 2.

Layer names mirror timm's module paths, including the position inside each
block's ``rep`` sequence (``block2_rep_1_pointwise`` is ``block2.rep.1.pointwise``).
"""

from __future__ import annotations

from typing import NamedTuple

import keras

from tfzoo.layers import NormConfig, activation, conv2d, norm_layer
from tfzoo.layers.conv import conv_init
from tfzoo.layers.padded_pooling import max_pool2d
from tfzoo.layers.separable import separable_conv2d
from tfzoo.models._builder import BN_ARGS, CommonArgs, builder_doc
from tfzoo.models.registry import FeatureInfo, ModelSpec, register_model


class Block(NamedTuple):
    """One residual block (timm ``Block``)."""

    out_channels: int
    reps: int  # separable convs
    strides: int
    start_with_relu: bool = True
    grow_first: bool = True


STEM = ((32, 2), (64, 1))  # (channels, stride) of conv1 and conv2, unpadded 3x3
BLOCKS = (
    Block(out_channels=128, reps=2, strides=2, start_with_relu=False),  # entry flow
    Block(out_channels=256, reps=2, strides=2),
    Block(out_channels=728, reps=2, strides=2),
    *(Block(out_channels=728, reps=3, strides=1) for _ in range(8)),  # middle flow
    Block(out_channels=1024, reps=2, strides=2, grow_first=False),  # exit flow
)
EXIT_CHANNELS = (1536, 2048)  # separable conv3 and conv4
MIN_INPUT_SIZE = 32  # total stride

# Last layer at strides 4/8/16/32, as timm's feature_info: the ReLU that opens
# the next block (block2.rep.0 ...), and act4.
FEATURE_INFO = (FeatureInfo(stride=4, layer="block2_rep_0"), FeatureInfo(stride=8, layer="block3_rep_0"),
                FeatureInfo(stride=16, layer="block12_rep_0"), FeatureInfo(stride=32, layer="act4"))


def _rep_layers(block: Block, in_channels: int) -> list:
    """timm's ``Block.rep`` sequence as ``[(kind, out_channels)]``: "relu", "sep", "bn", "pool"."""
    layers = []
    for i in range(block.reps):
        if block.grow_first:
            out = block.out_channels
        else:
            out = in_channels if i < block.reps - 1 else block.out_channels
        layers += [("relu", None), ("sep", out), ("bn", out)]
    if not block.start_with_relu:
        layers = layers[1:]
    if block.strides != 1:
        layers.append(("pool", None))
    return layers


def _block(x, block: Block, norm: NormConfig, name: str):
    inputs = x
    in_channels = x.shape[-1]
    for index, (kind, channels) in enumerate(_rep_layers(block, in_channels)):
        layer = f"{name}_rep_{index}"
        if kind == "relu":
            x = activation("relu", layer)(x)
        elif kind == "sep":
            x = separable_conv2d(x, channels, 3, depthwise_name=f"{layer}_conv1", pointwise_name=f"{layer}_pointwise")
        elif kind == "bn":
            x = norm_layer(norm, layer)(x)
        else:
            x = max_pool2d(x, 3, strides=block.strides, padding=1, name=layer)
    if block.out_channels != in_channels or block.strides != 1:
        shortcut = conv2d(inputs, block.out_channels, 1, strides=block.strides, name=f"{name}_skip")
        shortcut = norm_layer(norm, f"{name}_skipbn")(shortcut)
    else:
        shortcut = inputs
    return keras.layers.Add(name=f"{name}_add")([x, shortcut])


@builder_doc("Builds Xception.", input_size=299, drop_path=None, extra=BN_ARGS)
def Xception(*, bn_momentum: float = 0.9, bn_epsilon: float = 1e-5, **common) -> keras.Model:
    args = CommonArgs.parse(common, builder="Xception", name="xception", input_size=299, min_size=MIN_INPUT_SIZE,
                            drop_path_rate=None)
    norm = NormConfig(momentum=bn_momentum, epsilon=bn_epsilon)

    inputs = args.inputs()
    x = inputs
    for index, (channels, strides) in enumerate(STEM, start=1):
        # Unpadded ("valid" is PyTorch's padding 0), so not tfzoo.layers.conv2d, which pads.
        x = keras.layers.Conv2D(channels, 3, strides=strides, padding="valid", use_bias=False,
                                kernel_initializer=conv_init(), name=f"conv{index}")(x)
        x = norm_layer(norm, f"bn{index}")(x)
        x = activation("relu", f"act{index}")(x)
    for index, block in enumerate(BLOCKS, start=1):
        x = _block(x, block, norm, f"block{index}")
    for index, channels in enumerate(EXIT_CHANNELS, start=len(STEM) + 1):
        x = separable_conv2d(x, channels, 3, depthwise_name=f"conv{index}_conv1",
                             pointwise_name=f"conv{index}_pointwise")
        x = norm_layer(norm, f"bn{index}")(x)
        x = activation("relu", f"act{index}")(x)
    return args.finish(inputs, x, classifier_name="fc")


register_model(ModelSpec(
    name="xception",
    family="xception",
    builder=Xception,
    kwargs={},
    paper="Xception: Deep Learning with Depthwise Separable Convolutions (Chollet 2017, arXiv 1610.02357)",
    reference="timm legacy_xception",
    num_params=22_855_952,
    input_size=299,
    min_input_size=MIN_INPUT_SIZE,
    crop_pct=0.8975,
    interpolation="bicubic",
    mean=(0.5, 0.5, 0.5),
    std=(0.5, 0.5, 0.5),
    feature_info=FEATURE_INFO,
))
