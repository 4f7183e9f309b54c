"""NF-ResNet / NFNet structure, and exact parameter counts of F1-F6 and nf_resnet101 without building them.

Cost: dm_nfnet_f6 (438M parameters) takes 40 s to build on this machine and F1-F5
10-35 s each, so `test_all_models.py` builds only ``dm_nfnet_f0``, ``nf_resnet26``
and ``nf_resnet50`` in full (`HEAVY_MODELS` lists the rest). Their counts are
still checked exactly here: every variant of a family is the same stem, final
conv and head around four stages whose blocks after the first are identical
(same widths, groups and SE), so

    params = rest + sum over stages (first block + (depth - 1) * second block)

measured on one shallow build with two blocks per stage. The formula must also
give the counts of F0 / nf_resnet26 / nf_resnet50, which `test_all_models`
builds in full, which ties it to real builds. Outputs against timm: see
``tests/reference_data/{nf_resnet26,dm_nfnet_f0}.npz`` (max relative error
7.4e-7 / 8.4e-7, tolerance 1e-4).
"""

import math

import keras
import numpy as np
import pytest

import tfzoo
from tfzoo.errors import UsageError
from tfzoo.layers.nf_layers import NF_GAMMAS, NFResidual, ScaleByConstant, ScaledActivation
from tfzoo.layers.ws_conv import ScaledWSConv2D
from tfzoo.models.nfnet import ARCHITECTURES, VARIANTS

F_SERIES = [f"dm_nfnet_f{i}" for i in range(7)]
NF_RESNETS = ["nf_resnet26", "nf_resnet50", "nf_resnet101"]
# Built in full by test_all_models.py; the others are counted by `test_counts_by_stage_sampling`.
FULLY_BUILT = {"dm_nfnet_f0", "nf_resnet26", "nf_resnet50"}
HEAVY_MODELS = sorted(set(F_SERIES + NF_RESNETS) - FULLY_BUILT)
SAMPLED_DEPTHS = (2, 2, 2, 2)


@pytest.fixture(scope="module")
def shallow_f():
    """An F-series network with two blocks per stage (stages and blocks as every F variant)."""
    return tfzoo.create_model("dm_nfnet_f0", input_shape=(32, 32, 3), depths=SAMPLED_DEPTHS)


def _count(layer):
    return sum(int(np.prod(v.shape)) for v in layer.trainable_weights)


def _block_of(layer_name):
    parts = layer_name.split("_")
    if parts[0] == "stages" and len(parts) >= 3:
        return int(parts[1]), int(parts[2])
    return None


@pytest.fixture(scope="module")
def nf_resnet26():
    """Through the family entry point, with stochastic depth (two blocks per stage, as `SAMPLED_DEPTHS`)."""
    return tfzoo.models.NFResNet("26", input_shape=(32, 32, 3), drop_path_rate=0.4)


@pytest.mark.parametrize("family", ["f_series", "nf_resnet"])
def test_counts_by_stage_sampling(family, request):
    shallow = request.getfixturevalue("shallow_f" if family == "f_series" else "nf_resnet26")
    names = F_SERIES if family == "f_series" else NF_RESNETS
    per_block, rest = {}, 0
    for layer in shallow.layers:
        block = _block_of(layer.name)
        if block is None:
            rest += _count(layer)
        else:
            per_block[block] = per_block.get(block, 0) + _count(layer)
    assert sorted(per_block) == [(s, b) for s in range(4) for b in range(2)]
    for name in names:
        depths = ARCHITECTURES[name].depths
        total = rest + sum(per_block[(s, 0)] + (d - 1) * per_block[(s, 1)] for s, d in enumerate(depths))
        assert total == VARIANTS[name].num_params == tfzoo.model_info(name)["num_params"], name
    assert depths == ((7, 14, 42, 21) if family == "f_series" else (3, 4, 23, 3))


