"""`load_dataset`: picks a source by name and builds its tf.data pipelines.

Name forms:

- ``"digits"`` (default): scikit-learn's embedded 8x8 digits, no download.
- ``"folder"``, or any name together with ``data_dir``: an image folder;
  ``"folder:/path"`` (the `DatasetBundle.name` of a folder) names its path.
- ``"tfds:NAME"`` (``"tfds:NAME/CONFIG"``, ``"tfds:NAME:VERSION"``): a
  TensorFlow Datasets dataset prepared under ``tfds_data_dir``.
"""

from __future__ import annotations

from tfzoo.data import digits, folder, tfds_source
from tfzoo.data.pipeline import DatasetBundle, Source, build_bundle, eval_batches
from tfzoo.data.preprocessing import PreprocessConfig
from tfzoo.errors import UsageError

DATASET_NAMES_HELP = (
    'Dataset: "digits" (embedded 8x8 handwritten digits, no download), "folder" with --data_dir '
    "(DIR/<class>/<image>, or DIR/train/<class>/... with DIR/val/<class>/...), or \"tfds:NAME[/CONFIG]\" "
    "(TensorFlow Datasets prepared under --tfds_data_dir; --tfds_download fetches it)."
)


def check_num_classes(num_classes: int, name: str) -> None:
    """Refuses a classification dataset with fewer than two classes (it would "train" to 100%).

    Raises:
        UsageError: naming the dataset and its class count.
    """
    if num_classes < 2:
        raise UsageError(f"dataset {name} has {num_classes} class{'es' if num_classes != 1 else ''}; "
                         "classification needs at least 2 (an image folder needs one sub-folder per class)")


def dataset_defaults(name: str) -> dict:
    """Training defaults a dataset recommends (image_size, epochs, learning_rate, crop_scale_min, hflip).

    Empty for datasets without a recipe; the trainer then uses generic defaults.
    """
    return dict(digits.RECIPE) if name == digits.NAME else {}


def default_image_size(name: str) -> int | None:
    """Training resolution a dataset recommends: 64 for ``"digits"``, None otherwise.

    None means the caller should use the model's default input size.
    """
    return digits.IMAGE_SIZE if name == digits.NAME else None


def load_dataset(
    name: str = "digits",
    *,
    preprocess: PreprocessConfig,
    batch_size: int,
    data_dir: str | None = None,
    tfds_data_dir: str | None = None,
    download: bool = False,
    seed: int = 0,
    val_fraction: float = 0.2,
    input_context=None,
    augment=None,
    token_labels=None,
    views_fn=None,
    train_index: bool = False,
) -> DatasetBundle:
    """Builds the train and validation pipelines of a dataset.

    Args:
        name: ``"digits"``, ``"folder"``, ``"folder:/path"`` or
            ``"tfds:NAME"``; any name other than ``tfds:...`` reads the image
            folder `data_dir` when given.
        preprocess: Image size, augmentation and normalization settings.
        batch_size: Batch size of this input pipeline. With `input_context`,
            pass the per-pipeline batch (e.g.
            ``input_context.get_per_replica_batch_size(global_batch)`` times
            the replicas the pipeline feeds); it is used unchanged.
        data_dir: Image-folder root.
        tfds_data_dir: TFDS data directory (None: TFDS's default).
        download: Let TFDS download and prepare missing data (network).
        seed: Seed of the train/val split and the train shuffle order.
        val_fraction: Held-out fraction when the source has no val split.
        input_context: Optional `tf.distribute.InputContext`. Train and val
            are sharded with ``dataset.shard(num_input_pipelines,
            input_pipeline_id)`` before shuffling and decoding (file paths for
            folders, examples otherwise), so pipelines see disjoint data;
            ``num_train``/``num_val`` still count the whole splits.
        augment: Optional `tfzoo.data.augment.AugmentConfig` for the train split.
        token_labels: Optional `tfzoo.data.token_labels.TokenLabelConfig`
            (see `pipeline.build_bundle`).
        views_fn: Optional self-supervised views map (see
            `pipeline.build_bundle`, `tfzoo.data.ssl_augment`).
        train_index: With `views_fn`, add each train example's index to its
            labels (see `pipeline.build_bundle`).

    Returns:
        A `DatasetBundle`.

    Raises:
        UsageError: Unknown name, bad folder or unprepared TFDS data.
    """
    if batch_size < 1:
        raise UsageError(f"batch_size must be positive, got {batch_size}")
    source = open_source(name, image_size=preprocess.image_size, data_dir=data_dir, tfds_data_dir=tfds_data_dir,
                         download=download, seed=seed, val_fraction=val_fraction,
                         shuffle_files=input_context is None)
    return build_bundle(source, preprocess, batch_size, seed=seed, input_context=input_context, augment=augment,
                        token_labels=token_labels, views_fn=views_fn, train_index=train_index)


