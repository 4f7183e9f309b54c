"""The TFDS source, on tiny builders prepared offline, with the network blocked."""

from __future__ import annotations

import collections

import numpy as np
import pytest
import tensorflow as tf

from tests.data import tfds_testlib
from tests.data.datalib import TINY, collect, normalized_gray
from tfzoo.data import load_dataset
from tfzoo.errors import UsageError


@pytest.fixture(scope="module")
def tfds_dir(tmp_path_factory):
    """A TFDS data directory holding both test builders, prepared without network."""
    data_dir = str(tmp_path_factory.mktemp("tfds"))
    with pytest.MonkeyPatch.context() as patch:
        import socket

        def refuse(*args, **kwargs):
            raise AssertionError("TFDS preparation tried to reach the network")

        patch.setattr(socket.socket, "connect", refuse)
        patch.setattr(socket, "create_connection", refuse)
        for builder_class in (tfds_testlib.TfzooTestShapes, tfds_testlib.TfzooTestTrainOnly):
            builder_class(data_dir=data_dir).download_and_prepare()
    return data_dir


def _center_gray(images: np.ndarray) -> np.ndarray:
    return images[:, 8, 8, :]


def test_named_classes_and_test_split(tfds_dir, no_network):
    bundle = load_dataset("tfds:tfzoo_test_shapes", preprocess=TINY, batch_size=8, tfds_data_dir=tfds_dir)
    assert bundle.name == "tfds:tfzoo_test_shapes"
    assert (bundle.num_train, bundle.num_val) == (tfds_testlib.NUM_TRAIN, tfds_testlib.NUM_TEST)
    assert bundle.class_names == tfds_testlib.CLASS_NAMES and bundle.num_classes == 3

    val_images, val_labels = collect(bundle.val)
    assert val_images.shape == (tfds_testlib.NUM_TEST, 16, 16, 3)  # grayscale became RGB
    assert val_labels.dtype == np.int32
    assert collections.Counter(val_labels.tolist()) == {0: 4, 1: 4, 2: 4}
    expected = np.stack([normalized_gray(tfds_testlib.GRAY[label]) for label in val_labels])
    np.testing.assert_allclose(_center_gray(val_images), expected, atol=1e-4)

    train_batches = list(bundle.train.as_numpy_iterator())
    assert len(train_batches) == tfds_testlib.NUM_TRAIN // 8
    images, labels = train_batches[0]
    assert images.shape == (8, 16, 16, 3) and images.dtype == np.float32
    expected = np.stack([normalized_gray(tfds_testlib.GRAY[label]) for label in labels])
    np.testing.assert_allclose(_center_gray(images), expected, atol=1e-3)


def test_train_only_dataset_holds_out_a_fraction(tfds_dir, no_network):
    bundle = load_dataset("tfds:tfzoo_test_train_only", preprocess=TINY, batch_size=4, tfds_data_dir=tfds_dir)
    assert (bundle.num_train, bundle.num_val) == (16, 4)  # train[:16] / train[16:]
    assert bundle.class_names == ["0", "1", "2"]
    assert len(list(bundle.train.as_numpy_iterator())) == 16 // 4
    marks = np.round(_raw_marks(collect(bundle.val)[0])).astype(int).tolist()
    assert len(set(marks)) == 4 and set(marks) <= set(range(tfds_testlib.NUM_TRAIN_ONLY))
    again = load_dataset("tfds:tfzoo_test_train_only", preprocess=TINY, batch_size=4, tfds_data_dir=tfds_dir, seed=5)
    assert np.round(_raw_marks(collect(again.val)[0])).astype(int).tolist() == marks


def _raw_marks(images: np.ndarray) -> np.ndarray:
    """Undoes normalize on the red channel of pixel [0, 0] (the per-example mark)."""
    return (images[:, 0, 0, 0] * TINY.std[0] + TINY.mean[0]) * 255.0


def test_val_shards_are_disjoint_and_complete(tfds_dir, no_network):
    marks = []
    for pipeline_id in range(2):
        context = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=pipeline_id)
        bundle = load_dataset("tfds:tfzoo_test_shapes", preprocess=TINY, batch_size=4, tfds_data_dir=tfds_dir,
                              input_context=context)
        marks.append(sorted(np.round(_raw_marks(collect(bundle.val)[0])).astype(int).tolist()))
    assert len(marks[0]) == len(marks[1]) == tfds_testlib.NUM_TEST // 2
    assert not set(marks[0]) & set(marks[1])
    assert sorted(marks[0] + marks[1]) == list(range(tfds_testlib.NUM_TEST))


def test_unprepared_dataset_names_the_build_command(tmp_path, no_network):
    with pytest.raises(UsageError) as error:
        load_dataset("tfds:mnist", preprocess=TINY, batch_size=4, tfds_data_dir=str(tmp_path))
    message = str(error.value)
    assert f"tfds build mnist --data_dir {tmp_path}" in message
    assert "--tfds_download" in message and "\n" not in message


@pytest.mark.parametrize(
    "name, match",
    [
        ("tfds:no_such_dataset_xyz", "unknown tfds dataset"),
        ("tfds:huggingface:mnist", "--tfds_download"),
        ("tfds:Not A Name!", "invalid tfds dataset name"),
    ],
)
def test_bad_tfds_names(tmp_path, no_network, name, match):
    with pytest.raises(UsageError, match=match) as error:
        load_dataset(name, preprocess=TINY, batch_size=4, tfds_data_dir=str(tmp_path))
    assert "\n" not in str(error.value)


def test_data_dir_is_not_for_tfds(tmp_path):
    with pytest.raises(UsageError, match="tfds_data_dir"):
        load_dataset("tfds:mnist", preprocess=TINY, batch_size=4, data_dir=str(tmp_path))


def test_keyed_train_names_every_example_by_tfds_id(tfds_dir, no_network):
    from tfzoo.data.loader import open_source

    source = open_source("tfds:tfzoo_test_shapes", image_size=16, tfds_data_dir=tfds_dir, shuffle_files=False)
    keyed = list(source.keyed_train.as_numpy_iterator())
    keys = [key.decode() for _, _, key in keyed]
    assert len(keys) == tfds_testlib.NUM_TRAIN == len(set(keys))
    assert all("train" in key for key in keys)  # e.g. "tfzoo_test_shapes-train.tfrecord-00000-of-00001__3"
    labels = sorted(int(label) for _, label, _ in keyed)
    assert labels == sorted(int(label) for _, label in source.train.as_numpy_iterator())
