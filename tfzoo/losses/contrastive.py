"""Contrastive losses and state updates of SimCLR and MoCo v1/v2/v3.

- `nt_xent_loss`: SimCLR's NT-Xent (Chen et al. 2020, "A Simple Framework for
  Contrastive Learning of Visual Representations", arXiv 2002.05709), as
  google-research/simclr ``tf2/objective.py`` ``add_contrastive_loss``: each
  view is classified against the other view of every sample (the positive is
  its own sample) and against the same-kind views of all other samples (its
  own same-view similarity is masked with ``-1e9``). Like the official code,
  the per-example loss is the *sum* of the two directions
  (``loss_a + loss_b``) and the batch reduction is a mean, so the value is
  twice the mean over the 2N views of the paper's formula.
- `info_nce_loss`: MoCo v1/v2 (He et al. 2019, arXiv 1911.05722; Chen et al.
  2020, arXiv 2003.04297), facebookresearch/moco ``moco/builder.py``: logits
  ``[q.k, q.queue^T] / T`` with the positive at index 0, mean cross-entropy.
- `moco_v3_loss`: MoCo v3 (Chen et al. 2021, "An Empirical Study of Training
  Self-Supervised Vision Transformers", arXiv 2104.02057),
  facebookresearch/moco-v3 ``moco/builder.py`` ``contrastive_loss``:
  ``CE(q.k_all^T / T, arange(N) + N * rank) * 2T``.
- `momentum_update`, `enqueue`, `moco_v3_momentum`: the momentum encoder
  update, MoCo's ``_dequeue_and_enqueue`` and MoCo v3's ``adjust_moco_momentum``
  as pure functions of arrays (the task owns the variables and assigns).

Distributed training: negatives span the global batch. The caller gathers the
embeddings of all replicas in replica order (``*_all``, ``[R * N, D]``) and
passes ``replica_offset = replica_id * N``; with ``*_all=None`` the local batch
is the whole batch. The per-replica losses then average (over replicas) to the
one-device loss of the global batch. SimCLR lets gradients flow through the
gather (its ``tpu_cross_replica_concat`` is an all-reduce sum); MoCo gathers
keys, which carry no gradient.

All functions use ``keras.ops`` only and compute in float32.
"""

from __future__ import annotations

import math

import keras
from keras import ops

# Logit subtracted from a view's similarity with itself (google-research/simclr LARGE_NUM).
LARGE_NUM = 1e9


def l2_normalize(x, axis: int = -1, epsilon: float = 1e-12):
    """``x / max(||x||, epsilon)`` along `axis` (torch ``F.normalize``; float32)."""
    x = ops.cast(x, "float32")
    norm = ops.sqrt(ops.sum(ops.square(x), axis=axis, keepdims=True))
    return x / ops.maximum(norm, epsilon)


def _cross_entropy(logits, labels):
    """Per-row cross-entropy of float32 logits ``[N, C]`` against integer labels ``[N]``."""
    log_p = ops.log_softmax(logits, axis=-1)
    one_hot = ops.one_hot(labels, ops.shape(logits)[-1], dtype=log_p.dtype)
    return -ops.sum(one_hot * log_p, axis=-1)


def _local_labels(batch_size, replica_offset):
    return ops.arange(batch_size, dtype="int32") + ops.cast(replica_offset, "int32")


def nt_xent_per_example(z1, z2, temperature: float = 0.1, z1_all=None, z2_all=None, replica_offset=0):
    """Per-example NT-Xent, ``loss_a + loss_b`` (``[N]``); see `nt_xent_loss`."""
    z1 = l2_normalize(z1)
    z2 = l2_normalize(z2)
    z1_all = z1 if z1_all is None else l2_normalize(z1_all)
    z2_all = z2 if z2_all is None else l2_normalize(z2_all)
    labels = _local_labels(ops.shape(z1)[0], replica_offset)
    mask = ops.one_hot(labels, ops.shape(z1_all)[0], dtype="float32") * LARGE_NUM
    logits_aa = ops.matmul(z1, ops.transpose(z1_all)) / temperature - mask
    logits_bb = ops.matmul(z2, ops.transpose(z2_all)) / temperature - mask
    logits_ab = ops.matmul(z1, ops.transpose(z2_all)) / temperature
    logits_ba = ops.matmul(z2, ops.transpose(z1_all)) / temperature
    # The positive (other view of the same sample) is column `label` of the [ab, aa] concatenation.
    loss_a = _cross_entropy(ops.concatenate([logits_ab, logits_aa], axis=1), labels)
    loss_b = _cross_entropy(ops.concatenate([logits_ba, logits_bb], axis=1), labels)
    return loss_a + loss_b


