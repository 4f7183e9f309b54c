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
``dropout`` argument (default 0) adds one before ``linear`` for fine-tuning.
"""

from __future__ import annotations

from typing import NamedTuple

import keras

from tfzoo.errors import UsageError
from tfzoo.layers.rep_block import RepVGGBlock
from tfzoo.models._builder import check_head_args, finish_model, image_input
from tfzoo.models.registry import ModelSpec, register_model

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
    "a0": Arch(A_BLOCKS, (0.75, 0.75, 0.75, 2.5)),
    "a1": Arch(A_BLOCKS, (1, 1, 1, 2.5)),
    "a2": Arch(A_BLOCKS, (1.5, 1.5, 1.5, 2.75)),
    "b0": Arch(B_BLOCKS, (1, 1, 1, 2.5)),
    "b1": Arch(B_BLOCKS, (2, 2, 2, 4)),
    "b1g2": Arch(B_BLOCKS, (2, 2, 2, 4), groups=2),
    "b1g4": Arch(B_BLOCKS, (2, 2, 2, 4), groups=4),
    "b2": Arch(B_BLOCKS, (2.5, 2.5, 2.5, 5)),
    "b2g4": Arch(B_BLOCKS, (2.5, 2.5, 2.5, 5), groups=4),
    "b3": Arch(B_BLOCKS, (3, 3, 3, 5)),
    "b3g4": Arch(B_BLOCKS, (3, 3, 3, 5), groups=4),
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


def feature_layers(arch: Arch) -> tuple:
    """``(stride, layer)`` of the last block of stages 1-4 (strides 4, 8, 16, 32)."""
    return tuple((4 * 2 ** i, f"stage{i + 1}_{n - 1}") for i, n in enumerate(arch.blocks))


def build_repvgg(
    variant: str,
    *,
    include_top: bool = True,
    weights: str | None = None,
    input_shape: tuple | None = None,
    pooling: str | None = None,
    num_classes: int = 1000,
    classifier_activation: str | None = "softmax",
    dropout: float = 0.0,
    drop_path_rate: float = 0.0,
    deploy: bool = False,
    bn_momentum: float = 0.9,
    bn_epsilon: float = 1e-5,
    name: str | None = None,
) -> keras.Model:
    """Builds a RepVGG from the `ARCHITECTURES` table.

    Args:
        variant: A key of `ARCHITECTURES`, e.g. ``"a0"`` or ``"b1g4"``.
        include_top: Include global average pooling and the classifier (``linear``).
        weights: None or a local ``.keras`` / ``.weights.h5`` path (of the same form, training or deploy).
        input_shape: ``(height, width, 3)``; default ``(224, 224, 3)``.
        pooling: Without the top: None (4D features), ``"avg"`` or ``"max"``.
        num_classes: Classifier width.
        classifier_activation: Activation of the output, e.g. ``"softmax"`` or None for logits.
        dropout: Dropout before the classifier (not in the reference; default 0).
        drop_path_rate: Must be 0: RepVGG has no stochastic depth (a dropped
            branch sum would not re-parameterize).
        deploy: Build the inference form (3x3 conv with bias + ReLU blocks).
        bn_momentum: Keras BatchNorm momentum.
        bn_epsilon: BatchNorm epsilon (1e-5, PyTorch's default, as the reference).
        name: Model name (default ``repvgg_<variant>``).

    Raises:
        UsageError: for an unknown variant or a non-zero `drop_path_rate`.
    """
    if variant not in ARCHITECTURES:
        raise UsageError(f"unknown RepVGG variant {variant!r}; choose from {', '.join(ARCHITECTURES)}")
    if drop_path_rate:
        raise UsageError(f"RepVGG has no stochastic depth; drop --drop_path_rate (got {drop_path_rate})")
    arch = ARCHITECTURES[variant]
    name = name or f"repvgg_{variant}"
    check_head_args(include_top=include_top, pooling=pooling, num_classes=num_classes, model_name=name)

    inputs = image_input(input_shape or (224, 224, 3), min_size=MIN_INPUT_SIZE, model_name=name)
    x = inputs
    for block_name, filters, strides, groups in block_plan(arch):
        x = RepVGGBlock(filters, strides=strides, groups=groups, deploy=deploy, bn_momentum=bn_momentum,
                        bn_epsilon=bn_epsilon, name=block_name)(x)
    return finish_model(inputs, x, include_top=include_top, pooling=pooling, num_classes=num_classes, dropout=dropout,
                        classifier_activation=classifier_activation, name=name, weights=weights,
                        classifier_name="linear", pool_name="gap")


def RepVGG(variant: str = "a0", **kwargs) -> keras.Model:
    """RepVGG-A0 ... B3g4 (``variant="a0"``, ``"b1g4"`` ...); see `build_repvgg` for the arguments."""
    return build_repvgg(variant, **kwargs)


# Trainable parameters with 1000 classes: (training form, deploy form), counted on the official repository's
# modules (a0 and b1g4 are also in tests/reference_data/param_counts.json); the deploy counts are the paper's
# Table 2 figures (A0 8.30M ... B3 110.96M).
NUM_PARAMS = {
    "a0": (9_108_968, 8_309_384),
    "a1": (14_092_264, 12_789_864),
    "a2": (28_210_600, 25_499_944),
    "b0": (15_817_960, 14_339_048),
    "b1": (57_415_016, 51_829_480),
    "b1g2": (45_782_376, 41_360_104),
    "b1g4": (39_966_056, 36_125_416),
    "b2": (89_022_376, 80_315_112),
    "b2g4": (61_758_376, 55_777_512),
    "b3": (123_085_288, 110_960_872),
    "b3g4": (83_825_128, 75_626_728),
}
DEPLOY_NUM_PARAMS = {f"repvgg_{variant}": deploy for variant, (_, deploy) in NUM_PARAMS.items()}

for _variant, (_params, _) in NUM_PARAMS.items():
    register_model(ModelSpec(
        name=f"repvgg_{_variant}",
        family="repvgg",
        builder=RepVGG,
        kwargs={"variant": _variant},
        paper="RepVGG: Making VGG-style ConvNets Great Again (Ding et al. 2021, arXiv 2101.03697)",
        reference=f"DingXiaoH/RepVGG create_RepVGG_{_variant.upper().replace('G', 'g')}",
        num_params=_params,
        min_input_size=MIN_INPUT_SIZE,
        feature_layers=feature_layers(ARCHITECTURES[_variant]),
    ))
