"""The builder contract (`tfzoo.models._builder`), checked on one cheap variant of every family.

For each builder registered in the live registry: an unknown variant is a
`UsageError` that lists exactly that builder's variants; a bad pooling, a
foreign option and a stochastic depth rate on a family without one are
`UsageError`s; `create_model` returns a `ZooModel` whose ``zoo_info`` (name,
family, builder arguments) is in its config and survives a ``.keras`` save and
load (here on one small model; test_all_models.py saves and loads two models
of every family and compares their ``zoo_info``);
``drop_rate`` reaches the head dropout; ``include_top=False`` returns the
last features (``pooling=None``: a map, or tokens for a transformer) or
their average (``"avg"``). New families are picked up from the registry.
"""

import inspect
import re

import keras
import numpy as np
import pytest

from tfzoo.errors import UsageError
from tfzoo.models import ZooModel
from tfzoo.models._builder import COMMON_DEFAULTS
from tfzoo.models.registry import _MODELS, create_model

NUM_CLASSES = 3
# Shallower builds of the same blocks where the cheapest variant is still large (F0: 71M parameters).
CHEAP = {"dm_nfnet_f0": {"depths": (1, 1, 1, 1)}}


def _cheapest_per_builder():
    """The registered name with the fewest parameters for each family builder (at its smallest input)."""
    chosen = {}
    for spec in _MODELS.values():
        best = chosen.get(spec.builder)
        if best is None or (spec.num_params or 0) < (best.num_params or 0):
            chosen[spec.builder] = spec
    return sorted(chosen.values(), key=lambda spec: spec.name)


SPECS = _cheapest_per_builder()
IDS = [spec.name for spec in SPECS]


def _variants_of(builder) -> set:
    return {spec.kwargs["variant"] for spec in _MODELS.values() if spec.builder is builder and "variant" in spec.kwargs}


def _small(spec):
    return (spec.min_input_size, spec.min_input_size, 3)


def _create(spec, **kwargs):
    return create_model(spec.name, input_shape=_small(spec), **CHEAP.get(spec.name, {}), **kwargs)


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_builder_has_the_shared_docstring_and_signature(spec):
    assert "Follows the builder contract of `tfzoo.models._builder`." in spec.builder.__doc__
    parameters = inspect.signature(spec.builder).parameters
    for argument in COMMON_DEFAULTS:
        if argument != "drop_path_rate":
            assert argument in parameters, argument
    assert "dropout" not in parameters  # the contract's spelling is drop_rate
    # The shown signature is what the builder honours: drop_path_rate only where the family has stochastic depth.
    has_drop_path = "drop_path_rate" in parameters
    assert ("no stochastic depth" in spec.builder.__doc__) != has_drop_path


@pytest.mark.parametrize("spec", [s for s in SPECS if "variant" in s.kwargs], ids=lambda s: s.name)
def test_unknown_variant_lists_only_the_family_variants(spec):
    with pytest.raises(UsageError) as error:
        spec.builder("no_such_variant")
    message = str(error.value)
    assert "\n" not in message and "no_such_variant" in message
    listed = re.search(r"choose one of (.*)$", message).group(1).split(", ")
    assert set(listed) == _variants_of(spec.builder)


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_bad_arguments_are_usage_errors(spec):
    with pytest.raises(UsageError, match="pooling must be one of None, .*'avg', 'max', got 'mean'"):
        create_model(spec.name, include_top=False, pooling="mean", input_shape=_small(spec))
    with pytest.raises(UsageError, match="num_classes must be a positive integer"):
        create_model(spec.name, num_classes=0, input_shape=_small(spec))
    with pytest.raises(UsageError, match=rf"{spec.name} \({spec.family}\) has no option 'no_such_option'"):
        create_model(spec.name, input_shape=_small(spec), no_such_option=1)
    for rate in ("drop_rate", "drop_path_rate"):
        with pytest.raises(UsageError, match=f"{rate} must be a number in"):
            create_model(spec.name, input_shape=_small(spec), **{rate: 1.5})
    if "drop_path_rate" not in inspect.signature(spec.builder).parameters:
        with pytest.raises(UsageError, match="has no stochastic depth"):
            create_model(spec.name, input_shape=_small(spec), drop_path_rate=0.1)


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_create_model_returns_a_zoo_model_that_knows_what_it_is(spec):
    model = _create(spec, num_classes=NUM_CLASSES, drop_rate=0.25)
    assert isinstance(model, ZooModel) and model.name == spec.name
    assert model.output_shape == (None, NUM_CLASSES)
    assert any(isinstance(layer, keras.layers.Dropout) and layer.rate == 0.25 for layer in model.layers)
    info = model.zoo_info
    assert info["name"] == spec.name and info["family"] == spec.family
    assert info["builder_args"]["num_classes"] == NUM_CLASSES and info["builder_args"]["drop_rate"] == 0.25
    assert model.get_config()["zoo_info"] == info


def test_zoo_info_survives_keras_save_and_load(tmp_path):
    model = create_model("mobilenet_v3_small_050", num_classes=NUM_CLASSES, input_shape=(32, 32, 3), drop_rate=0.1)
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, ZooModel) and loaded.zoo_info == model.zoo_info
    assert loaded.zoo_info["name"] == "mobilenet_v3_small_050" and loaded.zoo_info["family"] == "mobilenet_v3"
    assert loaded.zoo_info["builder_args"]["drop_rate"] == 0.1


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_headless_returns_the_features_or_their_average(spec):
    """A map ``[B, H, W, C]`` averages over H and W; tokens ``[B, N, C]`` over the patch tokens."""
    shape = _small(spec)
    features = _create(spec, include_top=False)
    pooled = _create(spec, include_top=False, pooling="avg")
    assert isinstance(features, ZooModel) and isinstance(pooled, ZooModel)
    assert len(features.output_shape) in (3, 4)
    assert pooled.output_shape == (None, features.output_shape[-1])
    pooled.set_weights(features.get_weights())
    x = np.random.default_rng(0).normal(size=(1, *shape)).astype("float32")
    y = features(x, training=False).numpy()
    if y.ndim == 3:
        prefix = spec.features()[0].num_prefix_tokens if spec.features() else 0
        expected = y[:, prefix:].mean(axis=1)
    else:
        expected = y.mean(axis=(1, 2))
    np.testing.assert_allclose(pooled(x, training=False).numpy(), expected, rtol=1e-5, atol=1e-5)
