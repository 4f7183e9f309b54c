"""`LinearEvalConfig`: the settings of `tfzoo linear_eval`, checked without TensorFlow.

The protocol itself (and why these defaults) is documented in
`tfzoo.training.linear_eval`.
"""

from __future__ import annotations

import dataclasses
import os

from tfzoo.errors import UsageError
from tfzoo.training.config import check_range
from tfzoo.utils.rundir import RunDir

PRETRAIN_TASK = "pretrain"  # run.json's "task" of a `tfzoo pretrain` run


@dataclasses.dataclass
class LinearEvalConfig:
    """Everything `tfzoo.training.linear_eval.linear_eval` needs.

    Attributes:
        run_dir: A `tfzoo pretrain` run directory (its ``model.keras`` is the backbone).
        model: With `random_init`: the registered model whose randomly
            initialized backbone is evaluated (the baseline).
        random_init: Evaluate a freshly initialized `model` instead of a run.
        dataset, data_dir, tfds_data_dir: The data (default: the run's; for
            `random_init`: ``digits`` unless given).
        image_size: `random_init` only (a run's backbone has its own size);
            default: the dataset's, else the model's.
        epochs: Classifier training epochs.
        batch_size: Batch size.
        learning_rate: Initial learning rate for a batch of 256; the rate
            used is ``learning_rate * batch_size / 256`` (the linear scaling
            rule, as SimCLR states its rate: 0.1 x B / 256).
        momentum: SGD momentum.
        nesterov: Nesterov momentum.
        weight_decay: L2 weight decay of the classifier.
        lr_decay_epochs: Fractions of `epochs` at which the learning rate is
            multiplied by `lr_decay_rate`.
        lr_decay_rate: Factor of each decay.
        crop_scale_min: Smallest random-resized-crop area (None: the dataset's
            recipe, else 0.08).
        hflip: Random horizontal flips (None: the dataset's recipe, else on).
        knn_k, knn_temperature: The kNN evaluation printed alongside (`tfzoo.training.knn`).
        seed: Seed of the classifier's initialization, the split and the shuffling.
        output_dir: Where ``metrics.json`` goes (default ``RUN/linear_eval``,
            or ``runs/<model>-<dataset>-random_init/linear_eval``).
        verbose: Keras progress display (``auto``, 0, 1, 2).
    """

    run_dir: str | None = None
    model: str | None = None
    random_init: bool = False
    dataset: str | None = None
    data_dir: str | None = None
    tfds_data_dir: str | None = None
    image_size: int | None = None
    epochs: int = 30
    batch_size: int = 64
    learning_rate: float = 30.0
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 0.0
    lr_decay_epochs: tuple = (0.6, 0.8)
    lr_decay_rate: float = 0.1
    crop_scale_min: float | None = None
    hflip: bool | None = None
    knn_k: int = 200
    knn_temperature: float = 0.07
    seed: int = 0
    output_dir: str | None = None
    verbose: object = "auto"

    def validate(self) -> "LinearEvalConfig":
        """Checks the values and the run directory (run.json only: no TensorFlow).

        Raises:
            UsageError: one line naming the flag or the run directory.
        """
        if self.random_init:
            if self.run_dir:
                raise UsageError("--random_init evaluates a fresh --model; drop --run_dir (or --random_init)")
            if not self.model:
                raise UsageError("--random_init needs --model NAME (e.g. --model resnet18)")
        else:
            if not self.run_dir:
                raise UsageError("pass --run_dir PRETRAIN_RUN (a `tfzoo pretrain` run), or --model NAME "
                                 "--random_init for the random-initialization baseline")
            if self.model:
                raise UsageError("--model is for --random_init; a --run_dir evaluates the run's own backbone")
            if self.image_size is not None:
                raise UsageError("--image_size is for --random_init; a run's backbone keeps its training size")
            check_pretrain_run(self.run_dir, "linear_eval")
        for key in ("epochs", "batch_size", "knn_k"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise UsageError(f"--{key} must be a positive integer, got {value}")
        if self.image_size is not None and (not isinstance(self.image_size, int) or self.image_size < 1):
            raise UsageError(f"--image_size must be a positive integer, got {self.image_size}")
        check_range("learning_rate", self.learning_rate, low=0, low_open=True, hint="MoCo's protocol: 30")
        check_range("momentum", self.momentum, low=0, high=1, high_open=True, hint="e.g. 0.9")
        check_range("weight_decay", self.weight_decay, low=0, hint="0 turns it off")
        check_range("lr_decay_rate", self.lr_decay_rate, low=0, high=1, low_open=True, hint="e.g. 0.1")
        check_range("knn_temperature", self.knn_temperature, low=0, low_open=True, hint="e.g. 0.07")
        for fraction in self.lr_decay_epochs:
            check_range("lr_decay_epochs", fraction, low=0, high=1, low_open=True, high_open=True,
                        hint="fractions of --epochs, e.g. 0.6,0.8")
        if self.crop_scale_min is not None:
            check_range("crop_scale_min", self.crop_scale_min, low=0, high=1, low_open=True)
        if self.data_dir is not None and not os.path.isdir(self.data_dir):
            raise UsageError(f"--data_dir {self.data_dir} does not exist or is not a directory")
        if self.output_dir is not None and os.path.isfile(self.output_dir):
            raise UsageError(f"--output_dir {self.output_dir} is a file; pass a directory")
        return self

    def resolved_output_dir(self, dataset_tag: str) -> str:
        if self.output_dir:
            return self.output_dir
        if self.run_dir:
            return os.path.join(self.run_dir, "linear_eval")
        return os.path.join("runs", f"{self.model}-{dataset_tag}-random_init", "linear_eval")

    def peak_learning_rate(self) -> float:
        return float(self.learning_rate) * self.batch_size / 256

    def to_dict(self) -> dict:
        values = dataclasses.asdict(self)
        values["lr_decay_epochs"] = list(self.lr_decay_epochs)
        return values


def check_pretrain_run(path: str, verb: str) -> dict:
    """run.json of a `tfzoo pretrain` run that has a backbone; refuses anything else in one line.

    Args:
        path: The run directory.
        verb: How the caller is named in messages (``linear_eval``, ``train --init_from``).

    Raises:
        UsageError: missing directory, no run.json, a run of another task (a
            classifier trained by `tfzoo train`), or no ``model.keras`` yet.
    """
    run = RunDir(path)
    config = run.read_config()
    task = config.get("task")
    if task != PRETRAIN_TASK:
        what = "a classifier run of `tfzoo train`" if task in (None, "classification") else f"a {task!r} run"
        raise UsageError(f"{run.path} is {what}, not a `tfzoo pretrain` run; {verb} takes the run directory "
                         "of a self-supervised pre-training")
    if not os.path.isfile(run.model_file):
        raise UsageError(f"{run.path} has no finished epoch yet (no model.keras); pre-train it first")
    return config
