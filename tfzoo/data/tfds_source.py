"""TensorFlow Datasets source: ``tfds:NAME`` (also ``tfds:NAME/CONFIG:VERSION``).

`tensorflow_datasets` is imported only when this source is used. Nothing here
touches the network unless ``download=True``: the builder is created with
``try_gcs=False`` and TFDS's GCS metadata lookups are switched off; data that
is not prepared under the data directory is a `UsageError` that names the
``tfds build`` command to run elsewhere; community datasets
(``namespace:name``, resolved online) need ``download``.

Splits: ``train`` for training; ``validation``, else ``test``, else the last
``val_fraction`` of ``train`` (TFDS slicing is a fixed record range, already
shuffled when the data was prepared, so `seed` does not change it).
Images stored as encoded uint8 `tfds.features.Image` are read undecoded
(`tfds.decode.SkipDecoding`), so the shuffle buffer holds compressed bytes, and
decoded in parallel with `preprocessing.decode_image`, which also turns
grayscale (MNIST) into RGB; other image features are decoded by TFDS and made
RGB with `preprocessing.to_rgb`.
"""

from __future__ import annotations

import tensorflow as tf

from tfzoo.data.pipeline import Source
from tfzoo.data.preprocessing import decode_image, to_rgb
from tfzoo.data.splits import check_val_fraction
from tfzoo.errors import UsageError

PREFIX = "tfds:"
DEFAULT_KEYS = ("image", "label")


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _disable_gcs_lookups(tfds) -> None:
    """Stops TFDS from asking gs://tfds-data about unprepared datasets.

    Creating a builder whose data is missing reads its metadata from the public
    GCS bucket unless GCS is disabled, and offline that can hang. TFDS 4.9.10
    ships with it disabled; the flag is private (TFDS's own test utilities
    patch it), hence the guard, so setting it again is a no-op there and a
    safety net on releases that default to querying GCS.
    """
    gcs_utils = getattr(getattr(tfds.core, "utils", None), "gcs_utils", None)
    if gcs_utils is not None and hasattr(gcs_utils, "_is_gcs_disabled"):
        gcs_utils._is_gcs_disabled = True


def _make_builder(tfds, name: str, data_dir: str | None, download: bool):
    """`tfds.builder` with every failure turned into a one-line `UsageError`."""
    try:
        dataset_name, _ = tfds.core.naming.parse_builder_name_kwargs(name)
    except ValueError as error:
        raise UsageError(f"invalid tfds dataset name {name!r}; expected NAME[/CONFIG][:VERSION]") from error
    if dataset_name.namespace and not download:
        raise UsageError(
            f"tfds community dataset {name!r} is resolved over the network; pass --tfds_download to allow it"
        )
    try:
        return tfds.builder(name, data_dir=data_dir, try_gcs=False)
    except tfds.core.DatasetNotFoundError as error:
        # The library's message lists every dataset; one line is enough here.
        raise UsageError(f"unknown tfds dataset {name!r}; see `tfds.list_builders()`") from error
    except ValueError as error:
        raise UsageError(f"cannot create tfds dataset {name!r}: {_first_line(error)}") from error


def _prepare(tfds, builder, name: str, data_dir: str | None, download: bool) -> None:
    """Makes sure the data is on disk, downloading only when allowed."""
    if builder.is_prepared():
        return
    where = data_dir or str(builder.data_dir_root)
    if not download:
        raise UsageError(
            f"tfds dataset {name!r} is not prepared under {where}; run `tfds build {name} --data_dir {where}` "
            "on a machine with network access, or pass --tfds_download"
        )
    try:
        builder.download_and_prepare()
    except (OSError, ConnectionError, AssertionError, tfds.download.DownloadError, tf.errors.OpError) as error:
        # Network failures surface as OSError/DownloadError; a missing manual
        # download (e.g. ImageNet) as AssertionError.
        raise UsageError(f"cannot download/prepare tfds dataset {name!r} into {where}: {_first_line(error)}") from error


