"""Knowledge-distillation losses (Hinton et al. 2015, "Distilling the Knowledge in a Neural
Network", arXiv 1503.02531; hard distillation as in DeiT, Touvron et al. 2021, arXiv 2012.12877).

`DistillationLoss` compares a student's logits (``y_pred``) with a teacher's
logits (``y_true``):

- ``soft``: ``tau**2 * KL(softmax(teacher / tau) || softmax(student / tau))``
  per example, summed over classes and averaged over the batch. (DeiT's code
  averages the KL over batch *and* classes, i.e. divides this by K; fold that
  into ``alpha`` when matching it.)
- ``hard``: cross-entropy of the student against the teacher's argmax class.

`tfzoo.training.distill.Distiller` wraps a single-head student and a frozen
teacher with this loss. How a DeiT-style model will use it: the student has a class head and a
distillation head; the total loss is
``(1 - alpha) * CE(labels, class_logits) + alpha * DistillationLoss(kind)(teacher_logits, dist_logits)``
with the teacher run in inference mode on the same (augmented) batch. A
trainer builds that by passing ``{"head": labels, "dist": teacher_logits}``
targets to a two-output model compiled with
``loss={"head": SoftTargetCrossEntropy(...), "dist": DistillationLoss(...)}``
and ``loss_weights={"head": 1 - alpha, "dist": alpha}``; the teacher logits are
computed in the input pipeline or a custom ``train_step``.
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
        reduction: Keras loss reduction (default: mean over the batch).
        name: Loss name.

    Call arguments:
        y_true: Teacher logits ``[B, K]``.
        y_pred: Student logits ``[B, K]``.
    """

    def __init__(self, kind: str = "soft", temperature: float = 1.0, reduction="sum_over_batch_size",
                 name: str = "distillation", dtype=None):
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.kind = kind
        self.temperature = float(temperature)

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
        return kl * (tau * tau)

    def get_config(self):
        config = super().get_config()
        config.update({"kind": self.kind, "temperature": self.temperature})
        return config
