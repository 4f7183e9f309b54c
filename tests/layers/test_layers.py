"""Shared layers checked against independent NumPy formulas."""

import keras
import numpy as np
import pytest

from tfzoo.layers import DropPath, conv2d, make_divisible, squeeze_excite


@pytest.mark.parametrize("value, expected", [(18, 24), (16, 16), (72 * 0.25, 24), (88.08, 88), (4, 8), (120, 120),
                                             (960 * 0.75, 720), (184, 184), (3.3, 8)])
def test_make_divisible(value, expected):
    assert make_divisible(value) == expected


def _numpy_conv(x, kernel, stride, pad):
    """Direct convolution with symmetric zero padding (PyTorch semantics), NHWC / HWIO."""
    x = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    k = kernel.shape[0]
    out_h = (x.shape[1] - k) // stride + 1
    out_w = (x.shape[2] - k) // stride + 1
    out = np.zeros((x.shape[0], out_h, out_w, kernel.shape[-1]), np.float64)
    for i in range(out_h):
        for j in range(out_w):
            patch = x[:, i * stride:i * stride + k, j * stride:j * stride + k, :]
            out[:, i, j, :] = np.tensordot(patch, kernel, axes=([1, 2, 3], [0, 1, 2]))
    return out


@pytest.mark.parametrize("size, kernel_size, stride", [(8, 3, 2), (9, 3, 2), (8, 5, 2), (7, 3, 1)])
def test_conv_padding_is_symmetric_like_pytorch(size, kernel_size, stride):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, size, size, 3)).astype("float32")
    inputs = keras.Input((size, size, 3))
    model = keras.Model(inputs, conv2d(inputs, 4, kernel_size, strides=stride, name="conv"))
    kernel = rng.normal(size=(kernel_size, kernel_size, 3, 4)).astype("float32")
    model.get_layer("conv").set_weights([kernel])
    expected = _numpy_conv(x, kernel, stride, kernel_size // 2)
    np.testing.assert_allclose(model(x).numpy(), expected, rtol=1e-4, atol=1e-4)


def test_drop_path_statistics_and_inference_identity():
    layer = DropPath(0.25, seed=3)
    x = np.ones((4000, 2, 2, 3), "float32")
    assert np.array_equal(layer(x, training=False).numpy(), x)
    y = layer(x, training=True).numpy()
    per_sample = y.reshape(4000, -1)
    # Each sample is either all zeros or all 1 / (1 - rate).
    values = np.unique(per_sample)
    assert np.all(np.isclose(values, 0.0) | np.isclose(values, 1 / 0.75, rtol=1e-6))
    assert np.all(per_sample.min(axis=1) == per_sample.max(axis=1))
    kept = (per_sample[:, 0] > 0).mean()
    assert abs(kept - 0.75) < 0.03
    assert abs(y.mean() - 1.0) < 0.05
    restored = DropPath.from_config(layer.get_config())
    assert restored.rate == 0.25 and restored.seed == 3
    with pytest.raises(ValueError):
        DropPath(1.0)


def test_squeeze_excite_matches_numpy():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 5, 5, 8)).astype("float32")
    inputs = keras.Input((5, 5, 8))
    model = keras.Model(inputs, squeeze_excite(inputs, 4, name="se", gate="hard_sigmoid"))
    w1, b1 = rng.normal(size=(1, 1, 8, 4)).astype("float32"), rng.normal(size=(4,)).astype("float32")
    w2, b2 = rng.normal(size=(1, 1, 4, 8)).astype("float32"), rng.normal(size=(8,)).astype("float32")
    model.get_layer("se_conv_reduce").set_weights([w1, b1])
    model.get_layer("se_conv_expand").set_weights([w2, b2])
    pooled = x.mean(axis=(1, 2))
    hidden = np.maximum(pooled @ w1[0, 0] + b1, 0)
    gate = np.clip((hidden @ w2[0, 0] + b2 + 3) / 6, 0, 1)
    np.testing.assert_allclose(model(x).numpy(), x * gate[:, None, None, :], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("size, kernel_size", [(7, 7), (1, 1), (9, 7), (3, 1)])
def test_whole_map_conv_equals_conv2d(size, kernel_size):
    """WholeMapConv2D gives Conv2D's output: by matrix product on a whole map, by convolution elsewhere."""
    from tfzoo.layers import WholeMapConv2D

    x = np.random.default_rng(0).normal(size=(3, size, size, 5)).astype("float32")
    conv = keras.layers.Conv2D(4, kernel_size, activation="relu")
    fast = WholeMapConv2D(4, kernel_size, activation="relu")
    expected = conv(x)
    fast.build(x.shape)
    fast.set_weights(conv.get_weights())
    got = fast(x)
    assert got.shape == expected.shape
    np.testing.assert_allclose(np.asarray(got), np.asarray(expected), rtol=1e-5, atol=1e-5)
    # Independent NumPy check of the whole-map case: one output per image, a dense layer.
    if size == kernel_size:
        kernel, bias = conv.get_weights()
        dense = np.maximum(x.reshape(3, -1) @ kernel.reshape(-1, 4) + bias, 0)
        np.testing.assert_allclose(np.asarray(got).reshape(3, 4), dense, rtol=1e-5, atol=1e-5)
    clone = WholeMapConv2D.from_config(fast.get_config())
    assert isinstance(clone, WholeMapConv2D) and clone.kernel_size == (kernel_size, kernel_size)
