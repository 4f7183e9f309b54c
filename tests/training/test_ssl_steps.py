"""Self-supervised training steps by value: MoCo's momentum update and queue, the memory bank, two replicas."""

from __future__ import annotations

import sys

import keras
import numpy as np
import pytest

from tests.training import distributed_testlib
from tests.training.ssl_testlib import tiny_backbone
from tfzoo.training.tasks.base import RunContext


def _normalize(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _context(num_train=4):
    return RunContext(steps_per_epoch=1, epochs=1, batch_size=4, replicas=1, num_train=num_train, num_classes=2)


def _images(count, seed):
    return np.random.default_rng(seed).normal(size=(count, 8, 8, 3)).astype("float32")


def test_moco_step_updates_key_encoder_then_enqueues_keys():
    from tfzoo.training.tasks.moco import MoCoModel, momentum_pairs

    keras.utils.set_random_seed(0)
    backbone = tiny_backbone(input_shape=(8, 8, 3), include_top=False, pooling="avg")
    model = MoCoModel(backbone, _context(), mlp_head=True, proj_dim=4, proj_hidden_dim=6, queue_size=8,
                      encoder_momentum=0.9, temperature=0.2, shuffle_bn_groups=1)
    online, target = momentum_pairs(model.backbone.weights + model.projector.weights,
                                    model.key_backbone.weights + model.key_projector.weights)
    rng = np.random.default_rng(1)
    for variable in target:  # a key encoder that differs from the query encoder
        variable.assign(rng.normal(size=variable.shape).astype("float32"))
    q0 = [np.array(v.numpy()) for v in online]
    k0 = [np.array(v.numpy()) for v in target]
    queue0 = np.array(model.queue.numpy())
    model.compile(optimizer=keras.optimizers.SGD(0.0))  # the query encoder stays put
    x_q, x_k = _images(4, 2), _images(4, 3)
    model.train_on_batch((x_q, x_k), np.zeros(4, "int32"))

    for variable, q, k in zip(target, q0, k0):
        np.testing.assert_allclose(variable.numpy(), 0.9 * k + 0.1 * q, rtol=1e-5, atol=1e-6)
    keys = keras.ops.convert_to_numpy(model.key_projector(model.key_backbone(x_k, training=True), training=True))
    queue = model.queue.numpy()
    np.testing.assert_allclose(queue[:4], _normalize(keys), rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(queue[4:], queue0[4:])
    assert int(model.queue_pointer.numpy()) == 4


def test_key_encoder_normalizes_with_batch_statistics_and_takes_no_gradient_step():
    """The references' key encoder runs in train mode without gradients: batch norm uses the batch's statistics."""
    from tfzoo.training.tasks.moco import MoCoModel

    keras.utils.set_random_seed(0)
    backbone = tiny_backbone(input_shape=(8, 8, 3), include_top=False, pooling="avg")
    model = MoCoModel(backbone, _context(), mlp_head=True, proj_dim=4, proj_hidden_dim=6, queue_size=8,
                      encoder_momentum=0.9, temperature=0.2, shuffle_bn_groups=1)
    x = _images(4, 5) * 3.0 + 7.0  # far from the initial moving statistics (mean 0, variance 1)
    key = keras.ops.convert_to_numpy(model.key_backbone(x, training=True))
    np.testing.assert_allclose(key, keras.ops.convert_to_numpy(model.backbone(x, training=True)), rtol=1e-5,
                               atol=1e-6)  # the same weights, both normalized with the batch's statistics
    assert not np.allclose(key, keras.ops.convert_to_numpy(model.key_backbone(x, training=False)), atol=1e-3)
    target = {id(v) for v in model.key_backbone.weights + model.key_projector.weights}
    optimized = model.optimized_variables()
    assert not target & {id(v) for v in optimized}
    assert len(optimized) == len(model.backbone.trainable_variables) + len(model.projector.trainable_variables)


def test_instdisc_step_writes_the_memory_bank():
    from tfzoo.training.tasks.instdisc import InstDiscModel

    keras.utils.set_random_seed(0)
    backbone = tiny_backbone(input_shape=(8, 8, 3), include_top=False, pooling="avg")
    model = InstDiscModel(backbone, _context(num_train=6), proj_dim=4, nce_negatives=3, bank_momentum=0.5)
    bank0 = np.array(model.memory_bank.numpy())
    x = _images(4, 4)
    indices = np.array([5, 1, 3, 0], "int32")
    features = keras.ops.convert_to_numpy(model.projector(model.backbone(x, training=True)))
    model.compile(optimizer=keras.optimizers.SGD(0.0))
    model.train_on_batch((x,), {"label": np.zeros(4, "int32"), "index": indices})

    bank = model.memory_bank.numpy()
    expected = _normalize(0.5 * bank0[indices] + 0.5 * _normalize(features))
    np.testing.assert_allclose(bank[indices], expected, rtol=1e-4, atol=1e-5)
    untouched = [2, 4]
    np.testing.assert_array_equal(bank[untouched], bank0[untouched])
    z = float(model.nce_z.numpy())
    assert np.isfinite(z) and z > 0  # fixed from the first batch


@pytest.mark.slow
def test_two_replicas_give_the_one_device_loss(tmp_path):
    """SimCLR (NT-Xent over the gathered batch), SwAV (all-reduced Sinkhorn) and MoCo v3 on 2 logical CPUs."""
    out = tmp_path / "losses.npz"
    [(code, output)] = distributed_testlib.run_processes(
        [([sys.executable, "-m", "tests.training.ssl_testlib", "losses_mirrored", str(out)],
          distributed_testlib.child_env())], timeout=300)
    assert code == 0, output[-3000:]
    results = np.load(out)
    for method in ("simclr", "swav", "moco_v3"):
        assert int(results[f"{method}_mirrored_replicas"]) == 2
        np.testing.assert_allclose(results[f"{method}_mirrored"], results[f"{method}_one_device"], rtol=1e-5,
                                   err_msg=method)


def test_swav_lars_adapts_and_decays_every_variable_like_the_reference_larc(tmp_path):
    """SwAV's reference wraps SGD in LARC over all parameters; SimCLR (and MoCo v3) leave BN and biases out."""
    from tests.training.ssl_testlib import tiny_pretrain_config
    from tfzoo.optimizers.factory import create_optimizer
    from tfzoo.training.tasks import ssl_task
    from tfzoo.training.tasks.swav import SwAVModel

    keras.utils.set_random_seed(0)
    backbone = tiny_backbone(input_shape=(8, 8, 3), include_top=False, pooling="avg")
    model = SwAVModel(backbone, _context(), proj_dim=4, proj_hidden_dim=6, num_prototypes=5)
    swav_args = ssl_task(tiny_pretrain_config("swav", tmp_path)).optimizer_arguments("lars")
    swav_lars = create_optimizer("lars", model, learning_rate=0.1, weight_decay=1e-6, **swav_args)
    simclr_args = ssl_task(tiny_pretrain_config("simclr", tmp_path)).optimizer_arguments("lars")
    simclr_lars = create_optimizer("lars", model, learning_rate=0.1, weight_decay=1e-6, **simclr_args)
    bn_gamma = next(v for v in model.trainable_variables if "projection_head_1" in v.path and "gamma" in v.path)
    assert swav_lars.exclude_from_weight_decay_names == ()
    assert swav_lars.exclude_from_layer_adaptation_names == ()
    assert bn_gamma.path in simclr_lars.exclude_from_layer_adaptation_names
    assert ssl_task(tiny_pretrain_config("swav", tmp_path)).optimizer_arguments("sgd") == {}

    # One LARS step on the gamma by value: v = lr * eta * |w| / |g + wd w| * (g + wd w), w -= v.
    gamma0 = np.array(bn_gamma.numpy())
    gradient = np.linspace(-1.0, 1.0, gamma0.size).astype("float32").reshape(gamma0.shape)
    swav_lars.build([bn_gamma])
    swav_lars.apply_gradients([(keras.ops.convert_to_tensor(gradient), bn_gamma)])
    g = gradient + 1e-6 * gamma0
    trust = 0.001 * np.linalg.norm(gamma0) / np.linalg.norm(g)
    np.testing.assert_allclose(bn_gamma.numpy(), gamma0 - 0.1 * trust * g, rtol=1e-5, atol=1e-7)


def test_swav_with_two_large_crops_only_predicts_each_code_from_the_other_crop():
    """The digits recipe's setting (``num_small_crops`` 0): the loss is the two swapped cross-entropies, by value."""
    from tests.losses.test_swav import numpy_sinkhorn, numpy_swav
    from tfzoo.training.tasks.swav import SwAVModel

    keras.utils.set_random_seed(0)
    backbone = tiny_backbone(input_shape=(8, 8, 3), include_top=False, pooling="avg")
    model = SwAVModel(backbone, _context(), proj_dim=4, proj_hidden_dim=6, num_prototypes=5, temperature=0.1,
                      sinkhorn_epsilon=0.05, sinkhorn_iterations=3)
    views = (_images(4, 6), _images(4, 7))
    model.before_step(0)  # prototypes to unit length, as every step starts
    loss, _ = model.ssl_loss({"views": views, "index": None}, 0)
    _, scores, _ = model.embed(list(views))
    first, second = np.split(keras.ops.convert_to_numpy(scores), 2)

    expected = numpy_swav([first, second], [numpy_sinkhorn(first, 0.05, 3), numpy_sinkhorn(second, 0.05, 3)],
                          (0, 1), 0.1)
    np.testing.assert_allclose(float(loss), expected, rtol=1e-5)
