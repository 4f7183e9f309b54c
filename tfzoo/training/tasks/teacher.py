"""The distillation teacher: where it comes from, what it sees, and its logits.

``--teacher`` names one of three kinds (`resolve_teacher` tells them apart
before any data is read):

- a **run directory** of ``tfzoo train``: its ``model.keras`` and, from
  ``run.json``, its preprocessing (mean/std, image size) and class count;
- an **export** of ``tfzoo export`` (a numbered SavedModel version, or its
  base directory, whose highest version is used): its ``serving_default``
  signature takes 0..255 pixels, resizes and normalizes them itself and
  returns probabilities; their logarithm serves as the teacher's logits
  (``log_softmax(log p) = log p``, so soft and hard distillation see exactly
  the teacher's distribution; probabilities are floored at 1e-30 first);
- a **registered model name** with ``--teacher_weights``: a ``.keras`` file
  (loaded as saved) or a ``.weights.h5`` file (loaded into the named
  architecture built at the student's image size and class count), with the
  registered model's mean/std.

What the teacher sees: the student's batch, after the student's augmentation
and mixing (as DeiT, whose teacher runs on the same augmented batch). When
the teacher was trained with another mean/std, the batch is renormalized
(``(x * std_s + mean_s - mean_t) / std_t``, exact); when the teacher takes
another fixed image size, the batch is resized bilinearly to it (the teacher
then sees the student's crop, resampled). An export does both itself from
the de-normalized 0..255 pixels.

The teacher's logits: a tfzoo model ends in a float32 activation layer named
``predictions``; for a softmax there, the logits are that layer's input (a
view sharing the model's weights); a model whose Dense layer applies the
softmax itself gives log-probabilities; otherwise the model's output is taken
as logits. Teachers run with ``training=False``.
"""

from __future__ import annotations

import dataclasses
import os

import keras
import tensorflow as tf

from tfzoo.data.preprocessing import PreprocessConfig
from tfzoo.errors import UsageError
from tfzoo.models.registry import create_model, get_spec
from tfzoo.utils.atomic import read_json
from tfzoo.utils.rundir import RunDir

KINDS = ("run_dir", "export", "model")
_EXPORT_METADATA = os.path.join("assets.extra", "tfzoo_export.json")


@dataclasses.dataclass(frozen=True)
class TeacherSource:
    """Where a teacher comes from.

    Attributes:
        kind: ``"run_dir"``, ``"export"`` or ``"model"``.
        path: The run directory or the export's version directory; the
            registered model name for ``"model"``.
        weights: The weights file of a ``"model"`` teacher.
    """

    kind: str
    path: str
    weights: str | None = None


def _latest_version(base: str) -> str | None:
    versions = [int(entry) for entry in os.listdir(base) if entry.isdigit()
                and os.path.isfile(os.path.join(base, entry, "saved_model.pb"))]
    return os.path.join(base, str(max(versions))) if versions else None


def resolve_teacher(teacher: str, teacher_weights: str | None = None) -> TeacherSource:
    """Tells which kind of teacher ``--teacher`` names, without loading it.

    Raises:
        UsageError: when it is none of the three kinds, or the weights file is
            missing, of an unknown format, or given for a directory teacher.
    """
    path = os.path.abspath(os.path.expanduser(teacher))
    if os.path.isdir(path):
        if teacher_weights:
            raise UsageError(f"--teacher_weights is for a teacher given by model name, but --teacher {teacher} is a "
                             "directory; drop --teacher_weights")
        if os.path.isfile(os.path.join(path, "run.json")):
            return TeacherSource("run_dir", path)
        if os.path.isfile(os.path.join(path, "saved_model.pb")):
            return TeacherSource("export", path)
        latest = _latest_version(path)
        if latest:
            return TeacherSource("export", latest)
        raise UsageError(f"--teacher {teacher} is neither a tfzoo run directory (no run.json) nor a `tfzoo export` "
                         "directory (no saved_model.pb)")
    try:
        name = get_spec(teacher).name
    except UsageError:
        raise UsageError(f"teacher not found: --teacher {teacher} is not a run directory, an export directory or a "
                         "registered model name (`tfzoo list`)") from None
    if not teacher_weights:
        raise UsageError(f"--teacher {teacher} is a model name; pass its trained weights with --teacher_weights "
                         "FILE.keras or FILE.weights.h5 (an untrained teacher teaches nothing)")
    weights = os.path.abspath(os.path.expanduser(teacher_weights))
    if not os.path.isfile(weights):
        raise UsageError(f"--teacher_weights {teacher_weights} does not exist")
    if not weights.endswith((".keras", ".weights.h5")):
        raise UsageError(f"--teacher_weights {teacher_weights} must be a .keras or .weights.h5 file")
    return TeacherSource("model", name, weights)


