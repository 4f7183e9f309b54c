"""CAM, Grad-CAM, token Grad-CAM and attention rollout against independent NumPy computations."""

import keras
import numpy as np
import pytest

import tfzoo
from tfzoo.errors import UsageError
from tfzoo.models import mixer, vit
from tfzoo.visualize import cam, cam_raw, gradcam_raw
from tfzoo.visualize.class_maps import resolve_method, to_input_size
from tfzoo.visualize.heads import default_gradcam_layer
from tfzoo.visualize.rollout import attention_rollout

SHALLOW = "shallow_viz"
SHALLOW_CONFIGS = {  # two blocks of the real layers: what is checked does not depend on depth
    vit: vit.ViTConfig(patch_size=16, embed_dim=32, depth=2, num_heads=2),
    mixer: mixer.MixerConfig(patch_size=16, num_blocks=2, embed_dim=32),
}


@pytest.fixture(autouse=True)
def shallow_variants(monkeypatch):
    for module, config in SHALLOW_CONFIGS.items():
        monkeypatch.setitem(module.VARIANTS, SHALLOW, config)
    from tfzoo.models import deit
    monkeypatch.setitem(deit.VARIANTS, SHALLOW, vit.ViTConfig(patch_size=16, embed_dim=32, depth=2, num_heads=2,
                                                                distilled=True))


def _images(size=64, batch=2, seed=0):
    return np.random.default_rng(seed).standard_normal((batch, size, size, 3)).astype(np.float32)


@pytest.fixture(scope="module")
def resnet():
    keras.utils.set_random_seed(1)
    return tfzoo.create_model("resnet18", input_shape=(64, 64, 3), num_classes=7)


def _numpy_cam(model, images, pool_layer, classifier, classes):
    """Zhou et al. eq. (1) in NumPy: the class's classifier weights over the map the head averages."""
    features = np.asarray(keras.Model(model.input, model.get_layer(pool_layer).input)(images))
    kernel = model.get_layer(classifier).kernel.numpy()
    return np.stack([features[i] @ kernel[:, c] for i, c in enumerate(classes)])


def test_cam_equals_numpy_from_last_map_and_classifier(resnet):
    images = _images()
    logits = np.asarray(keras.Model(resnet.input, resnet.get_layer("predictions").input)(images))
    maps, classes = cam_raw(resnet, images)
    np.testing.assert_array_equal(classes, logits.argmax(-1))
    expected = _numpy_cam(resnet, images, "global_pool", "fc", classes)
    assert maps.shape == (2, 2, 2)
    np.testing.assert_allclose(maps, expected, rtol=0, atol=1e-5)
    maps, classes = cam_raw(resnet, images, class_index=[3, 5])
    np.testing.assert_allclose(maps, _numpy_cam(resnet, images, "global_pool", "fc", [3, 5]), rtol=0, atol=1e-5)
    # The bias is constant over the map: the CAM of each image averages to its logit minus the bias.
    bias = resnet.get_layer("fc").bias.numpy()
    np.testing.assert_allclose(maps.mean(axis=(1, 2)), logits[[0, 1], [3, 5]] - bias[[3, 5]], rtol=0, atol=1e-4)


def test_gradcam_is_cam_up_to_a_positive_scale(resnet):
    images = _images(seed=1)
    cam_maps, cam_classes = cam_raw(resnet, images)
    grad_maps, grad_classes = gradcam_raw(resnet, images)  # default layer: the stride-32 map, the one GAP reads
    np.testing.assert_array_equal(cam_classes, grad_classes)
    np.testing.assert_allclose(grad_maps, cam_maps / 4.0, rtol=0, atol=1e-5)  # d y / d A = w / (h w), h w = 4
    heat_cam = cam(resnet, images, method="cam")
    heat_grad = cam(resnet, images, method="gradcam")
    assert heat_cam.shape == (2, 64, 64) and heat_cam.min() >= 0 and np.allclose(heat_cam.max(axis=(1, 2)), 1)
    np.testing.assert_allclose(heat_cam, heat_grad, rtol=0, atol=1e-5)


