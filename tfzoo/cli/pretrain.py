"""`tfzoo pretrain`: self-supervised pre-training of a backbone (SimCLR, MoCo v1/v2/v3, SwAV, instdisc).

  tfzoo pretrain --method simclr --model resnet18 --batch_size 256 [flags]
  tfzoo pretrain --recipe digits_simclr [flags, which override it]

Flags left unset take the method's defaults from its paper and official code
(README: "Self-supervised pre-training"). The run directory holds the
backbone alone (model.keras, pooled features), run.json and metrics.json
with the kNN top-1/top-5 of the val split; re-running the same command resumes.
"""

import dataclasses

from absl import flags

from tfzoo.cli.flags import define_data_flags, define_onednn_flag
from tfzoo.cli.flags_optim import define_optim_flags
from tfzoo.cli.flags_ssl import SSL_FLAGS, define_ssl_flags
from tfzoo.training.config import NAN_POLICIES, PRECISIONS, STRATEGIES, TrainConfig

_D = TrainConfig()
FLAGS = flags.FLAGS
LOADS_TENSORFLOW_ITSELF = True

flags.DEFINE_string("recipe", None, "A packaged recipe (`tfzoo recipes`), e.g. digits_simclr; flags on the command "
                    "line override it.")
flags.DEFINE_string("model", "resnet50", "Registered backbone (`tfzoo list`); trained with include_top=False and "
                    "average (ViT: class-token) pooling.")
define_data_flags()
flags.DEFINE_string("run_dir", None, "Run directory (default runs/<model>-<dataset>-<method>); re-running resumes.")
flags.DEFINE_integer("epochs", None, "Total epochs (default: the method's).")
flags.DEFINE_integer("batch_size", 256, "Global batch size (default: the method's, e.g. 4096 for simclr).")
define_optim_flags()
flags.DEFINE_float("crop_scale_min", None, "Smallest crop area fraction of the (large) views (default: the "
                   "method's: simclr / moco_v3 0.08, moco / instdisc 0.2, swav 0.14).")
flags.DEFINE_boolean("hflip", None, "Random horizontal flips of the views (default on; --nohflip for digits).")
flags.DEFINE_integer("image_size", None, "Input resolution (default: the dataset's, else the model's).")
flags.DEFINE_enum("precision", _D.precision, PRECISIONS, "Numeric precision policy.")
flags.DEFINE_boolean("xla", _D.xla, "Compile the training step with XLA.")
define_onednn_flag()
flags.DEFINE_enum("strategy", _D.strategy, [s for s in STRATEGIES if s != "multi_worker"],
                  "tf.distribute strategy; auto = mirrored on >1 GPU.")
flags.DEFINE_integer("seed", _D.seed, "Random seed.")
flags.DEFINE_integer("steps_per_epoch", None, "Cap on steps per epoch.")
flags.DEFINE_enum("nan_policy", _D.nan_policy, NAN_POLICIES, "On a non-finite loss: stop, or skip_batch.")
flags.DEFINE_boolean("deterministic", _D.deterministic, "Bit-identical results for the same flags on CPU.")
define_ssl_flags()

# TrainConfig fields from the flags of the same name; unset ones take the method's run defaults.
RUN_FLAGS = ("model", "dataset", "data_dir", "tfds_data_dir", "tfds_download", "run_dir", "epochs", "batch_size",
             "learning_rate", "optimizer", "weight_decay", "momentum", "warmup_epochs", "trust_coefficient",
             "lr_schedule", "lr_base_batch", "lr_step_epochs", "lr_decay_rate", "lr_poly_power", "agc", "ema",
             "crop_scale_min", "hflip", "image_size", "precision", "xla", "strategy", "seed", "steps_per_epoch",
             "nan_policy", "deterministic")


def pretrain_config_from_flags():
    """The `TrainConfig` of the command line: flags given (or in the recipe) win, else the method's defaults."""
    from tfzoo.errors import UsageError
    from tfzoo.training.ssl_config import pretrain_config

    if FLAGS.method is None:
        raise UsageError("--method is required: one of simclr, moco_v1, moco_v2, moco_v3, swav, instdisc")
    fields = {name: getattr(FLAGS, name) for name in RUN_FLAGS + SSL_FLAGS}
    unset = {name for name in RUN_FLAGS if not FLAGS[name].present}
    if fields["run_dir"] is None:
        dataset = "folder" if FLAGS.data_dir else FLAGS.dataset.replace("tfds:", "").replace("/", "_")
        fields["run_dir"] = f"runs/{FLAGS.model}-{dataset}-{FLAGS.method}"
    return pretrain_config(FLAGS.method, unset=unset, **fields)


def main(args):
    from tfzoo.cli import _runtime
    from tfzoo.errors import UsageError
    from tfzoo.training.config import check_image_size

    if args:
        raise UsageError(f"unexpected arguments {' '.join(args)}; pretrain takes flags only (see --help)")
    if FLAGS.recipe is not None and FLAGS.recipe != _runtime.expanded_recipe:
        raise UsageError(f"--recipe={FLAGS.recipe} inside a flag file is not read; pass --recipe on the command line")
    config = pretrain_config_from_flags()
    config = dataclasses.replace(config, ssl=config.ssl.resolved()).validate()  # the method's defaults, checked
    _runtime.load_tensorflow()
    from tfzoo.models.registry import get_spec
    from tfzoo.training import train

    spec = get_spec(config.model)
    check_image_size(config.image_size, batch_size=config.batch_size, model=spec.name, input_size=spec.input_size)
    train(config)
