"""`tfzoo eval`: top-1 / top-5 of a run's model on a validation split.

Prints JSON with the same keys as the run's metrics.json: ``val_loss`` is the
training loss (with the run's ``label_smoothing``, also printed) and
``val_loss_plain`` the cross-entropy against the unsmoothed labels.
"""

import json

from absl import flags

from tfzoo.cli.flags import define_data_flags

flags.DEFINE_string("run_dir", None, "Run directory written by `tfzoo train`.", required=True)
flags.DEFINE_integer("batch_size", 64, "Evaluation batch size.")
define_data_flags()
flags.FLAGS.set_default("dataset", None)
FLAGS = flags.FLAGS
LOADS_TENSORFLOW_ITSELF = True


def main(args):
    from tfzoo.cli._runtime import load_tensorflow
    from tfzoo.errors import UsageError
    from tfzoo.utils.rundir import RunDir

    if args:
        raise UsageError(f"unexpected arguments {' '.join(args)}; eval takes flags only")
    if FLAGS.batch_size < 1:
        raise UsageError(f"--batch_size must be a positive integer, got {FLAGS.batch_size}")
    RunDir(FLAGS.run_dir).read_config()  # a missing or foreign run dir fails before TensorFlow loads
    load_tensorflow()
    from tfzoo.training import evaluate_run

    results = evaluate_run(FLAGS.run_dir, dataset=FLAGS.dataset, data_dir=FLAGS.data_dir,
                           tfds_data_dir=FLAGS.tfds_data_dir, batch_size=FLAGS.batch_size)
    print(json.dumps(results, indent=2))
