"""Top-k predictions for image files, from an exported SavedModel or a training run.

Two kinds of source give the same answer for the same weights:

- a SavedModel written by `tfzoo.export.saved_model.export_saved_model` (a
  version directory holding ``saved_model.pb``, or a model base dir, for which
  the highest version is used): the encoded files go through its
  ``predict_images`` signature, so preprocessing is exactly the served graph's;
- a tfzoo run directory (``run.json`` + ``model.keras``): the files are
  preprocessed eagerly with the same functions (`decode_image`,
  `eval_transform`, `normalize`) and the preprocessing recorded in run.json.

Either way the model's output becomes probabilities (a softmax is applied to
logits) and the top-k is taken in NumPy, ties going to the lower class index
as in `tf.math.top_k`.
"""

from __future__ import annotations

import os

import numpy as np
import tensorflow as tf

from tfzoo.data.preprocessing import PreprocessConfig, decode_image, eval_transform, normalize
from tfzoo.errors import UsageError
from tfzoo.export.saved_model import (
    latest_saved_model,
    outputs_probabilities,
    probabilities_from_outputs,
    read_export_metadata,
)
from tfzoo.utils.rundir import RunDir
from tfzoo.utils.stdio import native_stderr_captured

BATCH_SIZE = 32


class Predictor:
    """A loaded model that maps encoded image files to class probabilities.

    Attributes:
        source: The resolved directory the model was loaded from.
        class_names: K class names, or None when the source records none.
        preprocess: The preprocessing applied to each image (None for a
            SavedModel without tfzoo metadata; its graph still preprocesses).
        description: What the model is (``resnet18 (family resnet, 10 classes,
            64x64)`` from the model's recorded registry name), or None.
    """

    def __init__(self, source: str, class_names: list[str] | None, preprocess: PreprocessConfig | None,
                 probabilities_fn, keep_alive=None, description: str | None = None):
        self.source = source
        self.description = description
        self.class_names = class_names
        self.preprocess = preprocess
        self._probabilities_fn = probabilities_fn
        self._keep_alive = keep_alive  # a revived SavedModel must outlive its signature functions

    def probabilities(self, encoded_images: list[bytes]) -> np.ndarray:
        """float32 [N, K] probabilities for N encoded, already validated images."""
        chunks = [
            self._probabilities_fn(encoded_images[start:start + BATCH_SIZE])
            for start in range(0, len(encoded_images), BATCH_SIZE)
        ]
        return np.concatenate(chunks, axis=0) if chunks else np.zeros([0, 0], np.float32)


def _saved_model_predictor(version_dir: str) -> Predictor:
    try:
        with native_stderr_captured(replay_on=()):
            loaded = tf.saved_model.load(version_dir)
    except Exception as error:  # noqa: BLE001 (a corrupt export is the file's fault, not a bug)
        text = " ".join(str(error).split())[:200]
        raise UsageError(f"{version_dir} is not a valid SavedModel ({type(error).__name__}: {text})") from None
    if "predict_images" not in loaded.signatures:
        raise UsageError(
            f"{version_dir} is a SavedModel without a predict_images signature; export it with `tfzoo export`"
        )
    signature = loaded.signatures["predict_images"]
    metadata = read_export_metadata(version_dir) or {}
    preprocess = PreprocessConfig.from_dict(metadata["preprocess"]) if "preprocess" in metadata else None

    def probabilities_fn(encoded):
        outputs = signature(image_bytes=tf.constant(encoded, dtype=tf.string))
        return outputs["probabilities"].numpy()

    return Predictor(version_dir, metadata.get("class_names"), preprocess, probabilities_fn, keep_alive=loaded,
                     description=metadata.get("model"))


def _run_dir_predictor(run_dir: RunDir) -> Predictor:
    config = run_dir.read_config()
    if "preprocess" not in config:
        raise UsageError(f"{run_dir.config_file} records no preprocessing (key 'preprocess'); re-run `tfzoo train`")
    preprocess = PreprocessConfig.from_dict(config["preprocess"])
    model = run_dir.load_model()
    num_classes = int(model.output_shape[-1])
    class_names = config.get("class_names")
    if class_names is not None and len(class_names) != num_classes:
        raise UsageError(
            f"{run_dir.config_file} lists {len(class_names)} class names but the model has {num_classes} classes"
        )
    apply_softmax = not outputs_probabilities(model)

    def probabilities_fn(encoded):
        pixels = tf.stack([eval_transform(decode_image(tf.constant(data)), preprocess) for data in encoded])
        outputs = model(normalize(pixels, preprocess), training=False)
        return probabilities_from_outputs(outputs, apply_softmax).numpy()

    from tfzoo.models.zoo_model import describe

    return Predictor(run_dir.path, class_names, preprocess, probabilities_fn, description=describe(model))


