"""Mixup, CutMix, random erasing, RandAugment and repeated augmentation, against hand-computed values."""

import numpy as np
import pytest
import tensorflow as tf

from tfzoo.data import augment
from tfzoo.data.augment import AugmentConfig


def _batch():
    images = np.stack([np.full((4, 4, 1), 10.0), np.full((4, 4, 1), 20.0), np.full((4, 4, 1), 30.0)])
    targets = np.eye(3)
    return tf.constant(images, tf.float32), tf.constant(targets, tf.float32)


def test_mixup_with_fixed_lambda_by_hand():
    images, targets = _batch()
    mixed, soft = augment.mixup(images, targets, 0.7)
    # Row 0 is mixed with the reversed batch's row 0, i.e. row 2: 0.7 * 10 + 0.3 * 30 = 16.
    np.testing.assert_allclose(mixed.numpy()[:, 0, 0, 0], [16.0, 20.0, 24.0], atol=1e-5)
    np.testing.assert_allclose(soft.numpy(), [[0.7, 0.0, 0.3], [0.0, 1.0, 0.0], [0.3, 0.0, 0.7]], atol=1e-6)


def test_cutmix_box_and_label_weights_by_hand():
    # 10x10 image, lam 0.64: side ratio sqrt(0.36) = 0.6 -> a 6x6 box centred at (5, 5): rows/cols 2..7.
    box = [int(v) for v in augment.cutmix_box(10, 10, 0.64, 5, 5)]
    assert box == [2, 8, 2, 8]
    # Centred at a corner the box is clipped to rows/cols 0..2: 9 of 100 pixels.
    assert [int(v) for v in augment.cutmix_box(10, 10, 0.64, 0, 0)] == [0, 3, 0, 3]

    images = tf.constant(np.stack([np.zeros((10, 10, 1)), np.ones((10, 10, 1))]), tf.float32)
    targets = tf.constant(np.eye(2), tf.float32)
    mixed, soft = augment.cutmix(images, targets, box)
    assert float(tf.reduce_sum(mixed[0])) == 36.0 and float(tf.reduce_sum(mixed[1])) == 64.0
    np.testing.assert_array_equal(mixed.numpy()[0, 2:8, 2:8, 0], np.ones((6, 6)))
    # lam corrected to the kept area: 1 - 36/100.
    np.testing.assert_allclose(soft.numpy(), [[0.64, 0.36], [0.36, 0.64]], atol=1e-6)
    _, corner = augment.cutmix(images, targets, augment.cutmix_box(10, 10, 0.64, 0, 0))
    np.testing.assert_allclose(corner.numpy()[0], [0.91, 0.09], atol=1e-6)


def test_mix_batch_fn_switches_and_keeps_target_mass():
    assert augment.mix_batch_fn(AugmentConfig()) is None
    tf.random.set_seed(0)
    images, targets = _batch()
    fn = augment.mix_batch_fn(AugmentConfig(mixup=0.8, cutmix=1.0, mix_prob=1.0, mix_switch_prob=0.5))
    for _ in range(5):
        mixed, soft = fn(images, targets)
        soft = soft.numpy()
        np.testing.assert_allclose(soft.sum(axis=1), 1.0, atol=1e-6)
        # Every row is a mix of itself and its mirror in the batch (rows 0 and 2), with the same lam.
        np.testing.assert_allclose(soft[0, 0], soft[2, 2], atol=1e-6)
        assert soft[1, 1] == pytest.approx(1.0)
    never = augment.mix_batch_fn(AugmentConfig(mixup=0.8, mix_prob=0.0))
    assert never is None
    off = augment.mix_batch_fn(AugmentConfig(mixup=0.8, mix_prob=1e-9))
    unchanged, same = off(images, targets)
    np.testing.assert_array_equal(same.numpy(), targets.numpy())


def test_random_erasing_probability_and_box_area():
    tf.random.set_seed(1)
    images = tf.fill([64, 12, 12, 3], 100.0)
    np.testing.assert_array_equal(augment.random_erasing(images, 0.0).numpy(), images.numpy())
    erased = augment.random_erasing(images, 1.0).numpy()
    fraction = (erased != 100.0).all(axis=-1).mean(axis=(1, 2))  # noise replaced whole pixels
    assert (fraction > 0).all()
    # Area fraction in [0.02, 1/3] up to rounding of the sides and clipping to the image.
    assert fraction.min() >= 1 / 144 and fraction.max() <= 0.5


def test_repeat_examples_and_rand_augment():
    repeated = list(augment.repeat_examples(tf.data.Dataset.range(3), 3).as_numpy_iterator())
    assert [int(x) for x in repeated] == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert augment.rand_augment_fn(AugmentConfig()) is None
    fn = augment.rand_augment_fn(AugmentConfig(rand_augment_ops=2, rand_augment_magnitude=9))
    image = tf.constant(np.random.default_rng(0).uniform(0, 255, (16, 16, 3)), tf.float32)
    out = tf.data.Dataset.from_tensors(image).map(fn).get_single_element().numpy()
    assert out.shape == (16, 16, 3) and out.min() >= 0 and out.max() <= 255
