"""Helpers shared by the data tests: tiny settings, batch collection, expected pixels, image folders."""

from __future__ import annotations

import os

import numpy as np
import tensorflow as tf

from tfzoo.data.preprocessing import PreprocessConfig

# Tiny images keep every pipeline fast; crop_pct 1.0 makes eval_transform a pure
# resize, so a uniform image stays uniform and its value can be checked exactly.
TINY = PreprocessConfig(image_size=16, crop_pct=1.0)


def collect(dataset: tf.data.Dataset) -> tuple[np.ndarray, np.ndarray]:
    """All batches of an ``(images, labels)`` dataset, concatenated."""
    images, labels = [], []
    for batch_images, batch_labels in dataset.as_numpy_iterator():
        images.append(batch_images)
        labels.append(batch_labels)
    return np.concatenate(images), np.concatenate(labels)


def normalized_gray(gray: float, config: PreprocessConfig = TINY) -> np.ndarray:
    """The 3 channels `normalize` makes of a gray pixel, by the formula ``(v/255 - mean)/std``."""
    return (gray / 255.0 - np.asarray(config.mean)) / np.asarray(config.std)


def example_keys(images: np.ndarray) -> list[bytes]:
    """One hashable key per image, to compare sets of examples."""
    return [np.ascontiguousarray(image).tobytes() for image in images]


# Image folders --------------------------------------------------------------

CLASSES = ("ant", "bee", "cat")
GRAY = {0: 40, 1: 120, 2: 200}  # each class is a uniform gray, so pixels identify the label
PER_CLASS = 6


def solid_image(label: int, height: int = 20, width: int = 24) -> np.ndarray:
    """A uniform image in the gray of class `label`."""
    return np.full([height, width, 3], GRAY[label], np.uint8)


def write_png(path, image: np.ndarray) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tf.io.write_file(str(path), tf.io.encode_png(image))


def write_jpeg(path, image: np.ndarray) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tf.io.write_file(str(path), tf.io.encode_jpeg(image, quality=95))


def write_bytes(path, data: bytes) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(data)


def make_class_folders(root, classes=CLASSES, per_class=PER_CLASS) -> None:
    """`per_class` good images per class, PNG and JPEG alternating, one in a nested folder."""
    for label, name in enumerate(classes):
        for index in range(per_class):
            writer, ext = (write_png, "png") if index % 2 == 0 else (write_jpeg, "jpg")
            sub = "nested" if index == 0 else ""
            writer(os.path.join(root, name, sub, f"{index}.{ext}"), solid_image(label))