def resolve_source(source: str) -> tuple[str, str]:
    """Classifies a model source.

    Returns:
        ``("saved_model", version_dir)`` or ``("run_dir", run_dir)``.

    Raises:
        UsageError: if `source` does not exist or is neither kind.
    """
    path = os.path.abspath(os.path.expanduser(os.fspath(source)))
    if not os.path.isdir(path):
        raise UsageError(f"model source not found: {source} (pass a run directory or an exported SavedModel)")
    if os.path.isfile(os.path.join(path, "saved_model.pb")):
        return "saved_model", path
    if os.path.isfile(os.path.join(path, "run.json")):
        return "run_dir", path
    latest = latest_saved_model(path)
    if latest:
        return "saved_model", latest
    raise UsageError(
        f"{source} is neither a tfzoo run directory (no run.json) nor an exported SavedModel "
        "(no saved_model.pb, and no numbered version directory holding one)"
    )


def load_predictor(source: str) -> Predictor:
    """Loads a SavedModel export or a run directory for prediction (see `resolve_source`)."""
    kind, path = resolve_source(source)
    return _saved_model_predictor(path) if kind == "saved_model" else _run_dir_predictor(RunDir(path))


def read_image(path: str) -> bytes:
    """Reads one image file and checks that it decodes.

    libjpeg's own stderr lines for a corrupt file are captured (see
    `tfzoo.utils.stdio`), so the failure reads as one line.

    Raises:
        UsageError: if the file is missing or not a decodable image.
    """
    if os.path.isdir(path):
        raise UsageError(f"{path} is a directory, not an image file")
    if not os.path.isfile(path):
        raise UsageError(f"image file not found: {path}")
    with open(path, "rb") as handle:
        data = handle.read()
    decodable = True
    with native_stderr_captured():
        try:
            decode_image(tf.constant(data))
        except (tf.errors.InvalidArgumentError, tf.errors.UnimplementedError):
            decodable = False
    if not decodable:
        raise UsageError(f"cannot decode image {path}: not a JPEG, PNG, GIF or BMP file, or corrupt")
    return data


def read_images(image_paths: list[str]) -> list[bytes]:
    """Reads image files and checks that each one decodes (`read_image`).

    Raises:
        UsageError: naming the first file that is missing or not a decodable image.
    """
    return [read_image(path) for path in image_paths]


def top_k_entries(probabilities: np.ndarray, class_names: list[str] | None, top_k: int) -> list[dict]:
    """The `top_k` highest classes of one probability row as ``{"class", "name", "score"}`` dicts."""
    order = np.argsort(-probabilities, kind="stable")[:top_k]
    return [
        {"class": int(index), "name": class_names[index] if class_names else None, "score": float(probabilities[index])}
        for index in order
    ]


def predict_files(source: str, image_paths: list[str], top_k: int = 5, on_error=None) -> list[dict]:
    """Predicts the top-k classes of image files.

    Args:
        source: An exported SavedModel (version dir or model base dir) or a
            tfzoo run directory.
        image_paths: Encoded image files (JPEG, PNG, GIF, BMP).
        top_k: Number of classes per image (capped at the class count).
        on_error: None: a missing or undecodable image raises. A callable
            ``on_error(path, message)``: such an image is reported to it and
            left out, and the others are predicted (the model is not loaded
            when no image is readable).

    Returns:
        One ``{"path": str, "top_k": [{"class": int, "name": str | None,
        "score": float}, ...], "model": str | None}`` per readable image, in
        input order, best class first; ``model`` says what the model is.

    Raises:
        UsageError: for a missing or undecodable image (without `on_error`),
            a source that is neither kind, or `top_k` < 1.
    """
    if not isinstance(top_k, int) or top_k < 1:
        raise UsageError(f"top_k must be a positive integer, got {top_k!r}")
    resolve_source(source)  # fail on a bad source before reading any image
    paths, encoded = [], []
    for path in image_paths:
        try:
            encoded.append(read_image(path))
        except UsageError as error:
            if on_error is None:
                raise
            on_error(path, str(error))
            continue
        paths.append(path)
    if not encoded:
        return []
    predictor = load_predictor(source)
    with native_stderr_captured():  # the model decodes the files again (libjpeg warnings)
        probabilities = predictor.probabilities(encoded)
    return [
        {"path": path, "top_k": top_k_entries(row, predictor.class_names, top_k), "model": predictor.description}
        for path, row in zip(paths, probabilities)
    ]
