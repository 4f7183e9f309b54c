"""Image preprocessing, defined once for training, evaluation, predict and export.

Every path into a model goes through these functions:

- `train_transform`: random-resized-crop (Inception-style: area fraction in
  `scale`, aspect ratio in `ratio`, log-uniform) then horizontal flip.
- `eval_transform`: resize the shorter side to ``image_size / crop_pct`` then
  center crop ``image_size`` (timm's and torchvision's evaluation transform).
- `normalize`: ``(pixels / 255 - mean) / std`` on float pixels in 0..255.

Images enter as uint8 or float tensors in 0..255 with 1, 3 or 4 channels and
leave as float32 ``[image_size, image_size, 3]`` in 0..255; `normalize` is
applied last (in the data pipeline, in the exported graph and in `predict`),
so one function decides what the model sees.
"""

from __future__ import annotations

import dataclasses
import math

import tensorflow as tf

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclasses.dataclass(frozen=True)
class PreprocessConfig:
    """How images are turned into model inputs.

    Attributes:
        image_size: Square model input resolution.
        crop_pct: Evaluation center-crop fraction.
        interpolation: ``"bilinear"`` or ``"bicubic"`` resize.
        mean: Per-channel mean, 0..1 units.
        std: Per-channel standard deviation, 0..1 units.
        scale: Random-resized-crop area range (fraction of the image).
        ratio: Random-resized-crop aspect-ratio range.
        hflip: Random horizontal flip during training.
    """

    image_size: int = 224
    crop_pct: float = 0.875
    interpolation: str = "bilinear"
    mean: tuple = IMAGENET_MEAN
    std: tuple = IMAGENET_STD
    scale: tuple = (0.08, 1.0)
    ratio: tuple = (3.0 / 4.0, 4.0 / 3.0)
    hflip: bool = True

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict) -> "PreprocessConfig":
        fields = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in fields})


def to_rgb(image: tf.Tensor) -> tf.Tensor:
    """Makes a [H, W, C] image three-channel: gray is repeated, alpha dropped."""
    channels = tf.shape(image)[-1]
    image = tf.cond(tf.equal(channels, 1), lambda: tf.tile(image, [1, 1, 3]), lambda: image)
    return image[..., :3]


def decode_image(encoded: tf.Tensor) -> tf.Tensor:
    """Decodes JPEG/PNG/GIF/BMP bytes into a uint8 [H, W, 3] tensor (first frame of a GIF)."""
    image = tf.io.decode_image(encoded, channels=3, expand_animations=False)
    image.set_shape([None, None, 3])
    return image


def _resize(image: tf.Tensor, size, method: str) -> tf.Tensor:
    resized = tf.image.resize(tf.cast(image, tf.float32), size, method=method, antialias=False)
    return tf.clip_by_value(resized, 0.0, 255.0)


def eval_transform(image: tf.Tensor, config: PreprocessConfig) -> tf.Tensor:
    """Resize the shorter side to ``size / crop_pct``, then center crop ``size``.

    Args:
        image: [H, W, C] uint8 or float in 0..255.
        config: Preprocessing settings.

    Returns:
        float32 [size, size, 3] in 0..255.
    """
    image = to_rgb(image)
    size = config.image_size
    scale_size = int(math.floor(size / config.crop_pct))
    shape = tf.cast(tf.shape(image)[:2], tf.float32)
    short = tf.minimum(shape[0], shape[1])
    new_hw = tf.cast(tf.round(shape * (scale_size / short)), tf.int32)
    new_hw = tf.maximum(new_hw, size)
    image = _resize(image, new_hw, config.interpolation)
    top = (new_hw[0] - size) // 2
    left = (new_hw[1] - size) // 2
    image = image[top:top + size, left:left + size, :]
    image.set_shape([size, size, 3])
    return image


def resize_to_input(images: tf.Tensor, config: PreprocessConfig) -> tf.Tensor:
    """Resizes a [N, H, W, C] batch straight to the model resolution (no crop).

    Used by the float-array serving signature; a batch already at the model
    size passes through unchanged.
    """
    size = config.image_size
    images = tf.cast(images, tf.float32)
    same = tf.logical_and(tf.equal(tf.shape(images)[1], size), tf.equal(tf.shape(images)[2], size))
    images = tf.cond(same, lambda: images, lambda: _resize(images, [size, size], config.interpolation))
    images.set_shape([None, size, size, images.shape[-1]])
    return images


def _op_determinism_enabled() -> bool:
    try:  # not exported as tf.config.experimental.is_op_determinism_enabled in TF 2.21
        from tensorflow.python.framework import config as tf_config

        return bool(tf_config.is_op_determinism_enabled())
    except (ImportError, AttributeError):
        return False


def random_resized_crop(image: tf.Tensor, config: PreprocessConfig, seed=None) -> tf.Tensor:
    """Inception-style random crop of area `scale` and aspect `ratio`, resized to the input size."""
    return random_resized_crop_with_box(image, config, seed)[0]


def random_resized_crop_with_box(image: tf.Tensor, config: PreprocessConfig, seed=None):
    """`random_resized_crop` that also returns its box.

    Returns:
        ``(crop, box)``: the float32 ``[size, size, 3]`` crop and float32
        ``[4]`` ``(top, left, bottom, right)`` of the cropped region as
        fractions of the image's height and width (pixel edges: a crop of
        rows ``[r, r + h)`` of ``H`` gives ``r / H`` and ``(r + h) / H``).
    """
    image = to_rgb(image)
    shape = tf.shape(image)
    bbox = tf.zeros([1, 0, 4], dtype=tf.float32)
    begin, crop_size, _ = tf.image.sample_distorted_bounding_box(
        shape,
        bounding_boxes=bbox,
        min_object_covered=0.0,
        aspect_ratio_range=config.ratio,
        area_range=config.scale,
        max_attempts=10,
        use_image_if_no_bounding_boxes=True,
        # seed 0 draws from an unseeded generator, which op determinism (--deterministic) refuses.
        seed=seed or (1 if _op_determinism_enabled() else 0),
    )
    crop = tf.slice(image, begin, crop_size)
    crop = _resize(crop, [config.image_size, config.image_size], config.interpolation)
    crop.set_shape([config.image_size, config.image_size, 3])
    hw = tf.cast(shape[:2], tf.float32)
    start = tf.cast(begin[:2], tf.float32) / hw
    box = tf.concat([start, start + tf.cast(crop_size[:2], tf.float32) / hw], axis=0)
    return crop, box


def train_transform(image: tf.Tensor, config: PreprocessConfig) -> tf.Tensor:
    """Random-resized-crop, then a random horizontal flip when `config.hflip`.

    Returns:
        float32 [size, size, 3] in 0..255.
    """
    image = random_resized_crop(image, config)
    if config.hflip:
        image = tf.image.random_flip_left_right(image)
    return image


def normalize(images: tf.Tensor, config: PreprocessConfig) -> tf.Tensor:
    """``(pixels / 255 - mean) / std`` for float pixels in 0..255 (any leading shape)."""
    mean = tf.constant([m * 255.0 for m in config.mean], tf.float32)
    std = tf.constant([s * 255.0 for s in config.std], tf.float32)
    return (tf.cast(images, tf.float32) - mean) / std