def test_f_series_structure(shallow_f):
    gelu = NF_GAMMAS["gelu"]
    assert gelu == 1.7015043497085571 and NF_GAMMAS["relu"] == 1.7139588594436646
    assert NF_GAMMAS["silu"] == 1.7881293296813965
    # beta = 1 / expected std: 1 at the first block, then the variance grows by alpha^2 = 0.04 per block and
    # restarts at 1 + 0.04 after each transition block.
    expected_beta = {(0, 0): 1.0, (0, 1): 1.04 ** -0.5, (1, 0): 1.08 ** -0.5, (1, 1): 1.04 ** -0.5,
                     (3, 0): 1.08 ** -0.5, (3, 1): 1.04 ** -0.5}
    for (stage, block), beta in expected_beta.items():
        layer = shallow_f.get_layer(f"stages_{stage}_{block}_act1")
        assert isinstance(layer, ScaledActivation) and layer.activation == "gelu"
        assert math.isclose(layer.scale, gelu * beta, rel_tol=1e-12), (stage, block)
    assert shallow_f.get_layer("stages_2_1_act2b").scale == gelu
    residual = shallow_f.get_layer("stages_1_1")
    assert isinstance(residual, NFResidual) and residual.alpha == 0.2
    assert float(np.asarray(residual.skipinit_gain)) == 0.0  # every block starts as the identity
    conv3 = shallow_f.get_layer("stages_1_1_conv3")
    assert isinstance(conv3, ScaledWSConv2D) and np.all(np.asarray(conv3.gain) == 1.0) and conv3.use_bias
    assert shallow_f.get_layer("stages_1_1_conv2").groups == 2  # group width 128 at 256 channels
    assert shallow_f.get_layer("stages_1_1_attn_gain").scale == 2.0
    assert shallow_f.get_layer("stages_1_1_attn_last_fc1").filters == 256
    assert shallow_f.get_layer("final_conv").filters == 3072
    assert shallow_f.get_layer("head_drop").rate == 0.2
    assert shallow_f.get_layer("stem_conv4").padding == "same"  # TF padding, as the JAX reference


def test_nf_resnet_folds_gamma_into_convs_like_timm(nf_resnet26):
    model = nf_resnet26
    assert model.output_shape == (None, 1000)
    relu = NF_GAMMAS["relu"]
    convs = [layer for layer in model.layers if isinstance(layer, ScaledWSConv2D)]
    assert len(convs) == 1 + 4 + 8 * 3 and all(layer.gamma == relu for layer in convs)
    assert model.get_layer("stages_0_1_act1").scale == 1.04 ** -0.5
    assert model.get_layer("final_act").scale == 1.0
    assert np.all(np.asarray(model.get_layer("stages_0_1_conv3").gain) == 0.0)
    assert not model.get_layer("stages_0_1").weights  # no skipinit gain
    assert model.get_layer("stages_1_0_conv2").padding == "valid"  # explicit symmetric padding


def test_model_info_resolutions_and_dropout():
    sizes = {"f0": (192, 256), "f1": (224, 320), "f2": (256, 352), "f3": (320, 416), "f4": (384, 512),
             "f5": (416, 544), "f6": (448, 576)}
    dropouts = (0.2, 0.3, 0.4, 0.4, 0.5, 0.5, 0.5)
    for (variant, (train, test)), dropout in zip(sizes.items(), dropouts):
        info = tfzoo.model_info(f"dm_nfnet_{variant}")
        assert (info["input_size"], info["test_input_size"]) == (train, test)
        assert ARCHITECTURES[f"dm_nfnet_{variant}"].drop_rate == dropout


def test_stochastic_depth_schedule(nf_resnet26):
    rates = [layer.rate for layer in nf_resnet26.layers if layer.name.endswith("_drop_path")]
    # DeepMind: rate * block_index / num_blocks, so the first block has none.
    np.testing.assert_allclose(rates, [0.4 * i / 8 for i in range(1, 8)])
    assert isinstance(nf_resnet26.get_layer("stages_3_1_drop_path"), keras.layers.Layer)


def test_f_series_layers_save_and_load(tmp_path):
    """The layers only the F-series uses (skipinit gain, SE gain, grouped ScaledWSConv2D), in a small model.

    test_all_models saves the two NF-ResNets (the family's smallest); a full dm_nfnet_f0 .keras file is 286 MB.
    """
    inputs = keras.Input((6, 6, 8))
    h = ScaledActivation("gelu", scale=1.7, name="act1")(inputs)
    y = ScaledWSConv2D(8, 3, padding="same", groups=2, name="conv")(h)
    y = keras.layers.Conv2D(8, 1, name="attn")(y)
    y = ScaleByConstant(2.0, name="attn_gain")(y)
    outputs = NFResidual(alpha=0.2, skipinit=True, name="block")([y, inputs])
    model = keras.Model(inputs, outputs)
    rng = np.random.default_rng(0)
    model.set_weights([rng.normal(size=w.shape).astype("float32") for w in model.get_weights()])
    x = rng.normal(size=(2, 6, 6, 8)).astype("float32")
    expected = model(x).numpy()
    model.save(tmp_path / "f.keras")
    loaded = keras.saving.load_model(tmp_path / "f.keras")
    np.testing.assert_allclose(loaded(x).numpy(), expected, rtol=1e-6, atol=1e-6)
    gains = [float(np.asarray(m.get_layer("block").skipinit_gain)) for m in (model, loaded)]
    assert gains[0] == gains[1] != 0.0


def test_unknown_variant():
    with pytest.raises(UsageError, match="unknown nfnet variant 'f9'; choose one of f0, f1, f2, f3, f4, f5, f6$"):
        tfzoo.models.NFNet("f9")
