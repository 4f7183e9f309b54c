"""Knowledge distillation: a student learns from the labels and from a frozen teacher.

DeiT, "Training data-efficient image transformers & distillation through
attention" (Touvron et al. 2021, arXiv 2012.12877), with the loss of its
reference code (facebookresearch/deit ``losses.py`` ``DistillationLoss``);
soft distillation goes back to Hinton et al. 2015 (arXiv 1503.02531).

A DeiT student with a distillation token has two heads: ``head`` on the class
token and ``head_dist`` on the distillation token. With ``y`` the (mixed,
smoothed) labels, ``t`` the teacher's logits on the same augmented batch and
``c``, ``d`` the two heads' logits, the loss of a batch is::

    (1 - alpha) * CE(y, c) + alpha * D(t, d)
    hard: D = CE(argmax t, d)                                  (mean over the batch)
    soft: D = tau^2 * sum_k softmax(t/tau)_k * (log_softmax(t/tau)_k - log_softmax(d/tau)_k) / (B * K)

so the class head learns only from the labels and the distillation head only
from the teacher. The soft term's division by ``B * K`` (batch *and* classes)
is DeiT's (``reduction='sum'`` then ``/ outputs_kd.numel()``); ``CE(y, c)``
applies ``--label_smoothing`` as DeiT's base criterion does. A student with
one head (any CNN) puts both terms on its one set of logits.

At inference the student is unchanged: a DeiT model outputs the softmax of
the mean of its two heads' logits, and that output is what validation
accuracy, ``model.keras``, export and predict use. Validation loss is the
label cross-entropy of that output.

The teacher (`tfzoo.training.tasks.teacher`) runs with ``training=False``,
under ``stop_gradient``, and is held in an `Untracked` box: it is not among
the wrapper's weights, so the optimizer never sees it, the EMA does not
average it, and neither ``model.keras`` nor the run's checkpoints contain
it; resuming loads the student and optimizer and reloads the teacher from
``--teacher``.

Without a teacher (``--distillation none``) the trainer uses plain
classification; for a DeiT student that trains the averaged output against
the labels. (DeiT's code trains the class head alone then and leaves the
distillation head at its initialization, which the averaged inference output
would still include.)
"""

from __future__ import annotations

import keras
from keras import ops

from tfzoo.losses import DistillationLoss, SoftTargetCrossEntropy
from tfzoo.models.deit import distillation_heads, is_distilled
from tfzoo.training import distributed
from tfzoo.training.tasks.base import Task, TaskModel, Untracked, accuracy_metrics
from tfzoo.training.tasks.teacher import load_teacher, logits_tensor, resolve_teacher, split_warning

def head_logits(model: keras.Model) -> list:
    """The symbolic logits a student is trained on: ``[class, distillation]`` or ``[logits]``.

    A distilled DeiT (Dense layers ``head`` and ``head_dist``) has two heads,
    taken from `tfzoo.models.deit.distillation_heads` (float32 logits, also
    under mixed precision); any other model has one, the input of its final
    softmax (`logits_tensor`).
    """
    if is_distilled(model):
        return list(distillation_heads(model).outputs)
    return [logits_tensor(model)]


