"""Xception specifics: PyTorch max-pool padding, the block sequences and the feature map sizes.

Parameter count, forward pass, saving and numerical equality with timm's
``legacy_xception`` are covered by test_all_models.py and
test_reference_outputs.py.
"""

import keras
import numpy as np
import pytest

import tfzoo
from tfzoo.layers.padded_pooling import max_pool2d
from tfzoo.models.xception import BLOCKS, _rep_layers


def torch_max_pool(x: np.ndarray, pool_size: int, strides: int, padding: int) -> np.ndarray:
    """nn.MaxPool2d in NumPy on NHWC input: -inf padding, floor mode."""
    padded = np.pad(x, ((0, 0), (padding, padding), (padding, padding), (0, 0)), constant_values=-np.inf)
    out = (padded.shape[1] - pool_size) // strides + 1, (padded.shape[2] - pool_size) // strides + 1
    y = np.empty((x.shape[0], *out, x.shape[3]), x.dtype)
    for i in range(out[0]):
        for j in range(out[1]):
            window = padded[:, i * strides:i * strides + pool_size, j * strides:j * strides + pool_size]
            y[:, i, j] = window.max(axis=(1, 2))
    return y


@pytest.mark.parametrize("size", [7, 8])  # odd and even sides: Keras "same" differs from PyTorch on even ones
@pytest.mark.parametrize("strides", [1, 2])
def test_max_pool_pads_with_minus_infinity(size, strides):
    # All-negative input: zero padding would put zeros on the border.
    x = -1.0 - np.random.default_rng(size).random((2, size, size, 3)).astype("float32")
    inputs = keras.Input((size, size, 3))
    model = keras.Model(inputs, max_pool2d(inputs, 3, strides=strides, padding=1, name="pool"))
    np.testing.assert_array_equal(model(x).numpy(), torch_max_pool(x, 3, strides, 1))


def test_max_pool_rejects_padding_it_cannot_express():
    with pytest.raises(ValueError, match="padding"):
        max_pool2d(keras.Input((8, 8, 1)), 3, strides=2, padding=2, name="pool")


def test_block_sequences_follow_start_with_relu_and_grow_first():
    # block1 starts without a ReLU; block12 grows at its last separable conv.
    assert _rep_layers(BLOCKS[0], 64) == [("sep", 128), ("bn", 128), ("relu", None), ("sep", 128), ("bn", 128),
                                          ("pool", None)]
    assert _rep_layers(BLOCKS[11], 728) == [("relu", None), ("sep", 728), ("bn", 728), ("relu", None),
                                            ("sep", 1024), ("bn", 1024), ("pool", None)]
    assert _rep_layers(BLOCKS[3], 728) == [("relu", None), ("sep", 728), ("bn", 728)] * 3
    assert len(BLOCKS) == 12


def test_only_blocks_that_change_shape_have_a_projection_shortcut():
    model = tfzoo.create_model("xception", include_top=False, input_shape=(32, 32, 3))
    names = {layer.name for layer in model.layers}
    assert {"block1_skip", "block2_skip", "block3_skip", "block12_skip"} <= names
    assert not any(f"block{i}_skip" in names for i in range(4, 12))
    # Separable convs: depthwise then pointwise, nothing in between.
    names = [layer.name for layer in model.layers]
    depthwise = names.index("block4_rep_1_conv1")
    assert names[depthwise + 1] == "block4_rep_1_pointwise"
    assert isinstance(model.layers[depthwise], keras.layers.DepthwiseConv2D)


def test_feature_map_sizes_at_299():
    model = tfzoo.create_model("xception", features_only=True)
    sides = {key: tensor.shape[1:] for key, tensor in model.output.items()}
    assert sides == {"stride_4": (74, 74, 128), "stride_8": (37, 37, 256), "stride_16": (19, 19, 728),
                     "stride_32": (10, 10, 2048)}


def test_feature_strides_from_two_input_sizes():
    """Unpadded stem convs make the sides no multiple of 1/stride (see test_all_models' 64 px check).

    Every layer's output side is floor(affine(input side)), so 32 more input
    pixels give exactly 32 / stride more at each feature level.
    """
    model = tfzoo.create_model("xception", features_only=True, input_shape=(None, None, 3))
    small, large = ({key: value.shape[1] for key, value in model({"images": np.zeros((1, s, s, 3), "float32")}).items()}
                    for s in (64, 64 + 32))
    assert {key: large[key] - small[key] for key in small} == {f"stride_{s}": 32 // s for s in (4, 8, 16, 32)}
