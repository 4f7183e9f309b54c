"""Padded pooling with PyTorch semantics, from built-in Keras layers.

PyTorch and Keras agree on unpadded ("valid") pooling. They differ once a
pooling layer pads:

- ``nn.MaxPool2d(k, s, padding=p)`` pads with -inf, so padding never wins a
  window. Zero padding followed by a valid pool is only equal when the input
  is non-negative (after a ReLU); Keras ``padding="same"`` with a stride of 2
  pads only the bottom/right on even sides, which shifts every window by one
  pixel. `max_pool2d` handles the common ``p == k // 2`` case exactly for any
  input: a stride-1 ``"same"`` pool (symmetric for odd ``k``, padding ignored,
  i.e. -inf) computes the max of every window centered on each pixel, and a
  1x1 pool with stride ``s`` keeps the windows PyTorch evaluates (centers
  ``0, s, 2s, ...``, ``floor((n - 1) / s) + 1`` of them).
- ``nn.AvgPool2d`` / ``F.avg_pool2d`` default to ``count_include_pad=True``:
  padded zeros count in the mean (the divisor is always ``k * k``), whereas
  Keras ``"same"`` averages the valid pixels only. `avg_pool2d` pads with
  zeros and pools "valid", which is the PyTorch rule.

Both use floor mode (PyTorch's ``ceil_mode=False``).
"""

from __future__ import annotations

import keras


def max_pool2d(x, pool_size: int, *, strides: int, padding: int = 0, name: str):
    """``nn.MaxPool2d(pool_size, strides, padding)`` (padding counts as -inf).

    Args:
        x: Channels-last input.
        pool_size: Square window size.
        strides: Stride.
        padding: Pixels of padding on every side: 0, or ``pool_size // 2`` for odd `pool_size`.
        name: Name of the layer that gives the output (a stride-2 padded pool
            also adds ``f"{name}_window"``).

    Raises:
        ValueError: for another padding, which the layers used here cannot express exactly.
    """
    if padding == 0:
        return keras.layers.MaxPooling2D(pool_size, strides=strides, padding="valid", name=name)(x)
    if pool_size % 2 == 1 and padding == pool_size // 2:
        if strides == 1:
            return keras.layers.MaxPooling2D(pool_size, strides=1, padding="same", name=name)(x)
        x = keras.layers.MaxPooling2D(pool_size, strides=1, padding="same", name=f"{name}_window")(x)
        return keras.layers.MaxPooling2D(1, strides=strides, padding="valid", name=name)(x)
    raise ValueError(f"max_pool2d supports padding 0 or pool_size // 2 with an odd pool_size, "
                     f"got pool_size={pool_size}, padding={padding}")


def avg_pool2d(x, pool_size: int, *, strides: int, padding: int = 0, name: str):
    """``nn.AvgPool2d(pool_size, strides, padding)`` with ``count_include_pad=True`` (PyTorch's default).

    Args:
        x: Channels-last input.
        pool_size: Square window size.
        strides: Stride.
        padding: Zero pixels added on every side; they count in the mean.
        name: Name of the pooling layer (the padding layer is ``f"{name}_pad"``).
    """
    if padding:
        x = keras.layers.ZeroPadding2D(padding, name=f"{name}_pad")(x)
    return keras.layers.AveragePooling2D(pool_size, strides=strides, padding="valid", name=name)(x)
