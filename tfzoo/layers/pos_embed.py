"""Learned absolute position embedding that resamples itself to the input's patch grid.

ViT ("An Image is Worth 16x16 Words", Dosovitskiy et al. 2020, arXiv
2010.11929, section 3.2) fine-tunes at a higher resolution by 2-D
interpolating the pre-trained position embeddings over the patch grid. This
follows timm's ``resample_abs_pos_embed`` (``timm/layers/pos_embed.py``): the
``num_prefix_tokens`` leading embeddings (class / distillation token) are kept
as they are, the ``gh * gw`` patch embeddings are resized with PyTorch's
``F.interpolate(mode="bicubic", align_corners=False, antialias=...)``.

PyTorch has two bicubic kernels, and timm's default (``antialias=True``, both in
``checkpoint_filter_fn`` and in ``dynamic_img_size`` forwards) is the second:

- ``antialias=False``: Keys' cubic convolution with ``a = -0.75``, four taps
  at ``x = (i + 0.5) * in / out - 0.5``, indices clamped to the border.
- ``antialias=True``: the PIL-style separable filter, cubic with ``a = -0.5``,
  support widened by ``in / out`` when downsampling, taps outside the image
  dropped and the weights renormalized.

``keras.ops.image.resize(..., "bicubic")`` is TensorFlow's ``a = -0.5`` kernel
without the border renormalization, so it equals neither; here the weights
are a ``[out, in]`` matrix per axis, built in NumPy when the grids are static
(or with `keras.ops` when the input size is only known at run time) and
applied with one einsum, so gradients reach the stored embedding.
`resample_position_embedding` applies the same matrices in NumPy, for weight
conversion.

MoCo v3 (Chen et al. 2021, arXiv 2104.02057; facebookresearch/moco-v3
``vits.py`` ``build_2d_sincos_position_embedding``) replaces the learned
embedding by a fixed 2-D sin-cos table (`sincos_2d_position_embedding`): the
layer's ``embedding="sincos"`` stores that table as a non-trainable weight.
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

__all__ = ["AbsolutePositionEmbedding", "bicubic_matrix", "resample_position_embedding",
           "sincos_2d_position_embedding"]

EMBEDDINGS = ("learned", "sincos")


def _cubic(x, a):
    """Keys' cubic convolution kernel (zero for ``|x| >= 2``); works on NumPy arrays and keras tensors."""
    x = abs(x) if isinstance(x, np.ndarray) else ops.abs(x)
    near = ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0
    far = ((a * x - 5.0 * a) * x + 8.0 * a) * x - 4.0 * a
    where = np.where if isinstance(x, np.ndarray) else ops.where
    return where(x < 1.0, near, where(x < 2.0, far, 0.0 * x))


def bicubic_matrix(in_size: int, out_size: int, antialias: bool = True) -> np.ndarray:
    """PyTorch's 1-D bicubic resampling (``align_corners=False``) as an ``[out_size, in_size]`` float64 matrix.

    Args:
        in_size: Input length.
        out_size: Output length.
        antialias: PyTorch's ``antialias`` flag (see the module docstring).
    """
    scale = in_size / out_size
    out_index = np.arange(out_size, dtype=np.float64)[:, None]
    if antialias:
        support_scale = max(scale, 1.0)
        center = scale * (out_index + 0.5)
        taps = np.arange(in_size, dtype=np.float64)[None, :]
        weights = _cubic((taps + 0.5 - center) / support_scale, -0.5)
        total = weights.sum(axis=1, keepdims=True)
        return weights / np.where(total == 0.0, 1.0, total)
    source = scale * (out_index[:, 0] + 0.5) - 0.5
    start = np.floor(source)
    t = source - start
    matrix = np.zeros((out_size, in_size), dtype=np.float64)
    rows = np.arange(out_size)
    for offset in range(-1, 3):
        index = np.clip(start + offset, 0, in_size - 1).astype(np.int64)
        np.add.at(matrix, (rows, index), _cubic(t - offset, -0.75))
    return matrix


def _bicubic_matrix_ops(in_size: int, out_size, antialias: bool):
    """`bicubic_matrix` with keras.ops, for an output length known only at run time (float32)."""
    out_size_f = ops.cast(out_size, "float32")
    scale = float(in_size) / out_size_f
    out_index = ops.cast(ops.arange(out_size), "float32")[:, None]
    if antialias:
        support_scale = ops.maximum(scale, 1.0)
        taps = ops.cast(ops.arange(in_size), "float32")[None, :]
        weights = _cubic((taps + 0.5 - scale * (out_index + 0.5)) / support_scale, -0.5)
        total = ops.sum(weights, axis=1, keepdims=True)
        return weights / ops.where(ops.equal(total, 0.0), 1.0, total)
    source = scale * (out_index + 0.5) - 0.5
    start = ops.floor(source)
    t = source - start
    matrix = 0.0
    for offset in range(-1, 3):
        index = ops.cast(ops.clip(start[:, 0] + offset, 0, in_size - 1), "int32")
        matrix = matrix + ops.one_hot(index, in_size, dtype="float32") * _cubic(t - offset, -0.75)
    return matrix


