"""Losses: soft-target cross-entropy (mixup/cutmix targets) and knowledge distillation."""

from tfzoo.losses.distillation import DistillationLoss
from tfzoo.losses.soft_target import SoftTargetCrossEntropy

__all__ = ["SoftTargetCrossEntropy", "DistillationLoss"]
