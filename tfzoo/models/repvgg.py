"""RepVGG: a multi-branch network for training that becomes a plain 3x3-conv + ReLU stack for inference.

Paper: "RepVGG: Making VGG-style ConvNets Great Again", Ding et al. 2021,
arXiv 2101.03697. Reference: the official repository, DingXiaoH/RepVGG
(``repvgg.py``, ``create_RepVGG_A0`` ... ``create_RepVGG_B3g4``).

Matching the reference:
- Five stages of `tfzoo.layers.RepVGGBlock`: ``stage0`` is one block of
  ``min(64, 64a)`` channels; stages 1-4 have ``64a, 128a, 256a, 512b``
  channels (truncated to int) and A ``[2, 4, 14, 1]`` / B ``[4, 6, 16, 1]``
  blocks. The first block of every stage has stride 2 (total stride 32).
- Groups (``g2`` / ``g4``) on the blocks the reference's layer counter puts at
  2, 4, ..., 26: ``stage0`` is layer 0 (never grouped) and the counter runs
  on through the stages' blocks from 1.
- Head: global average pooling (``gap``) and a linear classifier (``linear``).
  timm's ``repvgg_*`` (byobnet) models are a re-implementation with other
  module names; the counts here are the official repository's.
- Layer names are the reference's module paths: block ``stage2_3`` is
  ``stage2.3``; its weights are ``stage2_3/rbr_dense_conv/kernel`` ...
- Defaults (224 px, crop 0.875, bilinear, ImageNet mean/std) are those of the
  reference's evaluation.

``deploy=True`` builds the inference form directly; `tfzoo.reparameterize`
converts a trained model to it. The official repository has no dropout; the
``drop_rate`` argument (default 0) adds one before ``linear`` for fine-tuning.
"""

from __future__ import annotations

from typing import NamedTuple

import keras

from tfzoo.layers.rep_block import RepVGGBlock
from tfzoo.models._builder import CommonArgs, builder_doc, one_of, resolve_variant
from tfzoo.models.registry import FeatureInfo, ModelSpec, register_model

A_BLOCKS = (2, 4, 14, 1)
B_BLOCKS = (4, 6, 16, 1)
STAGE_BASE_WIDTHS = (64, 128, 256, 512)
GROUPED_LAYERS = frozenset(range(2, 27, 2))  # the reference's ``optional_groupwise_layers``
MIN_INPUT_SIZE = 32


class Arch(NamedTuple):
    """One row of the architecture table (the reference's ``create_RepVGG_*`` arguments)."""

    blocks: tuple  # blocks of stages 1-4
    width_multipliers: tuple  # (a, a, a, b)
    groups: int = 1  # groups on GROUPED_LAYERS


ARCHITECTURES = {
    "a0": Arch(blocks=A_BLOCKS, width_multipliers=(0.75, 0.75, 0.75, 2.5)),
    "a1": Arch(blocks=A_BLOCKS, width_multipliers=(1, 1, 1, 2.5)),
    "a2": Arch(blocks=A_BLOCKS, width_multipliers=(1.5, 1.5, 1.5, 2.75)),
    "b0": Arch(blocks=B_BLOCKS, width_multipliers=(1, 1, 1, 2.5)),
    "b1": Arch(blocks=B_BLOCKS, width_multipliers=(2, 2, 2, 4)),
    "b1g2": Arch(blocks=B_BLOCKS, width_multipliers=(2, 2, 2, 4), groups=2),
    "b1g4": Arch(blocks=B_BLOCKS, width_multipliers=(2, 2, 2, 4), groups=4),
    "b2": Arch(blocks=B_BLOCKS, width_multipliers=(2.5, 2.5, 2.5, 5)),
    "b2g4": Arch(blocks=B_BLOCKS, width_multipliers=(2.5, 2.5, 2.5, 5), groups=4),
    "b3": Arch(blocks=B_BLOCKS, width_multipliers=(3, 3, 3, 5)),
    "b3g4": Arch(blocks=B_BLOCKS, width_multipliers=(3, 3, 3, 5), groups=4),
}


def stage_widths(arch: Arch) -> tuple:
    """Output channels of stages 0-4."""
    stem = min(64, int(64 * arch.width_multipliers[0]))
    return (stem,) + tuple(int(base * m) for base, m in zip(STAGE_BASE_WIDTHS, arch.width_multipliers))