def resample_position_embedding(pos_embed: np.ndarray, new_grid, old_grid=None, num_prefix_tokens: int = 1,
                                antialias: bool = True) -> np.ndarray:
    """Resamples a ``[1, prefix + gh * gw, C]`` embedding to another grid, in NumPy (timm's function).

    Args:
        pos_embed: The embedding, prefix tokens first, patches in row-major order.
        new_grid: ``(gh, gw)`` of the result.
        old_grid: ``(gh, gw)`` of `pos_embed`; default: the square grid its length implies.
        num_prefix_tokens: Leading embeddings copied unchanged.
        antialias: PyTorch's ``antialias`` flag (timm's default True).

    Returns:
        The ``[1, prefix + new_gh * new_gw, C]`` embedding, in `pos_embed`'s dtype.
    """
    pos_embed = np.asarray(pos_embed)
    prefix, patches = pos_embed[:, :num_prefix_tokens], pos_embed[:, num_prefix_tokens:]
    if old_grid is None:
        side = math.isqrt(patches.shape[1])
        if side * side != patches.shape[1]:
            raise ValueError(f"cannot infer a square grid from {patches.shape[1]} patch embeddings; pass old_grid")
        old_grid = (side, side)
    new_grid = tuple(int(s) for s in new_grid)
    old_grid = tuple(int(s) for s in old_grid)
    if new_grid == old_grid:
        return pos_embed
    grid = patches.reshape(old_grid[0], old_grid[1], -1).astype(np.float64)
    rows = bicubic_matrix(old_grid[0], new_grid[0], antialias)
    cols = bicubic_matrix(old_grid[1], new_grid[1], antialias)
    resized = np.einsum("ih,jw,hwc->ijc", rows, cols, grid).reshape(1, -1, grid.shape[-1])
    return np.concatenate([prefix, resized.astype(pos_embed.dtype)], axis=1)


def sincos_2d_position_embedding(grid_size, dim: int, num_prefix_tokens: int = 1,
                                 temperature: float = 10000.0) -> np.ndarray:
    """MoCo v3's fixed 2-D sin-cos position embedding, float32 ``[1, prefix + gh * gw, dim]``.

    With ``omega_d = temperature ** (-d / (dim / 4))`` for ``d < dim / 4``,
    patch ``m`` gets ``[sin(a_m omega), cos(a_m omega), sin(b_m omega),
    cos(b_m omega)]`` and the prefix tokens zeros. As in the reference, whose
    ``torch.meshgrid(arange(gw), arange(gh))`` is indexed ``ij``,
    ``a_m = m // gh`` and ``b_m = m % gh`` (for a square grid of row-major
    tokens: ``a`` is the row, ``b`` the column).

    Args:
        grid_size: ``(gh, gw)`` patch grid.
        dim: Embedding width, a multiple of 4.
        num_prefix_tokens: Leading zero embeddings (the class token).
        temperature: 10000.

    Raises:
        ValueError: `dim` not divisible by 4.
    """
    if dim % 4:
        raise ValueError(f"the 2-D sin-cos position embedding needs a width divisible by 4, got {dim}")
    grid_h, grid_w = (int(s) for s in grid_size)
    first, second = np.meshgrid(np.arange(grid_w, dtype=np.float64), np.arange(grid_h, dtype=np.float64),
                                indexing="ij")
    quarter = dim // 4
    omega = 1.0 / temperature ** (np.arange(quarter, dtype=np.float64) / quarter)
    out_first = first.reshape(-1, 1) * omega[None]
    out_second = second.reshape(-1, 1) * omega[None]
    table = np.concatenate([np.sin(out_first), np.cos(out_first), np.sin(out_second), np.cos(out_second)], axis=1)
    prefix = np.zeros((num_prefix_tokens, dim))
    return np.concatenate([prefix, table], axis=0)[None].astype(np.float32)


