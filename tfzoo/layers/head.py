"""Global pooling and classifier heads shared by every family."""

from __future__ import annotations

import math

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

    The grid comes from, in order: the optional second input ``grid`` (any
    ``[B, H, W, ...]`` tensor; the grid is ``(H // stride, W // stride)``, so
    pass the images with ``stride=patch_size``; this works for inputs whose
    size is only known at run time), else `grid_size`, else the square grid
    the token count implies.

    Args:
        grid_size: ``(gh, gw)``, the patch grid (row-major, as patch embedding flattens it), or None.
        num_prefix_tokens: Class/distillation tokens in front of the patch tokens.
        stride: Divisor from the ``grid`` input's spatial size to the patch grid.
    """

    def __init__(self, grid_size=None, num_prefix_tokens: int = 0, stride: int = 1, **kwargs):
        super().__init__(**kwargs)
        self.grid_size = None if grid_size is None else tuple(int(side) for side in grid_size)
        self.num_prefix_tokens = int(num_prefix_tokens)
        self.stride = int(stride)

    def _static_grid(self, tokens_shape, grid_shape=None):
        if grid_shape is not None:
            return tuple(None if side is None else side // self.stride for side in grid_shape[1:3])
        if self.grid_size is not None:
            return self.grid_size
        if tokens_shape[1] is None:
            return None, None
        patches = tokens_shape[1] - self.num_prefix_tokens
        side = math.isqrt(patches)
        if side * side != patches:
            raise ValueError(f"{patches} patch tokens do not form a square grid; pass grid_size or the grid input")
        return side, side

    def call(self, tokens, grid=None):
        patches = tokens[:, self.num_prefix_tokens:]
        if grid is not None:
            shape = keras.ops.shape(grid)
            height, width = shape[1] // self.stride, shape[2] // self.stride
        else:
            height, width = self._static_grid(tokens.shape)
        return keras.ops.reshape(patches, (keras.ops.shape(tokens)[0], height, width, patches.shape[-1]))

    def compute_output_shape(self, tokens_shape, grid_shape=None):
        return (tokens_shape[0], *self._static_grid(tokens_shape, grid_shape), tokens_shape[-1])

    def get_config(self):
        return {**super().get_config(), "grid_size": None if self.grid_size is None else list(self.grid_size),
                "num_prefix_tokens": self.num_prefix_tokens, "stride": self.stride}
