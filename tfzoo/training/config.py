"""Training configuration: one dataclass shared by the CLI and the Python API."""

from __future__ import annotations

import dataclasses
import os

from tfzoo.errors import UsageError

PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
STRATEGIES = ("auto", "one_device", "mirrored", "multi_worker")
OPTIMIZERS = ("adamw", "adam", "sgd", "sgdw", "nesterov", "lamb", "lars")
LR_SCHEDULES = ("cosine", "step", "poly")

# Fields that must match for a re-run to resume an existing run directory.
RESUME_KEYS = ("model", "dataset", "data_dir", "image_size", "batch_size", "optimizer", "learning_rate",
               "weight_decay", "momentum", "warmup_epochs", "label_smoothing", "precision", "drop_rate",
               "drop_path_rate", "seed", "steps_per_epoch", "crop_scale_min", "hflip", "agc",
               # training recipes (tfzoo.training.recipe)
               "lr_schedule", "lr_base_batch", "trust_coefficient", "lr_step_epochs", "lr_decay_rate", "lr_poly_power",
               "ema", "mixup", "cutmix", "mix_prob", "mix_switch_prob", "rand_augment_ops", "rand_augment_magnitude",
               "random_erasing", "aug_repeats",
               # token labeling (tfzoo.training.tasks.token_labeling)
               "token_labels", "mixtoken", "cls_weight", "dense_weight")

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
        optimizer: ``adamw``, ``adam``, ``sgd``/``sgdw`` (momentum),
            ``nesterov``, ``lamb`` or ``lars`` (`tfzoo.optimizers.create_optimizer`).
        weight_decay: Weight decay (not on biases / norm parameters).
        momentum: SGD / LARS momentum.
        warmup_epochs: Linear warmup length before cosine decay.
        label_smoothing: Label smoothing for the cross-entropy loss.
        image_size: Input resolution; None uses the dataset's or model's default.
        crop_scale_min: Smallest random-resized-crop area fraction (None:
            the dataset's recipe, else 0.08).
        hflip: Random horizontal flips (None: the dataset's recipe, else on).
        precision: ``float32``, ``mixed_float16`` or ``mixed_bfloat16``.
        xla: Compile the train step with XLA.
        strategy: ``auto``, ``one_device``, ``mirrored`` or ``multi_worker`` (TF_CONFIG).
        drop_rate: Classifier dropout; None keeps the model default.
        drop_path_rate: Stochastic depth rate; None keeps the model default.
        agc: Adaptive gradient clipping lambda (`tfzoo.optimizers.AGC`); 0 turns it off.
        seed: Seed for weights, data split and shuffling.
        steps_per_epoch: Cap on steps per epoch (None: the whole training set).
        verbose: Keras progress display (``auto``, 0, 1, 2).
        lr_schedule: Decay after the warmup: ``cosine``, ``step`` or ``poly``.
        lr_base_batch: Linear scaling rule: when set, the peak learning rate
            is ``learning_rate * batch_size / lr_base_batch``.
        lr_step_epochs: ``step``: epochs between decays (None: a third of
            the run).
        lr_decay_rate: ``step``: factor per decay.
        lr_poly_power: ``poly``: exponent.
        trust_coefficient: LARS trust coefficient ``eta``.
        ema: Decay of an exponential moving average of the weights, used for
            validation, ``model.keras`` and the final metrics (None: off).
        mixup: Mixup alpha (0: off).
        cutmix: CutMix alpha (0: off).
        mix_prob: Probability of mixing a batch.
        mix_switch_prob: Probability of CutMix over mixup when both are on.
        rand_augment_ops: RandAugment ops per image (0: off).
        rand_augment_magnitude: RandAugment magnitude, 0..10.
        random_erasing: Random-erasing probability per image (0: off).
        aug_repeats: Repeated augmentation: copies of each example (1: off).
        token_labels: Label directory of ``tfzoo relabel`` for token labeling
            (models with a per-token head: LV-ViT); None: plain labels.
        mixtoken: MixToken (LV-ViT) with token labels.
        cls_weight: Token labeling: weight of the class-token loss.
        dense_weight: Token labeling: weight of the dense token loss.
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
    drop_rate: float | None = None
    drop_path_rate: float | None = None
    agc: float = 0.0
    seed: int = 0
    steps_per_epoch: int | None = None
    verbose: object = "auto"
    # Training recipes (optimizer schedules, EMA, augmentation): see tfzoo.training.recipe.
    lr_schedule: str = "cosine"
    lr_base_batch: int | None = None
    lr_step_epochs: float | None = None
    lr_decay_rate: float = 0.1
    lr_poly_power: float = 1.0
    trust_coefficient: float = 0.001
    ema: float | None = None
    mixup: float = 0.0
    cutmix: float = 0.0
    mix_prob: float = 1.0
    mix_switch_prob: float = 0.5
    rand_augment_ops: int = 0
    rand_augment_magnitude: float = 9.0
    random_erasing: float = 0.0
    aug_repeats: int = 1
    token_labels: str | None = None
    mixtoken: bool = False
    cls_weight: float = 1.0
    dense_weight: float = 1.0

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
        if self.lr_schedule not in LR_SCHEDULES:
            raise UsageError(f"--lr_schedule must be one of {', '.join(LR_SCHEDULES)}, got {self.lr_schedule!r}")
        _validate_recipe(self)
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


def _validate_recipe(config: TrainConfig) -> None:
    """Range checks of the training-recipe fields (schedules, EMA, augmentation)."""
    if config.lr_base_batch is not None and config.lr_base_batch < 1:
        raise UsageError(f"--lr_base_batch must be a positive integer, got {config.lr_base_batch}")
    if config.lr_step_epochs is not None and not config.lr_step_epochs > 0:
        raise UsageError(f"--lr_step_epochs must be positive, got {config.lr_step_epochs}")
    if not config.trust_coefficient > 0:
        raise UsageError(f"--trust_coefficient must be positive, got {config.trust_coefficient}")
    if config.ema is not None and not 0 < config.ema < 1:
        raise UsageError(f"--ema must be in (0, 1), e.g. 0.999, got {config.ema}")
    for key in ("drop_rate", "drop_path_rate", "mix_prob", "mix_switch_prob", "random_erasing"):
        value = getattr(config, key)
        if value is not None and not 0 <= value <= 1:
            raise UsageError(f"--{key} must be in [0, 1], got {value}")
    if config.mixup < 0 or config.cutmix < 0:
        raise UsageError("--mixup and --cutmix are Beta(alpha, alpha) parameters and must be >= 0 (0: off)")
    if config.rand_augment_ops < 0 or not 0 <= config.rand_augment_magnitude <= 10:
        raise UsageError("--rand_augment_ops must be >= 0 and --rand_augment_magnitude in [0, 10]")
    if config.aug_repeats < 1:
        raise UsageError(f"--aug_repeats must be >= 1 (1: off), got {config.aug_repeats}")
