"""Global pooling and classifier heads shared by every family."""

from __future__ import annotations

import keras

from tfzoo.layers.conv import dense_init

POOLINGS = (None, "avg", "max")


def global_pool(x, pooling: str | None, name: str = "global_pool", keepdims: bool = False):
    """Global average or max pooling, or the input unchanged for ``pooling=None``."""
    if pooling == "avg":
        return keras.layers.GlobalAveragePooling2D(keepdims=keepdims, name=name)(x)
    if pooling == "max":
        return keras.layers.GlobalMaxPooling2D(keepdims=keepdims, name=name)(x)
    if pooling is None:
        return x
    raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")


def classifier(x, num_classes: int, *, dropout: float = 0.0, classifier_activation: str | None = "softmax",
               name: str = "classifier"):
    """Dropout -> Dense(num_classes) -> activation.

    The final activation runs in float32 (layer ``predictions``) so mixed
    precision training keeps a float32 loss and exported probabilities.
    """
    if dropout > 0.0:
        x = keras.layers.Dropout(dropout, name="head_drop")(x)
    x = keras.layers.Dense(num_classes, kernel_initializer=dense_init(), name=name)(x)
    return keras.layers.Activation(classifier_activation or "linear", dtype="float32", name="predictions")(x)
