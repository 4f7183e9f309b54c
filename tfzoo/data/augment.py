"""Training-time augmentation and regularization in tf.data, following timm's implementations.

- Mixup (Zhang et al. 2018, arXiv 1710.09412) and CutMix (Yun et al. 2019,
  arXiv 1905.04899) as timm's ``Mixup`` in its default ``mode="batch"``: one
  ``lam ~ Beta(alpha, alpha)`` per batch, each image mixed with the batch
  reversed (``x[::-1]``); with both enabled, CutMix is picked with probability
  ``mix_switch_prob``; mixing happens with probability ``mix_prob``. CutMix's
  box has side ``sqrt(1 - lam)`` times the image's, a uniform centre and is
  clipped at the border, and ``lam`` is then corrected to the pasted area
  (timm ``correct_lam=True``). Targets are mixed with the same ``lam``; label
  smoothing is applied by the loss (`tfzoo.losses.SoftTargetCrossEntropy`),
  which gives timm's targets exactly (smoothing is affine).
- RandAugment (Cubuk et al. 2019, arXiv 1909.13719) with Keras core's
  ``keras.layers.RandAugment`` on each 0..255 image (magnitude ``M`` of 0..10
  maps to ``factor = M / 10``). Its ops and magnitude scaling are Keras's, not
  timm's ``rand-m9-mstd0.5``.
- Random erasing (Zhong et al. 2017, arXiv 1708.04896) as timm's
  ``RandomErasing(mode="pixel", max_count=1)`` on normalized images: with
  probability ``p`` one box of area fraction U(0.02, 1/3) and log-uniform aspect
  ratio in (0.3, 3.3) is filled with N(0, 1) noise. timm retries a box that
  does not fit up to 10 times; here its sides are clipped to the image.
- Repeated augmentation (Hoffer et al. 2020, arXiv 1901.09335; DeiT's
  ``RASampler``): every shuffled example is emitted ``aug_repeats`` times in a
  row, each copy augmented independently. The trainer's steps per epoch stay
  the same, so an epoch sees ``1 / aug_repeats`` of the distinct images, as
  with DeiT's sampler.
"""

from __future__ import annotations

import dataclasses
import math

import tensorflow as tf


@dataclasses.dataclass(frozen=True)
class AugmentConfig:
    """Augmentations beyond random-resized-crop and flip (all off by default).

    Attributes:
        mixup: Mixup ``alpha`` (0: off).
        cutmix: CutMix ``alpha`` (0: off).
        mix_prob: Probability that a batch is mixed at all.
        mix_switch_prob: With both on, the probability of CutMix over mixup.
        rand_augment_ops: RandAugment ``N`` (ops per image; 0: off).
        rand_augment_magnitude: RandAugment ``M`` in 0..10.
        random_erasing: Probability of erasing one box per image (0: off).
        aug_repeats: Times each example is repeated (1: off).
    """

    mixup: float = 0.0
    cutmix: float = 0.0
    mix_prob: float = 1.0
    mix_switch_prob: float = 0.5
    rand_augment_ops: int = 0
    rand_augment_magnitude: float = 9.0
    random_erasing: float = 0.0
    aug_repeats: int = 1

    @property
    def mixes(self) -> bool:
        return (self.mixup > 0 or self.cutmix > 0) and self.mix_prob > 0

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


# ---- mixup / cutmix on a batch of images and soft targets -------------------------------------------------

def mixup(images: tf.Tensor, targets: tf.Tensor, lam) -> tuple[tf.Tensor, tf.Tensor]:
    """``lam * x + (1 - lam) * x[::-1]`` for images and targets (timm's batch mode)."""
    lam = tf.cast(lam, images.dtype)
    mixed = lam * images + (1.0 - lam) * tf.reverse(images, axis=[0])
    lam_t = tf.cast(lam, targets.dtype)
    return mixed, lam_t * targets + (1.0 - lam_t) * tf.reverse(targets, axis=[0])


