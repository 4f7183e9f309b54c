"""`tfzoo cam --source RUN_DIR|EXPORT_DIR | --model NAME [--pretrained] IMAGE... --output DIR`: heat maps.

For each image, writes ``DIR/<name>_cam.png`` (the image and its heat map
overlaid, the top-5 classes in the title) and ``DIR/<name>_cam.npy`` (the
heat map, float32 ``[H, W]`` in [0, 1] at the model's input resolution,
over the center-cropped image as evaluation sees it). ``--method auto``
uses CAM for a global-average-pooling + linear head and Grad-CAM otherwise
(token Grad-CAM for transformers); ``--method rollout`` is attention rollout
(ViT, DeiT). See `tfzoo.visualize`.
"""

import os
import sys
import warnings

from absl import flags

from tfzoo.cli.flags_visualize import check_source_flags, define_visualize_flags, load_flagged_model

define_visualize_flags("Directory for the PNG overlays and .npy heat maps.",
                       "Layer Grad-CAM reads (default: the model's deepest feature layer).")
flags.DEFINE_string("class", None, "Class to explain: a class name or an index (default: each image's top class).")
flags.DEFINE_enum("method", "auto", ["auto", "cam", "gradcam", "rollout"], "auto: CAM for a global-average-"
                  "pooling + linear head, else Grad-CAM; rollout: attention rollout (ViT, DeiT).")
flags.DEFINE_string("colormap", "jet", "matplotlib colormap of the heat map.")
flags.DEFINE_float("alpha", 0.45, "Weight of the heat map's colours over the image, in (0, 1].")
FLAGS = flags.FLAGS
LOADS_TENSORFLOW_ITSELF = True


def _stems(paths):
    stems = [os.path.splitext(os.path.basename(path))[0] for path in paths]
    if len(set(stems)) < len(stems):  # two images of one name from different folders
        stems = [f"{index:03d}_{stem}" for index, stem in enumerate(stems)]
    return stems


def main(args):
    from tfzoo.cli._runtime import load_tensorflow
    from tfzoo.errors import UsageError

    check_source_flags("cam")
    if os.path.isfile(FLAGS.output):
        raise UsageError(f"--output {FLAGS.output} is a file; name a directory")
    if not 0 < FLAGS.alpha <= 1:
        raise UsageError(f"--alpha must be in (0, 1], got {FLAGS.alpha}")
    if not args:
        raise UsageError("cam needs one or more image paths after the flags")
    load_tensorflow()
    import numpy as np

    from tfzoo.export.inference import top_k_entries
    from tfzoo.export.saved_model import outputs_probabilities, probabilities_from_outputs
    from tfzoo.utils.atomic import atomic_path
    from tfzoo.visualize import cam
    from tfzoo.visualize.class_maps import SingleCellMapWarning
    from tfzoo.visualize.plots import colormap, save_overlay

    colormap(FLAGS.colormap)
    loaded = load_flagged_model()
    class_index = loaded.class_index(FLAGS["class"].value)
    inputs, pixels = loaded.load_images(list(args))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SingleCellMapWarning)
        maps, classes = cam(loaded.model, inputs, class_index=class_index, method=FLAGS.method, layer=FLAGS.layer,
                            return_classes=True)
    for warning in caught:
        if issubclass(warning.category, SingleCellMapWarning):
            print(f"warning: {warning.message}", file=sys.stderr)
        else:
            warnings.showwarning(warning.message, warning.category, warning.filename, warning.lineno)
    outputs = loaded.model(inputs, training=False)
    probabilities = probabilities_from_outputs(outputs, not outputs_probabilities(loaded.model)).numpy()
    os.makedirs(FLAGS.output, exist_ok=True)
    print(f"model: {loaded.description}")
    for path, stem, image, heat, chosen, row in zip(args, _stems(args), pixels, maps, classes, probabilities):
        top = top_k_entries(row, loaded.class_names, 5)
        ranked = ", ".join(f"{entry['name'] if entry['name'] is not None else entry['class']} {entry['score']:.2f}"
                           for entry in top)
        shown = "attention rollout" if chosen < 0 else f"class {loaded.class_name(chosen)}"
        title = f"{os.path.basename(path)}: {shown} ({FLAGS.method})\ntop-5: {ranked}"
        png = save_overlay(os.path.join(FLAGS.output, f"{stem}_cam.png"), image, heat, title=title,
                           alpha=FLAGS.alpha, cmap=FLAGS.colormap)
        with atomic_path(os.path.join(FLAGS.output, f"{stem}_cam.npy"), suffix=".npy") as tmp:
            np.save(tmp, heat.astype(np.float32))
        print(f"{path}: {shown}; {png}")