class Distiller(TaskModel):
    """A student trained on ``(1 - alpha) * label loss + alpha * distillation loss`` (module docstring).

    Calling it returns ``[*head_logits, output]``: the logits of each head
    (see `head_logits`) and the student's own output, on which metrics are
    computed. The compiled loss is the label criterion on logits, e.g.
    ``SoftTargetCrossEntropy(label_smoothing=0.1, from_logits=True)``; it is
    applied to the class head in training and to the output in evaluation.

    Args:
        student: The model to train; outputs probabilities (a softmax
            ``predictions`` layer) or logits.
        teacher: A trained `keras.Model` that outputs logits, or a function
            from the batch to the teacher's logits; frozen and untracked.
        distillation_loss: A loss of ``(teacher_logits, student_logits)``;
            default: soft `DistillationLoss` at temperature 1.
        alpha: Weight of the distillation term (``1 - alpha`` for the labels).
        **kwargs: `keras.Model` arguments.
    """

    def __init__(self, student: keras.Model, teacher, distillation_loss=None, alpha: float = 0.5, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {alpha}")
        if isinstance(teacher, keras.Model):
            teacher.trainable = False
        self.student = student  # tracked: its weights are what trains and what the checkpoints hold
        self._teacher = Untracked(teacher)
        heads = head_logits(student)
        self._output_is_head = any(head is student.output for head in heads)
        self._output_is_logits = logits_tensor(student) is student.output
        outputs = heads if self._output_is_head else heads + [student.output]
        # One functional view over the student's layers: the heads and the output in one forward pass.
        self._network = Untracked(keras.Model(student.inputs, outputs, name=f"{student.name}_heads"))
        self.distillation_loss = distillation_loss or DistillationLoss("soft", temperature=1.0)
        self.alpha = float(alpha)
        self.built = True  # every variable exists (the student's); the wrapper has none of its own

    # Methods, not properties: Keras's weight saving walks every attribute
    # (`dir`), properties included, and would save a teacher returned by one.
    def get_teacher(self):
        """The teacher (a `keras.Model` or a function returning logits)."""
        return self._teacher.value

    def inference_model(self) -> keras.Model:
        return self.student

    @property
    def num_heads(self) -> int:
        return len(self._network.value.outputs) - (0 if self._output_is_head else 1)

    def call(self, inputs, training=False):
        outputs = self._network.value(inputs, training=training)
        outputs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
        return outputs + [outputs[-1]] if self._output_is_head else outputs

    def teacher_logits(self, x):
        """The teacher's float32 logits for batch `x` (inference mode, no gradient)."""
        teacher = self.get_teacher()
        logits = teacher(x, training=False) if isinstance(teacher, keras.Model) else teacher(x)
        return ops.stop_gradient(ops.cast(logits, "float32"))

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        *heads, output = y_pred
        if not training:  # the label loss of what inference outputs
            logits = output if self._output_is_logits else ops.log(ops.maximum(ops.cast(output, "float32"), 1e-30))
            return super().compute_loss(x=x, y=y, y_pred=logits, sample_weight=sample_weight, training=training)
        label_loss = super().compute_loss(x=x, y=y, y_pred=heads[0], sample_weight=sample_weight,
                                          training=training)
        if self.alpha == 0.0:
            return label_loss
        distillation = self.distillation_loss(self.teacher_logits(x), heads[-1], sample_weight=sample_weight)
        return (1.0 - self.alpha) * label_loss + self.alpha * distillation

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        return super().compute_metrics(x, y, y_pred[-1], sample_weight=sample_weight)


class MultiWorkerDistiller(distributed.MultiWorkerMixin, Distiller):
    """`Distiller` with the multi-worker workarounds of `tfzoo.training.distributed`."""


class DistillationTask(Task):
    """``--distillation soft|hard`` with ``--teacher``: wraps the student in a `Distiller`.

    The teacher's location is checked when the task is created (before any
    data is read); it is loaded in `compile`, inside the strategy scope.

    Args:
        config: The run's `TrainConfig` (teacher, distillation, alpha, tau).
        preprocess: The student's `PreprocessConfig` (what the batch holds).
    """

    name = "distillation"

    def __init__(self, config, preprocess):
        self.source = resolve_teacher(config.teacher, config.teacher_weights)
        self.kind = config.distillation
        self.alpha = float(config.distillation_alpha)
        self.tau = float(config.distillation_tau)
        self.preprocess = preprocess
        self._warning = split_warning(self.source, config.dataset, config.data_dir, config.seed)
        self._description = None

    def compile(self, model, optimizer, *, num_classes, label_smoothing, xla):
        teacher, about = load_teacher(self.source, num_classes=num_classes, student=self.preprocess)
        loss = DistillationLoss(self.kind, temperature=self.tau, mean_over_classes=True)
        wrapper = MultiWorkerDistiller if isinstance(model, distributed.MultiWorkerMixin) else Distiller
        distiller = wrapper(model, teacher, loss, alpha=self.alpha, name=f"{model.name}_distiller")
        distiller.compile(optimizer=optimizer,
                          loss=SoftTargetCrossEntropy(label_smoothing=label_smoothing, from_logits=True),
                          metrics=accuracy_metrics(num_classes), jit_compile=xla)
        heads = "class + distillation heads" if distiller.num_heads == 2 else "single head"
        tau = f", tau {self.tau:g}" if self.kind == "soft" else ""
        self._description = (f"Distillation {self.kind} (alpha {self.alpha:g}{tau}, {heads}) from teacher {about}"
                             + (f"\n{self._warning}" if self._warning else ""))
        return distiller

    def describe(self):
        return self._description
