"""MixToken: CutMix on the patch-token grid (LV-ViT, Jiang et al. 2021, arXiv 2104.10858).

Reference: the official TokenLabeling repository (github.com/zihangJiang/TokenLabeling,
``tlt/models/lvvit.py``: ``rand_bbox`` and ``LV_ViT.forward``) and its loss
(``tlt/loss/cross_entropy.py``: ``TokenLabelCrossEntropy``).

In training, after the patch embedding, one box per batch on the ``[H, W]``
token grid is filled with the tokens of the batch-reversed partner
(``x[::-1]``). The box is CutMix's: ``lam ~ Beta(1, 1)``, sides
``int(H * sqrt(1 - lam))`` and ``int(W * sqrt(1 - lam))``, a uniform integer
centre, half-sides ``side // 2`` on both sides of it, clipped to the grid.
After the blocks, `UnmixTokens` swaps the same box of the per-token outputs
back, so every image's token predictions line up with its own dense labels;
the class target is mixed with ``lam = 1 - box_area / (H * W)`` recomputed
from the clipped box (`mixed_lambda`). The box and ``lam`` leave `MixToken`
as a ``[1, H, W, 1]`` float mask, all zeros outside training or when the
layer is disabled.
"""

from __future__ import annotations

import keras
from keras import ops


def token_box(height: int, width: int, lam, center_y, center_x):
    """The official ``rand_bbox`` on an ``H x W`` grid: ``(top, bottom, left, right)``, half-open, int32.

    Args:
        height: Grid rows (the official code's ``size[2]``).
        width: Grid columns.
        lam: Sampled ``lam`` (scalar tensor or float).
        center_y: Integer centre row in ``[0, H)``.
        center_x: Integer centre column in ``[0, W)``.
    """
    ratio = ops.sqrt(1.0 - ops.cast(lam, "float32"))
    cut_h = ops.cast(ops.floor(float(height) * ratio), "int32")
    cut_w = ops.cast(ops.floor(float(width) * ratio), "int32")
    center_y = ops.cast(center_y, "int32")
    center_x = ops.cast(center_x, "int32")
    top = ops.clip(center_y - cut_h // 2, 0, height)
    bottom = ops.clip(center_y + cut_h // 2, 0, height)
    left = ops.clip(center_x - cut_w // 2, 0, width)
    right = ops.clip(center_x + cut_w // 2, 0, width)
    return top, bottom, left, right


def box_mask(height: int, width: int, top, bottom, left, right):
    """float32 ``[1, H, W, 1]``: 1 on rows ``[top, bottom)`` x columns ``[left, right)``."""
    rows = ops.reshape(ops.arange(height, dtype="int32"), (1, height, 1, 1))
    cols = ops.reshape(ops.arange(width, dtype="int32"), (1, 1, width, 1))
    inside = ops.logical_and(ops.logical_and(rows >= top, rows < bottom),
                             ops.logical_and(cols >= left, cols < right))
    return ops.cast(inside, "float32")


def swap_box(x, mask):
    """``x`` with the masked positions taken from ``x[::-1]`` (batch reversed); ``x``: ``[B, H, W, C]``."""
    mask = ops.cast(mask, x.dtype)
    return x * (1.0 - mask) + ops.flip(x, axis=0) * mask


def mixed_lambda(mask):
    """``1 - box_area / (H * W)`` from a ``[1, H, W, 1]`` mask: the weight of each image's own class target."""
    return 1.0 - ops.mean(ops.cast(mask, "float32"))


@keras.saving.register_keras_serializable(package="tfzoo")
class MixToken(keras.layers.Layer):
    """Fills a random box of the token grid with the batch-reversed partner's tokens (training only).

    Input: patch embeddings ``[B, H, W, C]``. Outputs ``(tokens, mask)``: the
    (mixed) embeddings and the ``[1, H, W, 1]`` float32 box mask (zeros when
    nothing was mixed).

    Args:
        enabled: Mix in training. Off, the layer passes tokens through and
            returns a zero mask in every mode.
        beta: ``lam ~ Beta(beta, beta)`` (the official code fixes 1.0).
        seed: Optional seed of the layer's random generator.
    """

    def __init__(self, enabled: bool = False, beta: float = 1.0, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.enabled = bool(enabled)
        self.beta = float(beta)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=None):
        height, width = int(inputs.shape[1]), int(inputs.shape[2])
        if not (training and self.enabled):
            return inputs, ops.zeros((1, height, width, 1), dtype="float32")
        lam = keras.random.beta((), self.beta, self.beta, seed=self.seed_generator)
        center_y = keras.random.randint((), 0, height, seed=self.seed_generator)
        center_x = keras.random.randint((), 0, width, seed=self.seed_generator)
        mask = box_mask(height, width, *token_box(height, width, lam, center_y, center_x))
        return swap_box(inputs, mask), mask

    def compute_output_shape(self, input_shape):
        return input_shape, (1, input_shape[1], input_shape[2], 1)

    def compute_output_spec(self, inputs, training=None):
        mask = keras.KerasTensor((1, inputs.shape[1], inputs.shape[2], 1), dtype="float32")
        return keras.KerasTensor(inputs.shape, dtype=inputs.dtype), mask

    def get_config(self):
        config = super().get_config()
        config.update({"enabled": self.enabled, "beta": self.beta, "seed": self.seed})
        return config


@keras.saving.register_keras_serializable(package="tfzoo")
class UnmixTokens(keras.layers.Layer):
    """Swaps the MixToken box of per-token outputs back: inputs ``(tokens [B, N, C], mask [1, H, W, 1])``.

    ``N = H * W`` patch tokens in row-major order (no class token).
    """

    def call(self, inputs):
        tokens, mask = inputs
        height, width = int(mask.shape[1]), int(mask.shape[2])
        channels = tokens.shape[-1]
        grid = ops.reshape(tokens, (-1, height, width, channels))
        return ops.reshape(swap_box(grid, mask), (-1, height * width, channels))

    def compute_output_shape(self, input_shape):
        return input_shape[0]


@keras.saving.register_keras_serializable(package="tfzoo")
class MixedLambda(keras.layers.Layer):
    """``lam = 1 - box_area / (H * W)`` of a MixToken mask, broadcast to ``[B, 1]`` (batch taken from `like`)."""

    def call(self, inputs):
        like, mask = inputs
        lam = mixed_lambda(mask)
        return ops.ones((ops.shape(like)[0], 1), dtype="float32") * lam

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0], 1)
