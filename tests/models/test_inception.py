"""Inception v3 specifics: count_include_pad average pooling, BN epsilon, input size limits.

Parameter count, forward pass, saving and numerical equality with timm's
``inception_v3`` are covered by test_all_models.py and test_reference_outputs.py.
"""

import keras
import numpy as np
import pytest

import tfzoo
from tfzoo.errors import UsageError
from tfzoo.layers.padded_pooling import avg_pool2d


def test_avg_pool_counts_the_padding():
    """F.avg_pool2d(x, 3, 1, 1) divides by 9 everywhere, borders included."""
    x = np.random.default_rng(0).random((1, 5, 5, 2)).astype("float32")
    inputs = keras.Input((5, 5, 2))
    model = keras.Model(inputs, avg_pool2d(inputs, 3, strides=1, padding=1, name="pool"))
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    expected = np.stack([np.stack([padded[:, i:i + 3, j:j + 3].sum(axis=(1, 2)) / 9 for j in range(5)], 1)
                         for i in range(5)], 1)
    np.testing.assert_allclose(model(x).numpy(), expected, rtol=1e-6)


@pytest.fixture(scope="module")
def smallest():
    return tfzoo.create_model("inception_v3", include_top=False, input_shape=(75, 75, 3))


def test_batch_norm_epsilon_is_the_reference_1e3(smallest):
    norms = [layer for layer in smallest.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert len(norms) == 94  # one per BasicConv2d
    assert {layer.epsilon for layer in norms} == {1e-3}


def test_smallest_input_is_75(smallest):
    assert smallest.output_shape == (None, 1, 1, 2048)
    with pytest.raises(UsageError, match="75"):
        tfzoo.create_model("inception_v3", input_shape=(74, 74, 3))


def test_feature_map_sizes_at_299():
    model = tfzoo.create_model("inception_v3", features_only=True)
    sides = {key: tensor.shape[1:] for key, tensor in model.output.items()}
    assert sides == {"stride_4": (71, 71, 192), "stride_8": (35, 35, 288), "stride_16": (17, 17, 768),
                     "stride_32": (8, 8, 2048)}


def test_feature_strides_from_two_input_sizes():
    """Unpadded stem convs make the sides no multiple of 1/stride (see test_all_models' 64 px check).

    Every layer's output side is floor(affine(input side)), so 32 more input
    pixels give exactly 32 / stride more at each feature level.
    """
    model = tfzoo.create_model("inception_v3", features_only=True, input_shape=(None, None, 3))
    small, large = ({key: value.shape[1] for key, value in model({"images": np.zeros((1, s, s, 3), "float32")}).items()}
                    for s in (96, 96 + 32))
    assert {key: large[key] - small[key] for key in small} == {f"stride_{s}": 32 // s for s in (4, 8, 16, 32)}
