"""`input_context` sharding: pipelines get disjoint shares that together cover the split."""

from __future__ import annotations

import collections

import numpy as np
import tensorflow as tf

from tests.data.datalib import TINY, collect, example_keys, make_class_folders
from tfzoo.data import load_dataset


def _context(pipeline_id: int, count: int = 2) -> tf.distribute.InputContext:
    return tf.distribute.InputContext(num_input_pipelines=count, input_pipeline_id=pipeline_id)


def test_digits_val_shards_partition_the_val_set():
    full_images, full_labels = collect(load_dataset("digits", preprocess=TINY, batch_size=64).val)
    shards = [load_dataset("digits", preprocess=TINY, batch_size=64, input_context=_context(i)) for i in range(2)]
    shard_data = [collect(bundle.val) for bundle in shards]
    assert [len(labels) for _, labels in shard_data] == [180, 180]
    assert all(bundle.num_val == 360 for bundle in shards)  # counts describe the whole split

    keys = [collections.Counter(zip(example_keys(images), labels.tolist())) for images, labels in shard_data]
    full = collections.Counter(zip(example_keys(full_images), full_labels.tolist()))
    assert not keys[0] & keys[1]
    assert keys[0] + keys[1] == full

    # Each train shard is half the train split: 718 and 719 examples -> 11 batches of 64.
    for bundle in shards:
        assert len(list(bundle.train.as_numpy_iterator())) == 718 // 64


def test_folder_val_shards_split_files(tmp_path):
    make_class_folders(tmp_path, per_class=10)
    full = load_dataset("folder", preprocess=TINY, batch_size=4, data_dir=str(tmp_path))
    shard_labels = []
    for pipeline_id in range(2):
        bundle = load_dataset("folder", preprocess=TINY, batch_size=4, data_dir=str(tmp_path),
                              input_context=_context(pipeline_id))
        shard_labels.append(collect(bundle.val)[1])
    assert [len(labels) for labels in shard_labels] == [3, 3]  # 6 val files
    full_labels = collect(full.val)[1]
    # Sharding takes every other file of the fixed val order.
    np.testing.assert_array_equal(shard_labels[0], full_labels[0::2])
    np.testing.assert_array_equal(shard_labels[1], full_labels[1::2])