@keras.saving.register_keras_serializable(package="tfzoo")
class AbsolutePositionEmbedding(keras.layers.Layer):
    """Adds a learned ``[1, num_prefix_tokens + gh * gw, C]`` embedding (timm's ``pos_embed``) to the tokens.

    Called as ``layer(tokens)`` or ``layer(tokens, grid)``: `tokens` is
    ``[B, num_prefix_tokens + N, C]`` (prefix tokens first); `grid` is any
    ``[B, H, W, ...]`` tensor whose ``H // stride, W // stride`` is the patch
    grid of `tokens` (the patch map itself with ``stride=1``, or the image with
    ``stride=patch_size``). When that grid differs from `grid_size`, the patch
    embeddings are resampled bicubically (see the module docstring) and the
    prefix embeddings kept. Without `grid`, a different ``N`` must be a
    square number.

    The weight is stored in float32 and the resampling runs in float32; the
    result is cast to the tokens' dtype, so mixed precision adds like with like.

    Args:
        grid_size: ``(gh, gw)`` the stored embedding is laid out on.
        num_prefix_tokens: Class / distillation tokens in front of the patches.
        stride: Divisor from `grid`'s spatial size to the patch grid.
        antialias: PyTorch's bicubic ``antialias`` flag; True is timm's default.
        initializer_range: Std of the truncated-normal initialization (timm: 0.02).
        embedding: ``"learned"`` (timm) or ``"sincos"``: MoCo v3's fixed
            `sincos_2d_position_embedding`, a non-trainable weight.
    """

    def __init__(self, grid_size=(14, 14), num_prefix_tokens: int = 1, stride: int = 1, antialias: bool = True,
                 initializer_range: float = 0.02, embedding: str = "learned", **kwargs):
        kwargs.setdefault("autocast", False)
        super().__init__(**kwargs)
        self.grid_size = tuple(int(s) for s in grid_size)
        self.num_prefix_tokens = int(num_prefix_tokens)
        self.stride = int(stride)
        self.antialias = bool(antialias)
        self.initializer_range = float(initializer_range)
        if embedding not in EMBEDDINGS:
            raise ValueError(f"embedding must be one of {EMBEDDINGS}, got {embedding!r}")
        self.embedding = embedding

    def build(self, tokens_shape, grid_shape=None):
        fixed = self.embedding == "sincos"
        if fixed:
            table = sincos_2d_position_embedding(self.grid_size, tokens_shape[-1], self.num_prefix_tokens)
            initializer = keras.initializers.Constant(table)
        else:
            initializer = keras.initializers.TruncatedNormal(stddev=self.initializer_range)
        self.pos_embed = self.add_weight(
            name="pos_embed",
            shape=(1, self.num_prefix_tokens + self.grid_size[0] * self.grid_size[1], tokens_shape[-1]),
            initializer=initializer,
            dtype="float32",
            trainable=not fixed,
        )

    def _target_grid(self, tokens, grid):
        if grid is not None:
            shape = ops.shape(grid)
            return shape[1] // self.stride, shape[2] // self.stride
        num_patches = tokens.shape[1]
        if num_patches is None:
            raise ValueError("a token sequence of unknown length needs the `grid` input to resample to")
        num_patches -= self.num_prefix_tokens
        if num_patches == self.grid_size[0] * self.grid_size[1]:
            return self.grid_size
        side = math.isqrt(num_patches)
        if side * side != num_patches:
            raise ValueError(f"{num_patches} patch tokens do not form a square grid; pass the `grid` input")
        return side, side

    def resampled(self, grid_h, grid_w):
        """The float32 embedding laid out on a ``grid_h x grid_w`` grid (ints or scalar tensors)."""
        pos_embed = ops.convert_to_tensor(self.pos_embed)
        static = isinstance(grid_h, int) and isinstance(grid_w, int)
        if static and (grid_h, grid_w) == self.grid_size:
            return pos_embed
        prefix = pos_embed[:, :self.num_prefix_tokens]
        patches = ops.reshape(pos_embed[0, self.num_prefix_tokens:], (self.grid_size[0], self.grid_size[1], -1))
        if static:
            rows = ops.convert_to_tensor(bicubic_matrix(self.grid_size[0], grid_h, self.antialias), "float32")
            cols = ops.convert_to_tensor(bicubic_matrix(self.grid_size[1], grid_w, self.antialias), "float32")
        else:
            rows = _bicubic_matrix_ops(self.grid_size[0], grid_h, self.antialias)
            cols = _bicubic_matrix_ops(self.grid_size[1], grid_w, self.antialias)
        resized = ops.einsum("ih,jw,hwc->ijc", rows, cols, patches)
        resized = ops.reshape(resized, (1, -1, ops.shape(pos_embed)[-1]))
        return ops.concatenate([prefix, resized], axis=1)

    def call(self, tokens, grid=None):
        grid_h, grid_w = self._target_grid(tokens, grid)
        return tokens + ops.cast(self.resampled(grid_h, grid_w), tokens.dtype)

    def compute_output_shape(self, tokens_shape, grid_shape=None):
        return tokens_shape

    def get_config(self):
        config = super().get_config()
        config.update({"grid_size": list(self.grid_size), "num_prefix_tokens": self.num_prefix_tokens,
                       "stride": self.stride, "antialias": self.antialias,
                       "initializer_range": self.initializer_range})
        if self.embedding != "learned":  # configs of learned embeddings stay as they were
            config["embedding"] = self.embedding
        return config
