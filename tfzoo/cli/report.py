"""`tfzoo report --run_dir RUN`: writes RUN/report.png (curves per epoch) and RUN/confusion.png.

``report.png``: loss, top-1 and learning rate per epoch, train and
validation (from the run's TensorBoard logs). ``confusion.png``: the
validation confusion matrix of the run's ``model.keras`` and its most
confused pairs. `tfzoo train` writes both at the end of every run.
"""

from absl import flags

flags.DEFINE_string("run_dir", None, "The run directory (tfzoo train).")
FLAGS = flags.FLAGS
LOADS_TENSORFLOW_ITSELF = True


def main(args):
    from tfzoo.cli._runtime import load_tensorflow
    from tfzoo.errors import UsageError
    from tfzoo.utils.rundir import RunDir

    if args:
        raise UsageError(f"report takes no arguments besides --run_dir, got {' '.join(args)}")
    if not FLAGS.run_dir:
        raise UsageError("report needs --run_dir RUN (a `tfzoo train` run directory)")
    RunDir(FLAGS.run_dir).read_config()  # a missing or foreign directory fails here, before TensorFlow
    load_tensorflow()
    from tfzoo.visualize.report import write_run_report

    for path in write_run_report(FLAGS.run_dir):
        print(path)
