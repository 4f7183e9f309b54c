"""Flag definitions shared by several verbs (absl flags, one process per verb)."""

from __future__ import annotations

from absl import flags

from tfzoo.training.config import OPTIMIZERS, PRECISIONS, STRATEGIES, TrainConfig

FLAGS = flags.FLAGS
_D = TrainConfig()


def define_data_flags() -> None:
    flags.DEFINE_string("dataset", _D.dataset, "Dataset: 'digits' (embedded, no download), 'folder' (with "
                        "--data_dir) or 'tfds:NAME' (e.g. tfds:cifar10).")
    flags.DEFINE_string("data_dir", None, "Image folder: one sub-folder per class, optionally under train/ and val/.")
    flags.DEFINE_string("tfds_data_dir", None, "TensorFlow Datasets data directory.")
    flags.DEFINE_boolean("tfds_download", False, "Let TFDS download and prepare a missing dataset (needs network).")


def define_train_flags() -> None:
    """Every flag of `tfzoo train`, mirroring `TrainConfig`."""
    flags.DEFINE_string("model", _D.model, "Registered model name or alias (`tfzoo list`).")
    define_data_flags()
    flags.DEFINE_string("run_dir", None, "Run directory (default runs/<model>-<dataset>). Re-running the same "
                        "command resumes from its last finished epoch.")
    flags.DEFINE_integer("epochs", None, "Total training epochs (default: the dataset's recipe, else 30).")
    flags.DEFINE_integer("batch_size", _D.batch_size, "Global batch size (split across replicas).")
    flags.DEFINE_float("learning_rate", None, "Peak learning rate (default: the dataset's recipe, e.g. 3e-3 for "
                       "digits, else 1e-3 for adam/adamw and 0.1 for sgd).")
    flags.DEFINE_enum("optimizer", _D.optimizer, OPTIMIZERS, "Optimizer.")
    flags.DEFINE_float("weight_decay", _D.weight_decay, "Decoupled weight decay (biases and norm parameters excluded).")
    flags.DEFINE_float("momentum", _D.momentum, "Momentum for sgd / nesterov.")
    flags.DEFINE_float("warmup_epochs", _D.warmup_epochs, "Linear warmup epochs before cosine decay.")
    flags.DEFINE_float("label_smoothing", _D.label_smoothing, "Label smoothing of the cross-entropy loss.")
    flags.DEFINE_integer("image_size", None, "Input resolution (default: the dataset's, e.g. 64 for digits, "
                         "else the model's).")
    flags.DEFINE_float("crop_scale_min", None, "Smallest random-resized-crop area fraction (default: the "
                       "dataset's recipe, e.g. 0.5 for digits, else 0.08).")
    flags.DEFINE_boolean("hflip", None, "Random horizontal flips (default: the dataset's recipe, off for "
                         "digits, else on); --nohflip turns them off.")
    flags.DEFINE_enum("precision", _D.precision, PRECISIONS, "Numeric precision policy.")
    flags.DEFINE_boolean("xla", _D.xla, "Compile the training step with XLA.")
    flags.DEFINE_enum("strategy", _D.strategy, STRATEGIES, "tf.distribute strategy; auto = mirrored on >1 GPU.")
    flags.DEFINE_float("dropout", None, "Classifier dropout (default: the model's).")
    flags.DEFINE_float("drop_path_rate", None, "Stochastic depth rate (default: the model's).")
    flags.DEFINE_float("agc", _D.agc, "Adaptive gradient clipping lambda (NFNets, e.g. 0.01); 0 turns it off.")
    flags.DEFINE_integer("seed", _D.seed, "Random seed (weights, split, shuffling).")
    flags.DEFINE_integer("steps_per_epoch", None, "Cap on steps per epoch (default: one pass over the data).")


def train_config_from_flags() -> TrainConfig:
    return TrainConfig(
        model=FLAGS.model, dataset=FLAGS.dataset, data_dir=FLAGS.data_dir, tfds_data_dir=FLAGS.tfds_data_dir,
        tfds_download=FLAGS.tfds_download, run_dir=FLAGS.run_dir, epochs=FLAGS.epochs,
        batch_size=FLAGS.batch_size, learning_rate=FLAGS.learning_rate, optimizer=FLAGS.optimizer,
        weight_decay=FLAGS.weight_decay, momentum=FLAGS.momentum, warmup_epochs=FLAGS.warmup_epochs,
        label_smoothing=FLAGS.label_smoothing, image_size=FLAGS.image_size, crop_scale_min=FLAGS.crop_scale_min,
        hflip=FLAGS.hflip, precision=FLAGS.precision,
        xla=FLAGS.xla, strategy=FLAGS.strategy, dropout=FLAGS.dropout, drop_path_rate=FLAGS.drop_path_rate,
        agc=FLAGS.agc, seed=FLAGS.seed, steps_per_epoch=FLAGS.steps_per_epoch,
    )
