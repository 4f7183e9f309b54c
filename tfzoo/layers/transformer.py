"""Vision-transformer building blocks shared by ViT, DeiT, MLP-Mixer, LV-ViT and MoCo v3.

Papers: "An Image is Worth 16x16 Words: Transformers for Image Recognition at
Scale" (Dosovitskiy et al. 2020, arXiv 2010.11929); "Training data-efficient
image transformers & distillation through attention" (Touvron et al. 2020,
arXiv 2012.12877); "MLP-Mixer: An all-MLP Architecture for Vision" (Tolstikhin
et al. 2021, arXiv 2105.01601). Reference implementation: timm
(``timm/layers/patch_embed.py``, ``timm/layers/mlp.py``,
``timm/models/vision_transformer.py`` ``Attention`` / ``Block``,
``timm/models/mlp_mixer.py`` ``MixerBlock``).

Blocks are composed functionally from Keras layers named after timm's module
paths with ``_`` for ``.`` (``blocks.3.attn.qkv`` -> ``blocks_3_attn_qkv``,
``blocks.3.mlp.fc1`` -> ``blocks_3_mlp_fc1``), so every weight sits in a plain
Dense / Conv2D / LayerNormalization that `tfzoo.convert.load_timm_state_dict`
maps by name, and the model summary shows every projection. The layers that
hold other weights (`PrefixTokens`: ``cls_token`` / ``dist_token``;
`AbsolutePositionEmbedding`: ``pos_embed``; `LayerScale`: ``gamma``) carry
timm's parameter names.

Numerics follow timm: LayerNorm epsilon 1e-6, exact (erf) GELU, attention
``softmax(q k^T / sqrt(d)) v`` with one fused ``qkv`` projection whose output
splits as ``(3, heads, head_dim)``, pre-norm residuals with DropPath.
"""

from __future__ import annotations

from typing import Callable

import keras
from keras import ops

from tfzoo.layers.drop_path import DropPath
from tfzoo.layers.nf_layers import ScaleByConstant

__all__ = ["FusedQKVAttention", "LayerScale", "PrefixTokens", "SelectToken", "mixer_block", "mlp",
           "multi_head_self_attention", "patch_embed", "transformer_block", "trunc_normal_init"]

LAYER_NORM_EPSILON = 1e-6


def trunc_normal_init(stddev: float = 0.02) -> keras.initializers.Initializer:
    """timm's ``trunc_normal_(std=.02)`` for transformer linear layers (a fresh instance per layer)."""
    return keras.initializers.TruncatedNormal(stddev=stddev)


def _layer_norm(name: str, epsilon: float = LAYER_NORM_EPSILON) -> keras.layers.LayerNormalization:
    return keras.layers.LayerNormalization(epsilon=epsilon, name=name)


def patch_embed(x, patch_size: int, embed_dim: int, *, flatten: bool = True, use_bias: bool = True,
                kernel_initializer: Callable | None = None, trainable: bool = True, name: str = "patch_embed"):
    """timm's ``PatchEmbed``: a ``patch_size`` conv with stride ``patch_size`` (``<name>_proj``).

    Args:
        x: Images ``[B, H, W, C]``.
        patch_size: Side of the square, non-overlapping patches.
        embed_dim: Output channels.
        flatten: Return tokens ``[B, gh * gw, embed_dim]`` (row-major, as timm);
            False returns the ``[B, gh, gw, embed_dim]`` map.
        use_bias: Conv bias (timm: True).
        kernel_initializer: Zero-argument factory of the conv initializer
            (default: Keras' glorot uniform).
        trainable: False freezes the projection (MoCo v3's ``stop_grad_conv1``:
            a fixed random patch projection).
        name: timm's module path (``patch_embed``; Mixer: ``stem``).
    """
    x = keras.layers.Conv2D(embed_dim, patch_size, strides=patch_size, padding="valid", use_bias=use_bias,
                            kernel_initializer=kernel_initializer() if kernel_initializer else "glorot_uniform",
                            trainable=trainable, name=f"{name}_proj")(x)
    if flatten:
        x = keras.layers.Reshape((-1, embed_dim), name=f"{name}_flatten")(x)
    return x


