"""`relabel`: dense label maps from any zoo classifier, for token labeling.

Token labeling (Jiang et al. 2021, "All Tokens Matter", arXiv 2104.10858;
official ``generate_label.py`` in github.com/zihangJiang/TokenLabeling)
trains every patch token against an annotator's class scores at its place in
the image. The annotator's classifier is applied at every position of its last
feature map instead of to the pooled vector:

- a global-pool head (``pool -> [layers] -> Dense``): the head after the pool
  runs on each position's feature vector as if it were the pooled one (for
  ``GAP -> Dense`` that is the Dense kernel as a 1x1 convolution; for
  MobileNetV3 the ``conv_head`` too);
- a model with a per-token ``aux_head`` (LV-ViT): its token outputs, laid out
  on the token grid (what the official script does for LV-ViT annotators).

Each training image is resized whole (no crop, so that the map covers the
image the training crops are cut from) to the annotator's resolution,
normalized with the annotator's mean/std, and its top-k logits per position
(values float16, class indices int16, ``[h, w, k]``) are stored with the
image's key (`tfzoo.data.pipeline.Source.keyed_train`), so training finds the
map whatever the shuffle or sharding. The train split comes first, then the
val split (when the source keys it), so that a train/val split drawn with
another ``--seed`` also finds every training image's map.

Output directory::

    LABEL_DIR/settings.json        what is being written (checked on resume)
    LABEL_DIR/shard-00000.npz      keys, values, indices of examples [0, shard_size)
    ...
    LABEL_DIR/labels.json          written last: the directory is complete

The examples are streamed in their fixed unshuffled order; each shard is
written atomically (temporary name, then rename) with fixed zip timestamps,
so a killed run resumes at the first missing shard and ends byte-identical to
an uninterrupted one. The directory is locked (``fcntl``) while a run writes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import io
import json
import os
import sys
import time
import zipfile

import keras
import numpy as np
import tensorflow as tf

from tfzoo.data import token_labels as token_labels_lib
from tfzoo.data.loader import open_source
from tfzoo.data.preprocessing import PreprocessConfig, normalize, to_rgb
from tfzoo.errors import UsageError
from tfzoo.utils.atomic import atomic_path, write_json

SETTINGS = "settings.json"
LOCK = ".lock"
_POOL_TYPES = (keras.layers.GlobalAveragePooling2D, keras.layers.GlobalMaxPooling2D)


@dataclasses.dataclass(frozen=True)
class RelabelConfig:
    """Settings of one relabel run (flags of ``tfzoo relabel``)."""

    annotator: str
    output: str
    dataset: str = "digits"
    data_dir: str | None = None
    tfds_data_dir: str | None = None
    top_k: int = 5
    image_size: int | None = None
    batch_size: int = 64
    shard_size: int = 1024
    annotator_weights: str | None = None
    seed: int = 0


# ---- the annotator -----------------------------------------------------------------------------------------

def load_annotator(spec: str, weights: str | None = None, num_classes: int | None = None):
    """``(model, preprocess dict or None, description)`` for a run directory, a ``.keras`` file or a model name."""
    from tfzoo.utils.rundir import RunDir, load_keras_file

    if os.path.isdir(spec):
        run = RunDir(spec)
        if os.path.isfile(run.model_file):
            config = run.read_config()
            return run.load_model(), config.get("preprocess"), f"run {os.path.abspath(spec)}"
        if os.path.isdir(os.path.join(spec, "assets.extra")) or os.path.isfile(os.path.join(spec, "saved_model.pb")):
            raise UsageError(f"{spec} is a SavedModel export, which holds only the serving graph; pass the run "
                             "directory it was exported from (or its model.keras) as --annotator")
        raise UsageError(f"{spec} is neither a run directory (no model.keras) nor an export")
    if spec.endswith(".keras"):
        if not os.path.isfile(spec):
            raise UsageError(f"annotator file {spec} does not exist")
        return load_keras_file(spec), None, f"model file {os.path.abspath(spec)}"
    from tfzoo.models.registry import create_model, get_spec

    model_spec = get_spec(spec)  # UsageError for an unknown name
    if not weights:
        raise UsageError(f"--annotator {spec} is a model name; pass its trained weights with --annotator_weights "
                         "(or pass a run directory)")
    model = create_model(model_spec.name, num_classes=num_classes or 1000, weights=weights)
    return model, None, f"{model_spec.name} with {os.path.abspath(weights)}"


def _logits_tensor(model: keras.Model):
    """The classifier's logits: the input of the final ``predictions`` activation, else the output."""
    try:
        return model.get_layer("predictions").input
    except ValueError:
        return model.outputs[0]


