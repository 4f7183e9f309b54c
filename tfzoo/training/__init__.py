"""Training: configuration, strategies, callbacks and the trainer.

`TrainConfig` needs no TensorFlow; `train` and `evaluate_run` load the trainer
(and TensorFlow) on first use, so the command line can validate flags first.
"""

import importlib

from tfzoo.training.config import TrainConfig

__all__ = ["TrainConfig", "train", "evaluate_run"]


def __getattr__(name):
    if name in ("train", "evaluate_run"):
        return getattr(importlib.import_module("tfzoo.training.trainer"), name)
    raise AttributeError(f"module 'tfzoo.training' has no attribute {name!r}")
