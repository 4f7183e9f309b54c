"""Export a classifier as a TF Serving SavedModel with preprocessing in the graph.

The exported graph takes raw pixels or encoded image files, applies the same
`tfzoo.data.preprocessing` functions that training and evaluation use, runs
the model and returns probabilities plus the top-k classes. Two signatures:

``serving_default``
    ``images``: float32 ``[N, H, W, 3]`` pixels in 0..255, any size. The batch
    is resized straight to the model resolution with `resize_to_input`
    (identity when it is already that size; no crop), then `normalize`d.
``predict_images``
    ``image_bytes``: string ``[N]`` of encoded JPEG/PNG/GIF/BMP files. Each is
    decoded with `decode_image`, resized and center cropped with
    `eval_transform` (the evaluation transform), then `normalize`d.

Both return ``probabilities`` float32 ``[N, K]``, ``top_k_scores`` float32
``[N, k]``, ``top_k_classes`` int32 ``[N, k]`` and, when class names are
given, ``top_k_names`` string ``[N, k]``, with ``k = min(top_k, K)``. A model
whose head outputs logits (its ``predictions`` layer is not a softmax) gets a
softmax in the graph, so ``probabilities`` always sum to one.

Directory layout (TF Serving's numbered versions)::

    models/NAME/                    model base dir, what TF Serving's --model_base_path names
      1/                            one version
        saved_model.pb
        variables/
        assets.extra/tfzoo_export.json   model name, preprocessing, class names, exported form
        assets.extra/model.keras          the same model as a Keras file (for tfzoo cam / features)
      2/

Inference form: by default a model with re-parameterizable layers (RepVGG) is
exported in its deploy form (`tfzoo.reparameterize`), and every BatchNorm
that directly follows a convolution is folded into it (`tfzoo.fuse_bn`;
exact up to float32 rounding, and about 1.2x faster on CPU, see
BENCHMARKS.md); ``reparameterize=False`` / ``fuse_bn=False`` keep the trained
form. The metadata's ``"form"`` records what was exported, including the
BatchNorms left unfolded (those that do not follow a convolution, as in
DenseNet's pre-activation blocks).

`export_saved_model(model, "models/NAME/3")` writes version 3 exactly;
`export_saved_model(model, "models/NAME")` writes the next version (1 when
none exists, else the highest existing number + 1). A version is built in a
temporary directory beside it and renamed into place when complete, so TF
Serving, which polls the base dir, never sees a half-written version.
"""

from __future__ import annotations

import os
import re

import keras
import tensorflow as tf

import tfzoo
from tfzoo.data.preprocessing import PreprocessConfig, decode_image, eval_transform, normalize, resize_to_input
from tfzoo.errors import UsageError
from tfzoo.export.precision import PRECISIONS, to_bfloat16
from tfzoo.models import reparam
from tfzoo.utils.atomic import atomic_directory, read_json, write_json

METADATA_FILE = os.path.join("assets.extra", "tfzoo_export.json")
METADATA_FORMAT = "tfzoo-saved-model/1"
KERAS_MODEL_FILE = os.path.join("assets.extra", "model.keras")  # the exported Keras model (heat maps need layers)
_VERSION = re.compile(r"^\d+$")


def is_version_name(name: str) -> bool:
    """Whether a directory name is a TF Serving version number (all digits)."""
    return bool(_VERSION.match(name))


def version_dirs(base_dir: str) -> list[tuple[int, str]]:
    """(version, path) of every numbered subdirectory of `base_dir`, lowest first.

    Temporary directories of an export in progress (``.tmp-3-...``) are not
    numbered and so are skipped, as TF Serving skips them.
    """
    if not os.path.isdir(base_dir):
        return []
    found = []
    for entry in os.listdir(base_dir):
        path = os.path.join(base_dir, entry)
        if is_version_name(entry) and os.path.isdir(path):
            found.append((int(entry), path))
    return sorted(found)


def latest_saved_model(base_dir: str) -> str | None:
    """The highest-numbered version directory of `base_dir` that holds a saved_model.pb, or None."""
    for _, path in reversed(version_dirs(base_dir)):
        if os.path.isfile(os.path.join(path, "saved_model.pb")):
            return path
    return None