def dense_scorer(model: keras.Model) -> keras.Model:
    """``images -> [B, h, w, classes]`` logits of the classifier at every position of the last map.

    Raises:
        UsageError: The model has neither an ``aux_head`` nor a global-pool head.
    """
    names = {layer.name for layer in model.layers}
    if "aux_head" in names:
        tokens = model.get_layer("aux_head").output
        if len(tokens.shape) == 4:  # already laid out on the token grid (tfzoo LV-ViT)
            return keras.Model(model.inputs, tokens, name=f"{model.name}_dense")
        side = int(round(tokens.shape[1] ** 0.5))
        if side * side != tokens.shape[1]:
            raise UsageError(f"{model.name}: aux_head has {tokens.shape[1]} tokens, not a square grid")
        grid = keras.layers.Reshape((side, side, tokens.shape[-1]), name="token_grid")(tokens)
        return keras.Model(model.inputs, grid, name=f"{model.name}_dense")
    pools = [layer for layer in model.layers if isinstance(layer, _POOL_TYPES)]
    if not pools:
        raise UsageError(f"{model.name} has no global-pool classifier head (and no aux_head) to apply per position")
    pool = pools[-1]
    logits = _logits_tensor(model)
    num_classes = int(logits.shape[-1])
    head = keras.Model(pool.output, logits, name="head")
    feature_map = pool.input
    channels = int(feature_map.shape[-1])
    keepdims = len(pool.output.shape) == 4
    body = keras.Model(model.inputs, feature_map, name="body")

    class PerPosition(keras.layers.Layer):
        def call(self, x):
            shape = keras.ops.shape(x)
            flat = keras.ops.reshape(x, (-1, 1, 1, channels) if keepdims else (-1, channels))
            scores = head(flat)
            return keras.ops.reshape(scores, (shape[0], shape[1], shape[2], num_classes))

        def compute_output_shape(self, input_shape):
            return tuple(input_shape[:3]) + (num_classes,)

    images = keras.Input(model.inputs[0].shape[1:], name="images")
    return keras.Model(images, PerPosition(name="per_position_head")(body(images)), name=f"{model.name}_dense")


# ---- output files ------------------------------------------------------------------------------------------

def write_npz_deterministic(path: str, arrays: dict) -> None:
    """An uncompressed ``.npz`` with fixed zip timestamps (same arrays, same bytes), written atomically."""
    with atomic_path(path, suffix=".npz") as tmp:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as archive:
            for name, array in arrays.items():
                buffer = io.BytesIO()
                np.lib.format.write_array(buffer, np.ascontiguousarray(array), allow_pickle=False)
                info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
                info.external_attr = 0o644 << 16
                archive.writestr(info, buffer.getvalue())


@contextlib.contextmanager
def locked(directory: str):
    """Holds an exclusive ``fcntl`` lock on ``directory/.lock``; a second writer fails at once."""
    os.makedirs(directory, exist_ok=True)
    handle = open(os.path.join(directory, LOCK), "a")
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UsageError(f"{directory} is being written by another tfzoo relabel; wait for it or pick "
                             "another --output") from None
        yield
    finally:
        handle.close()


def _say(message: str) -> None:
    print(message, flush=True)


# ---- the run -----------------------------------------------------------------------------------------------

