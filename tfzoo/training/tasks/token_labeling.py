"""Training task for models with a per-token auxiliary head (LV-ViT), with or without token labels.

Token labeling (Jiang et al. 2021, "All Tokens Matter", arXiv 2104.10858;
official training script ``main.py`` of github.com/zihangJiang/TokenLabeling):

- with ``--token_labels LABEL_DIR`` (written by ``tfzoo relabel``): every
  crop carries the annotator's dense labels cut with the crop's own box and
  flip (`tfzoo.data.token_labels`); the model trains through its
  `tfzoo.models.lvvit.token_labeling_view` on
  `tfzoo.losses.TokenLabelingLoss` (class target: the annotator's label of
  the whole crop, as upstream; ``--cls_weight``, ``--dense_weight``), and with
  ``--mixtoken`` the model's MixToken layer mixes token boxes between the
  images of each (per-replica) batch;
- without it, the class head trains alone on the ordinary labels
  (label-smoothed soft cross-entropy), and ``aux_head`` starts at zero and
  stays there (no gradient reaches it), so the inference output
  ``cls + 0.5 * max(aux)`` is the class head's.

Validation always uses the inference output with the trainer's compiled loss
and metrics. The wrapper `TokenLabelingModel` is a training device: the run
directory's ``model.keras`` is the wrapped LV-ViT (`inference_model`), and the
checkpoints hold the LV-ViT's weights (which the wrapper tracks) and the
optimizer's.
"""

from __future__ import annotations

import dataclasses

import keras
import tensorflow as tf

from tfzoo.data.token_labels import TokenLabelConfig
from tfzoo.errors import UsageError
from tfzoo.losses.soft_target import smooth_targets
from tfzoo.losses.token_labeling import TokenLabelingLoss, soft_cross_entropy
from tfzoo.training.tasks.base import Task, TaskModel
from tfzoo.training.tasks.classification import compile_classifier

FAMILIES = ("lvvit",)
PATCH_SIZE = 16


class TokenLabelingModel(TaskModel):
    """Trains an LV-ViT through its training view; infers with the model itself.

    Args:
        model: An LV-ViT (`tfzoo.models.LVViT`, ``include_top=True``).
        token_labels: Train on dense token labels (else on the class labels, class head only).
        cls_weight: Weight of the class-token term.
        dense_weight: Weight of the dense term.
        label_smoothing: Smoothing of the one-hot class labels without token labels.
    """

    def __init__(self, model: keras.Model, *, token_labels: bool, cls_weight: float = 1.0,
                 dense_weight: float = 1.0, label_smoothing: float = 0.0, **kwargs):
        super().__init__(name=f"{model.name}_trainer", **kwargs)
        from tfzoo.models.lvvit import token_labeling_view

        self.student = model
        self.training_view = token_labeling_view(model)
        self.token_labels = bool(token_labels)
        self.label_smoothing = float(label_smoothing)
        self.token_loss = TokenLabelingLoss(cls_weight=cls_weight, dense_weight=dense_weight)

    def call(self, inputs, training=False):
        if training:
            return self.training_view(inputs, training=True)
        return self.student(inputs, training=False)

    def inference_model(self) -> keras.Model:
        return self.student

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        if not isinstance(y_pred, dict):  # validation: the inference output and the compiled loss
            return super().compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=training)
        if self.token_labels:
            loss = self.token_loss({"cls": y["cls"], "dense": y["dense"]}, y_pred)
        else:
            targets = smooth_targets(keras.ops.cast(y["onehot"], "float32"), self.label_smoothing)
            loss = keras.ops.mean(soft_cross_entropy(targets, y_pred["cls"]))
        if self.losses:
            loss = loss + keras.ops.sum(self.losses)
        return loss

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        if isinstance(y_pred, dict):
            return super().compute_metrics(x, y["onehot"], keras.ops.softmax(y_pred["cls"]), sample_weight)
        return super().compute_metrics(x, y, y_pred, sample_weight)


@dataclasses.dataclass(frozen=True)
class TokenLabelingTask(Task):
    """What the trainer changes for an LV-ViT run (see the module docstring)."""

    name = "token_labeling"

    label_dir: str | None
    mixtoken: bool
    cls_weight: float
    dense_weight: float
    label_smoothing: float

    def model_overrides(self) -> dict:
        return {"mix_token": bool(self.mixtoken and self.label_dir)}

    def data_config(self, image_size: int) -> TokenLabelConfig | None:
        if not self.label_dir:
            return None
        grid = image_size // PATCH_SIZE
        return TokenLabelConfig(label_dir=self.label_dir, grid=(grid, grid), smoothing=self.label_smoothing)

    def describe(self) -> str:
        if not self.label_dir:
            return "Token labeling: none (class head only; aux_head held at zero)"
        return (f"Token labeling: dense labels from {self.label_dir}, cls_weight {self.cls_weight}, dense_weight "
                f"{self.dense_weight}, MixToken {'on' if self.mixtoken else 'off'}")

    def compile(self, model, optimizer, *, num_classes, label_smoothing, xla):
        return compile_classifier(self.wrap(model), optimizer, num_classes, label_smoothing, xla)

    def wrap(self, model: keras.Model) -> TokenLabelingModel:
        if not self.label_dir:  # aux_head unused: zero it so the inference output is the class head's
            for variable in model.get_layer("aux_head").weights:
                variable.assign(tf.zeros(variable.shape, variable.dtype))
        return TokenLabelingModel(model, token_labels=bool(self.label_dir), cls_weight=self.cls_weight,
                                  dense_weight=self.dense_weight, label_smoothing=self.label_smoothing)

    def targets_fn(self, num_classes: int):
        """``(images, labels) -> (images, targets dict)`` on batches of the train pipeline."""
        if self.label_dir:
            def fn(images, labels):
                return images, {"onehot": tf.one_hot(labels["label"], num_classes), "cls": labels["cls"],
                                "dense": labels["dense"]}
        else:
            def fn(images, labels):
                return images, {"onehot": tf.one_hot(labels, num_classes)}
        return fn


def token_labeling_task(config, family: str) -> TokenLabelingTask | None:
    """The task of a run, or None for a model without an aux head (which must not get token-labeling flags).

    Raises:
        UsageError: token-labeling flags for another family, or combined with mixup/cutmix.
    """
    if family not in FAMILIES:
        if config.token_labels or config.mixtoken:
            raise UsageError(f"--token_labels / --mixtoken need a model with a per-token head (LV-ViT: "
                             f"lvvit_t, lvvit_s ...), not {config.model}")
        return None
    if config.strategy == "multi_worker":
        raise UsageError(f"{config.model} trains through a token-labeling wrapper that multi-worker training "
                         "does not support yet; use --strategy mirrored (one machine, any number of GPUs)")
    if config.mixtoken and not config.token_labels:
        raise UsageError("--mixtoken needs --token_labels (the token labels follow the mixed boxes)")
    if config.token_labels and (config.mixup or config.cutmix):
        raise UsageError("--token_labels does not combine with --mixup / --cutmix; use --mixtoken")
    if config.cls_weight < 0 or config.dense_weight < 0 or config.cls_weight + config.dense_weight <= 0:
        raise UsageError("--cls_weight and --dense_weight must be >= 0 and not both 0")
    return TokenLabelingTask(label_dir=config.token_labels, mixtoken=config.mixtoken, cls_weight=config.cls_weight,
                             dense_weight=config.dense_weight, label_smoothing=config.label_smoothing)