def load_eval_dataset(name: str = "digits", *, preprocess: PreprocessConfig, batch_size: int,
                      data_dir: str | None = None, tfds_data_dir: str | None = None, download: bool = False,
                      seed: int = 0, val_fraction: float = 0.2) -> DatasetBundle:
    """Both splits of `load_dataset`'s split (same arguments and seed) with the evaluation transform.

    ``train`` holds every train example once, in a fixed order, center-cropped
    and normalized like ``val`` (no augmentation, last batch kept): what
    feature extraction for a kNN monitor or a linear probe needs.
    """
    if batch_size < 1:
        raise UsageError(f"batch_size must be positive, got {batch_size}")
    source = open_source(name, image_size=preprocess.image_size, data_dir=data_dir, tfds_data_dir=tfds_data_dir,
                         download=download, seed=seed, val_fraction=val_fraction, shuffle_files=False)
    return DatasetBundle(
        name=source.name, train=eval_batches(source.train, source.decode, preprocess, batch_size),
        val=eval_batches(source.val, source.decode, preprocess, batch_size), num_classes=len(source.class_names),
        class_names=list(source.class_names), num_train=source.num_train, num_val=source.num_val,
        skipped_files=source.skipped_files, skipped_paths=tuple(source.skipped_paths))


def open_source(name: str = "digits", *, image_size: int, data_dir: str | None = None,
                tfds_data_dir: str | None = None, download: bool = False, seed: int = 0,
                val_fraction: float = 0.2, shuffle_files: bool = True) -> Source:
    """The unbatched `Source` behind `load_dataset` (same arguments; `image_size` sizes the digits)."""
    if name.startswith(tfds_source.PREFIX):
        if data_dir:
            raise UsageError(f"data_dir is for image folders; pass tfds_data_dir for {name!r}")
        tfds_name = name[len(tfds_source.PREFIX):]
        if not tfds_name:
            raise UsageError(f"missing dataset name after 'tfds:'; {DATASET_NAMES_HELP}")
        source = tfds_source.tfds_source(
            tfds_name,
            data_dir=tfds_data_dir,
            download=download,
            val_fraction=val_fraction,
            seed=seed,
            shuffle_files=shuffle_files,
        )
    elif name.startswith(folder.PREFIX) and not data_dir:
        source = folder.folder_source(name[len(folder.PREFIX):], val_fraction=val_fraction, seed=seed)
    elif data_dir or name == "folder":
        if not data_dir:
            raise UsageError(f"dataset 'folder' needs data_dir; {folder.LAYOUT_HELP}")
        source = folder.folder_source(data_dir, val_fraction=val_fraction, seed=seed)
    elif name == digits.NAME:
        source = digits.digits_source(image_size, val_fraction=val_fraction, seed=seed)
    else:
        raise UsageError(f"unknown dataset {name!r}. {DATASET_NAMES_HELP}")
    check_num_classes(len(source.class_names), source.name)
    return source
