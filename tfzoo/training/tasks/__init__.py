"""Training tasks: what is learned, and how (one file per training method).

- `classification`: the model's output against (mixed, smoothed) labels.
- `distillation`: DeiT-style hard / soft distillation from a frozen teacher.
- `token_labeling`: LV-ViT's dense token labels and MixToken.
- self-supervised pre-training (``config.ssl``): `simclr`, `moco` (v1/v2),
  `moco_v3`, `swav`, `instdisc`, on the shared `ssl_base`.

`create_task(config, preprocess)` picks the task of a `TrainConfig`; the
trainer asks it for model options and data settings, calls
``task.compile(model, optimizer, ...)`` and trains what it returns.
`inference_model` unwraps a task wrapper for ``model.keras``.
"""

from tfzoo.errors import UsageError
from tfzoo.training.tasks.base import RunContext, Task, TaskModel, Untracked, inference_model
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

    if config.ssl is not None:
        return ssl_task(config)
    token_task = token_labeling_task(config, get_spec(config.model).family)
    if config.distillation != "none":
        if config.token_labels or config.mixtoken:
            raise UsageError("--token_labels / --mixtoken do not combine with --distillation; pick one")
        return DistillationTask(config, preprocess)
    return token_task or ClassificationTask()


def ssl_task(config) -> Task:
    """The self-supervised task of ``config.ssl.method`` (its module is imported on demand)."""
    import importlib

    module, name = SSL_TASKS[config.ssl.method]
    return getattr(importlib.import_module(f"tfzoo.training.tasks.{module}"), name)(config)


SSL_TASKS = {"simclr": ("simclr", "SimCLRTask"), "moco_v1": ("moco", "MoCoTask"), "moco_v2": ("moco", "MoCoTask"),
             "moco_v3": ("moco_v3", "MoCoV3Task"), "swav": ("swav", "SwAVTask"),
             "instdisc": ("instdisc", "InstDiscTask")}


__all__ = ["ClassificationTask", "RunContext", "DistillationTask", "Distiller", "Task", "TaskModel", "TokenLabelingModel",
           "TokenLabelingTask", "Untracked", "compile_classifier", "create_task", "head_logits", "inference_model",
           "token_labeling_task"]