def _final_softmax(model: keras.Model) -> str:
    """``"separate"``: a softmax layer of its own ends the model; ``"fused"``: a layer with weights applies it; else ``"none"``."""
    try:
        layer = model.get_layer("predictions")
    except ValueError:
        layer = model.layers[-1] if model.layers else None
    if isinstance(layer, keras.layers.Softmax):
        return "separate"
    if getattr(getattr(layer, "activation", None), "__name__", None) != "softmax":
        return "none"
    return "separate" if isinstance(layer, keras.layers.Activation) else "fused"


def logits_tensor(model: keras.Model):
    """The symbolic tensor holding `model`'s logits: the input of a final softmax layer, else the output.

    Raises:
        UsageError: when a layer with weights applies the softmax itself (a
            Dense with ``activation="softmax"``): its logits are not a tensor
            of the graph.
    """
    kind = _final_softmax(model)
    if kind == "fused":
        raise UsageError(f"{model.name} applies its softmax inside its classifier layer, so its logits cannot be "
                         "read; build it with a separate softmax layer (tfzoo models have one) or without one")
    layer = model.get_layer("predictions") if "predictions" in {l.name for l in model.layers} else model.layers[-1]
    return layer.input if kind == "separate" else model.output


def input_adapter(student: PreprocessConfig, mean, std, size: int | None):
    """A function mapping the student's normalized batch to the teacher's input (None: identity)."""
    mean, std = tuple(float(v) for v in mean), tuple(float(v) for v in std)
    renormalize = (mean, std) != (tuple(student.mean), tuple(student.std))
    resize = size is not None and size != student.image_size
    if not renormalize and not resize:
        return None
    scale = tf.constant([s / t for s, t in zip(student.std, std)], tf.float32)
    shift = tf.constant([(ms - mt) / t for ms, mt, t in zip(student.mean, mean, std)], tf.float32)

    def adapt(images):
        images = tf.cast(images, tf.float32)
        if renormalize:
            images = images * scale + shift
        if resize:
            images = tf.image.resize(images, [size, size], method="bilinear")
        return images

    return adapt


def split_warning(source: TeacherSource, dataset: str, data_dir: str | None, seed: int) -> str | None:
    """A warning when a run-directory teacher split the student's dataset with another seed, else None.

    The seed picks the train/validation split (`tfzoo.data.splits`), so such
    a teacher has trained on some of the student's validation images, and
    what the student learns from it leaks them into its validation score.
    """
    if source.kind != "run_dir":
        return None
    train = RunDir(source.path).read_config().get("train", {})
    same_data = train.get("dataset") == dataset and train.get("data_dir") == data_dir
    if same_data and train.get("seed") != seed:
        return (f"warning: the teacher was trained with --seed {train.get('seed')} and this run uses --seed {seed}: "
                "the seed picks the train/val split, so the teacher has seen some of this run's validation images; "
                "train the teacher with the same --seed")
    return None


def _check_classes(num_classes: int, expected: int, what: str) -> None:
    if num_classes != expected:
        raise UsageError(f"the teacher ({what}) has {num_classes} classes but the student's dataset has {expected}; "
                         "distill from a teacher trained on the same classes")


def _fixed_size(model: keras.Model) -> int | None:
    height = model.input_shape[1] if len(model.input_shape) == 4 else None
    return int(height) if height else None


