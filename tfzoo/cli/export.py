"""`tfzoo export`: a TF Serving SavedModel from a run dir, or from a registered model (fresh or pretrained weights).

``tfzoo export --run_dir RUN --output models/NAME`` exports a trained model;
``tfzoo export --model NAME [--pretrained] --output models/NAME`` exports a
registered model with timm's published weights, or with fresh weights (1000
classes, the registry's preprocessing) for serving benchmarks. By default the
export is in inference form: RepVGG blocks re-parameterized and every
conv -> BatchNorm pair folded (``--noreparameterize`` / ``--nofuse_bn`` keep
the trained form).
"""

import sys

from absl import flags

from tfzoo.cli.flags_pretrained import define_pretrained_model_flags, pretrained_model_args

flags.DEFINE_string("run_dir", None, "Run directory written by `tfzoo train` (or --model NAME [--pretrained]).")
flags.DEFINE_string("output", None, "Version directory (models/NAME/1) or model base directory "
                    "(models/NAME: the next version number is used).", required=True)
flags.DEFINE_boolean("overwrite", False, "Replace an existing version directory.")
flags.DEFINE_integer("top_k", 5, "Number of top classes in the signatures' outputs.")
flags.DEFINE_boolean("reparameterize", True, "Export re-parameterizable models (RepVGG) in their deploy form "
                     "(one 3x3 conv + ReLU per block); --noreparameterize keeps the training form.")
flags.DEFINE_boolean("fuse_bn", True, "Fold every BatchNorm that directly follows a convolution into it "
                     "(exact up to float32 rounding); --nofuse_bn keeps the BatchNorms.")
flags.DEFINE_enum("precision", "float32", ["float32", "bfloat16"], "Arithmetic of the exported graph: bfloat16 "
                  "stores the (folded) weights in bfloat16 and computes in it; inputs and probabilities stay float32.")
FLAGS = flags.FLAGS
LOADS_TENSORFLOW_ITSELF = True
define_pretrained_model_flags()  # tfzoo export --model NAME [--pretrained] --output DIR
flags.DEFINE_integer("image_size", None, "With --model: input resolution (default: the checkpoint's or the "
                     "registry's).")


def _check_flags(args) -> None:
    """Flag mistakes, found before TensorFlow loads."""
    import os

    from tfzoo.errors import UsageError

    if args:
        raise UsageError(f"unexpected arguments {' '.join(args)}; export takes flags only")
    if FLAGS.top_k < 1:
        raise UsageError(f"--top_k must be a positive integer, got {FLAGS.top_k}")
    if FLAGS.image_size is not None and FLAGS.image_size < 1:
        raise UsageError(f"--image_size must be a positive integer, got {FLAGS.image_size}")
    output = os.path.abspath(os.path.expanduser(FLAGS.output))
    parent = output
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if os.path.isfile(parent):
        raise UsageError(f"--output {FLAGS.output}: {parent} is a file; pass a directory such as models/NAME")
    if FLAGS.model and FLAGS.run_dir:
        raise UsageError("pass either --run_dir or --model (with or without --pretrained), not both")
    if not FLAGS.model and not FLAGS.run_dir:
        raise UsageError("export needs --run_dir RUN, or --model NAME (fresh weights, or --pretrained for "
                         "published ones)")
    if FLAGS.run_dir and FLAGS.image_size is not None:
        raise UsageError("--image_size goes with --model; a run dir is exported at its trained resolution")


def main(args):
    from tfzoo.cli._runtime import load_tensorflow
    from tfzoo.utils.rundir import RunDir

    _check_flags(args)
    pretrained = pretrained_model_args()
    if FLAGS.run_dir:
        run = RunDir(FLAGS.run_dir)
        config = run.read_config()
    load_tensorflow()
    from tfzoo.data.preprocessing import PreprocessConfig
    from tfzoo.export import export_saved_model
    from tfzoo.export.precision import bfloat16_cpu_note
    from tfzoo.export.saved_model import read_export_metadata

    if FLAGS.model:
        from tfzoo.convert.pretrained import class_names_for
        from tfzoo.export.pretrained import pretrained_model, pretrained_preprocess

        # Without --pretrained the weights are fresh: a model to time, not to trust.
        model = pretrained_model(FLAGS.model, pretrained[1] if pretrained else None, image_size=FLAGS.image_size)
        config = {"model": model.zoo_info["name"], "class_names": class_names_for(model),
                  "preprocess": pretrained_preprocess(model).to_dict()}
    else:
        model = run.load_model()
    path = export_saved_model(model, FLAGS.output, preprocess=PreprocessConfig.from_dict(config["preprocess"]),
                              class_names=config.get("class_names"), top_k=FLAGS.top_k, overwrite=FLAGS.overwrite,
                              model_name=config["model"], reparameterize=FLAGS.reparameterize, fuse_bn=FLAGS.fuse_bn,
                              precision=FLAGS.precision)
    form = read_export_metadata(path)["form"]
    note = bfloat16_cpu_note(FLAGS.precision)
    if note:
        print(note, file=sys.stderr)
    weights = "" if FLAGS.run_dir else (", pretrained weights" if pretrained else ", fresh weights")
    print(f"Exported {config['model']} to {path} (signatures: serving_default, predict_images; form: "
          f"{form['form']}, {form['reparameterized_layers']} re-parameterized layers, "
          f"{form['fused_batchnorms']} folded batch norms, {form['unfused_batchnorms']} left, {form['precision']}"
          f"{weights})")