def nt_xent_loss(z1, z2, temperature: float = 0.1, z1_all=None, z2_all=None, replica_offset=0):
    """SimCLR's NT-Xent loss of two views' projections (mean over the local batch).

    Args:
        z1: Projections of the first views, ``[N, D]`` (normalized here).
        z2: Projections of the second views, ``[N, D]``.
        temperature: Softmax temperature (SimCLR's ``--temperature`` default
            0.1; ``add_contrastive_loss``'s own default is 1.0).
        z1_all: `z1` of all replicas concatenated in replica order
            ``[R * N, D]``, or None (single device: `z1`).
        z2_all: Same for `z2`.
        replica_offset: Row of this replica's first sample in ``*_all``
            (``replica_id * N``).

    Returns:
        Scalar float32: mean over the local batch of ``loss_a + loss_b``.
    """
    return ops.mean(nt_xent_per_example(z1, z2, temperature, z1_all, z2_all, replica_offset))


def info_nce_loss(q, k, queue, temperature: float = 0.07):
    """MoCo v1/v2 InfoNCE with a queue of negatives (mean over the batch).

    Args:
        q: Query embeddings ``[N, D]``; normalized here (MoCo normalizes in
            ``forward``; normalizing twice changes nothing).
        k: Key embeddings ``[N, D]`` from the momentum encoder; normalized
            here. The caller stops their gradient.
        queue: Negative keys ``[K, D]``, one key per *row* (the official
            buffer is ``[D, K]``); used as stored: MoCo's queue holds
            normalized keys and starts as normalized Gaussian noise.
        temperature: MoCo v1 0.07, v2 0.2 (``--moco-t``).

    Returns:
        Scalar float32 mean cross-entropy with the positive at logit 0.
    """
    q = l2_normalize(q)
    k = l2_normalize(k)
    queue = ops.cast(queue, "float32")
    positive = ops.sum(q * k, axis=-1, keepdims=True)
    negative = ops.matmul(q, ops.transpose(queue))
    logits = ops.concatenate([positive, negative], axis=1) / temperature
    labels = ops.zeros((ops.shape(q)[0],), dtype="int32")
    return ops.mean(_cross_entropy(logits, labels))


def moco_v3_loss(q, k, temperature: float = 1.0, k_all=None, replica_offset=0):
    """MoCo v3's ``contrastive_loss(q, k)``: ``CE(q.k_all^T / T, arange + offset) * 2T``.

    The symmetric MoCo v3 objective is ``moco_v3_loss(q1, k2) + moco_v3_loss(q2, k1)``.

    Args:
        q: Predictor outputs ``[N, D]`` (normalized here).
        k: Momentum-encoder outputs ``[N, D]`` (normalized here; no gradient).
        temperature: ``--moco-t``: 1.0 (official default, ResNet-50 recipes);
            the ViT recipes use 0.2.
        k_all: `k` of all replicas in replica order ``[R * N, D]``, or None.
        replica_offset: ``replica_id * N``.

    Returns:
        Scalar float32.
    """
    q = l2_normalize(q)
    k_all = l2_normalize(k if k_all is None else k_all)
    logits = ops.matmul(q, ops.transpose(k_all)) / temperature
    labels = _local_labels(ops.shape(q)[0], replica_offset)
    return ops.mean(_cross_entropy(logits, labels)) * (2.0 * temperature)


