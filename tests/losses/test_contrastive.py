"""NT-Xent, InfoNCE, the MoCo v3 loss and the MoCo state updates against independent float64 NumPy versions."""

import math

import keras
import numpy as np
import pytest

from tfzoo.losses import (NTXentLoss, enqueue, info_nce_loss, moco_v3_loss, moco_v3_momentum, momentum_update,
                          nt_xent_loss)


def _unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _embeddings(n=8, d=5, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)), rng.normal(size=(n, d))


def numpy_nt_xent(z1, z2, temperature):
    """The paper's loss over the 2N views (Alg. 1), times 2 for the official code's loss_a + loss_b."""
    z = _unit(np.concatenate([z1, z2]))
    n = len(z1)
    sim = z @ z.T / temperature
    total = 0.0
    for i in range(2 * n):
        positive = (i + n) % (2 * n)
        others = [k for k in range(2 * n) if k != i]
        total += -(sim[i, positive] - np.log(np.sum(np.exp(sim[i, others]))))
    return 2.0 * total / (2 * n)


@pytest.mark.parametrize("temperature", [0.1, 0.5])
def test_nt_xent_matches_numpy(temperature):
    z1, z2 = _embeddings()
    value = float(nt_xent_loss(z1.astype("float32"), z2.astype("float32"), temperature))
    assert value == pytest.approx(numpy_nt_xent(z1, z2, temperature), abs=1e-5)


def test_nt_xent_two_replicas_equal_one_device():
    z1, z2 = _embeddings(n=8)
    z1, z2 = z1.astype("float32"), z2.astype("float32")
    full = float(nt_xent_loss(z1, z2, 0.1))
    replicas = [float(nt_xent_loss(z1[r * 4:(r + 1) * 4], z2[r * 4:(r + 1) * 4], 0.1, z1_all=z1, z2_all=z2,
                                   replica_offset=r * 4)) for r in range(2)]
    assert np.mean(replicas) == pytest.approx(full, abs=1e-5)
    # Without the gathered views each half only sees its own negatives: a different (smaller) loss.
    local = np.mean([float(nt_xent_loss(z1[r * 4:(r + 1) * 4], z2[r * 4:(r + 1) * 4], 0.1)) for r in range(2)])
    assert abs(local - full) > 1e-2


def test_nt_xent_keras_loss_and_serialization():
    z1, z2 = _embeddings()
    loss = NTXentLoss(temperature=0.2)
    value = float(loss(np.zeros(16, "float32"), np.concatenate([z1, z2]).astype("float32")))
    assert value == pytest.approx(numpy_nt_xent(z1, z2, 0.2), abs=1e-5)
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss))
    assert type(restored) is NTXentLoss and restored.get_config() == loss.get_config()


def numpy_info_nce(q, k, queue, temperature):
    q, k = _unit(q), _unit(k)
    losses = []
    for i in range(len(q)):
        logits = np.concatenate([[q[i] @ k[i]], queue @ q[i]]) / temperature
        losses.append(np.log(np.sum(np.exp(logits))) - logits[0])
    return np.mean(losses)


def test_info_nce_matches_numpy():
    q, k = _embeddings(n=4, d=6)
    queue = _unit(np.random.default_rng(1).normal(size=(16, 6)))
    for temperature in (0.07, 0.2):
        value = float(info_nce_loss(q.astype("float32"), k.astype("float32"), queue.astype("float32"), temperature))
        assert value == pytest.approx(numpy_info_nce(q, k, queue, temperature), abs=1e-5)


def numpy_moco_v3(q, k, temperature):
    q, k = _unit(q), _unit(k)
    logits = q @ k.T / temperature
    losses = [np.log(np.sum(np.exp(row))) - row[i] for i, row in enumerate(logits)]
    return np.mean(losses) * 2 * temperature


@pytest.mark.parametrize("temperature", [1.0, 0.2])
def test_moco_v3_loss_matches_numpy_and_two_replicas(temperature):
    q, k = _embeddings(n=6, d=4)
    q32, k32 = q.astype("float32"), k.astype("float32")
    expected = numpy_moco_v3(q, k, temperature)
    assert float(moco_v3_loss(q32, k32, temperature)) == pytest.approx(expected, abs=1e-5)
    replicas = [float(moco_v3_loss(q32[r * 3:(r + 1) * 3], k32[r * 3:(r + 1) * 3], temperature, k_all=k32,
                                   replica_offset=r * 3)) for r in range(2)]
    assert np.mean(replicas) == pytest.approx(expected, abs=1e-5)


def test_momentum_update_assigns_variables_and_returns_arrays():
    online = [np.array([1.0, 2.0], "float32"), np.array([[3.0]], "float32")]
    target_vars = [keras.Variable(np.zeros(2, "float32")), keras.Variable(np.array([[1.0]], "float32"))]
    new = momentum_update(online, target_vars, 0.9)
    # 0.9 * 0 + 0.1 * (1, 2) and 0.9 * 1 + 0.1 * 3.
    np.testing.assert_allclose(target_vars[0].numpy(), [0.1, 0.2], atol=1e-7)
    np.testing.assert_allclose(target_vars[1].numpy(), [[1.2]], atol=1e-6)
    np.testing.assert_allclose(np.asarray(new[1]), [[1.2]], atol=1e-6)
    arrays = momentum_update(online, [np.ones(2, "float32"), np.ones((1, 1), "float32")], 0.999)
    np.testing.assert_allclose(np.asarray(arrays[0]), [0.999 + 0.001, 0.999 + 0.002], atol=1e-6)
    with pytest.raises(ValueError, match="weights"):
        momentum_update(online, target_vars[:1], 0.9)


def test_enqueue_overwrites_oldest_rows_and_wraps_pointer():
    queue = np.arange(12, dtype="float32").reshape(6, 2)
    keys = -np.ones((2, 2), "float32")
    new_queue, ptr = enqueue(queue, 2, keys)
    expected = queue.copy()
    expected[2:4] = -1
    np.testing.assert_array_equal(np.asarray(new_queue), expected)
    assert int(ptr) == 4
    last, ptr = enqueue(new_queue, ptr, 2 * keys)
    assert int(ptr) == 0 and np.all(np.asarray(last)[4:6] == -2) and np.all(np.asarray(last)[2:4] == -1)
    with pytest.raises(ValueError, match="multiple"):
        enqueue(queue, 0, np.ones((4, 2), "float32"))


def test_moco_v3_momentum_cosine_from_base_to_one():
    assert moco_v3_momentum(0.0, 100) == pytest.approx(0.99)
    assert moco_v3_momentum(50.0, 100) == pytest.approx(0.995)
    assert moco_v3_momentum(100.0, 100) == pytest.approx(1.0)
    # 1 - (1 + cos(pi/4)) / 2 * 0.01 at a quarter of training, also as a tensor.
    expected = 1 - 0.5 * (1 + math.cos(math.pi / 4)) * 0.01
    assert float(moco_v3_momentum(np.float32(25.0), 100)) == pytest.approx(expected, abs=1e-7)
