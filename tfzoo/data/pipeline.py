"""Turns a source's examples into batched, augmented, normalized tf.data pipelines.

Every source (embedded digits, image folders, TFDS) hands over a `Source`:
unbatched ``(item, label)`` datasets for train and val plus a `decode`
function that turns an item (an image, encoded bytes or a file path) into a
``[H, W, C]`` image in 0..255. This module then applies the same recipe to all
of them, so preprocessing never depends on where the pixels came from:

- train: shard -> shuffle (seeded, reshuffled every epoch) -> decode +
  `train_transform` (parallel, non-deterministic order) -> batch
  (``drop_remainder=True``) -> `normalize` -> prefetch.
- val: shard -> decode + `eval_transform` (parallel, order kept) -> batch
  (``drop_remainder=False``) -> `normalize` -> prefetch.

Self-supervised pre-training passes ``views_fn`` (`tfzoo.data.ssl_augment`):
the train split then yields normalized views instead of one image, and with
``train_index`` each example's index in the train split (its memory-bank row).
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import tensorflow as tf

from tfzoo.data import augment as augment_lib
from tfzoo.data.preprocessing import (PreprocessConfig, eval_transform, normalize, random_resized_crop_with_box,
                                      train_transform)

AUTOTUNE = tf.data.AUTOTUNE

# Shuffle buffers hold source items (pixels, encoded bytes or paths); this caps
# the memory of sources whose items are large (TFDS encoded images).
MAX_SHUFFLE_BUFFER = 10_000


@dataclasses.dataclass
class DatasetBundle:
    """The train and validation pipelines of one dataset, with its metadata.

    Attributes:
        name: Canonical source name: ``"digits"``, ``"folder:/abs/path"`` or
            ``"tfds:NAME"``.
        train: Batches of ``(images, labels)``: float32 ``[B, S, S, 3]``
            normalized with `preprocessing.normalize`, int32 ``[B]``. One pass
            per epoch, reshuffled every epoch, ``drop_remainder=True``.
        val: Same shapes, `eval_transform`, fixed order, ``drop_remainder=False``.
        num_classes: Number of classes.
        class_names: Class names, indexed by label.
        num_train: Training examples in the whole split (before sharding).
        num_val: Validation examples in the whole split (before sharding).
        skipped_files: Unreadable files skipped by the folder source.
        skipped_paths: Their paths.
    """

    name: str
    train: tf.data.Dataset
    val: tf.data.Dataset
    num_classes: int
    class_names: list[str]
    num_train: int
    num_val: int
    skipped_files: int = 0
    skipped_paths: tuple = ()


@dataclasses.dataclass
class Source:
    """Unbatched examples of one dataset, as a source module produces them.

    Attributes:
        name: Canonical source name (see `DatasetBundle.name`).
        train: Unshuffled ``(item, label)`` examples; integer scalar labels.
        val: ``(item, label)`` examples in their evaluation order.
        decode: Maps one item to a ``[H, W, C]`` uint8 or float image in 0..255.
        class_names: Class names, indexed by label.
        num_train: Number of train examples.
        num_val: Number of val examples.
        skipped_files: Unreadable files left out.
        skipped_paths: Their paths.
        shuffle_buffer: Preferred train shuffle buffer (capped at
            `MAX_SHUFFLE_BUFFER` and at the shard size).
        keyed_train: The train examples as ``(item, label, key)`` with a
            string key that names each example whatever the order (digits:
            its index in the embedded set; folders: the path relative to the
            class root; TFDS: its ``tfds_id``); used to find per-image data
            such as token-label maps. None when the source cannot key them.
        keyed_val: The val examples keyed the same way (`tfzoo relabel`
            labels both splits, so that a split drawn with another seed
            still finds every train image's map).
    """

    name: str
    train: tf.data.Dataset
    val: tf.data.Dataset
    decode: Callable[[tf.Tensor], tf.Tensor]
    class_names: list[str]
    num_train: int
    num_val: int
    skipped_files: int = 0
    skipped_paths: tuple = ()
    shuffle_buffer: int = MAX_SHUFFLE_BUFFER
    keyed_train: tf.data.Dataset | None = None
    keyed_val: tf.data.Dataset | None = None


def shard(dataset: tf.data.Dataset, input_context) -> tf.data.Dataset:
    """Keeps this input pipeline's share of `dataset` (every n-th element).

    Args:
        dataset: Unshuffled dataset, so that pipelines get disjoint shares.
        input_context: A `tf.distribute.InputContext` or None (no sharding).
    """
    if input_context is None or input_context.num_input_pipelines <= 1:
        return dataset
    return dataset.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)


def shard_size(num_examples: int, input_context) -> int:
    """Number of examples that `shard` leaves to this pipeline."""
    if input_context is None or input_context.num_input_pipelines <= 1:
        return num_examples
    count, index = input_context.num_input_pipelines, input_context.input_pipeline_id
    return num_examples // count + (1 if index < num_examples % count else 0)


def build_bundle(
    source: Source,
    preprocess: PreprocessConfig,
    batch_size: int,
    *,
    seed: int = 0,
    input_context=None,
    augment: augment_lib.AugmentConfig | None = None,
    token_labels=None,
    views_fn: Callable | None = None,
    train_index: bool = False,
) -> DatasetBundle:
    """Builds the train and val pipelines of `source`.

    Args:
        source: Unbatched examples and their decoder.
        preprocess: Image size, augmentation and normalization settings.
        batch_size: Batch size of this input pipeline (the caller divides a
            global batch between pipelines when it shards).
        seed: Seed of the training shuffle order.
        input_context: Optional `tf.distribute.InputContext`; when given, both
            splits are sharded with ``dataset.shard(num_input_pipelines,
            input_pipeline_id)`` before shuffling and decoding.
        augment: Optional extra train augmentation (`augment.AugmentConfig`):
            repeated augmentation after the shuffle, RandAugment after
            `train_transform`, random erasing after `normalize`. Mixup/CutMix
            need one-hot targets and are applied by the trainer
            (`augment.mix_batch_fn`).
        token_labels: Optional `token_labels.TokenLabelConfig`: the train
            labels become ``{"label": int32, "cls": [C], "dense": [N, C]}``,
            the targets cut from each image's label map with the image's own
            crop box and flip (`token_labels.token_targets`).
        views_fn: Optional map from a decoded image (``[H, W, C]``, 0..255)
            to a tuple of normalized views (`ssl_augment.two_view_fn`,
            `ssl_augment.multi_crop_fn`). It replaces `train_transform`,
            RandAugment, random erasing and the batch `normalize` of the train
            split; train batches are then ``(views, labels)`` with ``views`` a
            tuple of float32 ``[B, s, s, 3]``. The val split is unchanged.
            Not combinable with `augment` or `token_labels`.
        train_index: With `views_fn`: train labels become
            ``{"label": int32 [B], "index": int32 [B]}``, ``index`` being the
            example's position in the whole (unsharded) train split,
            ``0 <= index < num_train``, the same every epoch.

    Returns:
        The `DatasetBundle`.

    Note:
        When this pipeline's share of the train split is smaller than
        `batch_size`, ``train`` yields no batch (``drop_remainder=True``); a
        trainer should check ``num_train`` first. It is not an error here,
        because evaluation uses only ``val`` and may use any batch size.
    """
    train_count = shard_size(source.num_train, input_context)
    decode = source.decode

    augment = augment or augment_lib.AugmentConfig()
    rand_augment = augment_lib.rand_augment_fn(augment)

    def train_map(item, label):
        image = train_transform(decode(item), preprocess)
        if rand_augment is not None:
            image = rand_augment(image)
        return image, tf.cast(label, tf.int32)

    def normalize_train_batch(images, labels):
        images = normalize(images, preprocess)
        if augment.random_erasing > 0:
            images = augment_lib.random_erasing(images, augment.random_erasing)
        return images, labels

    if views_fn is not None:
        if token_labels is not None or augment != augment_lib.AugmentConfig():
            raise ValueError("views_fn replaces the train augmentation; pass neither augment nor token_labels")
        train = _views_train(source, views_fn, batch_size, seed, input_context, train_index)
    else:
        if train_index:
            raise ValueError("train_index needs views_fn")
        train_source = source.train
        if token_labels is not None:
            train_source, train_map = _token_label_train(source, preprocess, token_labels, rand_augment)
        buffer_size = max(1, min(source.shuffle_buffer, MAX_SHUFFLE_BUFFER, train_count))
        shuffled = shard(train_source, input_context).shuffle(buffer_size, seed=seed, reshuffle_each_iteration=True)
        train = (
            augment_lib.repeat_examples(shuffled, augment.aug_repeats)
            .map(train_map, num_parallel_calls=AUTOTUNE, deterministic=False)
            .batch(batch_size, drop_remainder=True)
            .map(normalize_train_batch, num_parallel_calls=AUTOTUNE, deterministic=False)
            .prefetch(AUTOTUNE)
        )
    val = eval_batches(shard(source.val, input_context), decode, preprocess, batch_size)
    return DatasetBundle(
        name=source.name,
        train=train,
        val=val,
        num_classes=len(source.class_names),
        class_names=list(source.class_names),
        num_train=source.num_train,
        num_val=source.num_val,
        skipped_files=source.skipped_files,
        skipped_paths=tuple(source.skipped_paths),
    )


def eval_batches(examples: tf.data.Dataset, decode, preprocess: PreprocessConfig,
                 batch_size: int) -> tf.data.Dataset:
    """``(item, label)`` examples -> normalized `eval_transform` batches, in order, last batch kept.

    The val pipeline of `build_bundle`; also the train split's for feature
    extraction without augmentation (kNN, linear probes: `tfzoo.data.load_eval_dataset`).
    """
    def eval_map(item, label):
        return eval_transform(decode(item), preprocess), tf.cast(label, tf.int32)

    def normalize_batch(images, labels):
        return normalize(images, preprocess), labels

    return (examples.map(eval_map, num_parallel_calls=AUTOTUNE)
            .batch(batch_size, drop_remainder=False)
            .map(normalize_batch, num_parallel_calls=AUTOTUNE)
            .prefetch(AUTOTUNE))


def _views_train(source: Source, views_fn, batch_size: int, seed: int, input_context, train_index: bool):
    """Train batches of self-supervised views, optionally with each example's train-split index."""
    decode = source.decode
    train_count = shard_size(source.num_train, input_context)
    buffer_size = max(1, min(source.shuffle_buffer, MAX_SHUFFLE_BUFFER, train_count))
    # Enumerate before sharding, so that the index names the example in the whole split.
    indexed = source.train.enumerate().map(lambda index, example: (example[0], example[1], tf.cast(index, tf.int32)))

    def views_map(item, label, index):
        label = tf.cast(label, tf.int32)
        return views_fn(decode(item)), ({"label": label, "index": index} if train_index else label)

    return (
        shard(indexed, input_context).shuffle(buffer_size, seed=seed, reshuffle_each_iteration=True)
        .map(views_map, num_parallel_calls=AUTOTUNE, deterministic=False)
        .batch(batch_size, drop_remainder=True)
        .prefetch(AUTOTUNE)
    )


def _token_label_train(source: Source, preprocess: PreprocessConfig, config, rand_augment):
    """The keyed train examples and a map that crops/flips image and label map together."""
    from tfzoo.data import token_labels as token_labels_lib
    from tfzoo.errors import UsageError

    if source.keyed_train is None:
        raise UsageError(f"dataset {source.name} cannot name its images, so it cannot use --token_labels")
    maps = token_labels_lib.read_label_dir(config.label_dir)
    if maps.num_classes != len(source.class_names):
        raise UsageError(f"{config.label_dir} has {maps.num_classes} classes but {source.name} has "
                         f"{len(source.class_names)}; relabel this dataset")
    lookup = token_labels_lib.lookup_fn(maps)
    decode = source.decode

    def train_map(item, label, key):
        image, box = random_resized_crop_with_box(decode(item), preprocess)
        flip = tf.random.uniform([]) < 0.5 if preprocess.hflip else tf.constant(False)
        image = tf.cond(flip, lambda: tf.reverse(image, axis=[1]), lambda: image)
        if rand_augment is not None:
            image = rand_augment(image)
        values, indices = lookup(key)
        cls, dense = token_labels_lib.token_targets(values, indices, box, flip, num_classes=maps.num_classes,
                                                    grid=tuple(config.grid), smoothing=config.smoothing)
        return image, {"label": tf.cast(label, tf.int32), "cls": cls, "dense": dense}

    return source.keyed_train, train_map