def block_plan(arch: Arch) -> list[tuple[str, int, int, int]]:
    """``(name, filters, strides, groups)`` of every block, in order, as the reference builds them."""
    widths = stage_widths(arch)
    plan = [("stage0", widths[0], 2, 1)]
    layer_index = 1  # the reference's cur_layer_idx: stage0 is layer 0
    for stage, repeats in enumerate(arch.blocks, start=1):
        for block in range(repeats):
            groups = arch.groups if layer_index in GROUPED_LAYERS else 1
            plan.append((f"stage{stage}_{block}", widths[stage], 2 if block == 0 else 1, groups))
            layer_index += 1
    return plan


def feature_info(arch: Arch) -> tuple:
    """The last block of stages 1-4 (strides 4, 8, 16, 32)."""
    return tuple(FeatureInfo(stride=4 * 2 ** i, layer=f"stage{i + 1}_{n - 1}") for i, n in enumerate(arch.blocks))


@builder_doc("Builds RepVGG-A0 ... B3g4.", variant=one_of(ARCHITECTURES),
             drop_rate="; not in the reference, default 0",
             drop_path=None, extra="""\
    deploy: Build the inference form (3x3 conv with bias + ReLU blocks); `weights` must
        then be of that form too.
    bn_momentum: Keras BatchNorm momentum (0.9 is PyTorch's 0.1).
    bn_epsilon: BatchNorm epsilon (1e-5, PyTorch's default, as the reference).
""")
def RepVGG(variant: str = "a0", *, deploy: bool = False, bn_momentum: float = 0.9, bn_epsilon: float = 1e-5,
           **common) -> keras.Model:
    # No stochastic depth: a dropped branch sum would not re-parameterize.
    arch = resolve_variant(ARCHITECTURES, variant, "repvgg")
    args = CommonArgs.parse(common, builder="RepVGG", name=f"repvgg_{variant}", input_size=224,
                            min_size=MIN_INPUT_SIZE, drop_path_rate=None)

    inputs = args.inputs()
    x = inputs
    for block_name, filters, strides, groups in block_plan(arch):
        x = RepVGGBlock(filters, strides=strides, groups=groups, deploy=deploy, bn_momentum=bn_momentum,
                        bn_epsilon=bn_epsilon, name=block_name)(x)
    return args.finish(inputs, x, classifier_name="linear", pool_name="gap")




class ParamCounts(NamedTuple):
    """Trainable parameters of one variant with 1000 classes."""

    train: int  # the training form (three branches per block)
    deploy: int  # the inference form (one 3x3 conv per block)


# Trainable parameters with 1000 classes: training and deploy form, counted on the official repository's
# modules (a0 and b1g4 are also in tests/reference_data/param_counts.json); the deploy counts are the paper's
# Table 2 figures (A0 8.30M ... B3 110.96M).
NUM_PARAMS = {
    "a0": ParamCounts(train=9_108_968, deploy=8_309_384),
    "a1": ParamCounts(train=14_092_264, deploy=12_789_864),
    "a2": ParamCounts(train=28_210_600, deploy=25_499_944),
    "b0": ParamCounts(train=15_817_960, deploy=14_339_048),
    "b1": ParamCounts(train=57_415_016, deploy=51_829_480),
    "b1g2": ParamCounts(train=45_782_376, deploy=41_360_104),
    "b1g4": ParamCounts(train=39_966_056, deploy=36_125_416),
    "b2": ParamCounts(train=89_022_376, deploy=80_315_112),
    "b2g4": ParamCounts(train=61_758_376, deploy=55_777_512),
    "b3": ParamCounts(train=123_085_288, deploy=110_960_872),
    "b3g4": ParamCounts(train=83_825_128, deploy=75_626_728),
}
DEPLOY_NUM_PARAMS = {f"repvgg_{variant}": counts.deploy for variant, counts in NUM_PARAMS.items()}

for _variant, _counts in NUM_PARAMS.items():
    register_model(ModelSpec(
        name=f"repvgg_{_variant}",
        family="repvgg",
        builder=RepVGG,
        kwargs={"variant": _variant},
        paper="RepVGG: Making VGG-style ConvNets Great Again (Ding et al. 2021, arXiv 2101.03697)",
        reference=f"DingXiaoH/RepVGG create_RepVGG_{_variant.upper().replace('G', 'g')}",
        num_params=_counts.train,
        min_input_size=MIN_INPUT_SIZE,
        feature_info=feature_info(ARCHITECTURES[_variant]),
    ))
