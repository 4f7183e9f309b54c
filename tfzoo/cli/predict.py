"""`tfzoo predict --source RUN_OR_SAVEDMODEL IMAGE...`: the top classes of each image.

``tfzoo predict --model NAME --pretrained IMAGE...`` predicts with timm's
published weights (ImageNet class names). An image that is missing or does
not decode is reported on stderr (one line each) and the others are still
predicted; the exit code is then 2.
"""

import os
import sys

from absl import flags

from tfzoo.cli.flags_pretrained import define_pretrained_model_flags, pretrained_model_args

flags.DEFINE_string("source", None, "A run directory (tfzoo train) or an exported SavedModel (tfzoo export).")
flags.DEFINE_string("run_dir", None, "Alias of --source for a run directory.")
flags.DEFINE_integer("top_k", 5, "How many classes to print per image.")
define_pretrained_model_flags()  # --model NAME --pretrained[=TAG|PATH]
FLAGS = flags.FLAGS
LOADS_TENSORFLOW_ITSELF = True


def main(args):
    from tfzoo.cli._runtime import load_tensorflow
    from tfzoo.errors import UsageError

    if FLAGS.source and FLAGS.run_dir and FLAGS.source != FLAGS.run_dir:
        raise UsageError("pass either --source or --run_dir, not both")
    if FLAGS.top_k < 1:
        raise UsageError(f"--top_k must be a positive integer, got {FLAGS.top_k}")
    pretrained = pretrained_model_args()
    source = FLAGS.source or FLAGS.run_dir
    if pretrained is not None and source:
        raise UsageError("pass either --source/--run_dir or --model with --pretrained, not both")
    if pretrained is None:
        if not source:
            raise UsageError("predict needs --source RUN_DIR_OR_SAVEDMODEL (or --model NAME --pretrained) and "
                             "one or more image paths")
        if not os.path.isdir(os.path.expanduser(source)):
            what = "is a file, not a directory" if os.path.isfile(source) else "not found"
            raise UsageError(f"model source {source} {what} (pass a run directory or an exported SavedModel)")
    if not args:
        raise UsageError("predict needs one or more image paths after the flags")
    load_tensorflow()

    failed = []

    def report(path, message):
        failed.append(path)
        print(f"tfzoo predict: error: {' '.join(message.split())}", file=sys.stderr, flush=True)

    if pretrained is not None:
        from tfzoo.export.pretrained import predict_pretrained
        results = predict_pretrained(*pretrained, list(args), top_k=FLAGS.top_k)
    else:
        from tfzoo.export import predict_files
        results = predict_files(source, list(args), top_k=FLAGS.top_k, on_error=report)
    for index, result in enumerate(results):
        if index == 0 and result.get("model"):
            print(f"model: {result['model']}")
        print(result["path"])
        for rank, entry in enumerate(result["top_k"], 1):
            label = entry["name"] if entry.get("name") is not None else str(entry["class"])
            print(f"  {rank}. {label:<20} {entry['score']:.4f}")
    sys.stdout.flush()
    if failed:
        sys.exit(2)