def resolve_version_dir(output: str) -> str:
    """Maps an export destination to the version directory to write.

    Args:
        output: A version directory whose basename is an integer
            (``models/NAME/3``), or a model base dir (``models/NAME``), for
            which the next free version number is chosen.

    Returns:
        The absolute version directory path.

    Raises:
        UsageError: if `output` is a file or is itself a SavedModel directory
            without a version number.
    """
    output = os.path.abspath(os.path.expanduser(os.fspath(output)))
    if is_version_name(os.path.basename(output)):
        return output
    if os.path.exists(output) and not os.path.isdir(output):
        raise UsageError(f"export path {output} is a file; pass a model base directory or a numbered version directory")
    if os.path.isfile(os.path.join(output, "saved_model.pb")):
        raise UsageError(
            f"export path {output} is itself a SavedModel without a version number; pass its parent "
            "directory or a numbered version directory such as models/NAME/1"
        )
    versions = version_dirs(output)
    return os.path.join(output, str(versions[-1][0] + 1 if versions else 1))


def outputs_probabilities(model: keras.Model) -> bool:
    """Whether the model's output is already a softmax.

    Looks at the layer named ``predictions`` (every tfzoo head has one), or the
    last layer for other models; a `keras.layers.Softmax` layer or a layer whose
    ``activation`` is softmax counts as probabilities, anything else as logits.
    """
    try:
        layer = model.get_layer("predictions")
    except ValueError:
        layer = model.layers[-1] if model.layers else None
    if isinstance(layer, keras.layers.Softmax):
        return True
    activation = getattr(layer, "activation", None)
    return getattr(activation, "__name__", None) == "softmax"


def probabilities_from_outputs(outputs, apply_softmax: bool) -> tf.Tensor:
    """Casts model outputs to float32 and applies softmax over classes when they are logits."""
    outputs = tf.cast(outputs, tf.float32)
    return tf.nn.softmax(outputs, axis=-1) if apply_softmax else outputs


def _check_model(model: keras.Model, preprocess: PreprocessConfig) -> int:
    """Validates that `model` is a single-input, single-output classifier matching `preprocess`; returns K."""
    input_shape = model.input_shape
    output_shape = model.output_shape
    if isinstance(input_shape, list) or isinstance(output_shape, list) or len(output_shape) != 2:
        raise UsageError(
            f"export needs a single-input classifier with a [batch, classes] output, got input {input_shape} and "
            f"output {output_shape}; build the model with include_top=True"
        )
    height, width, channels = input_shape[1:]
    if channels not in (None, 3):
        raise UsageError(f"export needs a model that takes 3-channel images, got input shape {input_shape}")
    size = preprocess.image_size
    if (height is not None and height != size) or (width is not None and width != size):
        raise UsageError(
            f"the model takes {height}x{width} images but the preprocessing produces {size}x{size}; "
            "pass the preprocessing the model was trained with"
        )
    return int(output_shape[-1])


def inference_form(model: keras.Model, *, reparameterize: bool, fuse_bn: bool,
                   precision: str = "float32") -> tuple[keras.Model, dict]:
    """The model to export and a description of its form for the metadata.

    Returns:
        ``(model, form)``; ``form["form"]`` is ``"deploy"`` when layers were
        re-parameterized, ``"training"`` when re-parameterizable layers were
        kept as trained (``reparameterize=False``), else ``"plain"``;
        ``form["reparameterized_layers"]`` and ``form["fused_batchnorms"]``
        count the conversions, ``form["unfused_batchnorms"]`` the
        BatchNorms the exported model still runs; ``form["precision"]``
        is `precision` (``"bfloat16"``: `tfzoo.export.precision.to_bfloat16`
        after folding).
    """
    if precision not in PRECISIONS:
        raise UsageError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    convertible = reparam.count_reparameterizable(model)
    converted = convertible if reparameterize else 0
    if converted:
        model = reparam.reparameterize(model)
    fused = reparam.count_fusable_bn(model) if fuse_bn else 0
    if fused:
        model = reparam.fuse_bn(model)
    if precision == "bfloat16":
        model = to_bfloat16(model)
    kind = "deploy" if converted else ("training" if convertible else "plain")
    return model, {"form": kind, "reparameterized_layers": converted, "fused_batchnorms": fused,
                   "unfused_batchnorms": count_batch_norms(model), "precision": precision}


