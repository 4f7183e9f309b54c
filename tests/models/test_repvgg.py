"""RepVGG: the block against a NumPy version of the paper's formula, re-parameterization exactness, the
official layer plan, deploy parameter counts, and conv -> BN folding on other families.

Exactness tolerance: max |deploy - training| / max |training| <= 1e-4 on logits, with every BatchNorm's
moving statistics, gamma and beta set to non-trivial random values (the initial 0/1 values would make the
folding trivial and hide a wrong axis or a missing term).
"""

import json
import os

import keras
import numpy as np
import pytest

import tfzoo
from tests.conftest import REFERENCE_DATA
from tfzoo.errors import UsageError
from tfzoo.layers import RepVGGBlock, WSConv2D
from tfzoo.models import repvgg
from tfzoo.models.reparam import count_fusable_bn, count_reparameterizable
from tfzoo.training.benchmark import randomize_batch_norms

RELATIVE_TOLERANCE = 1e-4
# RepVGG variants above 45M parameters (5-9 s per build here) are left out of test_all_models' full builds;
# test_every_variant_count_from_its_block_plan checks their exact counts from the block plan, whose
# arithmetic the built a0 / a1 / a2 / b0 / b1g4 (test_all_models: same reference counts) and the deploy b1g4
# below confirm.
HEAVY_MODELS = ["repvgg_b1", "repvgg_b1g2", "repvgg_b2", "repvgg_b2g4", "repvgg_b3", "repvgg_b3g4"]


def relative_error(actual, expected):
    return float(np.abs(np.asarray(actual) - np.asarray(expected)).max() / np.abs(np.asarray(expected)).max())


def trainable(model):
    return sum(int(np.prod(v.shape)) for v in model.trainable_weights)


# --- the block ------------------------------------------------------------------------------------------------


def numpy_conv(x, kernel, stride, pad, groups):
    """Grouped direct convolution with symmetric zero padding (PyTorch semantics), NHWC / HWIO."""
    x = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    k, group_in, out_channels = kernel.shape[0], kernel.shape[2], kernel.shape[3]
    group_out = out_channels // groups
    out_h, out_w = (x.shape[1] - k) // stride + 1, (x.shape[2] - k) // stride + 1
    out = np.zeros((x.shape[0], out_h, out_w, out_channels))
    for g in range(groups):
        xs = x[..., g * group_in:(g + 1) * group_in]
        ks = kernel[..., g * group_out:(g + 1) * group_out]
        for i in range(out_h):
            for j in range(out_w):
                patch = xs[:, i * stride:i * stride + k, j * stride:j * stride + k, :]
                out[:, i, j, g * group_out:(g + 1) * group_out] = np.tensordot(patch, ks, axes=([1, 2, 3], [0, 1, 2]))
    return out


def numpy_bn(x, bn, eps=1e-5):
    gamma, beta, mean, var = (np.asarray(w, np.float64) for w in bn.get_weights())
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


@pytest.mark.parametrize("in_channels, filters, strides, groups", [
    (8, 8, 1, 1),  # identity branch
    (8, 8, 1, 4),  # grouped identity (input index o % (in / groups))
    (8, 12, 2, 2),  # no identity; stride 2 with PyTorch padding
    (3, 8, 2, 1),  # stage0-like
])
def test_block_matches_numpy_formula_and_reparameterizes_exactly(in_channels, filters, strides, groups):
    inputs = keras.Input((7, 7, in_channels))
    block = RepVGGBlock(filters, strides=strides, groups=groups, name="block")
    model = randomize_batch_norms(keras.Model(inputs, block(inputs)), seed=filters + groups)
    x = np.random.default_rng(1).normal(size=(2, 7, 7, in_channels)).astype("float32")

    # relu(BN(conv3x3(x)) + BN(conv1x1(x)) + BN(x)), padding 1 / 0 (the reference's forward).
    expected = numpy_bn(numpy_conv(x, block.rbr_dense_conv.kernel.numpy(), strides, 1, groups), block.rbr_dense_bn)
    expected += numpy_bn(numpy_conv(x, block.rbr_1x1_conv.kernel.numpy(), strides, 0, groups), block.rbr_1x1_bn)
    assert (block.rbr_identity is not None) == (in_channels == filters and strides == 1)
    if block.rbr_identity is not None:
        expected += numpy_bn(x, block.rbr_identity)
    expected = np.maximum(expected, 0.0)
    training_out = model(x, training=False).numpy()
    np.testing.assert_allclose(training_out, expected, rtol=1e-4, atol=1e-4)

    deployed = tfzoo.reparameterize(model)
    deploy_block = deployed.get_layer("block")
    assert deploy_block.deploy and [w.path for w in deploy_block.weights] == ["block/rbr_reparam/kernel",
                                                                             "block/rbr_reparam/bias"]
    assert deploy_block.rbr_reparam.groups == groups
    assert relative_error(deployed(x, training=False), training_out) <= RELATIVE_TOLERANCE
    # The deploy block is a plain grouped 3x3 conv with bias (PyTorch padding), then ReLU.
    kernel, bias = (w.numpy() for w in deploy_block.weights)
    np.testing.assert_allclose(deployed(x).numpy(), np.maximum(numpy_conv(x, kernel, strides, 1, groups) + bias, 0),
                               rtol=1e-4, atol=1e-4)


