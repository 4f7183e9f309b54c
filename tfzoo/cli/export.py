"""`tfzoo export --run_dir RUN --output models/NAME/VERSION`: a TF Serving SavedModel."""

from absl import flags

flags.DEFINE_string("run_dir", None, "Run directory written by `tfzoo train`.", required=True)
flags.DEFINE_string("output", None, "Version directory (models/NAME/1) or model base directory "
                    "(models/NAME: the next version number is used).", required=True)
flags.DEFINE_boolean("overwrite", False, "Replace an existing version directory.")
flags.DEFINE_integer("top_k", 5, "Number of top classes in the signatures' outputs.")
FLAGS = flags.FLAGS


def main(args):
    from tfzoo.data.preprocessing import PreprocessConfig
    from tfzoo.errors import UsageError
    from tfzoo.export import export_saved_model
    from tfzoo.utils.rundir import RunDir

    if args:
        raise UsageError(f"unexpected arguments {' '.join(args)}; export takes flags only")
    if FLAGS.top_k < 1:
        raise UsageError(f"--top_k must be a positive integer, got {FLAGS.top_k}")
    run = RunDir(FLAGS.run_dir)
    config = run.read_config()
    model = run.load_model()
    path = export_saved_model(model, FLAGS.output, preprocess=PreprocessConfig.from_dict(config["preprocess"]),
                              class_names=config.get("class_names"), top_k=FLAGS.top_k, overwrite=FLAGS.overwrite,
                              model_name=config["model"])
    print(f"Exported {config['model']} to {path} (signatures: serving_default, predict_images)")
