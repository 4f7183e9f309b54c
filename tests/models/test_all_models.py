"""One parametrized check over every registered model (as timm's tests/test_models.py).

Every model is built once with 1000 classes at its smallest input: its
trainable parameter count must equal the reference figure and its forward
pass must give finite probabilities of the right shape; the feature levels
its family declares (`FeatureInfo`) must have the declared strides, checked
on two input sizes (keras-hub's ``run_vision_backbone_test``). A per-family
sample must also survive get_config/from_config and a .keras save/load with
identical outputs and its ``zoo_info``, and name its layers identically on
two builds.
"""

import json
import os

import keras
import numpy as np
import pytest

import tfzoo
from tests.conftest import REFERENCE_DATA
from tfzoo.models import ZooModel
from tfzoo.models.registry import get_spec
from tests.models.test_nfnet import HEAVY_MODELS
from tests.models.test_lvvit import HEAVY_MODELS as HEAVY_LVVIT
from tests.models.test_repvgg import HEAVY_MODELS as HEAVY_REPVGG
from tests.models.test_vit import HEAVY_MODELS as HEAVY_TRANSFORMERS

# NFNet F1-F6 (133M-438M parameters, 10-40 s per build) and nf_resnet101 are left out here; test_nfnet.py
# checks their exact counts from a shallow build of the same blocks, and F0 / nf_resnet50 stand in for their layers.
# RepVGG B1/B2/B3 (45M-123M) likewise: test_repvgg.py checks their counts from the block plan.
# ViT-B/L, DeiT-B and Mixer-B/L (60M-304M) too: test_vit.py checks their counts with a formula that reproduces
# timm's figure for every name and equals shallow builds; LV-ViT M/L likewise in test_lvvit.py.
ALL_MODELS = [name for name in tfzoo.list_models() if name not in HEAVY_MODELS + HEAVY_REPVGG + HEAVY_TRANSFORMERS
              + HEAVY_LVVIT]
# Families whose parameter count depends on the input size (Mixer's token MLP is as wide as the patch count):
# their count is checked at the registered input size.
COUNT_AT_INPUT_SIZE = {"mlp_mixer"}
# Token families: one feature map at the patch stride; Mixer's token MLP also needs a fixed input size.
TOKEN_FAMILIES = {"vit", "deit", "mlp_mixer", "lvvit"}
FIXED_SIZE_FAMILIES = {"mlp_mixer"}
NUM_CLASSES = 7
# The slower config round trip and .keras save/load run on a sample: the two
# smallest variants of each family, which cover every block type the family
# has (variants differ in width and depth, not in layer kinds). Every model
# still gets its forward pass, layer names and reference parameter count.
PER_FAMILY_SAMPLE = 2


def _sampled(names):
    by_family = {}
    for name in names:
        info = tfzoo.model_info(name)
        by_family.setdefault(info["family"], []).append((info["num_params"] or 0, name))
    return sorted(name for members in by_family.values() for _, name in sorted(members)[:PER_FAMILY_SAMPLE])


SAVE_MODELS = _sampled(ALL_MODELS)


def _trainable(model):
    return sum(int(np.prod(v.shape)) for v in model.trainable_weights)


def _small(name):
    size = tfzoo.model_info(name)["min_input_size"]
    return tfzoo.create_model(name, num_classes=NUM_CLASSES, input_shape=(size, size, 3)), size


@pytest.mark.parametrize("name", ALL_MODELS)
def test_forward_and_reference_parameter_count(name):
    """One 1000-class build per model (at its smallest input, which does not change the parameter count)."""
    info = tfzoo.model_info(name)
    size = info["input_size"] if info["family"] in COUNT_AT_INPUT_SIZE else info["min_input_size"]
    model = tfzoo.create_model(name, input_shape=(size, size, 3))
    assert _trainable(model) == info["num_params"]
    with open(os.path.join(REFERENCE_DATA, "param_counts.json")) as handle:
        reference = json.load(handle)
    # The shared reference table uses timm's names for some models.
    for key in (name, info["reference"].replace("timm ", "")):
        if key in reference:
            assert _trainable(model) == reference[key]

    x = np.random.default_rng(0).normal(size=(2, size, size, 3)).astype("float32")
    y = model(x, training=False).numpy()
    assert y.shape == (2, 1000)
    assert np.all(np.isfinite(y))
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-5)  # softmax head


