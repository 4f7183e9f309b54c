"""Knowledge-distillation losses (Hinton et al. 2015, "Distilling the Knowledge in a Neural
Network", arXiv 1503.02531; hard distillation as in DeiT, Touvron et al. 2021, arXiv 2012.12877).

`DistillationLoss` compares a student's logits (``y_pred``) with a teacher's
logits (``y_true``):

- ``soft``: ``tau**2 * KL(softmax(teacher / tau) || softmax(student / tau))``
  per example, summed over classes and averaged over the batch. DeiT's code
  (facebookresearch/deit ``losses.py``: ``F.kl_div(..., reduction='sum') *
  T * T / outputs_kd.numel()``) averages over batch *and* classes, i.e.
  divides this by K; ``mean_over_classes=True`` does that.
- ``hard``: cross-entropy of the student against the teacher's argmax class
  (DeiT: ``F.cross_entropy(outputs_kd, teacher_outputs.argmax(dim=1))``).

`tfzoo.training.tasks.distillation` trains with it: a DeiT student's
distillation head (or a single-head student's only head) learns from the
teacher, the class head from the labels, with weights ``alpha`` and
``1 - alpha``.
"""

from __future__ import annotations

import keras
from keras import ops

KINDS = ("soft", "hard")


@keras.saving.register_keras_serializable(package="tfzoo")
class DistillationLoss(keras.losses.Loss):
    """Soft (KL at temperature ``tau``, scaled by ``tau**2``) or hard (teacher argmax) distillation.

    Args:
        kind: ``"soft"`` or ``"hard"``.
        temperature: ``tau`` of the soft loss.
        mean_over_classes: Soft loss only: also divide by the number of
            classes K, as DeiT's code does (its sum over the batch and the
            classes is divided by ``B * K``).
        reduction: Keras loss reduction (default: mean over the batch).
        name: Loss name.

    Call arguments:
        y_true: Teacher logits ``[B, K]``.
        y_pred: Student logits ``[B, K]``.
    """

    def __init__(self, kind: str = "soft", temperature: float = 1.0, mean_over_classes: bool = False,
                 reduction="sum_over_batch_size", name: str = "distillation", dtype=None):
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.kind = kind
        self.temperature = float(temperature)
        self.mean_over_classes = bool(mean_over_classes)

    def call(self, y_true, y_pred):
        teacher = ops.cast(y_true, "float32")
        student = ops.cast(y_pred, "float32")
        if self.kind == "hard":
            labels = ops.one_hot(ops.argmax(teacher, axis=-1), ops.shape(teacher)[-1], dtype="float32")
            return -ops.sum(labels * ops.log_softmax(student, axis=-1), axis=-1)
        tau = self.temperature
        teacher_log_p = ops.log_softmax(teacher / tau, axis=-1)
        student_log_p = ops.log_softmax(student / tau, axis=-1)
        kl = ops.sum(ops.exp(teacher_log_p) * (teacher_log_p - student_log_p), axis=-1)
        if self.mean_over_classes:
            kl = kl / ops.cast(ops.shape(teacher)[-1], "float32")
        return kl * (tau * tau)

    def get_config(self):
        config = super().get_config()
        config.update({"kind": self.kind, "temperature": self.temperature,
                       "mean_over_classes": self.mean_over_classes})
        return config