def relabel(config: RelabelConfig) -> dict:
    """Writes (or finishes) a label directory; returns its manifest."""
    if config.top_k < 1 or config.batch_size < 1 or config.shard_size < 1:
        raise UsageError("--top_k, --batch_size and --shard_size must be positive")
    model, preprocess_dict, description = load_annotator(config.annotator, config.annotator_weights)
    preprocess = PreprocessConfig.from_dict(preprocess_dict) if preprocess_dict else PreprocessConfig(
        image_size=int(model.inputs[0].shape[1] or 224))
    image_size = config.image_size or preprocess.image_size
    if config.image_size and model.inputs[0].shape[1] not in (None, image_size):
        raise UsageError(f"the annotator takes {model.inputs[0].shape[1]} px images, not --image_size "
                         f"{image_size}; drop --image_size")
    scorer = dense_scorer(model)
    num_classes = int(scorer.outputs[0].shape[-1])
    if config.top_k > num_classes:
        raise UsageError(f"--top_k {config.top_k} is more than the annotator's {num_classes} classes")
    source = open_source("folder" if config.data_dir else config.dataset, image_size=image_size,
                         data_dir=config.data_dir, tfds_data_dir=config.tfds_data_dir, seed=config.seed,
                         shuffle_files=False)
    if source.keyed_train is None:
        raise UsageError(f"dataset {source.name} cannot name its images; token labels need digits, a folder "
                         "or TFDS")
    if len(source.class_names) != num_classes:
        raise UsageError(f"the annotator has {num_classes} classes but {source.name} has "
                         f"{len(source.class_names)}")

    settings = {
        "format": token_labels_lib.FORMAT,
        "annotator": description,
        "dataset": source.name,
        "num_examples": int(source.num_train + (source.num_val if source.keyed_val is not None else 0)),
        "num_classes": num_classes,
        "class_names": list(source.class_names),
        "top_k": int(config.top_k),
        "image_size": int(image_size),
        "shard_size": int(config.shard_size),
        "num_shards": 0,  # set below
        "split_seed": int(config.seed),
        "mean": list(preprocess.mean),
        "std": list(preprocess.std),
    }
    settings["num_shards"] = -(-settings["num_examples"] // int(config.shard_size))
    output = config.output
    with locked(output):
        settings_path = os.path.join(output, SETTINGS)
        if os.path.isfile(settings_path):
            with open(settings_path) as f:
                previous = json.load(f)
            if previous != settings:
                changed = sorted(k for k in settings if previous.get(k) != settings[k])
                raise UsageError(f"{output} holds labels made with other settings ({', '.join(changed)}); "
                                 "pick a new --output or re-run with the original flags")
        else:
            write_json(settings_path, settings)
        manifest_path = os.path.join(output, token_labels_lib.MANIFEST)
        if os.path.isfile(manifest_path):
            _say(f"{output} is complete ({settings['num_examples']} label maps)")
            with open(manifest_path) as f:
                return json.load(f)
        _write_shards(scorer, source, preprocess, image_size, config, settings)
        with open(os.path.join(output, token_labels_lib.SHARD_PATTERN.format(0)), "rb") as f:
            with np.load(f) as first:
                map_shape = list(first["values"].shape[1:3])
        manifest = dict(settings, map_size=map_shape)
        write_json(manifest_path, manifest)
        _say(f"Wrote {settings['num_examples']} label maps ({map_shape[0]}x{map_shape[1]}, top-{config.top_k}) "
             f"to {output}")
        return manifest


def _write_shards(scorer, source, preprocess: PreprocessConfig, image_size: int, config: RelabelConfig,
                  settings: dict) -> None:
    decode = source.decode

    def prepare(item, label, key):
        image = tf.image.resize(tf.cast(to_rgb(decode(item)), tf.float32), [image_size, image_size],
                                method=preprocess.interpolation)
        image = normalize(tf.clip_by_value(image, 0.0, 255.0), preprocess)
        return image, key

    @tf.function(reduce_retracing=True)
    def score(images):
        logits = tf.cast(scorer(images, training=False), tf.float32)
        values, indices = tf.math.top_k(logits, k=config.top_k)
        return tf.cast(values, tf.float16), tf.cast(indices, tf.int16)

    examples_all = source.keyed_train
    if source.keyed_val is not None:  # both splits: a split drawn with another seed still finds its maps
        examples_all = examples_all.concatenate(source.keyed_val)
    num_shards = settings["num_shards"]
    started = time.perf_counter()
    done_examples = 0
    for shard in range(num_shards):
        path = os.path.join(config.output, token_labels_lib.SHARD_PATTERN.format(shard))
        count = min(config.shard_size, settings["num_examples"] - shard * config.shard_size)
        if os.path.isfile(path):
            continue
        examples = (examples_all.skip(shard * config.shard_size).take(config.shard_size)
                    .map(prepare, num_parallel_calls=tf.data.AUTOTUNE)
                    .batch(config.batch_size).prefetch(2))
        keys, values, indices = [], [], []
        for images, batch_keys in examples:
            batch_values, batch_indices = score(images)
            keys.extend(k.decode() if isinstance(k, bytes) else str(k) for k in batch_keys.numpy())
            values.append(batch_values.numpy())
            indices.append(batch_indices.numpy())
        if len(keys) != count:
            raise RuntimeError(f"shard {shard}: read {len(keys)} examples, expected {count}")
        write_npz_deterministic(path, {"keys": np.array(keys), "values": np.concatenate(values),
                                       "indices": np.concatenate(indices)})
        done_examples += count
        elapsed = time.perf_counter() - started
        _say(f"shard {shard + 1}/{num_shards}: {count} maps ({done_examples / max(elapsed, 1e-9):.0f} images/s)")
        sys.stdout.flush()