@keras.saving.register_keras_serializable(package="tfzoo")
class PrefixTokens(keras.layers.Layer):
    """Prepends the learned class token (and the DeiT distillation token) to the patch tokens.

    Input: tokens ``[B, N, C]`` or a patch map ``[B, H, W, C]`` (flattened row
    by row first). Output: ``[B, 1 + N, C]``, or ``[B, 2 + N, C]`` with
    ``distilled=True`` (class token, then distillation token, as timm's
    ``VisionTransformerDistilled``). The weights are timm's ``cls_token`` and
    ``dist_token`` (``[1, 1, C]``), stored in float32 and cast to the tokens'
    dtype, so the concatenation works under mixed precision.

    Args:
        distilled: Also hold a distillation token.
        cls_init_std: Std of the class token's normal init (timm ViT: 1e-6).
        dist_init_std: Std of the distillation token's truncated-normal init (timm DeiT: 0.02).
    """

    def __init__(self, distilled: bool = False, cls_init_std: float = 1e-6, dist_init_std: float = 0.02, **kwargs):
        kwargs.setdefault("autocast", False)
        super().__init__(**kwargs)
        self.distilled = bool(distilled)
        self.cls_init_std = float(cls_init_std)
        self.dist_init_std = float(dist_init_std)

    @property
    def num_tokens(self) -> int:
        return 2 if self.distilled else 1

    def build(self, input_shape):
        channels = input_shape[-1]
        self.cls_token = self.add_weight(name="cls_token", shape=(1, 1, channels), dtype="float32",
                                         initializer=keras.initializers.RandomNormal(stddev=self.cls_init_std))
        if self.distilled:
            self.dist_token = self.add_weight(
                name="dist_token", shape=(1, 1, channels), dtype="float32",
                initializer=keras.initializers.TruncatedNormal(stddev=self.dist_init_std))

    def call(self, inputs):
        if len(inputs.shape) == 4:
            inputs = ops.reshape(inputs, (ops.shape(inputs)[0], -1, inputs.shape[-1]))
        tokens = [self.cls_token] + ([self.dist_token] if self.distilled else [])
        batch = ops.shape(inputs)[0]
        tokens = [ops.broadcast_to(ops.cast(t, inputs.dtype), (batch, 1, inputs.shape[-1])) for t in tokens]
        return ops.concatenate(tokens + [inputs], axis=1)

    def compute_output_shape(self, input_shape):
        if len(input_shape) == 4:
            length = None if None in input_shape[1:3] else input_shape[1] * input_shape[2]
        else:
            length = input_shape[1]
        return (input_shape[0], None if length is None else length + self.num_tokens, input_shape[-1])

    def get_config(self):
        config = super().get_config()
        config.update({"distilled": self.distilled, "cls_init_std": self.cls_init_std,
                       "dist_init_std": self.dist_init_std})
        return config


@keras.saving.register_keras_serializable(package="tfzoo")
class SelectToken(keras.layers.Layer):
    """Token ``index`` of ``[B, N, C]`` tokens, ``[B, C]`` (DeiT: 0 is the class token, 1 the distillation token).

    Args:
        index: Position of the token.
    """

    def __init__(self, index: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.index = int(index)

    def call(self, tokens):
        return tokens[:, self.index]

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1])

    def get_config(self):
        config = super().get_config()
        config.update({"index": self.index})
        return config


@keras.saving.register_keras_serializable(package="tfzoo")
class LayerScale(keras.layers.Layer):
    """Per-channel learned scale ``gamma * x`` (CaiT / DeiT III; timm ``LayerScale``, weight ``gamma``).

    Args:
        init_values: Initial value of every ``gamma`` entry.
    """

    def __init__(self, init_values: float = 1e-5, **kwargs):
        super().__init__(**kwargs)
        self.init_values = float(init_values)

    def build(self, input_shape):
        self.gamma = self.add_weight(name="gamma", shape=(input_shape[-1],),
                                     initializer=keras.initializers.Constant(self.init_values))

    def call(self, inputs):
        return inputs * self.gamma

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"init_values": self.init_values})
        return config


