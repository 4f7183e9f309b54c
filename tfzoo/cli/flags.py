"""Flag definitions shared by several verbs (absl flags, one process per verb)."""

from __future__ import annotations

from absl import flags

from tfzoo.cli.flags_augment import define_augment_flags
from tfzoo.cli.flags_distill import DISTILL_FLAGS, define_distill_flags
from tfzoo.cli.flags_optim import define_optim_flags
from tfzoo.cli.flags_token_labeling import TOKEN_LABELING_FLAGS, define_token_labeling_flags
from tfzoo.training.config import NAN_POLICIES, PRECISIONS, STRATEGIES, TrainConfig

FLAGS = flags.FLAGS
_D = TrainConfig()


def define_data_flags() -> None:
    flags.DEFINE_string("dataset", _D.dataset, "Dataset: 'digits' (embedded, no download), 'folder' (with "
                        "--data_dir) or 'tfds:NAME' (e.g. tfds:cifar10).")
    flags.DEFINE_string("data_dir", None, "Image folder: one sub-folder per class, optionally under train/ and val/.")
    flags.DEFINE_string("tfds_data_dir", None, "TensorFlow Datasets data directory.")
    flags.DEFINE_boolean("tfds_download", False, "Let TFDS download and prepare a missing dataset (needs network).")


def define_onednn_flag() -> None:
    flags.DEFINE_boolean("onednn", None, "Run TensorFlow's CPU kernels on oneDNN (sets TF_ENABLE_ONEDNN_OPTS; "
                         "default: TensorFlow's choice, on only for AVX-512 CPUs). On AVX2-only CPUs it makes "
                         "ResNet training 5x faster at 32 px and MobileNet training 0.7x as fast: "
                         "BENCHMARKS.md, section 'oneDNN on and off' (scripts/bench_onednn.py).")


def define_train_flags() -> None:
    """Every flag of `tfzoo train`, mirroring `TrainConfig`."""
    flags.DEFINE_string("recipe", None, "A packaged training recipe (`tfzoo recipes` lists them), e.g. "
                        "digits_lamb: its flags are read first, so any flag given on the command line overrides "
                        "them. For a flag file of your own: --flagfile=PATH.")
    flags.DEFINE_string("model", _D.model, "Registered model name or alias (`tfzoo list`).")
    define_data_flags()
    flags.DEFINE_string("run_dir", None, "Run directory (default runs/<model>-<dataset>). Re-running the same "
                        "command resumes from its last finished epoch.")
    flags.DEFINE_integer("epochs", None, "Total training epochs (default: the dataset's recipe, else 30).")
    flags.DEFINE_integer("batch_size", _D.batch_size, "Global batch size (split across replicas).")
    define_optim_flags()
    define_augment_flags()
    define_distill_flags()
    flags.DEFINE_integer("image_size", None, "Input resolution (default: the dataset's, e.g. 64 for digits, "
                         "else the model's).")
    flags.DEFINE_enum("precision", _D.precision, PRECISIONS, "Numeric precision policy.")
    flags.DEFINE_boolean("xla", _D.xla, "Compile the training step with XLA.")
    define_onednn_flag()
    flags.DEFINE_enum("strategy", _D.strategy, STRATEGIES, "tf.distribute strategy; auto = mirrored on >1 GPU.")
    flags.DEFINE_integer("seed", _D.seed, "Random seed (weights, split, shuffling).")
    flags.DEFINE_integer("steps_per_epoch", None, "Cap on steps per epoch (default: one pass over the data).")
    flags.DEFINE_enum("nan_policy", _D.nan_policy, NAN_POLICIES, "On a non-finite loss: 'stop' at once (exit "
                      "code 1; the run keeps its last finite epoch) or 'skip_batch' (skip that batch's update; "
                      "stop if a whole epoch is skipped).")
    flags.DEFINE_boolean("deterministic", _D.deterministic, "Bit-identical weights for the same --seed and flags "
                         "on CPU (op determinism, serialized random augmentation; slower).")
    define_token_labeling_flags()
    flags.DEFINE_integer("tensorboard_images", _D.tensorboard_images, "Log heat maps (CAM / Grad-CAM) of this many "
                         "validation images to TensorBoard at every epoch end (0: none).")
    flags.DEFINE_string("init_from", None, "Fine-tune the backbone of a `tfzoo pretrain` run directory with a fresh "
                        "head (copied by layer name on a fresh start; default --model: the run's model).")


# TrainConfig fields set from the flags of the same name (flags_optim, flags_augment).
RECIPE_FLAGS = ("lr_schedule", "lr_base_batch", "trust_coefficient", "lr_step_epochs", "lr_decay_rate",
                "lr_poly_power", "ema", "mixup", "cutmix", "mix_prob", "mix_switch_prob", "rand_augment_ops",
                "rand_augment_magnitude", "random_erasing", "aug_repeats")


def train_config_from_flags() -> TrainConfig:
    return TrainConfig(
        model=FLAGS.model, dataset=FLAGS.dataset, data_dir=FLAGS.data_dir, tfds_data_dir=FLAGS.tfds_data_dir,
        tfds_download=FLAGS.tfds_download, run_dir=FLAGS.run_dir, epochs=FLAGS.epochs,
        batch_size=FLAGS.batch_size, learning_rate=FLAGS.learning_rate, optimizer=FLAGS.optimizer,
        weight_decay=FLAGS.weight_decay, momentum=FLAGS.momentum, warmup_epochs=FLAGS.warmup_epochs,
        label_smoothing=FLAGS.label_smoothing, image_size=FLAGS.image_size, crop_scale_min=FLAGS.crop_scale_min,
        hflip=FLAGS.hflip, precision=FLAGS.precision,
        xla=FLAGS.xla, strategy=FLAGS.strategy, drop_rate=FLAGS.drop_rate, drop_path_rate=FLAGS.drop_path_rate,
        agc=FLAGS.agc, seed=FLAGS.seed, steps_per_epoch=FLAGS.steps_per_epoch,
        nan_policy=FLAGS.nan_policy, deterministic=FLAGS.deterministic, tensorboard_images=FLAGS.tensorboard_images,
        init_from=FLAGS.init_from,
        **{name: getattr(FLAGS, name) for name in RECIPE_FLAGS + DISTILL_FLAGS + TOKEN_LABELING_FLAGS},
    )
