"""`tfzoo features --source RUN_DIR|EXPORT_DIR | --model NAME --layer NAME IMAGE --output grid.png`.

Writes a PNG grid of the first ``--channels`` channels of one layer's output
for one image (each channel scaled to its own range); transformer tokens
are laid out on the patch grid. ``--layer`` names any layer of the model
(``model.summary()`` lists them).
"""

import os

from absl import flags

from tfzoo.cli.flags_visualize import check_source_flags, define_visualize_flags, load_flagged_model

define_visualize_flags("The PNG file to write, e.g. grid.png.",
                       "The layer whose output to show, e.g. layer1_0_act2 (resnet18).")
flags.DEFINE_integer("channels", 64, "How many channels (the first ones) the grid shows.")
FLAGS = flags.FLAGS
LOADS_TENSORFLOW_ITSELF = True


def main(args):
    from tfzoo.cli._runtime import load_tensorflow
    from tfzoo.errors import UsageError

    check_source_flags("features")
    if not FLAGS.layer:
        raise UsageError("features needs --layer NAME (a layer of the model; model.summary() lists them)")
    if FLAGS.channels < 1:
        raise UsageError(f"--channels must be a positive integer, got {FLAGS.channels}")
    if len(args) != 1:
        raise UsageError(f"features takes exactly one image path after the flags, got {len(args)}")
    if os.path.isdir(FLAGS.output):
        raise UsageError(f"--output {FLAGS.output} is a directory; name the PNG file to write, e.g. grid.png")
    load_tensorflow()
    from tfzoo.visualize import feature_maps, save_feature_grid

    loaded = load_flagged_model()
    inputs, _ = loaded.load_images(list(args))
    maps = feature_maps(loaded.model, inputs[0], FLAGS.layer)
    title = f"{os.path.basename(args[0])}: {FLAGS.layer} ({maps.shape[0]}x{maps.shape[1]}, {maps.shape[2]} channels)"
    path = save_feature_grid(FLAGS.output, maps, max_channels=FLAGS.channels, title=title)
    print(f"{FLAGS.layer}: {maps.shape[0]}x{maps.shape[1]}x{maps.shape[2]}; {path}")
