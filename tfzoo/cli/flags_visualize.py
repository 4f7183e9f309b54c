"""Flags shared by `tfzoo cam` and `tfzoo features`: where the model comes from, the layer, the output."""

from __future__ import annotations

import os

from absl import flags

from tfzoo.cli.flags_pretrained import define_pretrained_model_flags, pretrained_model_args

FLAGS = flags.FLAGS


def define_visualize_flags(output_help: str, layer_help: str) -> None:
    """``--source``, ``--model``, ``--pretrained``, ``--output`` and ``--layer``."""
    flags.DEFINE_string("source", None, "A run directory (tfzoo train) or an export (tfzoo export).")
    define_pretrained_model_flags()  # --model NAME --pretrained[=TAG|PATH]
    flags.DEFINE_string("output", None, output_help)
    flags.DEFINE_string("layer", None, layer_help)


def check_source_flags(verb: str) -> None:
    """The model-source and output checks, before TensorFlow loads."""
    from tfzoo.errors import UsageError

    if FLAGS.source and FLAGS.model:
        raise UsageError("pass either --source RUN_DIR|EXPORT_DIR or --model NAME, not both")
    if FLAGS.pretrained is not None and not FLAGS.model:
        raise UsageError("--pretrained needs --model NAME (e.g. --model resnet50 --pretrained)")
    if not FLAGS.source and not FLAGS.model:
        raise UsageError(f"{verb} needs a model: --source RUN_DIR|EXPORT_DIR or --model NAME [--pretrained]")
    if FLAGS.source and not os.path.isdir(os.path.expanduser(FLAGS.source)):
        what = "is a file, not a directory" if os.path.isfile(FLAGS.source) else "not found"
        raise UsageError(f"model source {FLAGS.source} {what} (pass a run directory or an export)")
    if not FLAGS.output:
        raise UsageError(f"{verb} needs --output")


def load_flagged_model():
    """The `tfzoo.visualize.source.LoadedModel` the flags name (TensorFlow loaded)."""
    from tfzoo.visualize.source import load_model_source

    pretrained = pretrained_model_args()
    return load_model_source(FLAGS.source, FLAGS.model, None if pretrained is None else pretrained[1])
