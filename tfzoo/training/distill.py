"""`Distiller`: trains a student against labels and a frozen teacher (knowledge distillation).

Hinton et al. 2015 (arXiv 1503.02531) with the soft loss, DeiT (Touvron et al.
2021, arXiv 2012.12877) with the hard one. The loss of a batch is::

    (1 - alpha) * compiled_loss(labels, student(x)) + alpha * distillation_loss(teacher(x), student(x))

with the teacher in inference mode and not trained. Both models must output
logits (build tfzoo models with ``classifier_activation=None``), and the
compiled loss should take logits too, e.g.
``SoftTargetCrossEntropy(label_smoothing=0.1, from_logits=True)``, which also
accepts mixup/cutmix targets. A DeiT model, whose distillation token has its
own head, will pass that head's logits to the distillation term instead; this
wrapper covers the single-head case.

Only Keras API is used (``Model.compute_loss``), so it runs on every backend.
Save ``distiller.student``: the wrapper itself is a training device and is not
serializable.
"""

from __future__ import annotations

import keras

from tfzoo.losses import DistillationLoss


class Distiller(keras.Model):
    """A student trained with a weighted sum of its own loss and a distillation loss.

    Args:
        student: The model to train (logits out).
        teacher: A trained model (logits out); frozen.
        distillation_loss: A loss taking ``(teacher_logits, student_logits)``;
            default: soft `DistillationLoss` at temperature 1.
        alpha: Weight of the distillation term (``1 - alpha`` for the compiled loss).
        **kwargs: `keras.Model` arguments.
    """

    def __init__(self, student: keras.Model, teacher: keras.Model, distillation_loss=None, alpha: float = 0.5,
                 **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {alpha}")
        self.student = student
        self.teacher = teacher
        self.teacher.trainable = False
        self.distillation_loss = distillation_loss or DistillationLoss("soft", temperature=1.0)
        self.alpha = float(alpha)

    def call(self, inputs, training=False):
        return self.student(inputs, training=training)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        student_loss = super().compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight,
                                            training=training)
        teacher_logits = keras.ops.stop_gradient(self.teacher(x, training=False))
        distillation = self.distillation_loss(teacher_logits, y_pred)
        return (1.0 - self.alpha) * student_loss + self.alpha * distillation
