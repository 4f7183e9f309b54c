"""Dense token labels for token labeling (LV-ViT, Jiang et al. 2021, arXiv 2104.10858).

Reference: the official repository (github.com/zihangJiang/TokenLabeling):
``generate_label.py`` (the label maps), ``tlt/data/mixup.py``
(``get_featuremaps``, ``get_label``, ``get_labelmaps_with_coords``,
``mixup_target``) and ``tlt/data/label_transforms_factory.py`` (the crop and
flip that carry the map along with the image).

A label directory (written by ``tfzoo relabel``, `tfzoo.training.relabel`)
stores, for every training image, the annotator's top-k class scores (raw
logits) at each position of its ``h x w`` score map: values float16 and
class indices int16, ``[h, w, k]``. At training time, per image:

1. the top-k scores are scattered into a ``[h, w, C]`` map, zeros elsewhere
   (``get_featuremaps``);
2. the random-resized-crop box of the image is cut out of the map and
   resampled with RoIAlign (`roi_align`) to the token grid (dense target) and
   to ``1 x 1`` (class target), as ``get_label`` does with torchvision's
   ``roi_align(..., aligned=False)`` on boxes shifted by half a map pixel;
3. both are flipped when the image is flipped (``label.flip(3)``);
4. softmax over the classes, then the official smoothing
   ``t * (1 - s + s / C) + s / C`` (``on_value``/``off_value`` of
   ``mixup_target``; the result sums to ``1 + s / C``, as upstream).

Box orientation: the official code passes its ``(top, left, bottom, right)``
fractions where torchvision expects ``(x1, y1, x2, y2)``, which transposes
the box on the (square) label map. Here the box keeps rows on rows and
columns on columns, the alignment the method describes; for square crops of
square maps both agree.
"""

from __future__ import annotations

import dataclasses
import glob
import json
import math
import os

import numpy as np
import tensorflow as tf

from tfzoo.errors import UsageError

MANIFEST = "labels.json"
SHARD_PATTERN = "shard-{:05d}.npz"
FORMAT = "tfzoo-token-labels-v1"


@dataclasses.dataclass
class LabelMaps:
    """Every image's top-k score map, as read from a label directory.

    Attributes:
        keys: ``[N]`` str keys (see `tfzoo.data.pipeline.Source.keyed_train`).
        values: ``[N, h, w, k]`` float16 scores (logits).
        indices: ``[N, h, w, k]`` int16 class indices.
        num_classes: Classes of the annotator.
        manifest: The directory's ``labels.json``.
    """

    keys: np.ndarray
    values: np.ndarray
    indices: np.ndarray
    num_classes: int
    manifest: dict


def read_label_dir(label_dir: str) -> LabelMaps:
    """Reads a finished label directory.

    Raises:
        UsageError: Missing directory, unfinished relabel run or a foreign format.
    """
    path = os.path.join(label_dir, MANIFEST)
    if not os.path.isfile(path):
        raise UsageError(f"{label_dir} is not a finished label directory (no {MANIFEST}); "
                         "run `tfzoo relabel --output DIR` to completion first")
    with open(path) as f:
        manifest = json.load(f)
    if manifest.get("format") != FORMAT:
        raise UsageError(f"{path} is not a tfzoo label directory (format {manifest.get('format')!r})")
    keys, values, indices = [], [], []
    for shard in range(manifest["num_shards"]):
        with np.load(os.path.join(label_dir, SHARD_PATTERN.format(shard)), allow_pickle=False) as data:
            keys.append(data["keys"])
            values.append(data["values"])
            indices.append(data["indices"])
    return LabelMaps(np.concatenate(keys).astype(str), np.concatenate(values), np.concatenate(indices),
                     int(manifest["num_classes"]), manifest)


def shard_files(label_dir: str) -> list[str]:
    return sorted(glob.glob(os.path.join(label_dir, "shard-*.npz")))


def lookup_fn(maps: LabelMaps):
    """``key -> (values [h, w, k] float32, indices [h, w, k] int32)`` for tf.data; unknown keys fail."""
    table = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(tf.constant(maps.keys), tf.range(len(maps.keys), dtype=tf.int64)),
        default_value=-1)
    values = tf.constant(maps.values)
    indices = tf.constant(maps.indices)

    def fn(key):
        row = table.lookup(key)
        check = tf.debugging.assert_non_negative(row, message="an image has no label map in the label directory; relabel this dataset")
        with tf.control_dependencies([check]):
            row = tf.identity(row)
        return tf.cast(tf.gather(values, row), tf.float32), tf.cast(tf.gather(indices, row), tf.int32)

    return fn


def scatter_topk(values, indices, num_classes: int) -> tf.Tensor:
    """``[h, w, k]`` top-k scores and classes -> ``[h, w, C]`` map with zeros off the top k."""
    return tf.reduce_sum(tf.one_hot(indices, num_classes, dtype=tf.float32) * values[..., None], axis=-2)


