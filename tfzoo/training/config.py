"""Training configuration: one dataclass shared by the CLI and the Python API."""

from __future__ import annotations

import dataclasses
import os

from tfzoo.errors import UsageError

PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
STRATEGIES = ("auto", "one_device", "mirrored", "multi_worker")
OPTIMIZERS = ("adamw", "adam", "sgd", "nesterov")

# Fields that must match for a re-run to resume an existing run directory.
RESUME_KEYS = ("model", "dataset", "data_dir", "image_size", "batch_size", "optimizer", "learning_rate",
               "weight_decay", "momentum", "warmup_epochs", "label_smoothing", "precision", "dropout",
               "drop_path_rate", "seed", "steps_per_epoch", "crop_scale_min", "hflip", "agc")

# Used where neither the user nor the dataset's recipe sets a value.
GENERIC_DEFAULTS = {"epochs": 30, "crop_scale_min": 0.08, "hflip": True}


@dataclasses.dataclass
class TrainConfig:
    """Everything `tfzoo.training.train` needs.

    Attributes:
        model: Registered model name.
        dataset: ``digits``, ``folder`` or ``tfds:NAME``.
        data_dir: Image-folder root (implies the folder source).
        tfds_data_dir: TFDS data directory.
        tfds_download: Let TFDS download and prepare missing data.
        run_dir: Output directory; defaults to ``runs/<model>-<dataset>``.
        epochs: Total epochs (a resumed run continues up to this number);
            None: the dataset's recipe, else 30.
        batch_size: Global batch size, split across replicas.
        learning_rate: Peak learning rate; None: the dataset's recipe, else
            the optimizer's default.
        optimizer: ``adamw``, ``adam``, ``sgd`` (momentum) or ``nesterov``.
        weight_decay: Decoupled weight decay (not on biases / norm parameters).
        momentum: SGD momentum.
        warmup_epochs: Linear warmup length before cosine decay.
        label_smoothing: Label smoothing for the cross-entropy loss.
        image_size: Input resolution; None uses the dataset's or model's default.
        crop_scale_min: Smallest random-resized-crop area fraction (None:
            the dataset's recipe, else 0.08).
        hflip: Random horizontal flips (None: the dataset's recipe, else on).
        precision: ``float32``, ``mixed_float16`` or ``mixed_bfloat16``.
        xla: Compile the train step with XLA.
        strategy: ``auto``, ``one_device``, ``mirrored`` or ``multi_worker`` (TF_CONFIG).
        dropout: Classifier dropout; None keeps the model default.
        drop_path_rate: Stochastic depth rate; None keeps the model default.
        agc: Adaptive gradient clipping lambda (`tfzoo.optimizers.AGC`); 0 turns it off.
        seed: Seed for weights, data split and shuffling.
        steps_per_epoch: Cap on steps per epoch (None: the whole training set).
        verbose: Keras progress display (``auto``, 0, 1, 2).
    """

    model: str = "mobilenet_v3_large"
    dataset: str = "digits"
    data_dir: str | None = None
    tfds_data_dir: str | None = None
    tfds_download: bool = False
    run_dir: str | None = None
    epochs: int | None = None
    batch_size: int = 64
    learning_rate: float | None = None
    optimizer: str = "adamw"
    weight_decay: float = 0.05
    momentum: float = 0.9
    warmup_epochs: float = 1.0
    label_smoothing: float = 0.1
    image_size: int | None = None
    crop_scale_min: float | None = None
    hflip: bool | None = None
    precision: str = "float32"
    xla: bool = False
    strategy: str = "auto"
    dropout: float | None = None
    drop_path_rate: float | None = None
    agc: float = 0.0
    seed: int = 0
    steps_per_epoch: int | None = None
    verbose: object = "auto"

    def resolved(self, dataset_defaults: dict, optimizer_default_lr: float) -> "TrainConfig":
        """A copy whose unset (None) fields take the dataset's recipe, then generic defaults."""
        values = {}
        for key in ("epochs", "learning_rate", "image_size", "crop_scale_min", "hflip"):
            if getattr(self, key) is None:
                fallback = optimizer_default_lr if key == "learning_rate" else GENERIC_DEFAULTS.get(key)
                values[key] = dataset_defaults.get(key, fallback)
        return dataclasses.replace(self, **values)

    def validate(self) -> "TrainConfig":
        """Checks values a user can get wrong.

        Raises:
            UsageError: with a one-line explanation.
        """
        positive = {"epochs": self.epochs, "batch_size": self.batch_size}
        for key, value in positive.items():
            if value is not None and (not isinstance(value, int) or value < 1):
                raise UsageError(f"--{key} must be a positive integer, got {value}")
        if self.learning_rate is not None and not self.learning_rate > 0:
            raise UsageError(f"--learning_rate must be positive, got {self.learning_rate}")
        if self.steps_per_epoch is not None and self.steps_per_epoch < 1:
            raise UsageError(f"--steps_per_epoch must be positive, got {self.steps_per_epoch}")
        if self.image_size is not None and self.image_size < 1:
            raise UsageError(f"--image_size must be positive, got {self.image_size}")
        if self.crop_scale_min is not None and not 0 < self.crop_scale_min <= 1:
            raise UsageError(f"--crop_scale_min must be in (0, 1], got {self.crop_scale_min}")
        if self.weight_decay < 0 or not 0 <= self.label_smoothing < 1 or self.warmup_epochs < 0:
            raise UsageError("--weight_decay and --warmup_epochs must be >= 0 and --label_smoothing in [0, 1)")
        if self.agc < 0:
            raise UsageError(f"--agc must be >= 0 (0 turns clipping off), got {self.agc}")
        for key, allowed in (("precision", PRECISIONS), ("strategy", STRATEGIES), ("optimizer", OPTIMIZERS)):
            if getattr(self, key) not in allowed:
                raise UsageError(f"--{key} must be one of {', '.join(allowed)}, got {getattr(self, key)!r}")
        if self.data_dir is not None and not os.path.isdir(self.data_dir):
            raise UsageError(f"--data_dir {self.data_dir} does not exist or is not a directory")
        return self

    def dataset_tag(self) -> str:
        if self.data_dir:
            return os.path.basename(os.path.normpath(self.data_dir)) or "folder"
        return self.dataset.replace("tfds:", "").replace("/", "_").replace(":", "_")

    def resolved_run_dir(self) -> str:
        return self.run_dir or os.path.join("runs", f"{self.model}-{self.dataset_tag()}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)
