"""Self-supervised heads: structure and parameter counts of the references, forward values against NumPy."""

import math

import keras
import numpy as np
import pytest

from tfzoo.layers import (instdisc_head, moco_projection_head, moco_v3_predictor, moco_v3_projector,
                          simclr_projection_head, swav_head)


def _count(model, trainable=True):
    weights = model.trainable_weights if trainable else model.non_trainable_weights
    return sum(int(np.prod(w.shape)) for w in weights)


def _bn_inference(x, layer):
    """Keras BN in inference mode, in NumPy, from the layer's own statistics."""
    gamma = layer.gamma.numpy() if layer.scale else 1.0
    beta = layer.beta.numpy() if layer.center else 0.0
    mean, var = layer.moving_mean.numpy(), layer.moving_variance.numpy()
    return gamma * (x - mean) / np.sqrt(var + layer.epsilon) + beta


def test_simclr_projection_head_structure_and_forward():
    head = simclr_projection_head(8, out_dim=4)
    # nl_0, nl_1: 8x8 kernels (no bias) + BN gamma/beta; nl_2: 8x4 kernel + BN gamma only (no centering).
    assert _count(head) == 2 * (64 + 16) + 32 + 4
    last_bn = head.get_layer("projection_head_nl_2_bn")
    assert not last_bn.center and last_bn.scale and last_bn.momentum == 0.9 and last_bn.epsilon == 1e-5
    assert not any(head.get_layer(f"projection_head_nl_{i}_dense").use_bias for i in range(3))
    x = np.random.default_rng(0).normal(size=(3, 8)).astype("float32")
    for layer in head.layers:
        if isinstance(layer, keras.layers.BatchNormalization):  # non-trivial statistics
            layer.moving_mean.assign(np.linspace(-0.1, 0.1, layer.moving_mean.shape[0]))
            layer.moving_variance.assign(np.linspace(0.5, 2.0, layer.moving_variance.shape[0]))
    expected = x.astype(np.float64)
    for index in range(3):
        expected = expected @ head.get_layer(f"projection_head_nl_{index}_dense").kernel.numpy()
        expected = _bn_inference(expected, head.get_layer(f"projection_head_nl_{index}_bn"))
        if index < 2:
            expected = np.maximum(expected, 0)
    np.testing.assert_allclose(head(x, training=False).numpy(), expected, atol=1e-5)
    assert simclr_projection_head(8, out_dim=4, hidden_dim=6).output_shape == (None, 4)
    assert _count(simclr_projection_head(8, out_dim=4, hidden_dim=6)) == 48 + 12 + 36 + 12 + 24 + 4


def test_moco_heads_and_pytorch_init():
    v1 = moco_projection_head(16, out_dim=4, mlp=False)
    v2 = moco_projection_head(16, out_dim=4)
    assert _count(v1) == 16 * 4 + 4
    assert _count(v2) == 16 * 16 + 16 + 16 * 4 + 4
    kernel, bias = v2.get_layer("fc_0").kernel.numpy(), v2.get_layer("fc_0").bias.numpy()
    bound = 1 / math.sqrt(16)
    assert np.abs(kernel).max() <= bound and np.abs(kernel).max() > 0.8 * bound
    assert np.abs(bias).max() <= bound and np.abs(bias).max() > 0.5 * bound
    x = np.random.default_rng(1).normal(size=(2, 16)).astype("float32")
    hidden = np.maximum(x @ kernel + bias, 0)
    expected = hidden @ v2.get_layer("fc_2").kernel.numpy() + v2.get_layer("fc_2").bias.numpy()
    np.testing.assert_allclose(v2(x).numpy(), expected, atol=1e-5)


@pytest.mark.parametrize("backbone,projector_layers,predictor_last_bn", [("resnet", 2, False), ("vit", 3, True)])
def test_moco_v3_mlps(backbone, projector_layers, predictor_last_bn):
    projector = moco_v3_projector(12, backbone, dim=4, mlp_dim=8)
    predictor = moco_v3_predictor(backbone, dim=4, mlp_dim=8)
    dense = [layer for layer in projector.layers if isinstance(layer, keras.layers.Dense)]
    assert len(dense) == projector_layers and not any(layer.use_bias for layer in dense)
    # Hidden BNs keep gamma/beta; the last BN has no affine parameters (only moving statistics).
    last = projector.layers[-1]
    assert isinstance(last, keras.layers.BatchNormalization) and not last.center and not last.scale
    hidden = 12 * 8 + (projector_layers - 2) * 8 * 8 + 8 * 4 + (projector_layers - 1) * 16
    assert _count(projector) == hidden
    assert projector.get_layer("projector_1").__class__ is keras.layers.BatchNormalization
    assert _count(predictor) == 4 * 8 + 16 + 8 * 4
    assert isinstance(predictor.layers[-1], keras.layers.BatchNormalization) == predictor_last_bn
    with pytest.raises(ValueError, match="backbone"):
        moco_v3_projector(12, "convnext")


def test_swav_head_normalizes_and_scores_prototypes():
    head = swav_head(10, hidden_dim=6, out_dim=4, num_prototypes=5)
    assert _count(head) == 10 * 6 + 6 + 12 + 6 * 4 + 4 + 4 * 5
    assert not head.get_layer("prototypes").use_bias
    x = np.random.default_rng(2).normal(size=(3, 10)).astype("float32")
    embedding, scores = head(x, training=False)
    np.testing.assert_allclose(np.linalg.norm(embedding.numpy(), axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(scores.numpy(), embedding.numpy() @ head.get_layer("prototypes").kernel.numpy(),
                               atol=1e-5)
    linear = swav_head(10, hidden_dim=0, out_dim=4, num_prototypes=5)
    assert _count(linear) == 10 * 4 + 4 + 20


def test_instdisc_head_and_round_trip():
    head = instdisc_head(6, out_dim=3)
    x = np.random.default_rng(3).normal(size=(2, 6)).astype("float32")
    out = head(x).numpy()
    raw = x @ head.get_layer("fc").kernel.numpy() + head.get_layer("fc").bias.numpy()
    np.testing.assert_allclose(out, raw / np.linalg.norm(raw, axis=1, keepdims=True), atol=1e-6)
    for model in (head, simclr_projection_head(6, out_dim=3), moco_v3_projector(6, dim=3, mlp_dim=4)):
        clone = keras.Model.from_config(model.get_config())
        clone.set_weights(model.get_weights())
        np.testing.assert_allclose(clone(x, training=False).numpy(), model(x, training=False).numpy(), atol=1e-6)
