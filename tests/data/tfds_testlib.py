"""Tiny TFDS builders, prepared offline into a temporary data directory.

Importing this module registers them with TFDS (a builder class registers
itself when it is defined), so `tfds.builder("tfzoo_test_shapes")` finds them.
"""

from __future__ import annotations

import numpy as np
import tensorflow_datasets as tfds

CLASS_NAMES = ["circle", "square", "triangle"]
GRAY = (30, 130, 230)  # each class is a uniform gray (but for pixel [0, 0]), so pixels identify the label
NUM_TRAIN, NUM_TEST, NUM_TRAIN_ONLY = 30, 12, 20


def _examples(count: int, prefix: str, channels: int):
    for index in range(count):
        label = index % len(CLASS_NAMES)
        image = np.full([16, 16, channels], GRAY[label], np.uint8)
        image[0, 0, :] = index  # a per-example mark, to tell examples apart
        yield f"{prefix}-{index}", {"image": image, "label": label}


class TfzooTestShapes(tfds.core.GeneratorBasedBuilder):
    """Grayscale 16x16 images (like MNIST), 3 named classes, train and test splits."""

    VERSION = tfds.core.Version("1.0.0")

    def _info(self):
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict(
                {"image": tfds.features.Image(shape=(16, 16, 1)), "label": tfds.features.ClassLabel(names=CLASS_NAMES)}
            ),
            supervised_keys=("image", "label"),
        )

    def _split_generators(self, dl_manager):
        return {"train": _examples(NUM_TRAIN, "train", 1), "test": _examples(NUM_TEST, "test", 1)}

    def _generate_examples(self):  # required by the base class; splits use _examples
        raise NotImplementedError


class TfzooTestTrainOnly(tfds.core.GeneratorBasedBuilder):
    """RGB images, unnamed classes, no supervised keys, only a train split."""

    VERSION = tfds.core.Version("1.0.0")

    def _info(self):
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict(
                {"image": tfds.features.Image(shape=(16, 16, 3)), "label": tfds.features.ClassLabel(num_classes=3)}
            ),
        )

    def _split_generators(self, dl_manager):
        return {"train": _examples(NUM_TRAIN_ONLY, "train", 3)}

    def _generate_examples(self):
        raise NotImplementedError
