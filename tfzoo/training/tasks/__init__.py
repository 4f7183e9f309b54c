"""Training tasks: what is learned, and how (one file per training method).

- `classification`: the model's output against (mixed, smoothed) labels.
- `distillation`: DeiT-style hard / soft distillation from a frozen teacher.
- `token_labeling`: LV-ViT's dense token labels and MixToken.

`create_task(config, preprocess)` picks the task of a `TrainConfig`; the
trainer asks it for model options and data settings, calls
``task.compile(model, optimizer, ...)`` and trains what it returns.
`inference_model` unwraps a task wrapper for ``model.keras``.
"""

from tfzoo.errors import UsageError
from tfzoo.training.tasks.base import Task, TaskModel, Untracked, inference_model
from tfzoo.training.tasks.classification import ClassificationTask, compile_classifier
from tfzoo.training.tasks.distillation import DistillationTask, Distiller, head_logits
from tfzoo.training.tasks.token_labeling import TokenLabelingModel, TokenLabelingTask, token_labeling_task


def create_task(config, preprocess) -> Task:
    """The task of a run.

    `DistillationTask` with ``--distillation soft|hard``; `TokenLabelingTask`
    for a model with a per-token head (LV-ViT), with or without token labels;
    else `ClassificationTask`.

    Raises:
        UsageError: for a teacher that cannot be found (checked before any data
            is read), or token-labeling flags a run cannot use.
    """
    from tfzoo.models.registry import get_spec

    token_task = token_labeling_task(config, get_spec(config.model).family)
    if config.distillation != "none":
        if config.token_labels or config.mixtoken:
            raise UsageError("--token_labels / --mixtoken do not combine with --distillation; pick one")
        return DistillationTask(config, preprocess)
    return token_task or ClassificationTask()


__all__ = ["ClassificationTask", "DistillationTask", "Distiller", "Task", "TaskModel", "TokenLabelingModel",
           "TokenLabelingTask", "Untracked", "compile_classifier", "create_task", "head_logits", "inference_model",
           "token_labeling_task"]