def momentum_update(online_weights, target_weights, momentum):
    """Momentum (EMA) encoder update: ``target <- m * target + (1 - m) * online``.

    Args:
        online_weights: Sequence of the online encoder's variables or arrays.
        target_weights: Matching sequence of the momentum encoder's variables
            or arrays.
        momentum: ``m`` (MoCo v1/v2 0.999; MoCo v3 `moco_v3_momentum`).

    Returns:
        The list of new target values. When the targets are Keras variables
        they are also assigned (``variable.assign``), so a task can simply
        call ``momentum_update(encoder.weights, key_encoder.weights, m)``.
    """
    online_weights, target_weights = list(online_weights), list(target_weights)
    if len(online_weights) != len(target_weights):
        raise ValueError(f"online has {len(online_weights)} weights but target has {len(target_weights)}")
    new_values = []
    for online, target in zip(online_weights, target_weights):
        value = ops.convert_to_tensor(target)
        m = ops.cast(momentum, value.dtype)
        new = value * m + ops.cast(ops.convert_to_tensor(online), value.dtype) * (1.0 - m)
        if isinstance(target, keras.Variable):
            target.assign(new)
        new_values.append(new)
    return new_values


def enqueue(queue, ptr, keys):
    """MoCo's ``_dequeue_and_enqueue``: overwrite ``queue[ptr:ptr + B]`` with `keys`.

    Args:
        queue: ``[K, D]`` keys, one per row.
        ptr: Integer scalar: the oldest row.
        keys: ``[B, D]``: the keys of the *global* batch (all replicas
            gathered, in replica order). ``K % B == 0`` as MoCo asserts, so a
            write never wraps.

    Returns:
        ``(new_queue, new_ptr)`` with ``new_ptr = (ptr + B) % K`` (int32).
    """
    queue_size = ops.shape(queue)[0]
    batch = ops.shape(keys)[0]
    if isinstance(queue_size, int) and isinstance(batch, int) and queue_size % batch:
        raise ValueError(f"queue size {queue_size} must be a multiple of the global batch {batch}")
    ptr = ops.cast(ptr, "int32")
    new_queue = ops.slice_update(queue, ops.stack([ptr, ops.zeros((), "int32")]), ops.cast(keys, queue.dtype))
    return new_queue, (ptr + batch) % queue_size


def moco_v3_momentum(epoch_fraction, total_epochs, base: float = 0.99):
    """MoCo v3's ``adjust_moco_momentum``: ``1 - (1 + cos(pi * e / E)) / 2 * (1 - base)``.

    Args:
        epoch_fraction: Fractional epoch ``e = epoch + step / steps_per_epoch``
            (float or scalar tensor).
        total_epochs: ``E``.
        base: ``--moco-m`` (0.99): the momentum at ``e = 0``; it rises to 1.

    Returns:
        The momentum (same kind as `epoch_fraction`).
    """
    if isinstance(epoch_fraction, (int, float)):
        return 1.0 - 0.5 * (1.0 + math.cos(math.pi * epoch_fraction / total_epochs)) * (1.0 - base)
    progress = ops.cast(epoch_fraction, "float32") / float(total_epochs)
    return 1.0 - 0.5 * (1.0 + ops.cos(math.pi * progress)) * (1.0 - base)


@keras.saving.register_keras_serializable(package="tfzoo")
class NTXentLoss(keras.losses.Loss):
    """`nt_xent_loss` as a Keras loss: ``y_pred`` is ``[2N, D]``, the two views stacked (``[z1; z2]``).

    This is how ``add_contrastive_loss`` takes its input (``tf.split(hidden, 2)``);
    ``y_true`` is ignored (any tensor, e.g. the labels). Single device only: use `nt_xent_loss` with
    ``z*_all`` for the global batch.

    Args:
        temperature: Softmax temperature (SimCLR 0.1).
    """

    def __init__(self, temperature: float = 0.1, name: str = "nt_xent", reduction="sum_over_batch_size",
                 dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.temperature = float(temperature)

    def call(self, y_true, y_pred):
        z1, z2 = ops.split(y_pred, 2, axis=0)
        return nt_xent_per_example(z1, z2, self.temperature)

    def get_config(self):
        config = super().get_config()
        config["temperature"] = self.temperature
        return config
