"""Image-folder source: one sub-folder per class, as torchvision's ImageFolder.

Two layouts are accepted::

    DIR/<class>/<image>                               seeded stratified split
    DIR/train/<class>/<image> + DIR/val/<class>/...   the given split

Class names are the sorted sub-folder names (of ``train/`` in the second
layout); images may sit in nested folders below their class folder. Hidden
files and folders (leading ``.``) are ignored.

Every other file is a candidate and must prove it is an image: its first bytes
must carry a JPEG, PNG, GIF or BMP signature, and it must decode once with
`preprocessing.decode_image` (one parallel tf.data pass with
``ignore_errors``). Files that fail either check are skipped and counted, never
a crash in the middle of training.
"""

from __future__ import annotations

import concurrent.futures
import os

import numpy as np
import tensorflow as tf
from absl import logging

from tfzoo.data.pipeline import Source
from tfzoo.data.preprocessing import decode_image
from tfzoo.data.splits import check_val_fraction, stratified_split
from tfzoo.errors import UsageError

PREFIX = "folder:"
IMAGE_SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"BM")
LAYOUT_HELP = (
    "expected DIR/<class_name>/<image> or DIR/train/<class_name>/<image> with DIR/val/<class_name>/<image> "
    "(JPEG, PNG, GIF or BMP files)"
)
VAL_DIR_NAMES = ("val", "validation")
_SIGNATURE_BYTES = max(len(signature) for signature in IMAGE_SIGNATURES)


def _visible(name: str) -> bool:
    return not name.startswith(".")


def class_folders(root: str) -> list[str]:
    """Sorted names of the visible sub-folders of `root`."""
    with os.scandir(root) as entries:
        return sorted(entry.name for entry in entries if _visible(entry.name) and entry.is_dir())


def _candidate_files(folder: str) -> list[str]:
    """Every visible non-folder entry below `folder`, sorted, symlinks followed."""
    found = []
    for parent, subfolders, files in os.walk(folder, followlinks=True):
        subfolders[:] = sorted(name for name in subfolders if _visible(name))
        found.extend(os.path.join(parent, name) for name in sorted(files) if _visible(name))
    return found