@pytest.mark.parametrize("name", SAVE_MODELS)
def test_config_round_trip_and_saving(name, tmp_path):
    model, size = _small(name)
    x = np.random.default_rng(0).normal(size=(2, size, size, 3)).astype("float32")
    y = model(x, training=False).numpy()

    clone = keras.Model.from_config(model.get_config())
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(clone(x, training=False).numpy(), y, rtol=1e-6, atol=1e-7)

    path = str(tmp_path / f"{name}.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(loaded(x, training=False).numpy(), y, rtol=1e-6, atol=1e-7)
    assert isinstance(loaded, ZooModel) and loaded.zoo_info == model.zoo_info
    assert loaded.zoo_info["name"] == name and loaded.zoo_info["builder_args"]["num_classes"] == NUM_CLASSES


@pytest.mark.parametrize("name", SAVE_MODELS)
def test_layer_names_are_deterministic(name):
    first, _ = _small(name)
    second, _ = _small(name)
    names = [layer.name for layer in first.layers]
    assert names == [layer.name for layer in second.layers]
    assert len(set(names)) == len(names)


def test_headless_features_and_pooling():
    name = "mobilenet_v3_small"
    features = tfzoo.create_model(name, include_top=False, input_shape=(64, 64, 3))
    assert features.output_shape == (None, 2, 2, 576)
    for pooling, op in (("avg", np.mean), ("max", np.max)):
        pooled = tfzoo.create_model(name, include_top=False, pooling=pooling, input_shape=(64, 64, 3))
        pooled.set_weights(features.get_weights())
        x = np.random.default_rng(1).normal(size=(1, 64, 64, 3)).astype("float32")
        np.testing.assert_allclose(pooled(x).numpy(), op(features(x).numpy(), axis=(1, 2)), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ALL_MODELS)
def test_features_only_follow_the_family_declaration(name):
    """Each declared feature level grows by exactly ``step / stride`` pixels when the input grows by ``step``.

    ``step`` is the largest declared stride. This checks the stride of every
    level for any stack of floor-mode convs and pools, including stems without
    padding (Inception, Xception), whose sides are not simply ``size / stride``.
    """
    declared = get_spec(name).features()
    strides = [feature.stride for feature in declared]
    assert declared and strides == sorted(set(strides)), "declare each stride once, shallow to deep"
    assert tfzoo.model_info(name)["feature_strides"] == tuple(strides)
    step = max(strides)
    size = -(-max(64, get_spec(name).min_input_size) // step) * step
    if get_spec(name).family in FIXED_SIZE_FAMILIES:  # built for one input size (MLP-Mixer)
        small = tfzoo.create_model(name, features_only=True, input_shape=(size, size, 3))(
            np.zeros((1, size, size, 3), "float32"))
        large = tfzoo.create_model(name, features_only=True, input_shape=(size + step, size + step, 3))(
            np.zeros((1, size + step, size + step, 3), "float32"))
    else:
        model = tfzoo.create_model(name, features_only=True, input_shape=(None, None, 3))
        small = model(np.zeros((1, size, size, 3), "float32"))
        large = model(np.zeros((1, size + step, size + step, 3), "float32"))
    assert sorted(small) == sorted(f"stride_{stride}" for stride in strides)
    for stride in strides:
        key = f"stride_{stride}"
        assert large[key].shape[1] - small[key].shape[1] == step // stride, key
        assert large[key].shape[2] - small[key].shape[2] == step // stride, key
