"""`tfzoo convert --model NAME --checkpoint FILE.safetensors --output OUT.keras`: a timm checkpoint, offline.

Reads a timm state dict saved as safetensors (pickle formats are refused),
loads it strictly into the registered model with the family's adapter
(`tfzoo.convert.pretrained`) and writes a ``.keras`` file that `tfzoo eval`,
`tfzoo export` and ``keras.saving.load_model`` read. A checkpoint that does
not fit names its missing and unexpected keys; ``--nostrict`` loads what fits.
A ``config.json`` beside the checkpoint (the Hub layout) supplies the class
count and the preprocessing, recorded in the model's ``zoo_info``.
"""

from absl import flags

flags.DEFINE_string("model", None, "Registered model name or alias (`tfzoo list --pretrained`).", required=True)
flags.DEFINE_string("checkpoint", None, "timm state dict as .safetensors (a file, or a folder holding "
                    "model.safetensors), or a Hub source: a tag or hf-hub:ORG/REPO.", required=True)
flags.DEFINE_string("output", None, "The .keras file to write.", required=True)
flags.DEFINE_boolean("strict", True, "Require every model weight and checkpoint entry to pair up.")
flags.DEFINE_integer("num_classes", None, "Classifier width (default: the checkpoint's; another width leaves "
                     "the classifier freshly initialized).")
flags.DEFINE_integer("image_size", None, "Input resolution (default: the checkpoint's config.json, else the "
                     "model's).")
flags.DEFINE_boolean("overwrite", False, "Replace an existing output file.")
FLAGS = flags.FLAGS


def main(args):
    import os

    from tfzoo.errors import UsageError

    if args:
        raise UsageError(f"unexpected arguments {' '.join(args)}; convert takes flags only")
    if not FLAGS.output.endswith(".keras"):
        raise UsageError(f"--output must end in .keras, got {FLAGS.output!r}")
    if os.path.exists(FLAGS.output) and not FLAGS.overwrite:
        raise UsageError(f"{FLAGS.output} exists; pass --overwrite to replace it")
    if FLAGS.num_classes is not None and FLAGS.num_classes < 1:
        raise UsageError(f"--num_classes must be a positive integer, got {FLAGS.num_classes}")

    from tfzoo.models.registry import create_model
    from tfzoo.utils.atomic import atomic_path

    size = FLAGS.image_size
    model = create_model(FLAGS.model, pretrained=FLAGS.checkpoint, num_classes=FLAGS.num_classes,
                         input_shape=(size, size, 3) if size else None, strict=FLAGS.strict)
    with atomic_path(FLAGS.output, suffix=".keras") as tmp:
        model.save(tmp)
    cfg = model.zoo_info.get("pretrained_cfg", {})
    print(f"Converted {model.zoo_info['pretrained']} into {model.zoo_info['name']} "
          f"({model.count_params():,} parameters, {model.output.shape[-1]} classes, "
          f"{model.input.shape[1]}x{model.input.shape[2]} input, preprocessing "
          f"{ {k: cfg[k] for k in ('mean', 'std', 'crop_pct', 'interpolation') if k in cfg} or 'registry defaults'}) "
          f"-> {FLAGS.output}")
