"""Cross-entropy against soft targets, with label smoothing (timm ``SoftTargetCrossEntropy``).

Mixup and cutmix produce targets ``lam * y_a + (1 - lam) * y_b`` that are no
longer one-hot. timm smooths each one-hot target before mixing; smoothing is
the affine map ``y -> (1 - s) * y + s / K`` and the mixing weights sum to 1, so
smoothing the mixed target, as this loss does, gives the same target:
``lam * smooth(y_a) + (1 - lam) * smooth(y_b) = smooth(lam * y_a + (1 - lam) * y_b)``.
"""

from __future__ import annotations

import keras
from keras import ops


def smooth_targets(targets, label_smoothing: float):
    """``(1 - s) * targets + s / K`` over the last axis (K classes)."""
    if not label_smoothing:
        return targets
    num_classes = ops.cast(ops.shape(targets)[-1], targets.dtype)
    return targets * (1.0 - label_smoothing) + label_smoothing / num_classes


def log_probabilities(y_pred, from_logits: bool):
    """float32 log-probabilities of logits or of probabilities (clipped at 1e-7, as Keras's CE)."""
    y_pred = ops.cast(y_pred, "float32")
    if from_logits:
        return ops.log_softmax(y_pred, axis=-1)
    epsilon = keras.config.epsilon()
    y_pred = y_pred / ops.sum(y_pred, axis=-1, keepdims=True)
    return ops.log(ops.clip(y_pred, epsilon, 1.0 - epsilon))


@keras.saving.register_keras_serializable(package="tfzoo")
class SoftTargetCrossEntropy(keras.losses.Loss):
    """``-sum_k t_k log p_k`` per example with soft targets ``t`` (optionally smoothed).

    Args:
        label_smoothing: ``s`` in ``t = (1 - s) * y + s / K``.
        from_logits: Whether predictions are logits (else probabilities).
        reduction: Keras loss reduction (default: mean over the batch).
        name: Loss name.
    """

    def __init__(self, label_smoothing: float = 0.0, from_logits: bool = False,
                 reduction="sum_over_batch_size", name: str = "soft_target_cross_entropy", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.label_smoothing = float(label_smoothing)
        self.from_logits = bool(from_logits)

    def call(self, y_true, y_pred):
        targets = smooth_targets(ops.cast(y_true, "float32"), self.label_smoothing)
        return -ops.sum(targets * log_probabilities(y_pred, self.from_logits), axis=-1)

    def get_config(self):
        config = super().get_config()
        config.update({"label_smoothing": self.label_smoothing, "from_logits": self.from_logits})
        return config
