"""Instance discrimination with a memory bank: NCE and the full non-parametric softmax.

Wu et al. 2018, "Unsupervised Feature Learning via Non-Parametric Instance
Discrimination", arXiv 1805.01978; reference: zhirongw/lemniscate.pytorch
(``lib/NCEAverage.py``, ``lib/NCECriterion.py``, ``lib/LinearAverage.py``).

- `nce_loss` (``NCEAverage`` + ``NCECriterion``): for each sample ``i`` with
  memory index ``y_i``, ``P(j) = exp(v_j . f_i / T) / Z`` for the bank row of
  its own index (the positive) and ``K`` rows drawn uniformly from the bank
  (noise, possibly itself). With the noise distribution ``Pn = 1/n``, the loss
  is ``-(sum_i log(P_i+ / (P_i+ + K Pn + eps)) + sum_{i,k} log(K Pn / (P_ik + K Pn + eps))) / B``
  (``eps = 1e-7``). ``Z`` is fixed from the first batch:
  ``Z = mean(exp(out / T)) * n`` over the ``B x (K+1)`` scores, then constant.
- `full_softmax_loss` (``LinearAverage`` + cross-entropy): softmax over all
  ``n`` bank rows at temperature ``T``, the sample's own index as the label.
- `memory_bank_update`: ``normalize(m * v_y + (1 - m) * f)``, momentum 0.5,
  done after the loss used the old rows (the reference updates in backward).
- `memory_bank_init`: uniform in ``[-s, s]`` with ``s = 1 / sqrt(D / 3)``.

The bank rows and Z carry no gradient (the reference's backward treats them
as constants). Features are L2-normalized here; the reference's network
ends with an L2 normalization, so this changes nothing there.
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

from tfzoo.losses.contrastive import _cross_entropy, l2_normalize

NCE_EPSILON = 1e-7


def _gather_rows(bank, indices):
    return ops.stop_gradient(ops.take(ops.cast(bank, "float32"), ops.cast(indices, "int32"), axis=0))


def nce_scores(features, indices, bank, noise_indices, temperature: float = 0.07):
    """Unnormalized ``exp(v . f / T)`` of the positive (column 0) and the noise rows, ``[B, K + 1]``."""
    features = l2_normalize(features)
    idx = ops.concatenate([ops.reshape(ops.cast(indices, "int32"), (-1, 1)), ops.cast(noise_indices, "int32")],
                          axis=1)
    weights = _gather_rows(bank, idx)  # [B, K + 1, D]
    return ops.exp(ops.einsum("bkd,bd->bk", weights, features) / temperature)


def nce_loss(features, indices, bank, z=None, num_negatives: int = 4096, temperature: float = 0.07,
             noise_indices=None, seed=None, all_reduce_mean=None):
    """NCE loss of instance discrimination with a fixed normalizing constant.

    Args:
        features: ``[B, D]`` embeddings (normalized here).
        indices: ``[B]`` integer index of each sample in the train set (its
            memory-bank row).
        bank: ``[n, D]`` memory bank.
        z: Normalizing constant ``Z`` (scalar); None or a value ``<= 0``
            means "not set yet": it is computed from this batch. The task
            keeps it in a non-trainable variable initialized to -1 and
            assigns the returned value.
        num_negatives: ``K`` (4096).
        temperature: ``T`` (0.07).
        noise_indices: Optional ``[B, K]`` bank rows of the noise samples;
            None draws them uniformly with ``keras.random.randint``.
        seed: Seed or ``keras.random.SeedGenerator`` for the draw.
        all_reduce_mean: Optional callable averaging a scalar over replicas,
            so that every replica fixes the same ``Z`` (the reference runs
            one process over the whole batch).

    Returns:
        ``(loss, z)``: scalar float32 loss and the float32 ``Z`` used.
    """
    num_data = ops.shape(bank)[0]
    batch = ops.shape(features)[0]
    if noise_indices is None:
        noise_indices = keras.random.randint((batch, num_negatives), 0, num_data, dtype="int32", seed=seed)
    else:
        num_negatives = ops.shape(noise_indices)[1]
    scores = nce_scores(features, indices, bank, noise_indices, temperature)
    first = ops.mean(ops.stop_gradient(scores))
    if all_reduce_mean is not None:
        first = all_reduce_mean(first)
    first = first * ops.cast(num_data, "float32")
    z = first if z is None else ops.where(ops.cast(z, "float32") > 0, ops.cast(z, "float32"), first)
    z = ops.stop_gradient(z)
    probs = scores / z
    noise_mass = ops.cast(num_negatives, "float32") / ops.cast(num_data, "float32")  # K * Pn
    positive = probs[:, 0]
    log_model = ops.log(positive / (positive + noise_mass + NCE_EPSILON))
    log_noise = ops.log(noise_mass / (probs[:, 1:] + noise_mass + NCE_EPSILON))
    loss = -(ops.sum(log_model) + ops.sum(log_noise)) / ops.cast(batch, "float32")
    return loss, z


def full_softmax_loss(features, indices, bank, temperature: float = 0.07):
    """Non-parametric softmax over the whole memory bank (``LinearAverage``), mean cross-entropy.

    Args:
        features: ``[B, D]`` embeddings (normalized here).
        indices: ``[B]`` memory-bank row of each sample (the label).
        bank: ``[n, D]`` memory bank (no gradient).
        temperature: ``T`` (0.07).
    """
    features = l2_normalize(features)
    logits = ops.matmul(features, ops.transpose(ops.stop_gradient(ops.cast(bank, "float32")))) / temperature
    return ops.mean(_cross_entropy(logits, ops.cast(indices, "int32")))


def memory_bank_update(bank_rows, features, momentum: float = 0.5):
    """New memory rows ``normalize(m * old + (1 - m) * f)``.

    Args:
        bank_rows: ``[B, D]`` current rows of the samples (``bank[indices]``).
        features: ``[B, D]`` this step's embeddings (normalized here, as the
            reference's features are).
        momentum: ``m`` (0.5).

    Returns:
        ``[B, D]`` float32 rows to write back at ``indices`` (no gradient).
    """
    old = ops.cast(bank_rows, "float32")
    mixed = old * momentum + ops.stop_gradient(l2_normalize(features)) * (1.0 - momentum)
    return ops.stop_gradient(l2_normalize(mixed))


def memory_bank_init(num_data: int, dim: int, seed: int | None = 0) -> np.ndarray:
    """The reference's initial bank: float32 ``[n, D]`` uniform in ``[-s, s]``, ``s = 1 / sqrt(D / 3)``."""
    stdv = 1.0 / math.sqrt(dim / 3.0)
    rng = np.random.default_rng(seed)
    return rng.uniform(-stdv, stdv, size=(num_data, dim)).astype(np.float32)
