"""Instance discrimination: NCE with a fixed Z, the full softmax and the memory bank, against float64 NumPy."""

import math

import numpy as np
import pytest

from tfzoo.losses import full_softmax_loss, memory_bank_init, memory_bank_update, nce_loss


def _unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _setup(n=20, d=4, b=3, k=5, seed=0):
    rng = np.random.default_rng(seed)
    bank = _unit(rng.normal(size=(n, d)))
    features = _unit(rng.normal(size=(b, d)))
    indices = np.array([2, 7, 11])
    noise = rng.integers(0, n, size=(b, k))
    return bank, features, indices, noise


def numpy_nce(features, indices, bank, noise, temperature, z=None):
    """Eq. (5)-(6) of Wu et al.: P(i|v) = exp(v.f_i / T) / Z, NCE against uniform noise Pn = 1/n."""
    n, b, k = len(bank), len(features), noise.shape[1]
    p = np.empty((b, k + 1))
    for i in range(b):
        rows = [indices[i]] + list(noise[i])
        p[i] = [math.exp(bank[r] @ features[i] / temperature) for r in rows]
    if z is None:
        z = p.mean() * n
    p = p / z
    pn = 1.0 / n
    total = 0.0
    for i in range(b):
        total += math.log(p[i, 0] / (p[i, 0] + k * pn + 1e-7))
        for j in range(1, k + 1):
            total += math.log(k * pn / (p[i, j] + k * pn + 1e-7))
    return -total / b, z


def test_nce_sets_z_from_first_batch_then_keeps_it():
    bank, features, indices, noise = _setup()
    args = (features.astype("float32"), indices, bank.astype("float32"))
    loss, z = nce_loss(*args, z=-1.0, temperature=0.07, noise_indices=noise)
    expected, expected_z = numpy_nce(features, indices, bank, noise, 0.07)
    assert float(z) == pytest.approx(expected_z, rel=1e-5)
    assert float(loss) == pytest.approx(expected, abs=1e-5)
    # A later batch keeps the stored Z instead of recomputing it.
    later, kept = nce_loss(*args, z=123.0, temperature=0.07, noise_indices=noise)
    assert float(kept) == pytest.approx(123.0)
    assert float(later) == pytest.approx(numpy_nce(features, indices, bank, noise, 0.07, z=123.0)[0], abs=1e-5)
    none_loss, _ = nce_loss(*args, z=None, temperature=0.07, noise_indices=noise)
    assert float(none_loss) == pytest.approx(expected, abs=1e-5)


def test_nce_draws_noise_in_range():
    bank, features, indices, _ = _setup()
    loss, z = nce_loss(features.astype("float32"), indices, bank.astype("float32"), num_negatives=7, seed=3)
    assert np.isfinite(float(loss)) and float(z) > 0


def numpy_full_softmax(features, indices, bank, temperature):
    logits = features @ bank.T / temperature
    return np.mean([np.log(np.sum(np.exp(row))) - row[y] for row, y in zip(logits, indices)])


def test_full_softmax_matches_numpy():
    bank, features, indices, _ = _setup()
    value = float(full_softmax_loss(features.astype("float32"), indices, bank.astype("float32"), 0.07))
    assert value == pytest.approx(numpy_full_softmax(features, indices, bank, 0.07), abs=1e-5)


def test_memory_bank_update_and_init():
    old = np.array([[1.0, 0.0], [0.0, 2.0]], "float32")
    new = np.array([[0.0, 1.0], [0.0, 1.0]], "float32")
    rows = np.asarray(memory_bank_update(old, new, momentum=0.5))
    # (0.5, 0.5) / |.| and 0.5 * (0, 2) + 0.5 * (0, 1) = (0, 1.5) -> (0, 1).
    np.testing.assert_allclose(rows, [[math.sqrt(0.5), math.sqrt(0.5)], [0.0, 1.0]], atol=1e-6)
    bank = memory_bank_init(1000, 12, seed=0)
    stdv = 1 / math.sqrt(12 / 3)
    assert bank.shape == (1000, 12) and bank.dtype == np.float32
    assert bank.min() >= -stdv and bank.max() <= stdv and bank.max() > 0.95 * stdv
