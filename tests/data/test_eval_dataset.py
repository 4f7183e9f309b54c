"""`load_eval_dataset`: both splits of `load_dataset` with the evaluation transform, every example once, in order."""

import numpy as np

from tfzoo.data import load_dataset, load_eval_dataset
from tfzoo.data.digits import digits_arrays
from tfzoo.data.preprocessing import PreprocessConfig
from tfzoo.data.splits import stratified_split


def test_train_split_without_augmentation_in_split_order():
    preprocess = PreprocessConfig(image_size=16, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    plain = load_eval_dataset("digits", preprocess=preprocess, batch_size=100, seed=3)
    images, labels = digits_arrays(16)
    train_index, _ = stratified_split(labels, 0.2, 3)
    got_images = np.concatenate([batch for batch, _ in plain.train])
    got_labels = np.concatenate([batch for _, batch in plain.train])
    assert plain.num_train == len(got_labels) == 1437  # last batch kept (1437 is not a multiple of 100)
    np.testing.assert_array_equal(got_labels, labels[train_index])
    # crop_pct 0.875 at 16 px: resize to 18, center crop 16; normalized with mean = std = 0.5.
    assert got_images.shape == (1437, 16, 16, 3) and -1.0 <= got_images.min() and got_images.max() <= 1.0
    val = np.concatenate([batch for batch, _ in load_dataset("digits", preprocess=preprocess, batch_size=100,
                                                             seed=3).val])
    np.testing.assert_array_equal(np.concatenate([batch for batch, _ in plain.val]), val)  # the val pipeline
