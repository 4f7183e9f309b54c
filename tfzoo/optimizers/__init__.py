"""Optimizers and learning-rate schedules."""

from tfzoo.optimizers.agc import AGC, adaptive_grad_clip
from tfzoo.optimizers.factory import DEFAULT_LEARNING_RATES, create_optimizer, no_decay_variables
from tfzoo.optimizers.schedules import WarmupCosine

__all__ = ["AGC", "adaptive_grad_clip", "create_optimizer", "no_decay_variables", "DEFAULT_LEARNING_RATES", "WarmupCosine"]
