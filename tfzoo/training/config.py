"""Training configuration: one dataclass shared by the CLI and the Python API."""

from __future__ import annotations

import dataclasses
import math
import os

from tfzoo.errors import UsageError

PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
STRATEGIES = ("auto", "one_device", "mirrored", "multi_worker")
OPTIMIZERS = ("adamw", "adam", "sgd", "sgdw", "nesterov", "lamb", "lars")
LR_SCHEDULES = ("cosine", "step", "poly")
# Absolute ceiling of --image_size (pixels per side); models lower it to 8x their input size.
MAX_IMAGE_SIZE = 2048
NAN_POLICIES = ("stop", "skip_batch")  # tfzoo.training.nan
DISTILLATIONS = ("none", "soft", "hard")

# Fields that must match for a re-run to resume an existing run directory.
RESUME_KEYS = ("model", "dataset", "data_dir", "image_size", "batch_size", "optimizer", "learning_rate",
               "weight_decay", "momentum", "warmup_epochs", "label_smoothing", "precision", "drop_rate",
               "drop_path_rate", "seed", "steps_per_epoch", "crop_scale_min", "hflip", "agc",
               # training recipes (tfzoo.training.recipe)
               "lr_schedule", "lr_base_batch", "trust_coefficient", "lr_step_epochs", "lr_decay_rate", "lr_poly_power",
               "ema", "mixup", "cutmix", "mix_prob", "mix_switch_prob", "rand_augment_ops", "rand_augment_magnitude",
               "random_erasing", "aug_repeats",
               "pretrained", "init_from",
               # distillation (tfzoo.training.tasks.distillation)
               "teacher", "teacher_weights", "distillation", "distillation_alpha", "distillation_tau",
               # token labeling (tfzoo.training.tasks.token_labeling)
               "token_labels", "mixtoken", "cls_weight", "dense_weight",
               # self-supervised pre-training (tfzoo.training.ssl_config)
               "ssl")

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
        nan_policy: A non-finite loss ``stop``s training at once (exit code 1
            on the command line, the run keeps its last finite epoch), or
            ``skip_batch`` skips the update of a batch with non-finite
            gradients (`tfzoo.training.nan`).
        deterministic: Bit-identical results for the same seed and flags on
            CPU (TensorFlow op determinism; serializes the random parts of
            the input pipeline, so it is slower). Not a resume key: it
            changes how reproducible a run is, not what it trains.
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
        pretrained: Start from published weights (`tfzoo.convert.pretrained`):
            None, True (the model's default tag), a tag, ``hf-hub:ORG/REPO``
            or a ``.safetensors`` path; the classifier is fresh when the
            dataset's class count differs from the checkpoint's.
        init_from: A `tfzoo pretrain` run directory: its backbone's weights
            start the training (copied by layer name; the head is fresh),
            on a fresh start only (`tfzoo.training.init_from`).
        teacher: Distillation teacher: a run directory, a ``tfzoo export``
            directory, or a registered model name (with ``teacher_weights``).
        teacher_weights: ``.keras`` / ``.weights.h5`` file for a teacher named
            by its registered model name.
        distillation: ``none``, ``soft`` or ``hard`` (DeiT's distillation types).
        distillation_alpha: Weight of the teacher term; the label term gets
            ``1 - alpha``.
        distillation_tau: Temperature of soft distillation.
        token_labels: Label directory of ``tfzoo relabel`` for token labeling
            (models with a per-token head: LV-ViT); None: plain labels.
        mixtoken: MixToken (LV-ViT) with token labels.
        cls_weight: Token labeling: weight of the class-token loss.
        dense_weight: Token labeling: weight of the dense token loss.
        ssl: Self-supervised pre-training (`tfzoo.training.ssl_config.SSLConfig`;
            `tfzoo.training.ssl_config.pretrain_config` fills the method's
            defaults): the run trains a backbone without labels; None:
            supervised training.
        tensorboard_images: Validation images whose heat maps (`tfzoo.visualize.cam`)
            are logged to TensorBoard at every epoch end (0: none). Not a resume key.
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
    nan_policy: str = "stop"
    deterministic: bool = False
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
    pretrained: object = None  # issue 11: see tfzoo.convert.pretrained
    init_from: str | None = None  # issue 14: see tfzoo.training.init_from
    # Knowledge distillation: see tfzoo.training.tasks.distillation.
    teacher: str | None = None
    teacher_weights: str | None = None
    distillation: str = "none"
    distillation_alpha: float = 0.5
    distillation_tau: float = 1.0
    token_labels: str | None = None
    mixtoken: bool = False
    cls_weight: float = 1.0
    dense_weight: float = 1.0
    ssl: object = None  # SSLConfig (tfzoo.training.ssl_config)
    tensorboard_images: int = 0  # tfzoo.visualize.callback

    def resolved(self, dataset_defaults: dict, optimizer_default_lr: float) -> "TrainConfig":
        """A copy whose unset (None) fields take the dataset's recipe, then generic defaults."""
        values = {}
        for key in ("epochs", "learning_rate", "image_size", "crop_scale_min", "hflip"):
            if getattr(self, key) is None:
                fallback = optimizer_default_lr if key == "learning_rate" else GENERIC_DEFAULTS.get(key)
                values[key] = dataset_defaults.get(key, fallback)
        return dataclasses.replace(self, **values)

    def validate(self) -> "TrainConfig":
        """Checks values a user can get wrong, one flag at a time.

        Raises:
            UsageError: with a one-line explanation naming the flag and its
                allowed range.
        """
        for key in ("epochs", "batch_size", "steps_per_epoch", "image_size"):
            value = getattr(self, key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise UsageError(f"--{key} must be a positive integer, got {value}")
        if self.learning_rate is not None:
            check_range("learning_rate", self.learning_rate, low=0, low_open=True, hint="e.g. 1e-3")
        check_image_size(self.image_size, batch_size=self.batch_size)
        if isinstance(self.tensorboard_images, bool) or not isinstance(self.tensorboard_images, int) or \
                not 0 <= self.tensorboard_images <= 64:
            raise UsageError(f"--tensorboard_images must be an integer in [0, 64], got {self.tensorboard_images}")
        if self.crop_scale_min is not None:
            check_range("crop_scale_min", self.crop_scale_min, low=0, high=1, low_open=True)
        check_range("weight_decay", self.weight_decay, low=0, hint="0 turns it off")
        check_range("momentum", self.momentum, low=0, high=1, high_open=True, hint="e.g. 0.9")
        check_range("warmup_epochs", self.warmup_epochs, low=0, hint="0 turns warmup off")
        check_range("label_smoothing", self.label_smoothing, low=0, high=1, high_open=True, hint="e.g. 0.1")
        check_range("agc", self.agc, low=0, hint="0 turns clipping off")
        for key, allowed in (("precision", PRECISIONS), ("strategy", STRATEGIES), ("optimizer", OPTIMIZERS),
                             ("lr_schedule", LR_SCHEDULES)):
            if getattr(self, key) not in allowed:
                raise UsageError(f"--{key} must be one of {', '.join(allowed)}, got {getattr(self, key)!r}")
        if self.nan_policy not in NAN_POLICIES:
            raise UsageError(f"--nan_policy must be one of {', '.join(NAN_POLICIES)}, got {self.nan_policy!r}")
        _validate_recipe(self)
        _validate_dataset_name(self)
        _validate_distillation(self)
        if self.ssl is not None:
            self.ssl.validate()
            if self.distillation != "none" or self.token_labels or self.pretrained is not None:
                raise UsageError("self-supervised pre-training takes no --distillation, --token_labels or "
                                 "--pretrained")
            if self.strategy == "multi_worker":
                raise UsageError("--strategy multi_worker is not supported by tfzoo pretrain; use mirrored "
                                 "(one machine, all its GPUs) or one_device")
        _validate_init_from(self)
        if self.data_dir is not None and not os.path.isdir(self.data_dir):
            raise UsageError(f"--data_dir {self.data_dir} does not exist or is not a directory")
        if self.run_dir is not None and os.path.exists(self.run_dir) and not os.path.isdir(self.run_dir):
            raise UsageError(f"--run_dir {self.run_dir} is a file, not a directory; pass a new or existing run "
                             "directory")
        return self

    def dataset_tag(self) -> str:
        if self.data_dir:
            return os.path.basename(os.path.normpath(self.data_dir)) or "folder"
        return self.dataset.replace("tfds:", "").replace("/", "_").replace(":", "_")

    def resolved_run_dir(self) -> str:
        return self.run_dir or os.path.join("runs", f"{self.model}-{self.dataset_tag()}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)  # ssl (a dataclass) becomes a dict too


def check_range(flag: str, value, *, low=None, high=None, low_open: bool = False, high_open: bool = False,
                hint: str = "") -> None:
    """Raises a one-line `UsageError` unless `value` is a finite number in the given range.

    Args:
        flag: Flag name without dashes, used in the message.
        value: The value to check (NaN and infinities are always refused).
        low, high: Bounds (None: unbounded on that side).
        low_open, high_open: Exclude the bound itself.
        hint: Appended to the message in parentheses, e.g. "e.g. 0.9".
    """
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if ok:
        return
    if low is not None and high is not None:
        allowed = f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    elif low is not None:
        allowed = f"{'>' if low_open else '>='} {low:g}" if low != 0 or not low_open else "positive"
    else:
        allowed = f"{'<' if high_open else '<='} {high:g}"
    suffix = f" ({hint})" if hint else ""
    finite = isinstance(value, (int, float)) and math.isfinite(value)
    raise UsageError(f"--{flag} must be {allowed}{suffix}, got {value}{'' if finite else ' (not a finite number)'}")


def max_image_size(input_size: int | None = None) -> int:
    """Largest ``--image_size`` accepted: 8x the model's input size, at most `MAX_IMAGE_SIZE`."""
    return MAX_IMAGE_SIZE if input_size is None else min(MAX_IMAGE_SIZE, 8 * input_size)


def check_image_size(size: int | None, *, batch_size: int, model: str | None = None,
                     input_size: int | None = None) -> None:
    """Refuses resolutions that cannot fit in memory (one line, before anything is allocated).

    The bound is 8x the model's input size (when known), never above
    `MAX_IMAGE_SIZE`; the message gives the float32 input batch alone in GB.
    """
    if size is None:
        return
    limit = max_image_size(input_size)
    if size > limit:
        gigabytes = batch_size * size * size * 3 * 4 / 1e9
        why = (f"8x {model}'s {input_size} px input, never above {MAX_IMAGE_SIZE}" if input_size
               else "tfzoo's limit for any model")
        raise UsageError(f"--image_size {size} is too large: at most {limit} px ({why}); a batch of {batch_size} "
                         f"float32 images of {size} px is {gigabytes:,.1f} GB before any activation")


def _validate_dataset_name(config: TrainConfig) -> None:
    """The name forms `tfzoo.data.load_dataset` accepts, checked without loading TensorFlow."""
    name = config.dataset
    if not isinstance(name, str) or not name:
        raise UsageError('--dataset must be "digits", "folder" (with --data_dir) or "tfds:NAME", got nothing')
    if name.startswith("tfds:"):
        if config.data_dir:
            raise UsageError(f"--data_dir is for image folders; pass --tfds_data_dir for --dataset {name}")
        if not name[len("tfds:"):]:
            raise UsageError('--dataset tfds: needs a dataset name, e.g. --dataset tfds:cifar10')
        return
    if config.data_dir or name == "digits" or (name.startswith("folder:") and len(name) > len("folder:")):
        return
    if name == "folder":
        raise UsageError("--dataset folder needs --data_dir DIR (DIR/<class_name>/<image>)")
    raise UsageError(f'unknown dataset {name!r}; use "digits" (embedded, no download), "folder" with --data_dir, '
                     'or "tfds:NAME" (e.g. tfds:cifar10)')


def _validate_recipe(config: TrainConfig) -> None:
    """Range checks of the training-recipe fields (schedules, EMA, augmentation), one flag per message."""
    if config.lr_base_batch is not None and config.lr_base_batch < 1:
        raise UsageError(f"--lr_base_batch must be a positive integer, got {config.lr_base_batch}")
    if config.lr_step_epochs is not None:
        check_range("lr_step_epochs", config.lr_step_epochs, low=0, low_open=True)
    check_range("lr_decay_rate", config.lr_decay_rate, low=0, high=1, low_open=True, hint="e.g. 0.1")
    check_range("lr_poly_power", config.lr_poly_power, low=0, low_open=True, hint="1: linear")
    check_range("trust_coefficient", config.trust_coefficient, low=0, low_open=True, hint="e.g. 0.001")
    if config.ema is not None:
        check_range("ema", config.ema, low=0, high=1, low_open=True, high_open=True, hint="e.g. 0.999")
    for key in ("drop_rate", "drop_path_rate", "mix_prob", "mix_switch_prob", "random_erasing"):
        if getattr(config, key) is not None:
            check_range(key, getattr(config, key), low=0, high=1)
    for key in ("mixup", "cutmix"):
        check_range(key, getattr(config, key), low=0, hint="a Beta(alpha, alpha) parameter; 0: off")
    if config.rand_augment_ops < 0:
        raise UsageError(f"--rand_augment_ops must be >= 0 (0: off), got {config.rand_augment_ops}")
    check_range("rand_augment_magnitude", config.rand_augment_magnitude, low=0, high=10)
    if config.aug_repeats < 1:
        raise UsageError(f"--aug_repeats must be >= 1 (1: off), got {config.aug_repeats}")


def _validate_distillation(config: TrainConfig) -> None:
    """Checks the distillation flags against each other (the teacher itself is checked when it loads)."""
    if config.distillation not in DISTILLATIONS:
        raise UsageError(f"--distillation must be one of {', '.join(DISTILLATIONS)}, got {config.distillation!r}")
    alpha, tau = config.distillation_alpha, config.distillation_tau
    if not (isinstance(alpha, (int, float)) and 0.0 <= alpha <= 1.0):
        raise UsageError(f"--distillation_alpha must be in [0, 1] (the teacher term's weight), got {alpha}")
    if not (isinstance(tau, (int, float)) and math.isfinite(tau) and tau > 0):
        raise UsageError(f"--distillation_tau must be a positive finite temperature, got {tau}")
    if config.distillation != "none" and not config.teacher:
        raise UsageError(f"--distillation {config.distillation} needs a teacher: pass --teacher RUN_DIR, "
                         "an export directory, or a model name with --teacher_weights")
    if config.teacher and config.distillation == "none":
        raise UsageError("--teacher is set but --distillation is none; pass --distillation soft or hard "
                         "(or drop --teacher)")
    if config.teacher_weights and not config.teacher:
        raise UsageError("--teacher_weights needs --teacher MODEL_NAME (the registered model the weights belong to)")


def _validate_init_from(config: TrainConfig) -> None:
    """``--init_from`` names a finished pre-training run (run.json only, no TensorFlow) and excludes --pretrained."""
    if config.init_from is None:
        return
    if config.pretrained is not None and config.pretrained is not False:
        raise UsageError("--init_from and --pretrained both set the starting weights; pick one")
    from tfzoo.training.linear_eval_config import check_pretrain_run

    check_pretrain_run(config.init_from, "train --init_from")