@keras.saving.register_keras_serializable(package="tfzoo")
class FusedQKVAttention(keras.layers.Layer):
    """Multi-head scaled dot-product self-attention on a fused ``qkv`` projection (no weights).

    Input ``[B, N, 3 * heads * head_dim]`` laid out as timm's ``qkv`` Linear
    output, i.e. reshaped to ``(3, heads, head_dim)``; output
    ``[B, N, heads * head_dim]`` (heads concatenated) =
    ``softmax(q k^T / sqrt(head_dim)) v`` per head. The softmax runs in float32
    under mixed precision.

    The explicit matmul form is used because it measured faster than
    ``keras.ops.dot_product_attention`` on the same fused input
    (``scripts/bench_attention.py``, TensorFlow CPU, graph mode, 2 shared
    cores): 35.5 vs 64.6 ms at ``[16, 197, 6 heads x 64]`` (ViT-S), 71.1 vs
    132.7 ms at 12 heads (ViT-B), 3.0 vs 3.6 ms at ``[64, 17, 3 x 64]``; the
    outputs were identical. Under XLA the two were within 25% either way.

    Args:
        num_heads: Attention heads.
        attn_drop: Dropout on the attention probabilities (timm ``attn_drop``).
        seed: Seed of the attention dropout.
    """

    def __init__(self, num_heads: int, attn_drop: float = 0.0, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.num_heads = int(num_heads)
        self.attn_drop = float(attn_drop)
        self.seed = seed
        self.dropout = keras.layers.Dropout(self.attn_drop, seed=seed) if self.attn_drop > 0 else None

    def _split_heads(self, qkv):
        """``[B, N, 3 * heads * head_dim]`` -> q, k, v, each ``[B, heads, N, head_dim]``."""
        batch, length = ops.shape(qkv)[0], ops.shape(qkv)[1]
        head_dim = qkv.shape[-1] // (3 * self.num_heads)
        qkv = ops.reshape(qkv, (batch, length, 3, self.num_heads, head_dim))
        qkv = ops.transpose(qkv, (2, 0, 3, 1, 4))  # [3, B, heads, N, head_dim]
        return qkv[0], qkv[1], qkv[2]

    def attention_probabilities(self, qkv):
        """The attention weights ``softmax(q k^T / sqrt(head_dim))``, float32 ``[B, heads, N, N]``.

        What `call` applies to the values (before attention dropout); for
        inspection (`tfzoo.visualize.attention_rollout`), from this layer's
        input. The layer itself holds no weights, so reading the attention
        this way leaves the model, its outputs and its weights as they are.
        """
        q, k, _ = self._split_heads(qkv)
        q = q * ops.cast(q.shape[-1] ** -0.5, q.dtype)
        logits = ops.matmul(q, ops.transpose(k, (0, 1, 3, 2)))
        return ops.softmax(ops.cast(logits, "float32"), axis=-1)

    def call(self, qkv, training=None):
        batch, length = ops.shape(qkv)[0], ops.shape(qkv)[1]
        head_dim = qkv.shape[-1] // (3 * self.num_heads)
        v = self._split_heads(qkv)[2]
        attn = ops.cast(self.attention_probabilities(qkv), v.dtype)
        if self.dropout is not None:
            attn = self.dropout(attn, training=training)
        out = ops.transpose(ops.matmul(attn, v), (0, 2, 1, 3))  # [B, N, heads, head_dim]
        return ops.reshape(out, (batch, length, self.num_heads * head_dim))

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], input_shape[-1] // 3)

    def get_config(self):
        config = super().get_config()
        config.update({"num_heads": self.num_heads, "attn_drop": self.attn_drop, "seed": self.seed})
        return config


