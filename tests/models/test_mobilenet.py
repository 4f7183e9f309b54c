"""MobileNetV1 / V2: the structure rules timm's definitions add to the papers.

Numerical equality with timm is in test_reference_outputs.py and the
parameter counts in test_all_models.py.
"""

import keras
import pytest

import tfzoo


def _small(name, **kwargs):
    return tfzoo.create_model(name, input_shape=(32, 32, 3), num_classes=3, **kwargs)


def test_v1_blocks_are_plain_with_relu6_after_both_convs():
    model = _small("mobilenet_v1_100")
    assert not any(isinstance(layer, keras.layers.Add) for layer in model.layers)
    names = {layer.name for layer in model.layers}
    assert "conv_head" not in names  # timm mobilenetv1_100 has no head conv (mobilenetv1_100h has)
    pw_acts = [layer for layer in model.layers if layer.name.endswith("_bn2_act")]
    assert len(pw_acts) == 13 and all(layer.get_config()["activation"] == "relu6" for layer in pw_acts)
    headless = tfzoo.create_model("mobilenet_v1_100", include_top=False, input_shape=(64, 64, 3))
    assert headless.output_shape == (None, 2, 2, 1024)


def test_v2_residuals_and_relu6():
    model = _small("mobilenet_v2_100")
    adds = [layer.name for layer in model.layers if isinstance(layer, keras.layers.Add)]
    # Every block but the first of each stage: 1 + 2 + 3 + 2 + 2 (stages 1-5).
    assert len(adds) == 10
    acts = {layer.get_config()["activation"] for layer in model.layers if isinstance(layer, keras.layers.Activation)
            and layer.name != "predictions"}
    assert acts == {"relu6"}
    # The projection is linear: no activation after bn3.
    assert "blocks_1_1_bn3_act" not in {layer.name for layer in model.layers}


@pytest.mark.parametrize("width, stem, last, head", [
    (1.0, 32, 320, 1280),
    (1.4, 48, 448, 1792),
    (0.5, 16, 160, 1280),  # the head never shrinks below 1280
])
def test_v2_width_multiplier(width, stem, last, head):
    model = tfzoo.models.MobileNetV2(width_multiplier=width, input_shape=(32, 32, 3), num_classes=3)
    assert model.get_layer("conv_stem").filters == stem
    assert model.get_layer("blocks_6_0_conv_pwl").filters == last
    assert model.get_layer("conv_head").filters == head


def test_entry_points_equal_registry():
    a = tfzoo.models.MobileNetV2(width_multiplier=1.4, input_shape=(32, 32, 3), num_classes=3)
    b = _small("mobilenet_v2_140")
    assert a.name == b.name == "mobilenet_v2_140"
    assert [w.shape for w in a.weights] == [w.shape for w in b.weights]
    assert tfzoo.models.MobileNetV1().name == "mobilenet_v1_100"
    info = tfzoo.model_info("mobilenet_v1_100")
    assert info["mean"] == (0.5, 0.5, 0.5) and info["test_input_size"] == 256