def _axis_weights(start, length, out: int, size: int):
    """RoIAlign weights along one axis: ``[out, size]``, each row averaging its bin's bilinear samples.

    torchvision ``roi_align`` (``aligned=False``, ``sampling_ratio=-1``) on a
    box starting at `start` (map pixels, already shifted by -0.5) of extent
    `length`: the extent is at least 1, bin ``p`` covers
    ``[start + p * bin, start + (p + 1) * bin)`` with ``bin = length / out``,
    and holds ``ceil(bin)`` samples at the centres of equal sub-bins; a sample
    outside ``[-1, size]`` counts as zero, otherwise it is clamped to the map
    and interpolated linearly.
    """
    length = tf.maximum(tf.cast(length, tf.float32), 1.0)
    bin_size = length / float(out)
    grid = tf.maximum(tf.math.ceil(bin_size), 1.0)
    max_grid = max(1, int(math.ceil(max(size, 1) / out)) + 1)
    bins = tf.range(out, dtype=tf.float32)[:, None]
    slots = tf.range(max_grid, dtype=tf.float32)[None, :]
    pos = tf.cast(start, tf.float32) + bins * bin_size + (slots + 0.5) * bin_size / grid
    valid = (slots < grid) & (pos >= -1.0) & (pos <= float(size))
    pos = tf.maximum(pos, 0.0)
    low = tf.floor(pos)
    at_edge = low >= size - 1
    low = tf.where(at_edge, float(size - 1), low)
    high = tf.where(at_edge, float(size - 1), low + 1.0)
    pos = tf.where(at_edge, low, pos)
    frac = pos - low
    weights = ((1.0 - frac)[..., None] * tf.one_hot(tf.cast(low, tf.int32), size)
               + frac[..., None] * tf.one_hot(tf.cast(high, tf.int32), size))
    weights *= tf.cast(valid, tf.float32)[..., None]
    return tf.reduce_sum(weights, axis=1) / grid


def roi_align(feature_map, box, out_height: int, out_width: int) -> tf.Tensor:
    """Resamples the box of a ``[h, w, C]`` map to ``[out_height, out_width, C]`` (official RoIAlign).

    Args:
        feature_map: ``[h, w, C]`` float32.
        box: ``(top, left, bottom, right)`` fractions of the image (pixel
            edges, as `preprocessing.random_resized_crop_with_box` returns).
        out_height: Output rows (the token grid).
        out_width: Output columns.
    """
    height, width = int(feature_map.shape[0]), int(feature_map.shape[1])
    box = tf.cast(box, tf.float32)
    rows = _axis_weights(box[0] * height - 0.5, (box[2] - box[0]) * height, out_height, height)
    cols = _axis_weights(box[1] * width - 0.5, (box[3] - box[1]) * width, out_width, width)
    return tf.einsum("ph,hwc,qw->pqc", rows, tf.cast(feature_map, tf.float32), cols)


def smooth(probabilities, num_classes: int, smoothing: float):
    """The official ``t * on_value + off_value`` with ``off = s / C``, ``on = 1 - s + s / C``."""
    off_value = smoothing / num_classes
    return probabilities * (1.0 - smoothing + off_value) + off_value


def token_targets(values, indices, box, flip, *, num_classes: int, grid: tuple[int, int],
                  smoothing: float = 0.1):
    """The class and dense targets of one crop.

    Args:
        values: ``[h, w, k]`` top-k scores of the whole image.
        indices: ``[h, w, k]`` their classes.
        box: ``(top, left, bottom, right)`` fractions of the crop.
        flip: bool scalar: the crop was flipped left-right.
        num_classes: ``C``.
        grid: Token grid ``(rows, cols)``.
        smoothing: Label smoothing ``s`` (official default 0.1).

    Returns:
        ``(cls [C], dense [rows * cols, C])`` float32.
    """
    label_map = scatter_topk(values, indices, num_classes)
    dense = roi_align(label_map, box, grid[0], grid[1])
    dense = tf.cond(tf.cast(flip, tf.bool), lambda: tf.reverse(dense, axis=[1]), lambda: dense)
    cls = roi_align(label_map, box, 1, 1)[0, 0]
    dense = smooth(tf.nn.softmax(dense, axis=-1), num_classes, smoothing)
    cls = smooth(tf.nn.softmax(cls, axis=-1), num_classes, smoothing)
    return cls, tf.reshape(dense, [grid[0] * grid[1], num_classes])


@dataclasses.dataclass(frozen=True)
class TokenLabelConfig:
    """What the training pipeline needs to attach token labels to each crop.

    Attributes:
        label_dir: A finished ``tfzoo relabel`` output directory.
        grid: Token grid ``(rows, cols)`` of the trained model.
        smoothing: Label smoothing of the targets.
    """

    label_dir: str
    grid: tuple
    smoothing: float = 0.1