def has_image_signature(path: str) -> bool:
    """True when the file starts with a JPEG, PNG, GIF or BMP signature."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(_SIGNATURE_BYTES)
    except OSError:
        return False
    return head.startswith(IMAGE_SIGNATURES)


def decodable_mask(paths: list[str]) -> np.ndarray:
    """Which files `preprocessing.decode_image` can read, found in one parallel pass.

    Args:
        paths: File paths.

    Returns:
        bool array ``[len(paths)]``.
    """
    mask = np.zeros(len(paths), dtype=bool)
    if not paths:
        return mask

    def probe(index, path):
        image = decode_image(tf.io.read_file(path))
        return index, tf.size(image)

    dataset = (
        tf.data.Dataset.from_tensor_slices((np.arange(len(paths), dtype=np.int64), _as_bytes(paths)))
        .map(probe, num_parallel_calls=tf.data.AUTOTUNE, deterministic=False)
        .ignore_errors()
        .filter(lambda index, size: size > 0)
        .batch(4096)
    )
    for indices, _ in dataset.as_numpy_iterator():
        mask[indices] = True
    return mask


def _as_bytes(paths: list[str]) -> np.ndarray:
    # fsencode keeps file names that are not valid UTF-8 readable by tf.io.
    return np.array([os.fsencode(path) for path in paths], dtype=object)


def _readable_mask(paths: list[str]) -> np.ndarray:
    """Signature check (threaded file reads), then a decode pass over the survivors."""
    workers = min(32, 4 * (os.cpu_count() or 1))
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        signed = np.fromiter(pool.map(has_image_signature, paths, chunksize=256), dtype=bool, count=len(paths))
    mask = np.zeros(len(paths), dtype=bool)
    signed_index = np.flatnonzero(signed)
    mask[signed_index] = decodable_mask([paths[i] for i in signed_index])
    return mask


def _scan(root: str, class_names: list[str]) -> tuple[list[str], np.ndarray]:
    """Candidate files below ``root/<class>`` for each class, with their labels."""
    paths, labels = [], []
    for label, class_name in enumerate(class_names):
        folder = os.path.join(root, class_name)
        if not os.path.isdir(folder):
            continue
        files = _candidate_files(folder)
        paths.extend(files)
        labels.extend([label] * len(files))
    return paths, np.asarray(labels, dtype=np.int32)


def _split_layout(root: str) -> tuple[str, str] | None:
    """``(train_dir, val_dir)`` when `root` holds a given split, else None."""
    train_dir = os.path.join(root, "train")
    if not os.path.isdir(train_dir):
        return None
    for name in VAL_DIR_NAMES:
        val_dir = os.path.join(root, name)
        if os.path.isdir(val_dir):
            return train_dir, val_dir
    # A lone train/ is almost surely a split missing its partner, not a class named "train".
    raise UsageError(
        f"image folder {root} has train/ but no val/; add {root}/val/<class_name>/ or pass "
        f"data_dir={train_dir} to split it"
    )


def _check_two_classes(class_root: str, class_names: list[str], readable_labels: np.ndarray) -> None:
    """Refuses a folder whose readable training images span fewer than two classes (none: checked later)."""
    with_images = [class_names[label] for label in sorted(set(readable_labels.tolist()))]
    if len(with_images) == 1:
        empty = f"; the other {len(class_names) - 1} hold no readable image" if len(class_names) > 1 else ""
        raise UsageError(f"image folder {class_root} has images of one class only ({with_images[0]}{empty}); "
                         "classification needs at least 2 class sub-folders with images")


def folder_source(data_dir: str | None, *, val_fraction: float = 0.2, seed: int = 0) -> Source:
    """Scans an image folder into a `Source` of file paths.

    Args:
        data_dir: Root folder (see the module docstring for its layout).
        val_fraction: Validation fraction when the folder has no train/val split.
        seed: Random state of that split.

    Returns:
        A `Source` whose items are file paths decoded with `decode_image`.

    Raises:
        UsageError: If the folder is missing, has no class folders or no
            readable images, or val/ has a class that train/ lacks.
    """
    if not data_dir or not os.path.isdir(data_dir):
        raise UsageError(f"image folder {data_dir!r} does not exist; {LAYOUT_HELP}")
    root = os.path.abspath(data_dir)
    layout = _split_layout(root)
    class_root = layout[0] if layout else root
    class_names = class_folders(class_root)
    if not class_names:
        raise UsageError(f"image folder {class_root} has no class sub-folders; {LAYOUT_HELP}")

    train_paths, train_labels = _scan(class_root, class_names)
    val_paths, val_labels = [], np.zeros([0], np.int32)
    if layout:
        unknown = sorted(set(class_folders(layout[1])) - set(class_names))
        if unknown:
            raise UsageError(f"{layout[1]} has classes missing from {layout[0]}: {', '.join(unknown)}")
        val_paths, val_labels = _scan(layout[1], class_names)
    else:
        check_val_fraction(val_fraction)

    all_paths = train_paths + val_paths
    readable = _readable_mask(all_paths)
    _check_two_classes(class_root, class_names, train_labels[readable[: len(train_paths)]])
    skipped_paths = [all_paths[i] for i in np.flatnonzero(~readable)]
    skipped = len(skipped_paths)
    if skipped:
        logging.warning("skipped %d unreadable files of %d (e.g. %s)", skipped, len(all_paths), skipped_paths[0])
    train_ok, val_ok = readable[: len(train_paths)], readable[len(train_paths):]
    train_paths = [path for path, ok in zip(train_paths, train_ok) if ok]
    train_labels = train_labels[train_ok]
    val_paths = [path for path, ok in zip(val_paths, val_ok) if ok]
    val_labels = val_labels[val_ok]
    if not train_paths:
        raise UsageError(f"image folder {class_root} has no readable images; {LAYOUT_HELP}")

    if layout:
        if not val_paths:
            raise UsageError(f"image folder {layout[1]} has no readable images; {LAYOUT_HELP}")
    else:
        train_index, val_index = stratified_split(train_labels, val_fraction, seed)
        val_paths = [train_paths[i] for i in val_index]
        val_labels = train_labels[val_index]
        train_paths = [train_paths[i] for i in train_index]
        train_labels = train_labels[train_index]

    def keyed(paths, labels):  # key: the path relative to the dataset root ("train/cat/1.jpg" with train/val/)
        keys = np.array([os.path.relpath(path, root).replace(os.sep, "/") for path in paths], dtype=str)
        return tf.data.Dataset.from_tensor_slices((_as_bytes(paths), labels, keys))

    def from_files(paths, labels):
        return tf.data.Dataset.from_tensor_slices((_as_bytes(paths), labels))

    return Source(
        name=PREFIX + root,
        train=from_files(train_paths, train_labels),
        val=from_files(val_paths, val_labels),
        decode=lambda path: decode_image(tf.io.read_file(path)),
        class_names=class_names,
        num_train=len(train_paths),
        num_val=len(val_paths),
        skipped_files=skipped,
        skipped_paths=tuple(skipped_paths),
        shuffle_buffer=len(train_paths),
        keyed_train=keyed(train_paths, train_labels),
        keyed_val=keyed(val_paths, val_labels),
    )
