"""tf.distribute strategy selection."""

from __future__ import annotations

import tensorflow as tf

from tfzoo.errors import UsageError


def create_strategy(name: str = "auto") -> tf.distribute.Strategy:
    """Returns the strategy for ``auto``, ``one_device``, ``mirrored`` or ``multi_worker``.

    ``multi_worker`` is `tf.distribute.MultiWorkerMirroredStrategy`: the
    cluster comes from ``TF_CONFIG`` and every worker mirrors over its local
    GPUs (or its CPU). It must be created before TensorFlow initializes its
    devices, so it is checked before anything lists them.

    ``auto`` mirrors over all GPUs when more than one is visible and otherwise
    uses one device. ``one_device`` is TensorFlow's default strategy, which
    places work on the first GPU if there is one, else the CPU: on CPU it
    trains ~1.7x faster than `tf.distribute.OneDeviceStrategy`, whose
    distributed-iterator machinery costs more than it brings for one device
    (MobileNetV3-Large on digits, 32 px, batch 64: 312 vs 182 images/s).
    """
    if name == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_logical_devices("GPU")
    if name == "auto":
        name = "mirrored" if len(gpus) > 1 else "one_device"
    if name == "one_device":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    raise UsageError(f"unknown strategy {name!r}; choose auto, one_device, mirrored or multi_worker")
