"""Losses: soft-target cross-entropy (mixup/cutmix targets), knowledge distillation, token labeling and the
self-supervised objectives (NT-Xent, InfoNCE, MoCo v3, SwAV, instance-discrimination NCE)."""

from tfzoo.losses.contrastive import (NTXentLoss, enqueue, info_nce_loss, l2_normalize, moco_v3_loss,
                                      moco_v3_momentum, momentum_update, nt_xent_loss)
from tfzoo.losses.distillation import DistillationLoss
from tfzoo.losses.nce import full_softmax_loss, memory_bank_init, memory_bank_update, nce_loss
from tfzoo.losses.soft_target import SoftTargetCrossEntropy
from tfzoo.losses.swav import normalize_prototypes, queue_push, sinkhorn_knopp, swav_loss
from tfzoo.losses.token_labeling import TokenLabelingLoss

__all__ = [
    "SoftTargetCrossEntropy", "DistillationLoss", "TokenLabelingLoss",
    "NTXentLoss", "nt_xent_loss", "info_nce_loss", "moco_v3_loss", "l2_normalize",
    "momentum_update", "enqueue", "moco_v3_momentum",
    "sinkhorn_knopp", "swav_loss", "normalize_prototypes", "queue_push",
    "nce_loss", "full_softmax_loss", "memory_bank_update", "memory_bank_init",
]