def count_batch_norms(model: keras.Model) -> int:
    """Number of BatchNormalization layers in `model`, nested layers and models included."""
    return sum(isinstance(layer, keras.layers.BatchNormalization) for layer in model._flatten_layers())


def _track_weights_once(archive, model: keras.Model) -> None:
    """Records the model's weights on `archive` so that each is saved once.

    ``ExportArchive.track(model)`` (and ``model.export``) lists the
    ``keras.Variable`` wrappers under ``variables``, while the endpoints
    capture the ``tf.Variable`` inside each wrapper, which the archive saves
    under ``_all_variables``. Being two different trackables, every weight
    was written twice and restored as two buffers (keras-team/keras#23553).
    Listing the inner ``tf.Variable`` objects instead lets the checkpoint
    de-duplicate them by identity, and keeps the revived object's
    ``variables`` / ``trainable_variables`` / ``non_trainable_variables``.
    Weights only (no seed-generator or metric state, which serving never
    reads); the model holds no lookup tables, which `track` would also find.
    """
    def inner(weights):
        # Outside a layer call `.value` is the backing tf.Variable (no autocast).
        return [w.value if isinstance(w.value, tf.Variable) else w for w in weights]

    trainable, non_trainable = inner(model.trainable_weights), inner(model.non_trainable_weights)
    archive.add_variable_collection("variables", trainable + non_trainable)
    archive.add_variable_collection("trainable_variables", trainable)
    archive.add_variable_collection("non_trainable_variables", non_trainable)


def _build_archive(model, preprocess: PreprocessConfig, class_names, num_classes: int, top_k: int,
                   apply_softmax: bool):
    size = preprocess.image_size
    names_table = tf.constant(class_names) if class_names else None

    def head(pixels):
        # Keras convolutions reject an empty batch: an empty request runs the model on one zero image and slices
        # its row away. No tf.cond around the network (it added a Switch per variable to the executed graph; its
        # measured cost was within noise: BENCHMARKS.md, "Served throughput").
        count = tf.shape(pixels)[0]
        padded = tf.pad(pixels, [[0, tf.maximum(1 - count, 0)], [0, 0], [0, 0], [0, 0]])
        outputs = model(normalize(padded, preprocess), training=False)
        probabilities = probabilities_from_outputs(outputs, apply_softmax)[:count]
        probabilities.set_shape([None, num_classes])
        scores, classes = tf.math.top_k(probabilities, k=top_k, sorted=True)
        outputs = {"probabilities": probabilities, "top_k_scores": scores, "top_k_classes": tf.cast(classes, tf.int32)}
        if names_table is not None:
            outputs["top_k_names"] = tf.gather(names_table, classes)
        return outputs

    def serve_pixels(images):
        return head(resize_to_input(images, preprocess))

    def serve_encoded(image_bytes):
        pixels = tf.map_fn(
            lambda encoded: eval_transform(decode_image(encoded), preprocess),
            image_bytes,
            fn_output_signature=tf.TensorSpec([size, size, 3], tf.float32),
        )
        return head(pixels)

    archive = keras.export.ExportArchive()
    _track_weights_once(archive, model)
    pixels_spec = tf.TensorSpec([None, None, None, 3], tf.float32, name="images")
    archive.add_endpoint("serving_default", serve_pixels, input_signature=[pixels_spec])
    bytes_spec = tf.TensorSpec([None], tf.string, name="image_bytes")
    archive.add_endpoint("predict_images", serve_encoded, input_signature=[bytes_spec])
    return archive


