"""tf.distribute strategy selection."""

from __future__ import annotations

import tensorflow as tf

from tfzoo.errors import UsageError


def create_strategy(name: str = "auto") -> tf.distribute.Strategy:
    """Returns the strategy for ``auto``, ``one_device`` or ``mirrored``.

    ``auto`` mirrors over all GPUs when more than one is visible and otherwise
    runs on the single GPU, or on the CPU.
    """
    gpus = tf.config.list_logical_devices("GPU")
    if name == "auto":
        name = "mirrored" if len(gpus) > 1 else "one_device"
    if name == "one_device":
        return tf.distribute.OneDeviceStrategy("/gpu:0" if gpus else "/cpu:0")
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    raise UsageError(f"unknown strategy {name!r}; choose auto, one_device or mirrored")
