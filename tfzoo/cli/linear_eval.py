"""`tfzoo linear_eval`: a linear classifier on a frozen pre-trained backbone (MoCo's protocol), and its kNN.

    tfzoo linear_eval --run_dir runs/resnet18-digits-simclr        # writes RUN/linear_eval/metrics.json
    tfzoo linear_eval --model resnet18 --random_init --image_size 32   # the random-initialization baseline

The protocol and its defaults are described in `tfzoo.training.linear_eval`.
"""

from absl import flags

from tfzoo.cli.flags import define_onednn_flag
from tfzoo.training.linear_eval_config import LinearEvalConfig

_D = LinearEvalConfig()
flags.DEFINE_string("run_dir", None, "A `tfzoo pretrain` run directory: its model.keras is the frozen backbone.")
flags.DEFINE_string("model", None, "With --random_init: the registered model whose fresh backbone is evaluated.")
flags.DEFINE_boolean("random_init", False, "Evaluate a randomly initialized --model (the baseline) instead of a run.")
flags.DEFINE_string("dataset", None, "Dataset (default: the run's; with --random_init: digits). 'digits', "
                    "'folder' (with --data_dir) or 'tfds:NAME'.")
flags.DEFINE_string("data_dir", None, "Image folder: one sub-folder per class, optionally under train/ and val/.")
flags.DEFINE_string("tfds_data_dir", None, "TensorFlow Datasets data directory.")
flags.DEFINE_integer("image_size", None, "With --random_init: input resolution (default: the dataset's, else the "
                     "model's).")
flags.DEFINE_integer("epochs", _D.epochs, "Classifier training epochs (MoCo: 100 on ImageNet).")
flags.DEFINE_integer("batch_size", _D.batch_size, "Batch size (MoCo: 256; smaller here, so that a small dataset "
                     "gets more steps).")
flags.DEFINE_float("learning_rate", _D.learning_rate, "Initial learning rate for a batch of 256, scaled by "
                   "batch_size / 256 (MoCo: 30; SimCLR: 0.1 with --nesterov).")
flags.DEFINE_float("momentum", _D.momentum, "SGD momentum.")
flags.DEFINE_boolean("nesterov", _D.nesterov, "Nesterov momentum (SimCLR's linear evaluation).")
flags.DEFINE_float("weight_decay", _D.weight_decay, "Weight decay of the classifier (MoCo: 0).")
flags.DEFINE_list("lr_decay_epochs", [str(f) for f in _D.lr_decay_epochs], "Fractions of --epochs where the "
                  "learning rate is multiplied by --lr_decay_rate (MoCo: epochs 60 and 80 of 100).")
flags.DEFINE_float("lr_decay_rate", _D.lr_decay_rate, "Factor of each learning-rate step.")
flags.DEFINE_float("crop_scale_min", None, "Smallest random-resized-crop area (default: the dataset's recipe, "
                   "else 0.08).")
flags.DEFINE_boolean("hflip", None, "Random horizontal flips (default: the dataset's recipe, else on).")
flags.DEFINE_integer("knn_k", _D.knn_k, "Neighbours of the kNN evaluation.")
define_onednn_flag()
flags.DEFINE_float("knn_temperature", _D.knn_temperature, "Temperature of the kNN votes exp(similarity / T).")
flags.DEFINE_integer("seed", _D.seed, "Seed of the classifier initialization and the shuffling (the split of a "
                     "run's data keeps the run's seed).")
flags.DEFINE_string("output_dir", None, "Where metrics.json goes (default RUN/linear_eval, or "
                    "runs/<model>-<dataset>-random_init/linear_eval).")
FLAGS = flags.FLAGS
LOADS_TENSORFLOW_ITSELF = True  # after the flags and the run directory are checked


def _decay_epochs(values) -> tuple:
    from tfzoo.errors import UsageError

    try:
        return tuple(float(value) for value in values)
    except ValueError:
        raise UsageError(f"--lr_decay_epochs must be fractions of --epochs, e.g. 0.6,0.8; got {','.join(values)}") \
            from None


def main(args):
    from tfzoo.cli._runtime import load_tensorflow
    from tfzoo.errors import UsageError

    if args:
        raise UsageError(f"unexpected arguments {' '.join(args)}; linear_eval takes flags only (see --help)")
    config = LinearEvalConfig(
        run_dir=FLAGS.run_dir, model=FLAGS.model, random_init=FLAGS.random_init, dataset=FLAGS.dataset,
        data_dir=FLAGS.data_dir, tfds_data_dir=FLAGS.tfds_data_dir, image_size=FLAGS.image_size,
        epochs=FLAGS.epochs, batch_size=FLAGS.batch_size, learning_rate=FLAGS.learning_rate,
        momentum=FLAGS.momentum, nesterov=FLAGS.nesterov, weight_decay=FLAGS.weight_decay,
        lr_decay_epochs=_decay_epochs(FLAGS.lr_decay_epochs), lr_decay_rate=FLAGS.lr_decay_rate,
        crop_scale_min=FLAGS.crop_scale_min, hflip=FLAGS.hflip, knn_k=FLAGS.knn_k,
        knn_temperature=FLAGS.knn_temperature, seed=FLAGS.seed, output_dir=FLAGS.output_dir,
    ).validate()
    load_tensorflow()
    from tfzoo.training.linear_eval import linear_eval

    linear_eval(config)
