"""Training tasks: what is learned, and how (one file per training method).

- `classification`: the model's output against (mixed, smoothed) labels.
- `distillation`: DeiT-style hard / soft distillation from a frozen teacher.

`create_task(config, preprocess)` picks the task of a `TrainConfig`; the
trainer calls ``task.compile(model, optimizer, ...)`` and trains what it
returns. `inference_model` unwraps a task wrapper for ``model.keras``.
"""

from tfzoo.training.tasks.base import Task, TaskModel, Untracked, inference_model
from tfzoo.training.tasks.classification import ClassificationTask, compile_classifier
from tfzoo.training.tasks.distillation import DistillationTask, Distiller, head_logits


def create_task(config, preprocess) -> Task:
    """The task of a run: `DistillationTask` with ``--distillation soft|hard``, else `ClassificationTask`.

    Raises:
        UsageError: for a teacher that cannot be found (checked before any data is read).
    """
    if config.distillation != "none":
        return DistillationTask(config, preprocess)
    return ClassificationTask()


__all__ = ["ClassificationTask", "DistillationTask", "Distiller", "Task", "TaskModel", "Untracked", "compile_classifier",
           "create_task", "head_logits", "inference_model"]