def _keras_teacher(model: keras.Model, adapt):
    """Logits of a Keras teacher (frozen, inference mode) on the student's batch."""
    model.trainable = False
    fused = _final_softmax(model) == "fused"  # then log-probabilities serve as logits, as for an export
    logits_model = model if fused else keras.Model(model.inputs, logits_tensor(model), name=f"{model.name}_logits")

    def teacher_logits(images):
        if adapt is not None:
            images = adapt(images)
        logits = keras.ops.cast(logits_model(images, training=False), "float32")
        return keras.ops.log(keras.ops.maximum(logits, 1e-30)) if fused else logits

    teacher_logits.model = model
    return teacher_logits


def _export_teacher(version_dir: str, student: PreprocessConfig, num_classes: int):
    loaded = tf.saved_model.load(version_dir)
    if "serving_default" not in loaded.signatures:
        raise UsageError(f"--teacher {version_dir} is a SavedModel without a serving_default signature; "
                         "export the teacher with `tfzoo export`")
    signature = loaded.signatures["serving_default"]
    metadata_file = os.path.join(version_dir, _EXPORT_METADATA)
    if os.path.isfile(metadata_file):
        classes = int(read_json(metadata_file)["num_classes"])
    else:
        classes = int(signature.structured_outputs["probabilities"].shape[-1])
    _check_classes(classes, num_classes, f"export {version_dir}")
    mean = tf.constant(student.mean, tf.float32)
    std = tf.constant(student.std, tf.float32)

    def teacher_logits(images):
        pixels = (tf.cast(images, tf.float32) * std + mean) * 255.0  # undo the student's `normalize`
        probabilities = signature(images=pixels)["probabilities"]
        return tf.math.log(tf.maximum(tf.cast(probabilities, tf.float32), 1e-30))

    teacher_logits.saved_model = loaded  # the signature's variables live as long as this object
    return teacher_logits


def load_teacher(source: TeacherSource, *, num_classes: int, student: PreprocessConfig):
    """Loads the teacher; call inside the strategy scope.

    Args:
        source: From `resolve_teacher`.
        num_classes: The student's class count; the teacher must match it.
        student: The student's preprocessing (what the batch holds).

    Returns:
        ``(teacher_logits, description)``: a function from the student's batch
        to the teacher's float32 logits, and one line for the log.

    Raises:
        UsageError: for a teacher with another class count, too small an input
            for it, or weights that do not fit the named architecture.
    """
    if source.kind == "export":
        return _export_teacher(source.path, student, num_classes), f"export {source.path} (log-probabilities)"
    if source.kind == "run_dir":
        run = RunDir(source.path)
        config = run.read_config()
        _check_classes(int(config["num_classes"]), num_classes, f"run {source.path}")
        preprocess = PreprocessConfig.from_dict(config["preprocess"])
        model = run.load_model()
        size = _fixed_size(model) or preprocess.image_size
        adapt = input_adapter(student, preprocess.mean, preprocess.std, size)
        return _keras_teacher(model, adapt), f"run {source.path} ({model.name}, {size}px)"
    spec = get_spec(source.path)
    if source.weights.endswith(".keras"):
        import tfzoo.layers  # noqa: F401  (registers custom layers for deserialization)
        model = keras.saving.load_model(source.weights, compile=False)
    else:
        if student.image_size < spec.min_input_size:
            raise UsageError(f"the teacher {spec.name} needs at least {spec.min_input_size} px but the student "
                             f"trains at {student.image_size}")
        model = create_model(spec.name, num_classes=num_classes,
                             input_shape=(student.image_size, student.image_size, 3))
        try:
            model.load_weights(source.weights)
        except ValueError as error:
            raise UsageError(f"--teacher_weights {source.weights} does not fit {spec.name} with {num_classes} "
                             f"classes: {' '.join(str(error).split())[:200]}") from None
    _check_classes(int(model.output_shape[-1]), num_classes, f"{spec.name} from {source.weights}")
    size = _fixed_size(model)
    adapt = input_adapter(student, spec.mean, spec.std, size)
    return _keras_teacher(model, adapt), f"{spec.name} with {os.path.basename(source.weights)}"
