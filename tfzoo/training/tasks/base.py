"""What a task is: the part of training that decides what is learned, and how.

The trainer (`tfzoo.training.trainer`) owns the run: directory, strategy,
data, callbacks, checkpoints. A task gets the freshly built model and the
optimizer inside the strategy scope and returns the compiled model that
``fit`` trains: the model itself (`ClassificationTask`), or a `TaskModel`
wrapper that overrides ``compute_loss`` (`DistillationTask`'s `Distiller`).

A wrapper keeps training-only state (a teacher, ...) out of ``model.keras``:
the per-epoch ``model.keras`` is built from `inference_model`, and the
checkpoint (``save_weights`` of the wrapper) holds only what the wrapper
tracks (see `Untracked`).
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import keras


class Untracked:
    """Holds an object out of Keras's sight.

    Keras tracks layers and variables assigned to a layer's attributes, and
    ``save_weights`` walks every attribute that is a layer, a variable or a
    container of them. A plain object holding a model is neither, so what it
    holds is not trained (not in ``trainable_weights``), not averaged by the
    EMA and not written to checkpoints.
    """

    def __init__(self, value):
        self.value = value


class TaskModel(keras.Model):
    """Base of task wrappers: ``inference_model()`` is what eval, export and ``model.keras`` use.

    Keep models that must not be saved out of properties too: Keras's weight
    saving walks every attribute of a model (``dir``), properties included.
    """

    def inference_model(self) -> keras.Model:
        raise NotImplementedError


def inference_model(model: keras.Model) -> keras.Model:
    """The model that inference uses: a task wrapper's inner model, else `model` itself.

    A `tfzoo.training.distributed.MultiWorkerModel` names the model it wraps
    (``inference_twin_source``), so ``model.keras`` keeps that model's class.
    """
    if isinstance(model, TaskModel):
        return inference_model(model.inference_model())
    source = getattr(model, "inference_twin_source", None)
    return source() if source is not None else model


@dataclasses.dataclass
class RunContext:
    """What the trainer knows about a run when a task builds its training model and callbacks.

    Attributes:
        steps_per_epoch: Optimizer steps per epoch.
        epochs: Total epochs of the run.
        batch_size: Global batch size.
        replicas: Replicas in sync.
        num_train: Training examples (the whole split).
        num_classes: Classes of the dataset.
        seed: The run's seed.
        load_eval: ``load_eval(batch_size) -> DatasetBundle`` of both splits with
            the evaluation transform, in a fixed order (`tfzoo.data.load_eval_dataset`).
    """

    steps_per_epoch: int
    epochs: int
    batch_size: int
    replicas: int
    num_train: int
    num_classes: int
    seed: int = 0
    load_eval: Callable | None = None


class Task:
    """How a model is compiled (and possibly wrapped) for training.

    Subclasses implement `compile`; `name` appears in the trainer's log.
    The trainer calls, in order: `build_arguments` and `model_overrides`
    (building the model), `views` (the train pipeline), `training_model`
    (before the optimizer exists, so that it sees every trained variable),
    `compile`, `callbacks`, then ``fit`` (validating on the val split when
    `validates`) and `evaluate` for the final metrics.
    """

    name = "task"
    # fit() validates every epoch on the val split with the compiled loss and metrics.
    validates = True
    # With `views`: the train labels carry each example's train-split index (a memory-bank row).
    train_index = False

    def model_overrides(self) -> dict:
        """Builder arguments the task needs (e.g. LV-ViT's ``mix_token``)."""
        return {}

    def build_arguments(self, spec) -> dict:
        """`create_model` arguments that shape what the model outputs (not recorded as ``model_kwargs``)."""
        return {}

    def views(self, preprocess):
        """A self-supervised views map for `tfzoo.data.load_dataset` (``views_fn=``), or None for one image."""
        return None

    def training_model(self, model: keras.Model, context: RunContext) -> keras.Model:
        """The model ``fit`` trains (`model`, or a wrapper holding training-only state); before the optimizer."""
        return model

    def optimizer_arguments(self, optimizer: str) -> dict:
        """Extra `create_optimizer` arguments for the run's `optimizer` (e.g. which variables LARS adapts)."""
        return {}

    def callbacks(self, context: RunContext) -> list:
        """Extra Keras callbacks, run before the checkpoint writer (they may add to the epoch logs)."""
        return []

    def run_info(self) -> dict:
        """Extra keys for the run's ``run.json``."""
        return {}

    def evaluate(self, model: keras.Model, val) -> dict:
        """The task's final metrics: ``val_top1``, ``val_top5``, ``val_loss``, ``val_loss_plain``."""
        results = model.evaluate(val, return_dict=True, verbose=0)
        return {"val_top1": float(results["top1"]), "val_top5": float(results["top5"]),
                "val_loss": float(results["loss"]), "val_loss_plain": float(results["loss_plain"])}

    def summary(self, metrics: dict) -> str:
        """The start of the trainer's closing line."""
        return f"val top-1 {metrics['val_top1']:.4f}, top-5 {metrics['val_top5']:.4f}"

    def data_config(self, image_size: int):
        """Extra per-example targets for `tfzoo.data.load_dataset` (``token_labels=``), or None."""
        return None

    def targets_fn(self, num_classes: int):
        """``(images, labels) -> (images, targets)`` on train batches, or None for one-hot labels."""
        return None

    def compile(self, model: keras.Model, optimizer, *, num_classes: int, label_smoothing: float,
                xla: bool) -> keras.Model:
        """Returns the compiled model that ``fit`` trains (`model` or a wrapper sharing its weights)."""
        raise NotImplementedError

    def describe(self) -> str | None:
        """One line for the trainer's log, or None."""
        return None


def accuracy_metrics(num_classes: int) -> list:
    """top-1 and top-5 (top-K for fewer classes) accuracy on one-hot / soft targets, and ``loss_plain``.

    ``loss_plain`` is the cross-entropy against the unsmoothed labels; the
    training loss ("loss") includes label smoothing. metrics.json and
    ``tfzoo eval`` report both.
    """
    from tfzoo.losses import SoftTargetCrossEntropy

    return [
        keras.metrics.CategoricalAccuracy(name="top1"),
        keras.metrics.TopKCategoricalAccuracy(k=min(5, num_classes), name="top5"),
        keras.metrics.MeanMetricWrapper(SoftTargetCrossEntropy().call, name="loss_plain"),
    ]
