"""Supervised classification: the model's output against (mixed, smoothed) labels.

The loss is `tfzoo.losses.SoftTargetCrossEntropy` on the model's output
(probabilities; label smoothing applied to one-hot or mixup/cutmix targets),
the metrics top-1 and top-5 accuracy. No wrapper: ``fit`` trains the model
itself.
"""

from __future__ import annotations

import keras

from tfzoo.losses import SoftTargetCrossEntropy
from tfzoo.training.tasks.base import Task, accuracy_metrics


def compile_classifier(model: keras.Model, optimizer, num_classes: int, label_smoothing: float = 0.0,
                       xla: bool = False) -> keras.Model:
    """Compiles `model` with label-smoothed soft-target cross-entropy and top-1/top-5; returns it."""
    model.compile(optimizer=optimizer, loss=SoftTargetCrossEntropy(label_smoothing=label_smoothing),
                  metrics=accuracy_metrics(num_classes), jit_compile=xla)
    return model


class ClassificationTask(Task):
    """Plain supervised training (what ``tfzoo train`` does without a teacher)."""

    name = "classification"

    def compile(self, model, optimizer, *, num_classes, label_smoothing, xla):
        return compile_classifier(model, optimizer, num_classes, label_smoothing, xla)
