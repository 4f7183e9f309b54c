"""Registry behaviour: names, aliases, suggestions, metadata, overrides and weights."""

import numpy as np
import pytest

import tfzoo
from tfzoo.errors import UsageError


def test_names_and_aliases():
    names = tfzoo.list_models()
    assert {"mobilenet_v3_large", "mobilenet_v3_small"} <= set(names)
    assert "mobilenet_v3" not in names  # aliases only on request
    assert "mobilenet_v3" in tfzoo.list_models(include_aliases=True)
    assert tfzoo.list_models("mobilenet_v3_s*") == ["mobilenet_v3_small", "mobilenet_v3_small_050",
                                                    "mobilenet_v3_small_075"]
    assert tfzoo.list_models("small_05") == ["mobilenet_v3_small_050"]
    assert tfzoo.list_models("no_such*") == []


def test_alias_builds_the_large_model():
    model = tfzoo.create_model("mobilenet_v3", num_classes=3, input_shape=(32, 32, 3))
    assert model.name == "mobilenet_v3_large"
    assert tfzoo.model_info("mobilenet_v3")["name"] == "mobilenet_v3_large"


@pytest.mark.parametrize("typo, expected", [("mobilenetv3", "mobilenet_v3"), ("mobilenet_v3_lrge", "mobilenet_v3_large"),
                                             ("MobileNet-V3-Small", "mobilenet_v3_small")])
def test_unknown_name_suggests_close_names(typo, expected):
    with pytest.raises(UsageError) as info:
        tfzoo.create_model(typo)
    message = str(info.value)
    assert "unknown model" in message and expected in message and "\n" not in message


def test_model_info_fields():
    info = tfzoo.model_info("mobilenet_v3_large")
    assert info["family"] == "mobilenet_v3"
    assert "1905.02244" in info["paper"]
    assert info["input_size"] == 224 and info["num_params"] == 5_483_032
    assert info["mean"] == (0.485, 0.456, 0.406) and info["crop_pct"] == 0.875


def test_entry_points_equal_create_model():
    a = tfzoo.models.MobileNetV3Small(num_classes=5, input_shape=(32, 32, 3))
    b = tfzoo.create_model("mobilenet_v3_small", num_classes=5, input_shape=(32, 32, 3))
    assert [l.name for l in a.layers] == [l.name for l in b.layers]
    assert [w.shape for w in a.weights] == [w.shape for w in b.weights]


def test_input_too_small_and_bad_pooling():
    with pytest.raises(UsageError, match="too small"):
        tfzoo.create_model("mobilenet_v3_large", input_shape=(16, 16, 3))
    with pytest.raises(UsageError, match="pooling"):
        tfzoo.create_model("mobilenet_v3_large", include_top=False, pooling="mean")


def test_weights_from_local_files(tmp_path):
    source = tfzoo.create_model("mobilenet_v3_small", num_classes=4, input_shape=(32, 32, 3))
    x = np.random.default_rng(0).normal(size=(1, 32, 32, 3)).astype("float32")
    for filename in ("w.weights.h5", "m.keras"):
        path = tmp_path / filename
        source.save_weights(str(path)) if filename.endswith(".h5") else source.save(str(path))
        loaded = tfzoo.create_model("mobilenet_v3_small", num_classes=4, input_shape=(32, 32, 3), weights=str(path))
        np.testing.assert_allclose(loaded(x).numpy(), source(x).numpy(), rtol=1e-6)
    with pytest.raises(UsageError, match="does not download"):
        tfzoo.create_model("mobilenet_v3_small", weights="imagenet")
    with pytest.raises(UsageError, match="not found"):
        tfzoo.create_model("mobilenet_v3_small", weights=str(tmp_path / "missing.keras"))


def test_overrides_reach_the_builder():
    model = tfzoo.create_model("mobilenet_v3_large", num_classes=10, input_shape=(32, 32, 3), drop_rate=0.0,
                               drop_path_rate=0.1, classifier_activation=None)
    assert "head_drop" not in [l.name for l in model.layers]
    assert any(l.__class__.__name__ == "DropPath" for l in model.layers)
    assert model.get_layer("predictions").get_config()["activation"] == "linear"