def _dense(units: int, name: str, *, use_bias: bool = True, kernel_initializer: Callable | None = None):
    init = (kernel_initializer or trunc_normal_init)()
    return keras.layers.Dense(units, use_bias=use_bias, kernel_initializer=init, name=name)


def _dropout(x, rate: float, name: str):
    return keras.layers.Dropout(rate, name=name)(x) if rate > 0 else x


def multi_head_self_attention(x, num_heads: int, *, head_dim: int | None = None, qkv_bias: bool = True,
                              attn_drop: float = 0.0, proj_drop: float = 0.0,
                              kernel_initializer: Callable | None = None, name: str = "attn"):
    """timm's ``Attention``: Dense ``<name>_qkv`` -> `FusedQKVAttention` ``<name>`` -> Dense ``<name>_proj``.

    Args:
        x: Tokens ``[B, N, C]``.
        num_heads: Attention heads.
        head_dim: Per-head width (default ``C // num_heads``; LV-ViT may set it).
        qkv_bias: Bias on the ``qkv`` projection.
        attn_drop: Dropout on the attention probabilities.
        proj_drop: Dropout after ``proj``.
        kernel_initializer: Zero-argument factory of the Dense initializers (default trunc-normal 0.02).
        name: timm's module path, e.g. ``blocks_0_attn``.
    """
    dim = x.shape[-1]
    head_dim = head_dim or dim // num_heads
    qkv = _dense(3 * num_heads * head_dim, f"{name}_qkv", use_bias=qkv_bias, kernel_initializer=kernel_initializer)(x)
    x = FusedQKVAttention(num_heads, attn_drop=attn_drop, name=name)(qkv)
    x = _dense(dim, f"{name}_proj", kernel_initializer=kernel_initializer)(x)
    return _dropout(x, proj_drop, f"{name}_proj_drop")


def mlp(x, hidden_features: int, out_features: int | None = None, *, drop: float = 0.0,
        kernel_initializer: Callable | None = None, name: str = "mlp"):
    """timm's ``Mlp``: Dense ``<name>_fc1`` -> exact GELU -> dropout -> Dense ``<name>_fc2`` -> dropout.

    Works on the last axis of any ``[..., C]`` tensor (Mixer's token MLP runs it on ``[B, C, N]``).
    """
    out_features = out_features or x.shape[-1]
    x = _dense(hidden_features, f"{name}_fc1", kernel_initializer=kernel_initializer)(x)
    # keras.activations.gelu defaults to approximate=False (erf), which is timm's nn.GELU.
    x = keras.layers.Activation("gelu", name=f"{name}_act")(x)
    x = _dropout(x, drop, f"{name}_drop1")
    x = _dense(out_features, f"{name}_fc2", kernel_initializer=kernel_initializer)(x)
    return _dropout(x, drop, f"{name}_drop2")


def _residual(shortcut, branch, *, drop_path: float, init_values: float | None, skip_lam: float, name: str,
              index: int):
    """``shortcut + drop_path(layer_scale(branch)) / skip_lam`` with timm's names (``ls1``, ``drop_path1``)."""
    if init_values is not None:
        branch = LayerScale(init_values, name=f"{name}_ls{index}")(branch)
    if drop_path > 0:
        branch = DropPath(drop_path, name=f"{name}_drop_path{index}")(branch)
    if skip_lam != 1.0:
        branch = ScaleByConstant(1.0 / skip_lam, name=f"{name}_skip_lam{index}")(branch)
    return keras.layers.Add(name=f"{name}_add{index}")([shortcut, branch])


