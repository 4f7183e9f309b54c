"""Learning-rate schedules (serializable `keras.optimizers.schedules.LearningRateSchedule`s).

`WarmupCosine`: linear warmup from ``warmup_init_lr`` to ``base_lr`` over
``warmup_steps``, then half-cosine decay to ``min_lr`` at ``total_steps``
(Goyal et al. 2017 warmup, Loshchilov & Hutter 2017 cosine, as timm's
``CosineLRScheduler`` without restarts).
"""

from __future__ import annotations

import math

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="tfzoo")
class WarmupCosine(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warmup then cosine decay, evaluated per optimizer step.

    Args:
        base_lr: Peak learning rate, reached at the end of warmup.
        total_steps: Step at which the schedule reaches `min_lr`.
        warmup_steps: Length of the linear warmup.
        min_lr: Final learning rate.
        warmup_init_lr: Learning rate at step 0.
    """

    def __init__(self, base_lr: float, total_steps: int, warmup_steps: int = 0, min_lr: float = 0.0,
                 warmup_init_lr: float = 0.0):
        if total_steps < 1:
            raise ValueError(f"total_steps must be >= 1, got {total_steps}")
        if not 0 <= warmup_steps <= total_steps:
            raise ValueError(f"warmup_steps must be in [0, total_steps], got {warmup_steps}")
        self.base_lr = float(base_lr)
        self.total_steps = int(total_steps)
        self.warmup_steps = int(warmup_steps)
        self.min_lr = float(min_lr)
        self.warmup_init_lr = float(warmup_init_lr)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        warm = float(max(self.warmup_steps, 1))
        warmup_lr = self.warmup_init_lr + (self.base_lr - self.warmup_init_lr) * step / warm
        decay_steps = float(max(self.total_steps - self.warmup_steps, 1))
        progress = ops.clip((step - self.warmup_steps) / decay_steps, 0.0, 1.0)
        cosine_lr = self.min_lr + 0.5 * (self.base_lr - self.min_lr) * (1.0 + ops.cos(math.pi * progress))
        if self.warmup_steps == 0:
            return cosine_lr
        return ops.where(step < self.warmup_steps, warmup_lr, cosine_lr)

    def get_config(self):
        return {
            "base_lr": self.base_lr,
            "total_steps": self.total_steps,
            "warmup_steps": self.warmup_steps,
            "min_lr": self.min_lr,
            "warmup_init_lr": self.warmup_init_lr,
        }
