"""Losses: soft-target cross-entropy (mixup/cutmix targets), knowledge distillation and token labeling."""

from tfzoo.losses.distillation import DistillationLoss
from tfzoo.losses.soft_target import SoftTargetCrossEntropy
from tfzoo.losses.token_labeling import TokenLabelingLoss

__all__ = ["SoftTargetCrossEntropy", "DistillationLoss", "TokenLabelingLoss"]