def test_input_resolution_map_is_relu_upsampled_and_scaled_to_one():
    raw = np.array([[[-1.0, 2.0], [0.5, 4.0]]], np.float32)
    heat = to_input_size(raw, (4, 4))
    # Bilinear with half-pixel centres: each corner 2x2 block's outer pixel keeps the cell value.
    assert heat[0, 3, 3] == 1.0 and heat[0, 0, 0] == 0.0 and heat[0, 0, 3] == pytest.approx(0.5)
    np.testing.assert_array_equal(to_input_size(-np.ones((1, 2, 2), np.float32), (4, 4)), 0.0)


def test_auto_is_gradcam_where_the_head_is_not_gap_plus_linear(resnet):
    assert resolve_method(resnet) == "cam"
    assert resolve_method(resnet, layer="layer3_1_act2") == "gradcam"
    with pytest.raises(UsageError, match="reads the map the head pools"):
        resolve_method(resnet, "cam", layer="layer3_1_act2")
    small = tfzoo.create_model("mobilenet_v3_small_050", input_shape=(64, 64, 3), num_classes=4)
    assert resolve_method(small) == "gradcam"  # pool -> 1x1 conv -> hard-swish -> classifier
    with pytest.raises(UsageError, match="global-average-pooling"):
        cam(small, _images(batch=1), method="cam")
    heat = cam(small, _images(batch=1))
    assert heat.shape == (1, 64, 64) and 0 <= heat.min() and heat.max() <= 1
    with pytest.raises(UsageError, match="has no layer"):
        cam(small, _images(batch=1), layer="no_such_layer")


def test_cam_on_token_average_head_equals_numpy():
    """MLP-Mixer averages its tokens into one linear layer: CAM applies, on the patch grid."""
    model = tfzoo.create_model("mixer_s16_224", variant=SHALLOW, input_shape=(64, 64, 3), num_classes=5)
    assert resolve_method(model) == "cam"
    images = _images(batch=1)
    maps, classes = cam_raw(model, images)
    tokens = np.asarray(keras.Model(model.input, model.get_layer("norm").output)(images))  # [1, 16, C]
    expected = (tokens[0] @ model.get_layer("head").kernel.numpy()[:, classes[0]]).reshape(4, 4)
    np.testing.assert_allclose(maps[0], expected, rtol=0, atol=1e-5)


@pytest.mark.parametrize("name, prefix", [("vit_tiny_patch16_224", 1), ("deit_tiny_distilled_patch16_224", 2)])
def test_token_gradcam_equals_numpy_with_finite_difference_gradients(name, prefix):
    keras.utils.set_random_seed(2)
    model = tfzoo.create_model(name, variant=SHALLOW, input_shape=(64, 64, 3), num_classes=5,
                               classifier_activation=None)
    assert resolve_method(model) == "gradcam"
    image = _images(batch=1, seed=3)
    layer = "blocks_0_add2"  # the default: the last block's input (the head reads prefix tokens)
    assert default_gradcam_layer(model) == layer
    maps, classes = gradcam_raw(model, image)
    tokens = np.asarray(keras.Model(model.input, model.get_layer(layer).output)(image), np.float64)
    assert tokens.shape == (1, prefix + 16, 32)
    head = keras.Model(model.get_layer(layer).output, model.output)  # the rest of the graph from that layer
    eps = 1e-2
    flat = tokens.reshape(-1)
    steps = np.eye(flat.size) * eps
    plus = head(np.concatenate([flat + steps]).reshape(-1, *tokens.shape[1:]).astype(np.float32))
    minus = head(np.concatenate([flat - steps]).reshape(-1, *tokens.shape[1:]).astype(np.float32))
    gradient = ((np.asarray(plus, np.float64) - np.asarray(minus, np.float64))[:, classes[0]] / (2 * eps))
    gradient = gradient.reshape(tokens.shape)[0, prefix:]  # patch tokens only
    alpha = gradient.mean(axis=0)
    expected = (tokens[0, prefix:] @ alpha).reshape(4, 4)
    np.testing.assert_allclose(maps[0], expected, rtol=0, atol=2e-3 * np.abs(expected).max())
    heat = cam(model, image)
    assert heat.shape == (1, 64, 64) and 0 <= heat.min() and heat.max() <= 1


