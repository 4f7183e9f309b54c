"""Training: configuration, strategies, callbacks and the trainer."""

from tfzoo.training.config import TrainConfig
from tfzoo.training.trainer import evaluate_run, train

__all__ = ["TrainConfig", "train", "evaluate_run"]
