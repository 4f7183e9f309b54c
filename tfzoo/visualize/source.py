"""The model behind ``tfzoo cam`` / ``tfzoo features``: a run directory, an export, or a registered name.

Heat maps and feature maps need the Keras model's layers, not only a
serving graph:

- a run directory: its ``model.keras`` and the preprocessing in ``run.json``;
- a ``tfzoo export`` directory (a version or a model base dir): the Keras
  model written beside the SavedModel (``assets.extra/model.keras``) and the
  preprocessing in ``tfzoo_export.json``; an export without it (a SavedModel
  from elsewhere, or from before that file was written) is refused in one line;
- ``--model NAME [--pretrained]``: the registry's model (published weights
  with ``--pretrained``, else freshly initialized), preprocessed as its
  checkpoint or the registry says.

Images are decoded and center-cropped as evaluation does (`eval_transform`),
then normalized; the cropped pixels are kept for drawing.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from tfzoo.errors import UsageError

EXPORT_KERAS_FILE = os.path.join("assets.extra", "model.keras")  # tfzoo.export.saved_model.KERAS_MODEL_FILE


@dataclasses.dataclass
class LoadedModel:
    """A classifier ready for heat maps.

    Attributes:
        model: The Keras model.
        preprocess: Its `tfzoo.data.preprocessing.PreprocessConfig`.
        class_names: K names, or None.
        description: What the model is, for titles.
    """

    model: object
    preprocess: object
    class_names: list | None
    description: str

    def class_name(self, index: int) -> str:
        return str(self.class_names[index]) if self.class_names else str(index)

    def class_index(self, value: str | None) -> int | None:
        """``--class``: a class name or an index, checked against the model (None: each image's top class)."""
        if value is None:
            return None
        count = int(self.model.output_shape[-1])
        names = [str(name) for name in self.class_names or []]
        if value in names:
            return names.index(value)
        try:
            index = int(value)
        except ValueError:
            shown = ", ".join(names[:10]) + (" ..." if len(names) > 10 else "")
            raise UsageError(f"--class {value!r} is neither a class name nor an index"
                             + (f" (classes: {shown})" if names else f" (0..{count - 1})")) from None
        if not 0 <= index < count:
            raise UsageError(f"--class {index} is out of range: the model has {count} classes (0..{count - 1})")
        return index

    def load_images(self, paths: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """``(model_inputs, pixels)`` for image files: float32 ``[N, S, S, 3]`` each, pixels in 0..255."""
        import tensorflow as tf

        from tfzoo.data.preprocessing import decode_image, eval_transform, normalize
        from tfzoo.export.inference import read_images

        encoded = read_images(list(paths))
        pixels = tf.stack([eval_transform(decode_image(tf.constant(data)), self.preprocess) for data in encoded])
        return normalize(pixels, self.preprocess).numpy(), pixels.numpy()


def _from_run_dir(path: str) -> LoadedModel:
    from tfzoo.data.preprocessing import PreprocessConfig
    from tfzoo.models.zoo_model import describe
    from tfzoo.utils.rundir import RunDir

    run = RunDir(path)
    config = run.read_config()
    if "preprocess" not in config:
        raise UsageError(f"{run.config_file} records no preprocessing (key 'preprocess'); re-run `tfzoo train`")
    model = run.load_model()
    return LoadedModel(model, PreprocessConfig.from_dict(config["preprocess"]), config.get("class_names"),
                       describe(model))


def _from_export(version_dir: str) -> LoadedModel:
    from tfzoo.data.preprocessing import PreprocessConfig
    from tfzoo.export.saved_model import read_export_metadata
    from tfzoo.utils.rundir import load_keras_file

    keras_file = os.path.join(version_dir, EXPORT_KERAS_FILE)
    metadata = read_export_metadata(version_dir) or {}
    if not os.path.isfile(keras_file) or "preprocess" not in metadata:
        raise UsageError(f"export {version_dir} holds only the serving graph, and heat maps need the Keras model's "
                         f"layers (no {EXPORT_KERAS_FILE}); pass the run directory it was exported from")
    model = load_keras_file(keras_file)
    return LoadedModel(model, PreprocessConfig.from_dict(metadata["preprocess"]), metadata.get("class_names"),
                       str(metadata.get("model") or model.name))


def _from_registry(name: str, pretrained) -> LoadedModel:
    from tfzoo.data.preprocessing import PreprocessConfig
    from tfzoo.models.registry import create_model, get_spec
    from tfzoo.models.zoo_model import describe

    if pretrained is not None:
        from tfzoo.convert.pretrained import class_names_for
        from tfzoo.export.pretrained import pretrained_model, pretrained_preprocess

        model = pretrained_model(name, pretrained)
        return LoadedModel(model, pretrained_preprocess(model), class_names_for(model),
                           f"{describe(model)}, {model.zoo_info['pretrained']}")
    spec = get_spec(name)
    model = create_model(spec.name)
    preprocess = PreprocessConfig(image_size=spec.input_size, crop_pct=spec.crop_pct,
                                  interpolation=spec.interpolation, mean=tuple(spec.mean), std=tuple(spec.std))
    return LoadedModel(model, preprocess, None, f"{describe(model)}, random weights")


def load_model_source(source: str | None = None, model: str | None = None, pretrained=None) -> LoadedModel:
    """Loads a run directory or an export (`source`), or a registered `model` (optionally `pretrained`).

    Raises:
        UsageError: for a missing or unknown source, both kinds at once, or an export without its Keras model.
    """
    if source and model:
        raise UsageError("pass either --source RUN_DIR|EXPORT_DIR or --model NAME, not both")
    if model:
        return _from_registry(model, pretrained)
    if not source:
        raise UsageError("name the model: --source RUN_DIR|EXPORT_DIR, or --model NAME [--pretrained]")
    from tfzoo.export.inference import resolve_source

    kind, path = resolve_source(source)
    return _from_export(path) if kind == "saved_model" else _from_run_dir(path)
