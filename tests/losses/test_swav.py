"""SwAV's Sinkhorn-Knopp, swapped-prediction loss, prototype normalization and queue against float64 NumPy."""

import threading

import numpy as np
import pytest
from keras import ops

from tfzoo.losses import normalize_prototypes, queue_push, sinkhorn_knopp, swav_loss


def numpy_sinkhorn(scores, epsilon, iterations):
    """The paper's Sinkhorn-Knopp in scaling-vector form: Q = diag(u) exp(C / eps) diag(v) / B, alternating."""
    kernel = np.exp(scores.T / epsilon)  # [K, B]
    k, b = kernel.shape
    kernel = kernel / kernel.sum()
    u, v = np.ones(k), np.ones(b)
    for _ in range(iterations):
        u = (1.0 / k) / (kernel @ v)          # rows -> 1/K
        v = (1.0 / b) / (kernel.T @ u)        # columns -> 1/B
    return (u[:, None] * kernel * v[None, :]).T * b


def _scores(b=6, k=4, seed=0):
    rng = np.random.default_rng(seed)
    emb = rng.normal(size=(b, 3))
    protos = rng.normal(size=(k, 3))
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    protos /= np.linalg.norm(protos, axis=1, keepdims=True)
    return emb @ protos.T  # cosine scores in [-1, 1]


def test_sinkhorn_matches_numpy_and_sums():
    scores = _scores()
    q = np.asarray(sinkhorn_knopp(scores.astype("float32")))
    np.testing.assert_allclose(q, numpy_sinkhorn(scores, 0.05, 3), atol=1e-5)
    # Each sample's assignment sums to 1 after the last (column) step.
    np.testing.assert_allclose(q.sum(axis=1), 1.0, atol=1e-5)
    # Run to convergence, every prototype also receives B / K of the mass.
    converged = np.asarray(sinkhorn_knopp(scores.astype("float32"), epsilon=0.5, iterations=200))
    np.testing.assert_allclose(converged.sum(axis=0), 6 / 4, atol=1e-4)
    np.testing.assert_allclose(converged.sum(axis=1), 1.0, atol=1e-5)


def test_sinkhorn_two_replicas_equal_one_device():
    scores = _scores(b=8, k=5, seed=1).astype("float32")
    expected = np.asarray(sinkhorn_knopp(scores))
    barrier = threading.Barrier(2)
    slots, results = [None, None], [None, None]

    def all_reduce_sum_for(replica):
        def all_reduce_sum(x):  # both replicas post their tensor, then both read the sum
            slots[replica] = np.asarray(x)
            barrier.wait()
            total = slots[0] + slots[1]
            barrier.wait()
            return ops.convert_to_tensor(total)
        return all_reduce_sum

    def run(replica):
        results[replica] = np.asarray(sinkhorn_knopp(scores[replica * 4:(replica + 1) * 4],
                                                     all_reduce_sum=all_reduce_sum_for(replica), world_batch=8))

    threads = [threading.Thread(target=run, args=(r,)) for r in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    np.testing.assert_allclose(np.concatenate(results), expected, atol=1e-6)


def numpy_swav(scores_per_crop, codes, crops_for_assign, temperature):
    total = 0.0
    for q, crop in zip(codes, crops_for_assign):
        others = [v for v in range(len(scores_per_crop)) if v != crop]
        for v in others:
            x = scores_per_crop[v] / temperature
            log_p = x - np.log(np.sum(np.exp(x), axis=1, keepdims=True))
            total += -np.mean(np.sum(q * log_p, axis=1)) / len(others)
    return total / len(crops_for_assign)


def test_swav_loss_matches_numpy_with_multi_crop():
    crops = [_scores(b=4, k=5, seed=s) for s in range(4)]  # 2 large + 2 small crops
    codes = [numpy_sinkhorn(crops[c], 0.05, 3) for c in (0, 1)]
    value = float(swav_loss([c.astype("float32") for c in crops], [c.astype("float32") for c in codes]))
    assert value == pytest.approx(numpy_swav(crops, codes, (0, 1), 0.1), abs=1e-5)
    one = float(swav_loss([c.astype("float32") for c in crops], [codes[1].astype("float32")], crops_for_assign=(1,)))
    assert one == pytest.approx(numpy_swav(crops, codes[1:], (1,), 0.1), abs=1e-5)
    with pytest.raises(ValueError, match="crops_for_assign"):
        swav_loss(crops, codes[:1])


def test_normalize_prototypes_and_queue_push():
    kernel = np.array([[3.0, 0.0], [4.0, 2.0]], "float32")  # Dense kernel [D=2, K=2]: columns are prototypes
    np.testing.assert_allclose(np.asarray(normalize_prototypes(kernel)), [[0.6, 0.0], [0.8, 1.0]], atol=1e-7)
    np.testing.assert_allclose(np.asarray(normalize_prototypes(kernel.T, axis=1)), [[0.6, 0.8], [0.0, 1.0]],
                               atol=1e-7)
    queue = np.arange(8, dtype="float32").reshape(4, 2)
    new = np.asarray(queue_push(queue, -np.ones((1, 2), "float32")))
    np.testing.assert_array_equal(new, [[-1, -1], [0, 1], [2, 3], [4, 5]])
