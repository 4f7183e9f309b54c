"""Optimizers and learning-rate schedules."""

from tfzoo.optimizers.agc import AGC, adaptive_grad_clip
from tfzoo.optimizers.factory import (DEFAULT_LEARNING_RATES, OPTIMIZER_NAMES, create_optimizer,
                                      no_decay_variables)
from tfzoo.optimizers.lamb import LAMB
from tfzoo.optimizers.lars import LARS
from tfzoo.optimizers.schedules import (SCHEDULES, WarmupCosine, WarmupPolynomial, WarmupStep, create_schedule,
                                        scaled_learning_rate)

__all__ = ["AGC", "adaptive_grad_clip", "create_optimizer", "no_decay_variables", "DEFAULT_LEARNING_RATES",
           "OPTIMIZER_NAMES", "LAMB", "LARS", "WarmupCosine", "WarmupStep", "WarmupPolynomial", "create_schedule",
           "scaled_learning_rate", "SCHEDULES"]
