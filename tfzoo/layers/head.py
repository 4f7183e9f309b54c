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


@keras.saving.register_keras_serializable(package="tfzoo")
class TokenPool(keras.layers.Layer):
    """Pools transformer tokens ``[B, N, C]`` to ``[B, C]``.

    Args:
        mode: ``"token"`` (token 0, the class token), ``"avg"`` or ``"max"``
            (over the patch tokens, after the prefix tokens).
        num_prefix_tokens: Class/distillation tokens in front of the patch tokens.
    """

    MODES = ("token", "avg", "max")

    def __init__(self, mode: str = "token", num_prefix_tokens: int = 1, **kwargs):
        super().__init__(**kwargs)
        if mode not in self.MODES:
            raise ValueError(f"TokenPool mode must be one of {self.MODES}, got {mode!r}")
        if mode == "token" and num_prefix_tokens < 1:
            raise ValueError("TokenPool mode 'token' needs a class token (num_prefix_tokens >= 1)")
        self.mode = mode
        self.num_prefix_tokens = int(num_prefix_tokens)

    def call(self, tokens):
        if self.mode == "token":
            return tokens[:, 0]
        patches = tokens[:, self.num_prefix_tokens:]
        if self.mode == "avg":
            return keras.ops.mean(patches, axis=1)
        return keras.ops.max(patches, axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "mode": self.mode, "num_prefix_tokens": self.num_prefix_tokens}


@keras.saving.register_keras_serializable(package="tfzoo")
class TokensToMap(keras.layers.Layer):
    """Drops the prefix tokens and lays the patch tokens ``[B, gh*gw, C]`` out as a map ``[B, gh, gw, C]``.

    Args:
        grid_size: ``(gh, gw)``, the patch grid (row-major, as patch embedding flattens it).
        num_prefix_tokens: Class/distillation tokens in front of the patch tokens.
    """

    def __init__(self, grid_size, num_prefix_tokens: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.grid_size = tuple(int(side) for side in grid_size)
        self.num_prefix_tokens = int(num_prefix_tokens)

    def call(self, tokens):
        patches = tokens[:, self.num_prefix_tokens:]
        return keras.ops.reshape(patches, (-1, *self.grid_size, patches.shape[-1]))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], *self.grid_size, input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "grid_size": self.grid_size, "num_prefix_tokens": self.num_prefix_tokens}
