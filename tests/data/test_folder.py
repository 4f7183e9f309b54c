"""The image-folder source: corrupt files skipped and counted, both layouts, clear errors."""

from __future__ import annotations

import logging
import os

import numpy as np
import pytest
import tensorflow as tf

from tests.data.datalib import (
    CLASSES,
    GRAY,
    PER_CLASS,
    TINY,
    collect,
    make_class_folders,
    normalized_gray,
    solid_image,
    write_bytes,
    write_png,
)
from tfzoo.data import load_dataset
from tfzoo.errors import UsageError



def add_corrupt_files(root) -> int:
    """Writes unreadable files (returns how many) and hidden ones (not counted)."""
    rng = np.random.default_rng(0)
    good_jpeg = tf.io.encode_jpeg(solid_image(0)).numpy()
    good_png = tf.io.encode_png(solid_image(1)).numpy()
    write_bytes(os.path.join(root, "ant", "truncated.jpg"), good_jpeg[: len(good_jpeg) // 2])
    write_bytes(os.path.join(root, "ant", "notes.txt"), b"not an image\n")
    write_bytes(os.path.join(root, "bee", "empty.jpg"), b"")
    write_bytes(os.path.join(root, "bee", "noise.png"), rng.integers(0, 256, 300, dtype=np.uint8).tobytes())
    write_bytes(os.path.join(root, "cat", "bad_body.png"), good_png[:16] + b"\x00" * 64)  # PNG signature, junk body
    write_bytes(os.path.join(root, "cat", ".DS_Store"), b"\x00\x01")  # hidden: ignored, not counted
    write_png(os.path.join(root, "cat", ".hidden", "0.png"), solid_image(2))  # hidden folder: ignored
    write_png(os.path.join(root, ".thumbnails", "0.png"), solid_image(2))  # hidden class folder: ignored
    return 5


def test_corrupt_files_are_skipped_and_counted(tmp_path, caplog):
    make_class_folders(tmp_path)
    corrupt = add_corrupt_files(tmp_path)
    with caplog.at_level(logging.WARNING):
        bundle = load_dataset("folder", preprocess=TINY, batch_size=4, data_dir=str(tmp_path))
    total = len(CLASSES) * PER_CLASS
    assert bundle.skipped_files == corrupt
    assert bundle.num_train + bundle.num_val == total
    assert (bundle.num_train, bundle.num_val) == (14, 4)  # test_size = ceil(0.2 * 18)
    assert bundle.class_names == list(CLASSES) and bundle.num_classes == 3
    assert bundle.name == f"folder:{tmp_path}"
    assert f"skipped {corrupt} unreadable files of {total + corrupt}" in caplog.text

    # Every example's pixels match its label: no file was swapped with another class.
    val_images, val_labels = collect(bundle.val)
    assert val_images.shape == (4, 16, 16, 3)
    expected = np.stack([normalized_gray(GRAY[label]) for label in val_labels])
    np.testing.assert_allclose(val_images.mean(axis=(1, 2)), expected, atol=0.05)
    assert len(set(val_labels.tolist())) >= 2  # stratified: 4 val slots over 3 classes

    train_batches = list(bundle.train.as_numpy_iterator())
    assert len(train_batches) == 14 // 4
    for images, labels in train_batches:
        assert images.shape == (4, 16, 16, 3) and labels.dtype == np.int32
        expected = np.stack([normalized_gray(GRAY[label]) for label in labels])
        np.testing.assert_allclose(images.mean(axis=(1, 2)), expected, atol=0.05)


def test_any_name_with_data_dir_is_a_folder(tmp_path):
    make_class_folders(tmp_path)
    bundle = load_dataset("digits", preprocess=TINY, batch_size=2, data_dir=str(tmp_path), seed=3)
    assert bundle.name.startswith("folder:") and bundle.skipped_files == 0
    again = load_dataset("folder", preprocess=TINY, batch_size=2, data_dir=str(tmp_path), seed=3)
    np.testing.assert_array_equal(collect(bundle.val)[1], collect(again.val)[1])
    by_name = load_dataset(bundle.name, preprocess=TINY, batch_size=2, seed=3)  # "folder:/path" round-trips
    assert by_name.name == bundle.name
    np.testing.assert_array_equal(collect(by_name.val)[1], collect(bundle.val)[1])


def test_train_val_layout(tmp_path):
    make_class_folders(tmp_path / "train", per_class=4)
    make_class_folders(tmp_path / "val", classes=CLASSES[:2], per_class=2)  # val may lack a class
    write_bytes(os.path.join(tmp_path, "val", "bee", "broken.jpg"), b"\xff\xd8\xff\xe0 truncated")
    bundle = load_dataset("folder", preprocess=TINY, batch_size=4, data_dir=str(tmp_path))
    assert bundle.class_names == list(CLASSES)
    assert (bundle.num_train, bundle.num_val, bundle.skipped_files) == (12, 4, 1)
    _, val_labels = collect(bundle.val)
    assert sorted(val_labels.tolist()) == [0, 0, 1, 1]


def test_val_class_missing_from_train(tmp_path):
    make_class_folders(tmp_path / "train", classes=CLASSES[:2], per_class=2)
    make_class_folders(tmp_path / "val", classes=CLASSES, per_class=1)
    with pytest.raises(UsageError, match="cat"):
        load_dataset("folder", preprocess=TINY, batch_size=2, data_dir=str(tmp_path))


def test_train_without_val(tmp_path):
    make_class_folders(tmp_path / "train", per_class=2)
    with pytest.raises(UsageError, match="no val/"):
        load_dataset("folder", preprocess=TINY, batch_size=2, data_dir=str(tmp_path))


@pytest.mark.parametrize("layout", ["missing", "empty", "files_only", "no_images"])
def test_bad_folders(tmp_path, layout):
    data_dir = tmp_path / "data"
    if layout != "missing":
        data_dir.mkdir()
    if layout == "files_only":
        write_png(os.path.join(data_dir, "0.png"), solid_image(0))
    if layout == "no_images":
        write_bytes(os.path.join(data_dir, "ant", "readme.txt"), b"hello")
        (data_dir / "bee").mkdir()
    with pytest.raises(UsageError, match="expected DIR/<class_name>/<image>") as error:
        load_dataset("folder", preprocess=TINY, batch_size=2, data_dir=str(data_dir))
    assert "\n" not in str(error.value)


def test_folder_name_needs_data_dir():
    with pytest.raises(UsageError, match="data_dir"):
        load_dataset("folder", preprocess=TINY, batch_size=2)


def test_keyed_train_names_images_by_relative_path(tmp_path):
    from tfzoo.data.loader import open_source

    make_class_folders(tmp_path / "data")
    source = open_source("folder", image_size=16, data_dir=str(tmp_path / "data"), val_fraction=0.25)
    keyed = [(item.decode(), int(label), key.decode()) for item, label, key in source.keyed_train.as_numpy_iterator()]
    assert len(keyed) == source.num_train
    for path, label, key in keyed:
        assert path.endswith("/" + key) and key.split("/")[0] == source.class_names[label]
    assert any(key.split("/")[1] == "nested" for _, _, key in keyed)
    val_keys = [key.decode() for _, _, key in source.keyed_val.as_numpy_iterator()]
    assert len(val_keys) == source.num_val and not set(val_keys) & {key for _, _, key in keyed}