def test_deploy_block_config_round_trip_and_saving(tmp_path):
    inputs = keras.Input((8, 8, 4))
    x = RepVGGBlock(4, groups=2, name="b0")(inputs)
    model = tfzoo.reparameterize(randomize_batch_norms(keras.Model(inputs, RepVGGBlock(6, 2, name="b1")(x))))
    assert count_reparameterizable(model) == 0 and tfzoo.reparameterize(model) is model
    x = np.random.default_rng(0).normal(size=(1, 8, 8, 4)).astype("float32")
    path = str(tmp_path / "deploy.keras")
    model.save(path)
    np.testing.assert_allclose(keras.saving.load_model(path)(x).numpy(), model(x).numpy(), rtol=1e-6, atol=1e-6)


def test_reparameterize_reaches_nested_models_and_keeps_other_models():
    inputs = keras.Input((8, 8, 3))
    backbone = keras.Model(inputs, RepVGGBlock(4, 2, name="stage0")(inputs), name="backbone")
    outer_in = keras.Input((8, 8, 3))
    outer = randomize_batch_norms(keras.Model(outer_in, keras.layers.Dense(2, name="fc")(backbone(outer_in))))
    deployed = tfzoo.reparameterize(outer)
    assert deployed.get_layer("backbone").get_layer("stage0").deploy
    x = np.random.default_rng(0).normal(size=(2, 8, 8, 3)).astype("float32")
    assert relative_error(deployed(x), outer(x, training=False)) <= RELATIVE_TOLERANCE
    plain = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    assert tfzoo.reparameterize(plain) is plain


# --- the family -----------------------------------------------------------------------------------------------


def test_grouped_layers_follow_the_official_layer_counter():
    plan = {name: (filters, strides, groups) for name, filters, strides, groups in
            repvgg.block_plan(repvgg.ARCHITECTURES["b1g4"])}
    assert len(plan) == 1 + 4 + 6 + 16 + 1
    # stage0 is layer 0; stage1_0 layer 1, stage1_1 layer 2 ... stage3_15 layer 26, stage4_0 layer 27.
    grouped = sorted(name for name, (_, _, groups) in plan.items() if groups == 4)
    assert grouped == sorted(["stage1_1", "stage1_3", "stage2_1", "stage2_3", "stage2_5", "stage3_1", "stage3_3",
                              "stage3_5", "stage3_7", "stage3_9", "stage3_11", "stage3_13", "stage3_15"])
    assert plan["stage0"] == (64, 2, 1) and plan["stage1_0"] == (128, 2, 1) and plan["stage4_0"] == (2048, 2, 1)
    a0 = repvgg.stage_widths(repvgg.ARCHITECTURES["a0"])
    assert a0 == (48, 48, 96, 192, 1280)


def plan_num_params(variant, deploy=False, num_classes=1000):
    """Trainable parameters from the block plan: per block a 3x3 and a 1x1 grouped conv, each with a BN
    (gamma, beta), plus an identity BN where in == out and stride 1; deploy: one 3x3 grouped conv with bias."""
    in_channels, total = 3, 0
    for _, filters, strides, groups in repvgg.block_plan(repvgg.ARCHITECTURES[variant]):
        fan_in = in_channels // groups
        if deploy:
            total += 9 * fan_in * filters + filters
        else:
            total += 10 * fan_in * filters + 4 * filters + (2 * in_channels if in_channels == filters and strides == 1
                                                           else 0)
        in_channels = filters
    return total + in_channels * num_classes + num_classes


@pytest.mark.parametrize("variant", sorted(repvgg.ARCHITECTURES))
def test_every_variant_count_from_its_block_plan(variant):
    name = f"repvgg_{variant}"
    assert plan_num_params(variant) == tfzoo.model_info(name)["num_params"]
    assert plan_num_params(variant, deploy=True) == repvgg.DEPLOY_NUM_PARAMS[name]


