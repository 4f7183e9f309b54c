"""Transformer layers against NumPy written in timm's (PyTorch) layouts, and against timm's stored outputs.

The NumPy references read the weights as timm stores them (``qkv.weight``
``[3C, C]`` split as ``(3, heads, head_dim)``, Linear ``[out, in]``), and the
Keras models receive them through `tfzoo.convert.load_timm_state_dict`, so a
wrong split of the fused projection, a transposed kernel or a wrong token
order all show. Tolerances: float32 summation order (1e-5).
"""

import json
import math
import pathlib

import keras
import numpy as np
import pytest

from tfzoo.convert import deterministic_state_dict, load_timm_state_dict
from tfzoo.layers import (AbsolutePositionEmbedding, FusedQKVAttention, PrefixTokens, TokensToMap, bicubic_matrix,
                          mixer_block, patch_embed, resample_position_embedding, transformer_block)

REFERENCE = pathlib.Path(__file__).resolve().parents[1] / "reference_data" / "pos_embed_resample.npz"
_erf = np.vectorize(math.erf)


def np_gelu(x):
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


def np_layer_norm(x, weight, bias, eps=1e-6):
    mean = x.mean(-1, keepdims=True)
    var = x.var(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


def np_linear(x, sd, module):
    return x @ sd[f"{module}.weight"].T + sd[f"{module}.bias"]


def np_attention(x, sd, module, num_heads):
    batch, length, dim = x.shape
    qkv = np_linear(x, sd, f"{module}.qkv").reshape(batch, length, 3, num_heads, dim // num_heads)
    q, k, v = qkv.transpose(2, 0, 3, 1, 4)
    logits = q @ k.transpose(0, 1, 3, 2) / math.sqrt(dim // num_heads)
    attn = np.exp(logits - logits.max(-1, keepdims=True))
    attn /= attn.sum(-1, keepdims=True)
    out = (attn @ v).transpose(0, 2, 1, 3).reshape(batch, length, dim)
    return np_linear(out, sd, f"{module}.proj")


def np_mlp(x, sd, module):
    return np_linear(np_gelu(np_linear(x, sd, f"{module}.fc1")), sd, f"{module}.fc2")


def np_block(x, sd, num_heads, skip_lam=1.0):
    x = x + np_attention(np_layer_norm(x, sd["blocks.0.norm1.weight"], sd["blocks.0.norm1.bias"]), sd,
                         "blocks.0.attn", num_heads) / skip_lam
    return x + np_mlp(np_layer_norm(x, sd["blocks.0.norm2.weight"], sd["blocks.0.norm2.bias"]), sd,
                      "blocks.0.mlp") / skip_lam


def block_state_dict(dim, hidden, prefix="blocks.0"):
    return deterministic_state_dict({
        f"{prefix}.norm1.weight": (dim,), f"{prefix}.norm1.bias": (dim,),
        f"{prefix}.attn.qkv.weight": (3 * dim, dim), f"{prefix}.attn.qkv.bias": (3 * dim,),
        f"{prefix}.attn.proj.weight": (dim, dim), f"{prefix}.attn.proj.bias": (dim,),
        f"{prefix}.norm2.weight": (dim,), f"{prefix}.norm2.bias": (dim,),
        f"{prefix}.mlp.fc1.weight": (hidden, dim), f"{prefix}.mlp.fc1.bias": (hidden,),
        f"{prefix}.mlp.fc2.weight": (dim, hidden), f"{prefix}.mlp.fc2.bias": (dim,),
    }, weight_scale=2.0)


@pytest.mark.parametrize("skip_lam", [1.0, 2.0])
def test_transformer_block_matches_numpy(skip_lam):
    dim, heads, length = 12, 3, 5
    inputs = keras.Input((length, dim))
    model = keras.Model(inputs, transformer_block(inputs, heads, mlp_ratio=2.0, skip_lam=skip_lam, name="blocks_0"))
    sd = block_state_dict(dim, 2 * dim)
    load_timm_state_dict(model, sd)
    x = np.random.default_rng(0).standard_normal((2, length, dim)).astype(np.float32)
    np.testing.assert_allclose(model(x).numpy(), np_block(x.astype(np.float64), sd, heads, skip_lam),
                               rtol=1e-5, atol=1e-5)


def test_gelu_is_exact():
    x = np.linspace(-4, 4, 41).astype(np.float32)
    y = keras.layers.Activation("gelu")(x).numpy()
    np.testing.assert_allclose(y, np_gelu(x.astype(np.float64)), rtol=1e-6, atol=1e-7)
    # The tanh approximation differs by up to ~5e-4 here, far above the tolerance.
    assert np.abs(keras.ops.gelu(x, approximate=True).numpy() - np_gelu(x)).max() > 1e-4


def test_fused_qkv_attention_heads_are_independent():
    """Changing one head's value slice changes only that head's output columns."""
    layer = FusedQKVAttention(num_heads=2)
    qkv = np.random.default_rng(1).standard_normal((1, 4, 3 * 2 * 3)).astype(np.float32)
    base = layer(qkv).numpy()
    changed = qkv.copy()
    changed[..., 2 * 6 + 3:] += 1.0  # v of head 1 (layout (3, heads, head_dim))
    out = layer(changed).numpy()
    np.testing.assert_allclose(out[..., :3], base[..., :3], rtol=1e-6)
    np.testing.assert_allclose(out[..., 3:], base[..., 3:] + 1.0, rtol=1e-5, atol=1e-5)


def test_mixer_block_matches_numpy():
    tokens, dim = 4, 6
    inputs = keras.Input((tokens, dim))
    model = keras.Model(inputs, mixer_block(inputs, tokens_hidden=3, channels_hidden=8, name="blocks_0"))
    sd = deterministic_state_dict({
        "blocks.0.norm1.weight": (dim,), "blocks.0.norm1.bias": (dim,),
        "blocks.0.mlp_tokens.fc1.weight": (3, tokens), "blocks.0.mlp_tokens.fc1.bias": (3,),
        "blocks.0.mlp_tokens.fc2.weight": (tokens, 3), "blocks.0.mlp_tokens.fc2.bias": (tokens,),
        "blocks.0.norm2.weight": (dim,), "blocks.0.norm2.bias": (dim,),
        "blocks.0.mlp_channels.fc1.weight": (8, dim), "blocks.0.mlp_channels.fc1.bias": (8,),
        "blocks.0.mlp_channels.fc2.weight": (dim, 8), "blocks.0.mlp_channels.fc2.bias": (dim,),
    }, weight_scale=2.0)
    load_timm_state_dict(model, sd)
    inputs = np.random.default_rng(2).standard_normal((2, tokens, dim))
    y = np_layer_norm(inputs, sd["blocks.0.norm1.weight"], sd["blocks.0.norm1.bias"]).transpose(0, 2, 1)
    x = inputs + np_mlp(y, sd, "blocks.0.mlp_tokens").transpose(0, 2, 1)
    x = x + np_mlp(np_layer_norm(x, sd["blocks.0.norm2.weight"], sd["blocks.0.norm2.bias"]), sd,
                   "blocks.0.mlp_channels")
    np.testing.assert_allclose(model(inputs.astype(np.float32)).numpy(), x, rtol=1e-5, atol=1e-5)


def tiny_vit(input_shape=(8, 12, 3), distilled=False, grid=(2, 3)):
    """Patch embed (4 px) -> prefix tokens -> position embedding; layer names as timm's modules."""
    images = keras.Input(input_shape)
    patches = patch_embed(images, 4, 6, flatten=False)
    tokens = PrefixTokens(distilled=distilled, name="prefix_tokens")(patches)
    tokens = AbsolutePositionEmbedding(grid, num_prefix_tokens=2 if distilled else 1, name="pos_embed")(
        tokens, patches)
    return keras.Model(images, tokens)


def tiny_vit_state_dict(distilled=False, grid=(2, 3)):
    shapes = {"cls_token": (1, 1, 6), "pos_embed": (1, (2 if distilled else 1) + grid[0] * grid[1], 6),
              "patch_embed.proj.weight": (6, 3, 4, 4), "patch_embed.proj.bias": (6,)}
    if distilled:
        shapes["dist_token"] = (1, 1, 6)
    return deterministic_state_dict(shapes)


@pytest.mark.parametrize("distilled", [False, True])
def test_patch_embed_tokens_and_position_match_numpy(distilled):
    model = tiny_vit(distilled=distilled)
    sd = tiny_vit_state_dict(distilled)
    load_timm_state_dict(model, sd)
    x = np.random.default_rng(3).standard_normal((2, 8, 12, 3))
    # timm: conv (kernel = stride = 4) in NCHW, flatten(2).transpose(1, 2), cat (cls, dist, patches), + pos_embed.
    w = sd["patch_embed.proj.weight"]
    patches = x.reshape(2, 2, 4, 3, 4, 3).transpose(0, 1, 3, 5, 2, 4).reshape(2, 6, 3 * 4 * 4)
    patches = patches @ w.reshape(6, -1).T + sd["patch_embed.proj.bias"]
    prefix = [sd["cls_token"]] + ([sd["dist_token"]] if distilled else [])
    expected = np.concatenate([np.broadcast_to(t, (2, 1, 6)) for t in prefix] + [patches], 1) + sd["pos_embed"]
    np.testing.assert_allclose(model(x.astype(np.float32)).numpy(), expected, rtol=1e-5, atol=1e-5)


def _reference_cases():
    with np.load(REFERENCE, allow_pickle=False) as data:
        arrays = {key: data[key] for key in data.files}
    cases = json.loads(str(arrays["cases"]))["cases"]
    return [(tuple(old), tuple(new), prefix, aa, arrays[f"in_{i}"], arrays[f"out_{i}"])
            for i, (old, new, prefix, aa) in enumerate(cases)]


CASES = _reference_cases()


@pytest.mark.parametrize("case", CASES, ids=[f"{c[0]}->{c[1]}-prefix{c[2]}-aa{int(c[3])}" for c in CASES])
def test_resampling_matches_timm(case):
    """NumPy, the layer at a static grid and the layer at a run-time grid all equal timm's resample_abs_pos_embed."""
    old, new, prefix, antialias, pos_embed, expected = case
    np.testing.assert_allclose(resample_position_embedding(pos_embed, new, old, prefix, antialias), expected,
                               rtol=0, atol=5e-6)
    layer = AbsolutePositionEmbedding(old, num_prefix_tokens=prefix, antialias=antialias)
    tokens = np.zeros((1, prefix + new[0] * new[1], 5), np.float32)
    layer.build(tokens.shape)
    layer.pos_embed.assign(pos_embed)
    grid = np.zeros((1, new[0], new[1], 1), np.float32)
    np.testing.assert_allclose(layer(tokens, grid).numpy(), expected, rtol=0, atol=5e-6)
    # Unknown grid at trace time: the ops-built matrices.
    token_input, grid_input = keras.Input((None, 5)), keras.Input((None, None, 1))
    dynamic = keras.Model([token_input, grid_input], layer(token_input, grid_input))
    np.testing.assert_allclose(dynamic([tokens, grid]).numpy(), expected, rtol=0, atol=5e-6)


def test_keras_bicubic_is_not_pytorch_bicubic():
    """Why the layer builds its own matrices: keras' bicubic differs from PyTorch's by far more than 1e-5."""
    old, new, prefix, antialias, pos_embed, expected = next(c for c in CASES if c[:4] == ((4, 4), (6, 6), 1, False))
    grid = pos_embed[:, prefix:].reshape(1, 4, 4, -1)
    resized = keras.ops.image.resize(grid, (6, 6), interpolation="bicubic", antialias=False).numpy()
    assert np.abs(resized.reshape(1, 36, -1) - expected[:, prefix:]).max() > 1e-2


def test_bicubic_rows_sum_to_one_and_identity_at_same_size():
    for antialias in (False, True):
        np.testing.assert_allclose(bicubic_matrix(7, 7, antialias), np.eye(7), atol=1e-12)
        for out in (3, 5, 11):
            np.testing.assert_allclose(bicubic_matrix(7, out, antialias).sum(1), 1.0, rtol=1e-12)


def test_converter_resamples_position_embedding():
    """A state dict recorded on a 4x4 grid loads into a model built on a 6x6 grid (timm's resample, in NumPy)."""
    old, new, prefix, antialias, pos_embed, expected = next(c for c in CASES if c[:4] == ((4, 4), (6, 6), 1, True))
    images = keras.Input((24, 24, 3))
    patches = patch_embed(images, 4, 5, flatten=False)
    tokens = PrefixTokens(name="prefix_tokens")(patches)
    tokens = AbsolutePositionEmbedding((6, 6), name="pos_embed")(tokens, patches)
    model = keras.Model(images, tokens)
    sd = deterministic_state_dict({"cls_token": (1, 1, 5), "patch_embed.proj.weight": (5, 3, 4, 4),
                                   "patch_embed.proj.bias": (5,)})
    sd["pos_embed"] = pos_embed
    load_timm_state_dict(model, sd)
    np.testing.assert_allclose(model.get_layer("pos_embed").pos_embed.numpy(), expected, rtol=0, atol=5e-6)


def test_model_at_another_size_resamples_at_run_time():
    """A 2x3-grid model run at a 4x6 grid: the layer resamples and keeps the class-token embedding."""
    source = tiny_vit()
    load_timm_state_dict(source, tiny_vit_state_dict())
    bigger = tiny_vit(input_shape=(16, 24, 3))
    bigger.set_weights(source.get_weights())
    zeros = np.zeros((1, 16, 24, 3), np.float32)
    out = bigger(zeros).numpy()  # zero images: tokens = conv bias (+ class token) + position embedding
    layer = source.get_layer("pos_embed")
    expected = resample_position_embedding(layer.pos_embed.numpy(), (4, 6), (2, 3), 1)
    bias = source.get_layer("patch_embed_proj").bias.numpy()
    np.testing.assert_allclose(out[:, 1:] - bias, expected[:, 1:], rtol=0, atol=1e-5)
    np.testing.assert_allclose(out[0, 0], expected[0, 0] + source.get_layer("prefix_tokens").cls_token.numpy()[0, 0],
                               rtol=0, atol=1e-6)


def test_tokens_to_map():
    tokens = np.arange(2 * 8 * 3, dtype=np.float32).reshape(2, 8, 3)
    out = TokensToMap(num_prefix_tokens=2)(tokens[:, :6]).numpy()  # 4 patch tokens -> 2x2
    np.testing.assert_array_equal(out, tokens[:, 2:6].reshape(2, 2, 2, 3))
    images = np.zeros((2, 8, 24, 3), np.float32)  # patch 4 -> a 2x6 grid of 12 tokens
    tokens = np.arange(2 * 13 * 3, dtype=np.float32).reshape(2, 13, 3)
    out = TokensToMap(num_prefix_tokens=1, stride=4)(tokens, images).numpy()
    np.testing.assert_array_equal(out, tokens[:, 1:].reshape(2, 2, 6, 3))


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_tokens_and_position_under_mixed_precision(policy):
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        model = tiny_vit(distilled=True)
        inputs = model.input
        x = transformer_block(model.output, 2, name="blocks_0")
        model = keras.Model(inputs, x)
        out = model(np.random.default_rng(4).standard_normal((2, 8, 12, 3)).astype(np.float32))
        assert keras.backend.standardize_dtype(out.dtype) == policy.split("_")[1]
        assert np.all(np.isfinite(keras.ops.convert_to_numpy(keras.ops.cast(out, "float32"))))
        for layer in ("prefix_tokens", "pos_embed"):
            assert all(w.dtype == "float32" for w in model.get_layer(layer).weights)
    finally:
        keras.config.set_dtype_policy(previous)


def test_serialization_round_trip(tmp_path):
    images = keras.Input((8, 12, 3))
    patches = patch_embed(images, 4, 6, flatten=False)
    tokens = PrefixTokens(distilled=True, name="prefix_tokens")(patches)
    tokens = AbsolutePositionEmbedding((1, 1), num_prefix_tokens=2, name="pos_embed")(tokens, patches)
    tokens = transformer_block(tokens, 2, init_values=0.1, skip_lam=2.0, drop_path=0.1, name="blocks_0")
    tokens = mixer_block(tokens, tokens_hidden=4, channels_hidden=8, name="blocks_1")
    out = TokensToMap(num_prefix_tokens=2, stride=4)(tokens, images)
    model = keras.Model(images, out)
    x = np.random.default_rng(5).standard_normal((2, 8, 12, 3)).astype(np.float32)
    y = model(x).numpy()
    clone = keras.Model.from_config(model.get_config())
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(clone(x).numpy(), y, rtol=1e-6, atol=1e-6)
    path = str(tmp_path / "tiny.keras")
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(loaded(x).numpy(), y, rtol=1e-6, atol=1e-6)
