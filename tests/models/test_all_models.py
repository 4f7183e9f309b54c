"""One parametrized check over every registered model (as timm's tests/test_models.py).

Each model is built at its smallest input with a small classifier and must:
give finite outputs of the right shape, survive get_config/from_config and a
.keras save/load with identical outputs, and name its layers identically on
two builds. Full-size builds check the trainable parameter count against the
reference figure.
"""

import json
import os

import keras
import numpy as np
import pytest

import tfzoo
from tests.conftest import REFERENCE_DATA

ALL_MODELS = tfzoo.list_models()
NUM_CLASSES = 7
# Models above this many parameters are "heavy": every one gets its forward
# pass and reference parameter count, but only a fixed sample of them the
# slower config round trip and .keras save/load, keeping the suite within
# its time budget on 2 cores.
HEAVY_PARAMS = 40_000_000
HEAVY_SAMPLE = 4


def _sampled(names):
    light = [n for n in names if (tfzoo.model_info(n)["num_params"] or 0) <= HEAVY_PARAMS]
    heavy = sorted(n for n in names if n not in light)
    step = max(1, len(heavy) // HEAVY_SAMPLE)
    return light + heavy[::step][:HEAVY_SAMPLE]


SAVE_MODELS = _sampled(ALL_MODELS)


def _trainable(model):
    return sum(int(np.prod(v.shape)) for v in model.trainable_weights)


def _small(name):
    size = tfzoo.model_info(name)["min_input_size"]
    return tfzoo.create_model(name, num_classes=NUM_CLASSES, input_shape=(size, size, 3)), size


@pytest.mark.parametrize("name", ALL_MODELS)
def test_forward_shape_and_finite(name):
    model, size = _small(name)
    x = np.random.default_rng(0).normal(size=(2, size, size, 3)).astype("float32")
    y = model(x, training=False).numpy()
    assert y.shape == (2, NUM_CLASSES)
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


@pytest.mark.parametrize("name", ALL_MODELS)
def test_layer_names_are_deterministic(name):
    first, _ = _small(name)
    second, _ = _small(name)
    names = [layer.name for layer in first.layers]
    assert names == [layer.name for layer in second.layers]
    assert len(set(names)) == len(names)


@pytest.mark.parametrize("name", ALL_MODELS)
def test_reference_parameter_count(name):
    info = tfzoo.model_info(name)
    model = tfzoo.create_model(name)  # 1000 classes, default input
    assert _trainable(model) == info["num_params"]
    with open(os.path.join(REFERENCE_DATA, "param_counts.json")) as handle:
        reference = json.load(handle)
    # The shared reference table uses timm's names for some models.
    for key in (name, info["reference"].replace("timm ", "")):
        if key in reference:
            assert _trainable(model) == reference[key]


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
def test_features_only_strides(name):
    size = 64
    model = tfzoo.create_model(name, features_only=True, input_shape=(size, size, 3))
    x = np.zeros((1, size, size, 3), "float32")
    outputs = model(x)
    strides = tfzoo.model_info(name)["feature_strides"]
    assert strides == (4, 8, 16, 32)
    for stride in strides:
        assert tuple(outputs[f"stride_{stride}"].shape[1:3]) == (size // stride, size // stride)
