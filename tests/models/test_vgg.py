"""VGG: the GAP-head parameter formula and timm's small-input pre-logits resize, against independent arithmetic."""

import keras
import numpy as np
import pytest

import tfzoo
from tfzoo.models import vgg
from tfzoo.models.vgg import MinSizeAdaptiveAvgPool2D

# Conv stack by hand: 3x3 kernels and biases, layer by layer (in -> out channels).
CONVS = {
    "11": [(3, 64), (64, 128), (128, 256), (256, 256), (256, 512), (512, 512), (512, 512), (512, 512)],
    "13": [(3, 64), (64, 64), (64, 128), (128, 128), (128, 256), (256, 256), (256, 512), (512, 512),
           (512, 512), (512, 512)],
    "16": [(3, 64), (64, 64), (64, 128), (128, 128), (128, 256), (256, 256), (256, 256), (256, 512),
           (512, 512), (512, 512), (512, 512), (512, 512), (512, 512)],
    "19": [(3, 64), (64, 64), (64, 128), (128, 128), (128, 256), (256, 256), (256, 256), (256, 256),
           (256, 512), (512, 512), (512, 512), (512, 512), (512, 512), (512, 512), (512, 512), (512, 512)],
}


@pytest.mark.parametrize("variant", sorted(CONVS))
def test_gap_head_parameter_count(variant):
    stack = sum(9 * cin * cout + cout for cin, cout in CONVS[variant])
    expected = stack + 512 * 1000 + 1000
    assert vgg.gap_num_params(variant) == expected
    assert tfzoo.model_info(f"vgg{variant}_gap")["num_params"] == expected
    # The timm models add the pre-logits convs (7x7x512 -> 4096, 1x1 4096 -> 4096) and a 4096-wide classifier.
    timm_extra = 7 * 7 * 512 * 4096 + 4096 + 4096 * 4096 + 4096 + 4096 * 1000 + 1000
    assert tfzoo.model_info(f"vgg{variant}")["num_params"] == stack + timm_extra


def test_known_conv_stack_sizes():
    # keras.applications VGG16 / VGG19 without the top: 14,714,688 and 20,024,384 parameters.
    assert vgg.conv_stack_num_params("16") == 14_714_688
    assert vgg.conv_stack_num_params("19") == 20_024_384


def torch_adaptive_avg_pool(x, out_h, out_w):
    """F.adaptive_avg_pool2d, written out: cell i averages rows floor(i*n/out) .. ceil((i+1)*n/out) - 1."""
    n_h, n_w = x.shape[1:3]
    out = np.zeros((x.shape[0], out_h, out_w, x.shape[3]), np.float64)
    for i in range(out_h):
        h0, h1 = (i * n_h) // out_h, -(-((i + 1) * n_h) // out_h)
        for j in range(out_w):
            w0, w1 = (j * n_w) // out_w, -(-((j + 1) * n_w) // out_w)
            out[:, i, j] = x[:, h0:h1, w0:w1].mean(axis=(1, 2))
    return out


@pytest.mark.parametrize("height, width", [(1, 1), (2, 2), (3, 5), (4, 9), (6, 6), (7, 7), (8, 3)])
@pytest.mark.parametrize("static", [True, False])
def test_min_size_adaptive_pool_matches_pytorch(height, width, static):
    x = np.random.default_rng(height * 10 + width).normal(size=(2, height, width, 3)).astype("float32")
    inputs = keras.Input((height, width, 3) if static else (None, None, 3))
    model = keras.Model(inputs, MinSizeAdaptiveAvgPool2D(7)(inputs))
    expected = torch_adaptive_avg_pool(x, max(7, height), max(7, width))
    np.testing.assert_allclose(model(x).numpy(), expected, rtol=1e-6, atol=1e-6)
    if static:
        assert model.output_shape == (None, max(7, height), max(7, width), 3)


def test_min_size_adaptive_pool_round_trip():
    layer = MinSizeAdaptiveAvgPool2D(5, name="pool")
    clone = MinSizeAdaptiveAvgPool2D.from_config(layer.get_config())
    assert clone.min_size == 5 and clone.name == "pool"


def test_feature_layers_follow_timm_indices():
    # timm feature_info modules for vgg16: features.15 (stride 4), .22, .29, and the last pool .30.
    def declared(variant, batch_norm):
        return tuple((f.stride, f.layer) for f in vgg.feature_info(variant, batch_norm=batch_norm))

    assert declared("16", batch_norm=False) == (
        (4, "features_15"), (8, "features_22"), (16, "features_29"), (32, "features_30"))
    assert declared("11", batch_norm=True) == (
        (4, "features_13"), (8, "features_20"), (16, "features_27"), (32, "features_28"))


def test_gap_head_has_no_pre_logits():
    gap = vgg.VGG("11", gap_head=True, input_shape=(32, 32, 3), num_classes=10)
    assert not [layer for layer in gap.layers if layer.name.startswith("pre_logits")]
    assert [layer.name for layer in gap.layers[-4:]] == ["features_20", "head_global_pool", "head_fc", "predictions"]
