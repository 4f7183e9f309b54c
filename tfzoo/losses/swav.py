"""SwAV: online clustering with Sinkhorn-Knopp and swapped prediction.

Caron et al. 2020, "Unsupervised Learning of Visual Features by Contrasting
Cluster Assignments", arXiv 2006.09882; reference: facebookresearch/swav
``main_swav.py`` (``distributed_sinkhorn`` and the loss of ``train``).

- `sinkhorn_knopp`: ``Q = exp(scores / eps)^T`` (``[K, B]``), divided by its
  total sum, then `iterations` times: rows divided by their sums and by K
  (every prototype gets mass 1/K), columns divided by their sums and by B
  (every sample gets 1/B); finally ``Q *= B`` so that each sample's
  assignment sums to 1. The total and the row sums are all-reduced across
  replicas (`all_reduce_sum`) and B counts the samples of all replicas, as
  the official ``dist.all_reduce`` calls do; column sums are per sample and
  stay local. No gradient flows through the assignments.
- `swav_loss`: for each crop used for assignment, the mean over the other
  crops of the cross-entropy between its codes and the other crop's
  ``softmax(scores / T)``; averaged over the assignment crops (the official
  ``subloss / (sum(nmb_crops) - 1)`` and ``loss /= len(crops_for_assign)``).
- `normalize_prototypes`: prototypes are re-normalized to unit length before
  every step (the official code normalizes ``prototypes.weight``, ``[K, D]``,
  along D; a Keras ``Dense`` kernel is ``[D, K]``, so the default axis is 0).
- `queue_push`: the optional feature queue, newest first
  (``queue[bs:] = queue[:-bs]; queue[:bs] = embedding``).

Official defaults: ``epsilon`` 0.05, 3 iterations, temperature 0.1, 3000
prototypes, ``crops_for_assign`` (0, 1), queue off (3840 in the small-batch
recipes, from epoch 15), prototypes frozen for the first 313 iterations.
"""

from __future__ import annotations

from keras import ops

from tfzoo.losses.contrastive import l2_normalize


def sinkhorn_knopp(scores, epsilon: float = 0.05, iterations: int = 3, all_reduce_sum=None, world_batch=None):
    """Equal-partition soft assignments of samples to prototypes (SwAV ``distributed_sinkhorn``).

    Args:
        scores: ``[B, K]`` prototype scores (cosine similarities) of this
            replica's samples (queue rows included).
        epsilon: Entropic regularization ``eps`` (0.05).
        iterations: Sinkhorn iterations (3).
        all_reduce_sum: Optional callable summing a tensor over replicas (e.g.
            ``lambda x: tf.distribute.get_replica_context().all_reduce("sum", x)``);
            None on one device.
        world_batch: Samples over all replicas (``B * num_replicas``); None:
            this replica's ``B``.

    Returns:
        float32 ``[B, K]`` assignments, each row summing to 1; no gradient.
    """
    scores = ops.stop_gradient(ops.cast(scores, "float32"))
    reduce_sum = all_reduce_sum or (lambda x: x)
    q = ops.transpose(ops.exp(scores / epsilon))  # [K, B]
    num_prototypes = ops.cast(ops.shape(q)[0], "float32")
    batch = ops.cast(ops.shape(q)[1] if world_batch is None else world_batch, "float32")
    q = q / reduce_sum(ops.sum(q))
    for _ in range(iterations):
        q = q / reduce_sum(ops.sum(q, axis=1, keepdims=True)) / num_prototypes
        q = q / ops.sum(q, axis=0, keepdims=True) / batch
    return ops.stop_gradient(ops.transpose(q * batch))


def swav_loss(scores_per_crop, assignments, crops_for_assign=(0, 1), temperature: float = 0.1):
    """SwAV's swapped-prediction loss.

    Args:
        scores_per_crop: Sequence over all crops (large crops first) of
            ``[B, K]`` prototype scores of normalized embeddings.
        assignments: Sequence aligned with `crops_for_assign` of ``[B, K]``
            codes (`sinkhorn_knopp` of that crop's scores, the last B rows
            when a queue was prepended).
        crops_for_assign: Indices of the crops whose codes are predicted.
        temperature: Softmax temperature ``T`` (0.1).

    Returns:
        Scalar float32.
    """
    if len(assignments) != len(crops_for_assign):
        raise ValueError(f"{len(assignments)} assignments for {len(crops_for_assign)} crops_for_assign")
    num_crops = len(scores_per_crop)
    log_probs = [ops.log_softmax(ops.cast(s, "float32") / temperature, axis=-1) for s in scores_per_crop]
    loss = 0.0
    for codes, crop_id in zip(assignments, crops_for_assign):
        codes = ops.stop_gradient(ops.cast(codes, "float32"))
        subloss = 0.0
        for view in range(num_crops):
            if view != crop_id:
                subloss -= ops.mean(ops.sum(codes * log_probs[view], axis=-1))
        loss += subloss / (num_crops - 1)
    return loss / len(crops_for_assign)


def normalize_prototypes(weights, axis: int = 0):
    """Prototype matrix with each prototype scaled to unit length.

    Args:
        weights: A Keras ``Dense`` kernel ``[D, K]`` (default ``axis=0``) or
            a ``[K, D]`` matrix with ``axis=1``. The caller assigns the
            result back (``kernel.assign(normalize_prototypes(kernel))``).
    """
    return l2_normalize(weights, axis=axis)


def queue_push(queue, embeddings):
    """SwAV's queue update: newest embeddings first, the oldest ``B`` rows dropped.

    Args:
        queue: ``[L, D]`` stored embeddings of one assignment crop (this
            replica's share: ``queue_length // num_replicas`` rows).
        embeddings: ``[B, D]`` this step's embeddings of that crop.

    Returns:
        The new ``[L, D]`` queue. The official code uses the queue (prepends
        ``queue @ prototypes^T`` to the scores) once its last row is non-zero.
    """
    batch = ops.shape(embeddings)[0]
    return ops.concatenate([ops.cast(embeddings, queue.dtype), queue[:ops.shape(queue)[0] - batch]], axis=0)
