"""ResNet / ResNeXt / SE-ResNeXt structure: the facts the parameter count alone would not pin down."""

import keras
import numpy as np
import pytest

from tfzoo.errors import UsageError
from tfzoo.layers.bottleneck import resnext_width
from tfzoo.layers.drop_path import DropPath
from tfzoo.models import resnet


@pytest.mark.parametrize("planes, groups, base_width, expected", [
    (64, 1, 64, 64),  # plain ResNet: the 3x3 is as wide as planes
    (64, 32, 4, 128),  # resnext50_32x4d, stage 1
    (512, 32, 4, 1024),  # resnext50_32x4d, stage 4
    (64, 32, 8, 256),  # resnext101_32x8d
    (64, 64, 4, 256),  # resnext101_64x4d
])
def test_resnext_width(planes, groups, base_width, expected):
    assert resnext_width(planes, groups, base_width) == expected


@pytest.mark.parametrize("channels, expected", [(256, 16), (512, 32), (1024, 64), (2048, 128), (200, 16), (176, 8),
                                               (120, 8)])
def test_se_width_follows_timm_rounding(channels, expected):
    # make_divisible(c / 16, 8, round_limit=0): nearest multiple of 8, at least 8, never bumped up
    # (176 / 16 = 11 -> 8, where the MobileNet rule, round_limit 0.9, would give 16).
    assert resnet.se_width(channels) == expected


def _conv(model, name):
    return model.get_layer(name).get_config()


def test_resnext_bottleneck_is_grouped_and_strided_on_the_3x3():
    model = resnet.SEResNeXt("50_32x4d", input_shape=(64, 64, 3), num_classes=10)
    conv1, conv2, conv3 = (_conv(model, f"layer2_0_conv{i}") for i in (1, 2, 3))
    # ResNet v1.5: the 1x1 reduce keeps the resolution, the grouped 3x3 carries the stride.
    assert tuple(conv1["strides"]) == (1, 1) and tuple(conv2["strides"]) == (2, 2)
    assert conv2["groups"] == 32 and conv2["filters"] == 256 and conv3["filters"] == 512
    assert tuple(_conv(model, "layer2_0_downsample_0")["strides"]) == (2, 2)
    # SE after bn3, 512 / 16 = 32 wide, named like timm's SEModule.
    assert _conv(model, "layer2_0_se_fc1")["filters"] == 32
    assert _conv(model, "layer2_0_se_fc2")["filters"] == 512
    # Identity shortcuts elsewhere.
    names = {layer.name for layer in model.layers}
    assert "layer2_1_downsample_0" not in names and "layer1_0_downsample_0" in names


def test_stem_max_pool_matches_negative_infinity_padding():
    """Zero-padded max pool == PyTorch's -inf padded pool on the (non-negative) ReLU output."""
    model = resnet.ResNet18(input_shape=(32, 32, 3), include_top=False)
    stem = keras.Model(model.input, [model.get_layer("act1").output, model.get_layer("maxpool").output])
    act, pooled = (np.asarray(t) for t in stem(np.random.default_rng(0).normal(size=(2, 32, 32, 3)).astype("float32")))
    assert act.min() >= 0.0
    padded = np.pad(act, ((0, 0), (1, 1), (1, 1), (0, 0)), constant_values=-np.inf)
    expected = np.stack([np.stack([padded[:, 2 * i:2 * i + 3, 2 * j:2 * j + 3].max(axis=(1, 2))
                                   for j in range(8)], 1) for i in range(8)], 1)
    np.testing.assert_array_equal(pooled, expected)


def test_drop_path_rises_linearly_to_the_last_block():
    model = resnet.ResNet50(input_shape=(32, 32, 3), drop_path_rate=0.2, num_classes=10)
    rates = [layer.rate for layer in model.layers if isinstance(layer, DropPath)]
    # 16 blocks; the first has rate 0 and gets no layer.
    np.testing.assert_allclose(rates, 0.2 * np.arange(1, 16) / 15, rtol=1e-6)


def test_norm_kind_is_passed_through():
    model = resnet.ResNet18(input_shape=(32, 32, 3), norm="gn")
    assert isinstance(model.get_layer("layer3_1_bn2"), keras.layers.GroupNormalization)
    with pytest.raises(ValueError, match="norm must be one of"):
        resnet.ResNet18(input_shape=(32, 32, 3), norm="group")


def test_entry_points_select_the_table_row():
    model = resnet.ResNeXt("50_32x4d", input_shape=(32, 32, 3), include_top=False, pooling="avg")
    assert model.name == "resnext50_32x4d" and model.output_shape == (None, 2048)
    with pytest.raises(UsageError, match="unknown resnet variant '77'; choose one of 18, 34, 50, 101, 152$"):
        resnet.ResNet("77")
    with pytest.raises(UsageError, match="unknown resnext variant '50'; choose one of 50_32x4d, 101_32x4d, "):
        resnet.ResNeXt("50")
