"""The embedded digits source: split sizes, determinism, stratification, exact pixels."""

from __future__ import annotations

import collections

import numpy as np
import pytest
import tensorflow as tf
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from tests.data.datalib import collect
from tfzoo.data import DatasetBundle, default_image_size, load_dataset
from tfzoo.data.preprocessing import PreprocessConfig, eval_transform
from tfzoo.errors import UsageError

PREPROCESS = PreprocessConfig(image_size=32)
BATCH = 64


@pytest.fixture(scope="module")
def bundle() -> DatasetBundle:
    return load_dataset("digits", preprocess=PREPROCESS, batch_size=BATCH, seed=0)


def test_sizes_and_classes(bundle):
    assert bundle.name == "digits"
    assert (bundle.num_train, bundle.num_val) == (1437, 360)
    assert bundle.num_classes == 10
    assert bundle.class_names == [str(digit) for digit in range(10)]
    assert bundle.skipped_files == 0
    assert default_image_size("digits") == 64
    assert default_image_size("tfds:cifar10") is None


def test_train_batches(bundle):
    batches = list(bundle.train.as_numpy_iterator())
    assert len(batches) == 1437 // BATCH  # drop_remainder=True
    images, labels = batches[0]
    assert images.shape == (BATCH, 32, 32, 3) and images.dtype == np.float32
    assert labels.shape == (BATCH,) and labels.dtype == np.int32
    assert np.isfinite(images).all()
    assert set(np.concatenate([b[1] for b in batches]).tolist()) == set(range(10))
    # Reshuffled every epoch: two passes see different label orders.
    second = np.concatenate([b[1] for b in bundle.train.as_numpy_iterator()])
    first = np.concatenate([b[1] for b in batches])
    assert not np.array_equal(first, second)


def test_val_batches(bundle):
    shapes = [images.shape for images, _ in bundle.val.as_numpy_iterator()]
    assert shapes[:-1] == [(BATCH, 32, 32, 3)] * 5
    assert shapes[-1] == (360 - 5 * BATCH, 32, 32, 3)  # drop_remainder=False


def test_val_pixels_match_independent_normalization(bundle):
    """A val batch equals eval_transform then (x/255 - mean)/std written in NumPy."""
    digits = load_digits()
    _, val_index = train_test_split(
        np.arange(len(digits.target)), test_size=0.2, stratify=digits.target, random_state=0
    )
    gray = np.round(digits.images[val_index[:BATCH]].astype(np.float32) * 255.0 / 16.0)
    rgb = np.repeat(gray[..., None], 3, axis=-1)
    resized = np.clip(np.round(tf.image.resize(rgb, [32, 32], method="bilinear").numpy()), 0, 255).astype(np.uint8)
    cropped = np.stack([eval_transform(tf.constant(image), PREPROCESS).numpy() for image in resized])
    mean = np.asarray(PREPROCESS.mean, np.float32)
    std = np.asarray(PREPROCESS.std, np.float32)
    expected = (cropped / 255.0 - mean) / std

    images, labels = next(bundle.val.as_numpy_iterator())
    np.testing.assert_array_equal(labels, digits.target[val_index[:BATCH]])
    np.testing.assert_allclose(images, expected, atol=1e-4)
    # Pixel 0 of a digit is background (0): normalized it is exactly -mean/std.
    np.testing.assert_allclose(images[:, 0, 0, :].min(axis=0), -mean / std, atol=1e-4)


def test_split_is_stratified(bundle):
    _, val_labels = collect(bundle.val)
    total = collections.Counter(load_digits().target.tolist())
    val = collections.Counter(val_labels.tolist())
    for digit in range(10):
        assert abs(val[digit] - 0.2 * total[digit]) <= 1, (digit, val[digit], total[digit])


def test_split_deterministic_per_seed(bundle):
    _, labels_seed0 = collect(bundle.val)
    again = load_dataset("digits", preprocess=PREPROCESS, batch_size=BATCH, seed=0)
    other = load_dataset("digits", preprocess=PREPROCESS, batch_size=BATCH, seed=1)
    images_again, labels_again = collect(again.val)
    images_seed0, _ = collect(bundle.val)
    np.testing.assert_array_equal(labels_again, labels_seed0)
    np.testing.assert_array_equal(images_again, images_seed0)
    _, labels_seed1 = collect(other.val)
    assert not np.array_equal(labels_seed1, labels_seed0)
    assert other.num_val == 360


def test_val_fraction():
    bundle = load_dataset("digits", preprocess=PREPROCESS, batch_size=BATCH, val_fraction=0.5)
    assert (bundle.num_train, bundle.num_val) == (898, 899)
    with pytest.raises(UsageError, match="val_fraction"):
        load_dataset("digits", preprocess=PREPROCESS, batch_size=BATCH, val_fraction=1.0)


@pytest.mark.parametrize("name", ["imagenet", "folder", "tfds:"])
def test_bad_names(name):
    with pytest.raises(UsageError):
        load_dataset(name, preprocess=PREPROCESS, batch_size=BATCH)