def transformer_block(x, num_heads: int, *, mlp_ratio: float = 4.0, mlp_hidden: int | None = None,
                      head_dim: int | None = None, qkv_bias: bool = True, drop_path: float = 0.0,
                      attn_drop: float = 0.0, proj_drop: float = 0.0, init_values: float | None = None,
                      skip_lam: float = 1.0, norm_epsilon: float = LAYER_NORM_EPSILON,
                      kernel_initializer: Callable | None = None, name: str = "blocks_0"):
    """Pre-norm transformer block (timm ``Block``)::

        x = x + drop_path(ls1(attn(norm1(x)))) / skip_lam
        x = x + drop_path(ls2(mlp(norm2(x)))) / skip_lam

    Args:
        x: Tokens ``[B, N, C]``.
        num_heads: Attention heads.
        mlp_ratio: MLP hidden width over ``C`` (ignored when `mlp_hidden` is given).
        mlp_hidden: Explicit MLP hidden width.
        head_dim: Per-head width (default ``C // num_heads``).
        qkv_bias: Bias on ``qkv``.
        drop_path: Stochastic-depth rate of both residual branches.
        attn_drop: Attention-probability dropout.
        proj_drop: Dropout after ``attn.proj`` and in the MLP.
        init_values: LayerScale init (None: no LayerScale, as ViT / DeiT).
        skip_lam: Residual-branch divisor (LV-ViT; 1 for ViT).
        norm_epsilon: LayerNorm epsilon.
        kernel_initializer: Zero-argument factory of the Dense initializers.
        name: timm's module path, ``blocks_<i>``.
    """
    dim = x.shape[-1]
    y = _layer_norm(f"{name}_norm1", norm_epsilon)(x)
    y = multi_head_self_attention(y, num_heads, head_dim=head_dim, qkv_bias=qkv_bias, attn_drop=attn_drop,
                                  proj_drop=proj_drop, kernel_initializer=kernel_initializer, name=f"{name}_attn")
    x = _residual(x, y, drop_path=drop_path, init_values=init_values, skip_lam=skip_lam, name=name, index=1)
    y = _layer_norm(f"{name}_norm2", norm_epsilon)(x)
    y = mlp(y, mlp_hidden or int(dim * mlp_ratio), drop=proj_drop, kernel_initializer=kernel_initializer,
            name=f"{name}_mlp")
    return _residual(x, y, drop_path=drop_path, init_values=init_values, skip_lam=skip_lam, name=name, index=2)


def mixer_block(x, *, tokens_hidden: int, channels_hidden: int, drop_path: float = 0.0, drop: float = 0.0,
                norm_epsilon: float = LAYER_NORM_EPSILON, kernel_initializer: Callable | None = None,
                name: str = "blocks_0"):
    """timm's ``MixerBlock``: a token-mixing MLP across patches, then a channel MLP::

        x = x + drop_path(mlp_tokens(norm1(x)^T)^T)
        x = x + drop_path(mlp_channels(norm2(x)))

    Args:
        x: Tokens ``[B, N, C]`` with a static ``N`` (the token MLP's width).
        tokens_hidden: Hidden width of the token MLP (timm: ``0.5 * C``).
        channels_hidden: Hidden width of the channel MLP (timm: ``4 * C``).
        drop_path: Stochastic-depth rate.
        drop: Dropout inside both MLPs.
        norm_epsilon: LayerNorm epsilon.
        kernel_initializer: Zero-argument factory of the Dense initializers.
        name: timm's module path, ``blocks_<i>``.
    """
    if x.shape[1] is None:
        raise ValueError("MLP-Mixer's token MLP needs a fixed number of patches; build it with a fixed input size")
    y = _layer_norm(f"{name}_norm1", norm_epsilon)(x)
    y = keras.layers.Permute((2, 1), name=f"{name}_to_channels_first")(y)
    y = mlp(y, tokens_hidden, drop=drop, kernel_initializer=kernel_initializer, name=f"{name}_mlp_tokens")
    y = keras.layers.Permute((2, 1), name=f"{name}_to_tokens_first")(y)
    x = _residual(x, y, drop_path=drop_path, init_values=None, skip_lam=1.0, name=name, index=1)
    y = _layer_norm(f"{name}_norm2", norm_epsilon)(x)
    y = mlp(y, channels_hidden, drop=drop, kernel_initializer=kernel_initializer, name=f"{name}_mlp_channels")
    return _residual(x, y, drop_path=drop_path, init_values=None, skip_lam=1.0, name=name, index=2)
