"""`tfzoo predict --source RUN_OR_SAVEDMODEL IMAGE...`: the top classes of each image."""

from absl import flags

flags.DEFINE_string("source", None, "A run directory (tfzoo train) or an exported SavedModel (tfzoo export); "
                    "or none, with --model NAME --pretrained.")
flags.DEFINE_string("run_dir", None, "Alias of --source for a run directory.")
flags.DEFINE_integer("top_k", 5, "How many classes to print per image.")
FLAGS = flags.FLAGS
# --- pretrained weights (issue 11): tfzoo predict --model NAME --pretrained IMAGE... ---
from tfzoo.cli.flags_pretrained import define_pretrained_model_flags, pretrained_model_args  # noqa: E402

define_pretrained_model_flags()
# ---


def main(args):
    from tfzoo.errors import UsageError
    from tfzoo.export import predict_files

    # --- pretrained weights (issue 11) ---
    pretrained = pretrained_model_args()
    if pretrained is not None:
        if FLAGS.source or FLAGS.run_dir:
            raise UsageError("pass either --source/--run_dir or --model with --pretrained, not both")
        if not args:
            raise UsageError("predict needs one or more image paths after the flags")
        from tfzoo.export.pretrained import predict_pretrained
        return _print(predict_pretrained(*pretrained, list(args), top_k=FLAGS.top_k))
    # ---
    source = FLAGS.source or FLAGS.run_dir
    if not source:
        raise UsageError("predict needs --source RUN_DIR_OR_SAVEDMODEL and one or more image paths")
    if not args:
        raise UsageError("predict needs one or more image paths after the flags")
    if FLAGS.top_k < 1:
        raise UsageError(f"--top_k must be a positive integer, got {FLAGS.top_k}")
    _print(predict_files(source, list(args), top_k=FLAGS.top_k))


def _print(results):
    for result in results:
        print(result["path"])
        for rank, entry in enumerate(result["top_k"], 1):
            label = entry["name"] if entry.get("name") is not None else str(entry["class"])
            print(f"  {rank}. {label:<20} {entry['score']:.4f}")