def _feature_keys(info, name: str) -> tuple[str, str]:
    keys = info.supervised_keys
    if not (isinstance(keys, tuple) and len(keys) == 2 and all(isinstance(key, str) for key in keys)):
        keys = DEFAULT_KEYS
    missing = [key for key in keys if key not in info.features]
    if missing:
        raise UsageError(f"tfds dataset {name!r} has no {'/'.join(missing)} feature; it is not image classification")
    return keys


def _class_names(tfds, label_feature, name: str) -> list[str]:
    if not isinstance(label_feature, tfds.features.ClassLabel):
        raise UsageError(f"tfds dataset {name!r} labels are not class labels; it is not image classification")
    names = label_feature.names
    return list(names) if names else [str(index) for index in range(label_feature.num_classes)]


def _split_names(info, val_fraction: float, name: str) -> tuple[str, str]:
    splits = info.splits
    if "train" not in splits:
        raise UsageError(f"tfds dataset {name!r} has no 'train' split (splits: {', '.join(sorted(splits))})")
    for val_split in ("validation", "test"):
        if val_split in splits:
            return "train", val_split
    check_val_fraction(val_fraction)
    total = splits["train"].num_examples
    boundary = total - max(1, round(total * val_fraction))
    return f"train[:{boundary}]", f"train[{boundary}:]"


def tfds_source(
    name: str,
    *,
    data_dir: str | None = None,
    download: bool = False,
    val_fraction: float = 0.2,
    seed: int = 0,
    shuffle_files: bool = True,
) -> Source:
    """Opens a prepared TFDS dataset as a `Source`.

    Args:
        name: TFDS name without the ``tfds:`` prefix, e.g. ``"cifar10"``.
        data_dir: TFDS data directory (None: TFDS's default,
            ``$TFDS_DATA_DIR`` or ``~/tensorflow_datasets``).
        download: Download and prepare missing data (network access).
        val_fraction: Held-out fraction of ``train`` when the dataset has no
            validation or test split.
        seed: Seed of the per-epoch file shuffle.
        shuffle_files: Shuffle the train files each epoch; must be False when
            the caller shards examples, or shards would overlap.

    Raises:
        UsageError: Unknown name, data not prepared (and ``download=False``),
            failed download, or a dataset that is not image classification.
    """
    import tensorflow_datasets as tfds  # slow to import; only this source needs it

    if not download:
        _disable_gcs_lookups(tfds)
    builder = _make_builder(tfds, name, data_dir, download)
    _prepare(tfds, builder, name, data_dir, download)
    info = builder.info
    image_key, label_key = _feature_keys(info, name)
    class_names = _class_names(tfds, info.features[label_key], name)
    train_split, val_split = _split_names(info, val_fraction, name)

    image_feature = info.features[image_key]
    encoded = isinstance(image_feature, tfds.features.Image) and image_feature.np_dtype == tf.uint8.as_numpy_dtype
    decoders = {image_key: tfds.decode.SkipDecoding()} if encoded else None
    decode = decode_image if encoded else to_rgb

    def read(split: str, shuffle: bool) -> tf.data.Dataset:
        dataset = builder.as_dataset(
            split=split,
            shuffle_files=shuffle,
            decoders=decoders,
            read_config=tfds.ReadConfig(shuffle_seed=seed, shuffle_reshuffle_each_iteration=True),
        )
        return dataset.map(
            lambda example: (example[image_key], example[label_key]), num_parallel_calls=tf.data.AUTOTUNE
        )

    def read_keyed(split: str) -> tf.data.Dataset:
        dataset = builder.as_dataset(split=split, shuffle_files=False, decoders=decoders,
                                     read_config=tfds.ReadConfig(add_tfds_id=True))
        return dataset.map(lambda example: (example[image_key], example[label_key], example["tfds_id"]),
                           num_parallel_calls=tf.data.AUTOTUNE)

    num_train = info.splits[train_split].num_examples
    return Source(
        name=PREFIX + name,
        train=read(train_split, shuffle_files),
        val=read(val_split, False),
        decode=decode,
        class_names=class_names,
        num_train=num_train,
        num_val=info.splits[val_split].num_examples,
        shuffle_buffer=num_train,
        keyed_train=read_keyed(train_split),
        keyed_val=read_keyed(val_split),
    )