def _numpy_rollout(model, images):
    """Abnar & Zuidema (2020) eq. in NumPy, with attention recomputed from each block's qkv projection."""
    layers = [layer for layer in model.layers if layer.name.endswith("_attn_qkv")]
    heads = 2
    result = None
    for layer in layers:
        qkv = np.asarray(keras.Model(model.input, layer.output)(images), np.float64)[0]  # [N, 3 * heads * d]
        count, width = qkv.shape
        q, k, _ = qkv.reshape(count, 3, heads, width // (3 * heads)).transpose(1, 2, 0, 3)
        logits = q @ k.transpose(0, 2, 1) / np.sqrt(q.shape[-1])
        attention = np.exp(logits - logits.max(-1, keepdims=True))
        attention /= attention.sum(-1, keepdims=True)
        mixed = 0.5 * attention.mean(0) + 0.5 * np.eye(count)
        mixed /= mixed.sum(-1, keepdims=True)
        result = mixed if result is None else mixed @ result
    return result


def test_attention_rollout_equals_numpy_and_leaves_outputs_alone(resnet):
    keras.utils.set_random_seed(4)
    model = tfzoo.create_model("vit_tiny_patch16_224", variant=SHALLOW, input_shape=(64, 64, 3), num_classes=5)
    image = _images(batch=1, seed=5)
    before = np.asarray(model(image))
    heat = attention_rollout(model, image)
    np.testing.assert_array_equal(np.asarray(model(image)), before)
    row = _numpy_rollout(model, image)[0, 1:].reshape(1, 4, 4)
    np.testing.assert_allclose(heat, to_input_size(row.astype(np.float32), (64, 64)), rtol=0, atol=1e-5)
    np.testing.assert_allclose(cam(model, image, method="rollout"), heat, rtol=0, atol=0)
    with pytest.raises(UsageError, match="no self-attention"):
        attention_rollout(resnet, _images(batch=1))


def test_feature_maps_lay_tokens_on_the_grid():
    model = tfzoo.create_model("deit_tiny_distilled_patch16_224", variant=SHALLOW, input_shape=(64, 64, 3),
                               num_classes=5)
    image = _images(batch=1, seed=6)[0]
    maps = tfzoo.visualize.feature_maps(model, image, "norm")
    tokens = np.asarray(keras.Model(model.input, model.get_layer("norm").output)(image[None]))[0]
    np.testing.assert_array_equal(maps, tokens[2:].reshape(4, 4, 32))  # cls and dist tokens dropped
    with pytest.raises(UsageError, match="not a feature map"):
        tfzoo.visualize.feature_maps(model, image, "head")


def test_single_cell_feature_map_warns_that_the_map_is_flat():
    from tfzoo.visualize.class_maps import SingleCellMapWarning

    keras.utils.set_random_seed(2)
    model = tfzoo.create_model("resnet18", input_shape=(32, 32, 3), num_classes=3)  # stride 32: a 1x1 map
    with pytest.warns(SingleCellMapWarning, match="1x1 at this 32x32 input"):
        heat = cam(model, _images(32, batch=1), method="cam")
    assert np.ptp(heat) == 0.0  # flat, as the warning says
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", SingleCellMapWarning)
        cam(model, _images(32, batch=1), method="gradcam", layer="layer3_1_act2")  # stride 16: 2x2, no warning
