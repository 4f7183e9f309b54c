"""EfficientNet: compound scaling, squeeze-excite widths and training defaults.

Numerical equality with timm (B0 and B2) is in test_reference_outputs.py and
the parameter counts of all eight variants in test_all_models.py; these
tests pin the rules behind them, so a wrong rule names itself.
"""

import collections
import re

import keras
import pytest

import tfzoo
from tfzoo.errors import UsageError
from tfzoo.layers import DropPath
from tfzoo.models.efficientnet import STAGES, VARIANTS, _scaled_blocks, round_channels


@pytest.fixture(scope="module")
def b0():
    return tfzoo.create_model("efficientnet_b0", input_shape=(32, 32, 3), num_classes=3)


@pytest.fixture(scope="module")
def b2():
    return tfzoo.create_model("efficientnet_b2", input_shape=(32, 32, 3), num_classes=3)


def _blocks_per_stage(model):
    counts = collections.Counter()
    for layer in model.layers:
        match = re.fullmatch(r"blocks_(\d+)_(\d+)_conv_dw", layer.name)
        if match:
            counts[int(match.group(1))] += 1
    return [counts[i] for i in range(len(counts))]


@pytest.mark.parametrize("variant, repeats", [
    ("b0", [1, 2, 2, 3, 3, 4, 1]),
    ("b1", [2, 3, 3, 4, 4, 5, 2]),  # ceil(1.1 r): every stage grows
    ("b4", [2, 4, 4, 6, 6, 8, 2]),
    ("b7", [4, 7, 7, 10, 10, 13, 4]),
])
def test_depth_scaling_rounds_up(variant, repeats):
    spec = VARIANTS[variant]
    counts = collections.Counter(block.name.split("_")[1] for block in
                                 _scaled_blocks(STAGES, 32, spec.width, spec.depth))
    assert [counts[str(i)] for i in range(len(STAGES))] == repeats


def test_built_model_follows_the_scaling(b2):
    model = b2
    assert _blocks_per_stage(model) == [2, 3, 3, 4, 4, 5, 2]
    # Width 1.1, rounded to multiples of 8 and never 10% below: 32 -> 32, 16 -> 16, 320 -> 352, 1280 -> 1408.
    assert model.get_layer("conv_stem").filters == 32
    assert model.get_layer("blocks_0_0_conv_pw").filters == 16
    assert model.get_layer("blocks_6_1_conv_pwl").filters == 352
    assert model.get_layer("conv_head").filters == 1408
    assert round_channels(1280, 2.0) == 2560 and round_channels(40, 1.1) == 48


def test_squeeze_excite_width_follows_block_input(b0):
    model = b0
    # ds block on the 32-channel stem; MBConv blocks expand 6x but reduce to in/4, not mid/4.
    assert model.get_layer("blocks_0_0_se_conv_reduce").filters == 8
    assert model.get_layer("blocks_1_0_conv_pw").filters == 96
    assert model.get_layer("blocks_1_0_se_conv_reduce").filters == 4
    assert model.get_layer("blocks_5_3_se_conv_reduce").filters == 48
    assert model.get_layer("blocks_5_3_se_conv_expand").filters == 1152
    assert model.get_layer("blocks_5_3_se_act").get_config()["activation"] == "silu"
    assert model.get_layer("blocks_5_3_se_gate").get_config()["activation"] == "sigmoid"


def test_training_defaults_and_overrides(b2):
    model = b2
    assert model.get_layer("head_drop").rate == pytest.approx(0.3)
    rates = [layer.rate for layer in model.layers if isinstance(layer, DropPath)]
    total = 23  # blocks in B2
    # Linear in the block index, 0.2 * index / total, only on blocks with a residual.
    assert max(rates) == pytest.approx(0.2 * (total - 1) / total)
    assert all(0 < r < 0.2 for r in rates)
    plain = tfzoo.create_model("efficientnet_b2", input_shape=(32, 32, 3), num_classes=3, drop_rate=0.0,
                               drop_path_rate=0.0)
    assert not any(isinstance(layer, (DropPath, keras.layers.Dropout)) for layer in plain.layers)
    assert plain.count_params() == model.count_params()


def test_headless_keeps_the_head_conv():
    model = tfzoo.create_model("efficientnet_b0", include_top=False, input_shape=(64, 64, 3))
    assert model.output_shape == (None, 2, 2, 1280)
    features = tfzoo.create_model("efficientnet_b0", features_only=True, input_shape=(64, 64, 3))
    outputs = features(keras.ops.zeros((1, 64, 64, 3)))
    assert {key: tuple(value.shape[1:]) for key, value in outputs.items()} == {
        "stride_4": (16, 16, 24), "stride_8": (8, 8, 40), "stride_16": (4, 4, 112), "stride_32": (2, 2, 320)}


def test_entry_point_and_metadata(b2):
    a = tfzoo.models.EfficientNetB2(num_classes=3, input_shape=(32, 32, 3))
    assert [layer.name for layer in a.layers] == [layer.name for layer in b2.layers]
    assert [w.shape for w in a.weights] == [w.shape for w in b2.weights]
    assert a.name == "efficientnet_b2"
    info = tfzoo.model_info("efficientnet_b3")
    assert (info["input_size"], info["test_input_size"], info["interpolation"]) == (288, 320, "bicubic")
    with pytest.raises(UsageError, match="unknown efficientnet variant .b9.; choose one of b0, b1, b2, b3, b4, b5, b6, b7$"):
        tfzoo.models.EfficientNet("b9")
