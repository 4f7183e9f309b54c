"""`tfzoo relabel`: dense top-k label maps from a trained zoo classifier, for token labeling.

    tfzoo relabel --annotator runs/resnet18-digits --dataset digits --output labels/digits-resnet18
"""

import dataclasses

from absl import flags

from tfzoo.cli.flags import define_data_flags

flags.DEFINE_string("annotator", None, "The annotator: a run directory of `tfzoo train`, a .keras file, or a "
                    "registered model name together with --annotator_weights.", required=True)
flags.DEFINE_string("annotator_weights", None, "Weights (.keras / .weights.h5) for an annotator given by name.")
flags.DEFINE_string("output", None, "Label directory to write (resumed when it holds a killed run).", required=True)
flags.DEFINE_integer("top_k", 5, "Classes kept per map position.")
flags.DEFINE_integer("image_size", None, "Annotator resolution (default: the annotator's training resolution).")
flags.DEFINE_integer("batch_size", 64, "Inference batch size.")
flags.DEFINE_integer("shard_size", 1024, "Images per output shard (the unit of resuming).")
flags.DEFINE_integer("seed", 0, "Seed of the train/val split (must match training's --seed for digits/folders "
                     "without a val split).")
define_data_flags()
FLAGS = flags.FLAGS


def main(args):
    from tfzoo.errors import UsageError
    from tfzoo.training.relabel import RelabelConfig, relabel

    if args:
        raise UsageError(f"unexpected arguments {' '.join(args)}; relabel takes flags only")
    values = {field.name: FLAGS[field.name].value for field in dataclasses.fields(RelabelConfig)}
    relabel(RelabelConfig(**values))
