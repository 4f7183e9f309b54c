"""`tfzoo export --run_dir RUN --output models/NAME/VERSION`: a TF Serving SavedModel."""

from absl import flags

from tfzoo.cli.flags_pretrained import define_pretrained_model_flags, pretrained_model_args

flags.DEFINE_string("run_dir", None, "Run directory written by `tfzoo train` (or --model NAME --pretrained).")
flags.DEFINE_string("output", None, "Version directory (models/NAME/1) or model base directory "
                    "(models/NAME: the next version number is used).", required=True)
flags.DEFINE_boolean("overwrite", False, "Replace an existing version directory.")
flags.DEFINE_integer("top_k", 5, "Number of top classes in the signatures' outputs.")
flags.DEFINE_boolean("reparameterize", True, "Export re-parameterizable models (RepVGG) in their deploy form "
                     "(one 3x3 conv + ReLU per block); --noreparameterize keeps the training form.")
flags.DEFINE_boolean("fuse_bn", False, "Fold every conv -> BatchNorm pair into one convolution with bias.")
FLAGS = flags.FLAGS
LOADS_TENSORFLOW_ITSELF = True
define_pretrained_model_flags()  # tfzoo export --model NAME --pretrained --output DIR
flags.DEFINE_integer("image_size", None, "With --pretrained: input resolution (default: the checkpoint's).")


def main(args):
    import os

    from tfzoo.cli._runtime import load_tensorflow
    from tfzoo.errors import UsageError
    from tfzoo.utils.rundir import RunDir

    if args:
        raise UsageError(f"unexpected arguments {' '.join(args)}; export takes flags only")
    if FLAGS.top_k < 1:
        raise UsageError(f"--top_k must be a positive integer, got {FLAGS.top_k}")
    output = os.path.abspath(os.path.expanduser(FLAGS.output))
    parent = output
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if os.path.isfile(parent):
        raise UsageError(f"--output {FLAGS.output}: {parent} is a file; pass a directory such as models/NAME")
    pretrained = pretrained_model_args()
    if pretrained is not None and FLAGS.run_dir:
        raise UsageError("pass either --run_dir or --model with --pretrained, not both")
    if pretrained is None and not FLAGS.run_dir:
        raise UsageError("export needs --run_dir RUN (or --model NAME --pretrained)")
    if pretrained is None:
        run = RunDir(FLAGS.run_dir)
        config = run.read_config()
    load_tensorflow()
    from tfzoo.data.preprocessing import PreprocessConfig
    from tfzoo.export import export_saved_model
    from tfzoo.export.saved_model import read_export_metadata

    if pretrained is not None:
        from tfzoo.convert.pretrained import class_names_for
        from tfzoo.export.pretrained import pretrained_model, pretrained_preprocess

        model = pretrained_model(*pretrained, image_size=FLAGS.image_size)
        config = {"model": model.zoo_info["name"], "class_names": class_names_for(model),
                  "preprocess": pretrained_preprocess(model).to_dict()}
    else:
        model = run.load_model()
    path = export_saved_model(model, FLAGS.output, preprocess=PreprocessConfig.from_dict(config["preprocess"]),
                              class_names=config.get("class_names"), top_k=FLAGS.top_k, overwrite=FLAGS.overwrite,
                              model_name=config["model"], reparameterize=FLAGS.reparameterize, fuse_bn=FLAGS.fuse_bn)
    form = read_export_metadata(path)["form"]
    print(f"Exported {config['model']} to {path} (signatures: serving_default, predict_images; form: "
          f"{form['form']}, {form['reparameterized_layers']} re-parameterized layers, "
          f"{form['fused_batchnorms']} folded batch norms)")
