"""Argument checks and finishing steps shared by every family builder."""

from __future__ import annotations

import os

import keras

from tfzoo.errors import UsageError
from tfzoo.layers.head import POOLINGS


def image_input(input_shape, *, min_size: int, model_name: str):
    """Validates a keras.applications-style ``input_shape`` and returns the `keras.Input`.

    Raises:
        UsageError: for a malformed shape or a side shorter than `min_size`.
    """
    if input_shape is None or len(tuple(input_shape)) != 3:
        raise UsageError(f"{model_name}: input_shape must be (height, width, channels), got {input_shape!r}")
    height, width, channels = tuple(input_shape)
    if channels is None or int(channels) < 1:
        raise UsageError(f"{model_name}: input_shape needs a positive channel count, got {input_shape!r}")
    for side in (height, width):
        if side is not None and int(side) < min_size:
            raise UsageError(
                f"input size {height}x{width} is too small for {model_name}: it needs at least "
                f"{min_size}x{min_size} (its total stride); pass a larger --image_size / input_shape"
            )
    return keras.Input(shape=(height, width, channels), name="images")


def check_head_args(*, include_top: bool, pooling, num_classes: int, model_name: str):
    """Validates the head arguments that every builder takes."""
    if pooling not in POOLINGS:
        raise UsageError(f"{model_name}: pooling must be None, 'avg' or 'max', got {pooling!r}")
    if include_top and (not isinstance(num_classes, int) or num_classes < 1):
        raise UsageError(f"{model_name}: num_classes must be a positive integer, got {num_classes!r}")


def load_weights(model: keras.Model, weights: str | None) -> keras.Model:
    """Loads local weights into a freshly built model.

    Args:
        model: The built model.
        weights: None, or the path of a ``.keras`` or ``.weights.h5`` file.
            tfzoo never downloads weights, so named weights like
            ``"imagenet"`` are rejected with an explanation.
    """
    if weights is None:
        return model
    weights = os.fspath(weights)
    if not weights.endswith((".keras", ".weights.h5")):
        raise UsageError(
            f"weights must be None or a local .keras / .weights.h5 file, got {weights!r} "
            "(tfzoo does not download pretrained weights)"
        )
    if not os.path.isfile(weights):
        raise UsageError(f"weights file not found: {weights}")
    model.load_weights(weights)
    return model


def finish_model(inputs, x, *, include_top: bool, pooling, num_classes: int, dropout: float,
                 classifier_activation, name: str, weights, classifier_name: str = "classifier",
                 pool_name: str = "global_pool") -> keras.Model:
    """The standard ending: global average pool + classifier (or the requested pooling), model, weights.

    Args:
        classifier_name: The reference's name of the final linear layer
            (``fc``, ``classifier``, ``head_fc`` ...), so weights convert by name.
        pool_name: Name of the pooling layer in the classifier head.
    """
    from tfzoo.layers.head import classifier, global_pool

    if include_top:
        x = global_pool(x, "avg", name=pool_name)
        x = classifier(x, num_classes, dropout=dropout, classifier_activation=classifier_activation,
                       name=classifier_name)
    else:
        x = global_pool(x, pooling)
    return load_weights(keras.Model(inputs, x, name=name), weights)