def test_a0_reparameterizes_exactly_with_the_papers_deploy_count():
    model = randomize_batch_norms(repvgg.RepVGG("a0", input_shape=(32, 32, 3), classifier_activation=None))
    with open(os.path.join(REFERENCE_DATA, "param_counts.json")) as handle:
        reference = json.load(handle)
    assert trainable(model) == reference["repvgg_a0"] == 9_108_968
    x = np.random.default_rng(0).normal(size=(2, 32, 32, 3)).astype("float32")
    deployed = tfzoo.reparameterize(model)
    assert trainable(deployed) == reference["repvgg_a0 (deploy, after re-parameterization)"] == 8_309_384
    assert relative_error(deployed(x, training=False), model(x, training=False)) <= RELATIVE_TOLERANCE
    assert [layer.name for layer in deployed.layers] == [layer.name for layer in model.layers]
    assert not any(isinstance(layer, keras.layers.BatchNormalization) for layer in deployed._flatten_layers())


def test_b1g4_deploy_count_equals_the_paper():
    with open(os.path.join(REFERENCE_DATA, "param_counts.json")) as handle:
        reference = json.load(handle)
    model = repvgg.RepVGG("b1g4", deploy=True, input_shape=(32, 32, 3))
    assert trainable(model) == reference["repvgg_b1g4 (deploy, after re-parameterization)"] == 36_125_416
    assert plan_num_params("b1g4", deploy=True) == trainable(model)
    assert repvgg.DEPLOY_NUM_PARAMS["repvgg_b1g4"] == 36_125_416


def test_builder_arguments():
    with pytest.raises(UsageError, match="unknown repvgg variant .c9.; choose one of a0, a1, a2, b0, b1, b1g2, b1g4, b2, b2g4, b3, b3g4$"):
        repvgg.RepVGG("c9")
    with pytest.raises(UsageError, match="no stochastic depth"):
        repvgg.RepVGG("a0", drop_path_rate=0.1)
    info = tfzoo.model_info("repvgg_a0")
    assert (info["input_size"], info["crop_pct"], info["interpolation"]) == (224, 0.875, "bilinear")
    assert "2101.03697" in info["paper"] and info["num_params"] == 9_108_968


# --- conv -> BN folding on other families ---------------------------------------------------------------------


@pytest.mark.parametrize("name, fused", [
    ("resnet18", 20),  # every BN follows a conv: stem + 2 per block + 3 downsample shortcuts
    ("mobilenet_v3_small", 34),  # depthwise convs, SE in between (SE convs have biases and no BN)
])
def test_fuse_bn_is_exact_on_conv_bn_families(name, fused):
    model = randomize_batch_norms(tfzoo.create_model(name, num_classes=10, input_shape=(32, 32, 3),
                                                     classifier_activation=None), seed=3)
    assert count_fusable_bn(model) == fused
    folded = tfzoo.fuse_bn(model)
    assert not any(isinstance(layer, keras.layers.BatchNormalization) for layer in folded.layers)
    x = np.random.default_rng(0).normal(size=(2, 32, 32, 3)).astype("float32")
    assert relative_error(folded(x, training=False), model(x, training=False)) <= RELATIVE_TOLERANCE


def test_fuse_bn_leaves_pairs_that_do_not_fold():
    """BN before a conv (DenseNet), a conv with two consumers, a conv with an activation, a weight-standardized
    conv (its kernel is re-standardized on every call, so a folded scale would be undone): all stay."""
    inputs = keras.Input((6, 6, 4))
    pre = keras.layers.BatchNormalization(name="pre_bn")(inputs)
    shared = keras.layers.Conv2D(4, 3, padding="same", name="shared")(pre)
    side = keras.layers.BatchNormalization(name="side_bn")(shared)
    act = keras.layers.Conv2D(4, 1, activation="relu", name="act_conv")(keras.layers.Add()([shared, side]))
    after_act = keras.layers.BatchNormalization(name="after_act_bn")(act)
    depthwise = keras.layers.DepthwiseConv2D(3, padding="same", depth_multiplier=2, name="dw")(after_act)
    out = keras.layers.BatchNormalization(name="dw_bn")(depthwise)
    standardized = WSConv2D(8, 1, name="ws_conv")(out)
    out = keras.layers.BatchNormalization(name="ws_bn")(standardized)
    model = randomize_batch_norms(keras.Model(inputs, out))
    folded = tfzoo.fuse_bn(model)
    bns = {layer.name for layer in folded.layers if isinstance(layer, keras.layers.BatchNormalization)}
    assert bns == {"pre_bn", "side_bn", "after_act_bn", "ws_bn"}
    assert folded.get_layer("dw").use_bias
    x = np.random.default_rng(0).normal(size=(2, 6, 6, 4)).astype("float32")
    assert relative_error(folded(x), model(x, training=False)) <= RELATIVE_TOLERANCE