def export_saved_model(model: keras.Model, output: str, *, preprocess: PreprocessConfig,
                       class_names: list[str] | None = None, top_k: int = 5, overwrite: bool = False,
                       model_name: str | None = None, reparameterize: bool = True, fuse_bn: bool = True,
                       precision: str = "float32") -> str:
    """Writes `model` as a TF Serving SavedModel version with preprocessing and top-k in the graph.

    Args:
        model: A single-input classifier, [N, S, S, 3] -> [N, K] (probabilities
            or logits; logits get a softmax in the graph).
        output: A numbered version directory (``models/NAME/3``) or a model
            base dir (``models/NAME``), which gets the next version number.
        preprocess: The preprocessing the model was trained with; its
            ``image_size`` must match the model input when that is fixed.
        class_names: Optional K names; adds the ``top_k_names`` output.
        top_k: Number of top classes returned (capped at K).
        overwrite: Replace an existing version directory. The old version is
            removed only once the new one is complete.
        model_name: Name recorded in the metadata file; defaults to ``model.name``.
        reparameterize: Export re-parameterizable layers (RepVGG blocks) in
            their deploy form; no effect on other models.
        fuse_bn: Fold each conv -> BatchNorm pair into one convolution
            with bias (`tfzoo.fuse_bn`); False keeps the BatchNorms.
        precision: ``"float32"``, or ``"bfloat16"`` for bfloat16 weights and
            arithmetic (`tfzoo.export.precision`); inputs and
            probabilities stay float32.

    Returns:
        The absolute path of the version directory written.

    Raises:
        UsageError: for an existing version without `overwrite`, a bad
            destination, `top_k` < 1, class names that do not match K, or a
            model whose shape does not fit the preprocessing.
    """
    num_classes = _check_model(model, preprocess)
    if not isinstance(top_k, int) or top_k < 1:
        raise UsageError(f"top_k must be a positive integer, got {top_k!r}")
    if class_names is not None:
        class_names = [str(name) for name in class_names]
        if len(class_names) != num_classes:
            raise UsageError(f"got {len(class_names)} class names for a model with {num_classes} classes")
    k = min(top_k, num_classes)
    apply_softmax = not outputs_probabilities(model)
    version_dir = resolve_version_dir(output)
    exists_message = (
        f"export path {version_dir} already exists; pass --overwrite to replace it or choose another version"
    )
    if os.path.exists(version_dir) and not overwrite:
        raise UsageError(exists_message)

    model, form = inference_form(model, reparameterize=reparameterize, fuse_bn=fuse_bn, precision=precision)
    archive = _build_archive(model, preprocess, class_names, num_classes, k, apply_softmax)
    metadata = {
        "format": METADATA_FORMAT,
        "tfzoo_version": tfzoo.__version__,
        "model": model_name or model.name,
        "version": int(os.path.basename(version_dir)),
        "num_classes": num_classes,
        "class_names": class_names,
        "preprocess": preprocess.to_dict(),
        "top_k": k,
        "softmax_in_graph": apply_softmax,
        "form": form,
        "signatures": {
            "serving_default": "images: float32 [N, H, W, 3] in 0..255 -> resize_to_input -> normalize",
            "predict_images": "image_bytes: string [N] JPEG/PNG -> decode_image -> eval_transform -> normalize",
        },
    }
    try:
        with atomic_directory(version_dir, overwrite=overwrite) as tmp:
            archive.write_out(tmp, verbose=False)
            os.makedirs(os.path.join(tmp, os.path.dirname(METADATA_FILE)), exist_ok=True)
            write_json(os.path.join(tmp, METADATA_FILE), metadata)
            model.save(os.path.join(tmp, KERAS_MODEL_FILE))  # the layers `tfzoo cam` / `tfzoo features` read
    except FileExistsError as error:
        # Another export took this version between the check above and the rename.
        if error.args and os.path.abspath(str(error.args[0])) == version_dir:
            raise UsageError(exists_message) from None
        raise
    return version_dir


def read_export_metadata(version_dir: str) -> dict | None:
    """The ``tfzoo_export.json`` of an exported version, or None for a SavedModel not written by tfzoo."""
    path = os.path.join(version_dir, METADATA_FILE)
    return read_json(path) if os.path.isfile(path) else None