def cutmix_box(height: int, width: int, lam, center_y, center_x):
    """timm's ``rand_bbox``: a box of side ``sqrt(1 - lam)`` of the image's, centred, clipped.

    Returns:
        ``(top, bottom, left, right)`` int32 with ``top <= bottom``,
        ``left <= right`` (half-open rows ``[top, bottom)``).
    """
    cut_ratio = tf.sqrt(1.0 - tf.cast(lam, tf.float32))
    cut_h = tf.cast(float(height) * cut_ratio, tf.int32)
    cut_w = tf.cast(float(width) * cut_ratio, tf.int32)
    center_y = tf.cast(center_y, tf.int32)
    center_x = tf.cast(center_x, tf.int32)
    top = tf.clip_by_value(center_y - cut_h // 2, 0, height)
    bottom = tf.clip_by_value(center_y + cut_h // 2, 0, height)
    left = tf.clip_by_value(center_x - cut_w // 2, 0, width)
    right = tf.clip_by_value(center_x + cut_w // 2, 0, width)
    return top, bottom, left, right


def box_mask(height: int, width: int, top, bottom, left, right) -> tf.Tensor:
    """float32 ``[H, W, 1]`` mask, 1 inside rows ``[top, bottom)`` and columns ``[left, right)``."""
    rows = tf.range(height)[:, None]
    cols = tf.range(width)[None, :]
    inside = (rows >= top) & (rows < bottom) & (cols >= left) & (cols < right)
    return tf.cast(inside, tf.float32)[..., None]


def cutmix(images: tf.Tensor, targets: tf.Tensor, box) -> tuple[tf.Tensor, tf.Tensor]:
    """Pastes ``box`` of ``x[::-1]`` into ``x``; targets weighted by the kept area.

    Args:
        images: ``[B, H, W, C]``.
        targets: ``[B, K]`` soft targets.
        box: ``(top, bottom, left, right)`` from `cutmix_box`.

    Returns:
        Mixed images and ``lam * t + (1 - lam) * t[::-1]`` with
        ``lam = 1 - box_area / (H * W)``.
    """
    height, width = images.shape[1], images.shape[2]
    mask = box_mask(height, width, *box)
    mixed = images * (1.0 - tf.cast(mask, images.dtype)) + tf.reverse(images, axis=[0]) * tf.cast(mask, images.dtype)
    lam = 1.0 - tf.reduce_sum(mask) / float(height * width)
    lam = tf.cast(lam, targets.dtype)
    return mixed, lam * targets + (1.0 - lam) * tf.reverse(targets, axis=[0])


def sample_beta(alpha: float) -> tf.Tensor:
    """One sample of Beta(alpha, alpha), from two gamma samples."""
    a = tf.random.gamma([], alpha)
    b = tf.random.gamma([], alpha)
    return a / (a + b)


def mix_batch_fn(config: AugmentConfig):
    """A ``(images, one_hot_targets) -> (images, soft_targets)`` map for batched tf.data, or None when off."""
    if not config.mixes:
        return None

    def do_mixup(images, targets):
        return mixup(images, targets, sample_beta(config.mixup))

    def do_cutmix(images, targets):
        height, width = images.shape[1], images.shape[2]
        lam = sample_beta(config.cutmix)
        center_y = tf.random.uniform([], 0, height, dtype=tf.int32)
        center_x = tf.random.uniform([], 0, width, dtype=tf.int32)
        return cutmix(images, targets, cutmix_box(height, width, lam, center_y, center_x))

    def fn(images, targets):
        targets = tf.cast(targets, tf.float32)
        if config.mixup > 0 and config.cutmix > 0:
            use_cutmix = tf.random.uniform([]) < config.mix_switch_prob
            mixed = lambda: tf.cond(use_cutmix, lambda: do_cutmix(images, targets),  # noqa: E731
                                    lambda: do_mixup(images, targets))
        elif config.cutmix > 0:
            mixed = lambda: do_cutmix(images, targets)  # noqa: E731
        else:
            mixed = lambda: do_mixup(images, targets)  # noqa: E731
        if config.mix_prob >= 1.0:
            return mixed()
        return tf.cond(tf.random.uniform([]) < config.mix_prob, mixed, lambda: (images, targets))

    return fn


# ---- per-image and per-batch transforms --------------------------------------------------------------------

def rand_augment_fn(config: AugmentConfig):
    """RandAugment on one ``[H, W, 3]`` image in 0..255, or None when off."""
    if config.rand_augment_ops <= 0:
        return None
    import keras

    layer = keras.layers.RandAugment(value_range=(0, 255), num_ops=config.rand_augment_ops,
                                     factor=min(max(config.rand_augment_magnitude / 10.0, 0.0), 1.0))

    def fn(image):
        return tf.cast(layer(tf.cast(image, tf.float32), training=True), tf.float32)

    return fn


def random_erasing(images: tf.Tensor, probability: float, area_range=(0.02, 1.0 / 3.0),
                   ratio_range=(0.3, 3.3)) -> tf.Tensor:
    """Erases one random box per image with N(0, 1) noise, each with `probability` (normalized images)."""
    batch = tf.shape(images)[0]
    height, width = images.shape[1], images.shape[2]
    area = tf.random.uniform([batch], *area_range) * float(height * width)
    log_ratio = tf.random.uniform([batch], math.log(ratio_range[0]), math.log(ratio_range[1]))
    ratio = tf.exp(log_ratio)
    box_h = tf.clip_by_value(tf.cast(tf.round(tf.sqrt(area * ratio)), tf.int32), 1, height)
    box_w = tf.clip_by_value(tf.cast(tf.round(tf.sqrt(area / ratio)), tf.int32), 1, width)
    top = tf.cast(tf.floor(tf.random.uniform([batch]) * tf.cast(height - box_h + 1, tf.float32)), tf.int32)
    left = tf.cast(tf.floor(tf.random.uniform([batch]) * tf.cast(width - box_w + 1, tf.float32)), tf.int32)
    apply = tf.random.uniform([batch]) < probability
    rows = tf.range(height)[None, :, None]
    cols = tf.range(width)[None, None, :]
    top, left, box_h, box_w = (t[:, None, None] for t in (top, left, box_h, box_w))
    inside = (rows >= top) & (rows < top + box_h) & (cols >= left) & (cols < left + box_w)
    inside = inside & apply[:, None, None]
    noise = tf.random.normal(tf.shape(images), dtype=images.dtype)
    return tf.where(inside[..., None], noise, images)


def repeat_examples(dataset: tf.data.Dataset, repeats: int) -> tf.data.Dataset:
    """Emits every element `repeats` times in a row (before decoding/augmenting them)."""
    if repeats <= 1:
        return dataset
    def repeat(*example):
        return tf.data.Dataset.from_tensors(example if len(example) > 1 else example[0]).repeat(repeats)

    return dataset.flat_map(repeat)
