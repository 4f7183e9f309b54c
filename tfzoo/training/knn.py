"""Weighted k-nearest-neighbour classification of features, and a per-epoch kNN monitor.

The monitor of self-supervised pre-training, as defined in "Unsupervised
Feature Learning via Non-Parametric Instance Discrimination" (Wu et al.,
2018, arXiv:1805.01978; zhirongw/lemniscate.pytorch, ``lib/utils``' ``kNN``)
and used by the MoCo family's monitors:

1. features of the train split (the evaluation transform: no augmentation)
   and of the queries are L2-normalized, so a dot product is the cosine
   similarity ``s``;
2. each query takes its ``k`` most similar train features (k 200);
3. each neighbour votes for its class with weight ``exp(s / T)`` (T 0.07);
4. classes are ranked by their summed votes: the first is the top-1
   prediction, the first five the top-5.

Queries are processed in chunks (`chunk_size` rows of the ``[queries, train]``
similarity matrix at a time), so memory stays bounded for large train sets.
With instance discrimination the train features come from the memory bank
instead of a fresh pass over the train split (``train_features_fn``), as
lemniscate's kNN does unless it is asked to recompute them.

Differences: ``k`` is capped at the number of train features (lemniscate
fails instead); classes with equal vote sums are ranked by `tf.math.top_k`
(lower class index first).
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import keras
import numpy as np
import tensorflow as tf

from tfzoo.errors import UsageError
from tfzoo.training.tasks.base import inference_model

DEFAULT_K = 200
DEFAULT_TEMPERATURE = 0.07


class KNNPredictions(NamedTuple):
    """Predictions of `knn_classify`.

    Attributes:
        top1: int32 ``[queries]``, the class with the largest vote sum.
        top5: int32 ``[queries, min(5, num_classes)]``, classes by decreasing vote sum.
    """

    top1: np.ndarray
    top5: np.ndarray


def _normalized(features) -> tf.Tensor:
    features = tf.convert_to_tensor(features, tf.float32)
    if features.shape.rank != 2:
        raise UsageError(f"kNN features must be a [count, dim] matrix, got shape {features.shape}")
    return tf.math.l2_normalize(features, axis=1)


def knn_classify(train_features, train_labels, query_features, num_classes: int, k: int = DEFAULT_K,
                 temperature: float = DEFAULT_TEMPERATURE, chunk_size: int = 512) -> KNNPredictions:
    """Weighted kNN predictions of `query_features` from labelled `train_features`.

    Args:
        train_features: ``[N, D]`` features of the labelled set (any scale: they are L2-normalized here).
        train_labels: ``[N]`` integer class indices in ``[0, num_classes)``.
        query_features: ``[Q, D]`` features to classify.
        num_classes: Number of classes.
        k: Neighbours per query (capped at N).
        temperature: ``T`` of the vote weight ``exp(similarity / T)``.
        chunk_size: Queries per chunk of the similarity matrix.

    Returns:
        `KNNPredictions` as NumPy arrays.

    Raises:
        UsageError: empty train set, mismatched shapes or bad parameters.
    """
    if k < 1 or temperature <= 0 or chunk_size < 1 or num_classes < 1:
        raise UsageError(f"kNN needs k >= 1, temperature > 0, chunk_size >= 1 and num_classes >= 1; got k={k}, "
                         f"temperature={temperature}, chunk_size={chunk_size}, num_classes={num_classes}")
    train = _normalized(train_features)
    queries = _normalized(query_features)
    labels = tf.convert_to_tensor(np.asarray(train_labels).reshape(-1), tf.int32)
    count = int(train.shape[0])
    if count == 0 or int(labels.shape[0]) != count or train.shape[1] != queries.shape[1]:
        raise UsageError(f"kNN: {count} train features of dim {train.shape[1]} with {int(labels.shape[0])} labels "
                         f"and queries of dim {queries.shape[1]}; they must agree and be non-empty")
    k = min(int(k), count)
    ranks = min(5, num_classes)
    top1, top5 = [], []
    for start in range(0, int(queries.shape[0]), chunk_size):
        similarity = tf.matmul(queries[start:start + chunk_size], train, transpose_b=True)  # [chunk, N]
        nearest, index = tf.math.top_k(similarity, k=k)
        weights = tf.exp(nearest / temperature)
        votes = tf.einsum("qk,qkc->qc", weights, tf.one_hot(tf.gather(labels, index), num_classes))
        ranked = tf.math.top_k(votes, k=ranks).indices
        top1.append(ranked[:, 0].numpy())
        top5.append(ranked.numpy())
    if not top1:
        return KNNPredictions(np.zeros([0], np.int32), np.zeros([0, ranks], np.int32))
    return KNNPredictions(np.concatenate(top1).astype(np.int32), np.concatenate(top5).astype(np.int32))


def knn_accuracy(train_features, train_labels, query_features, query_labels, num_classes: int, k: int = DEFAULT_K,
                 temperature: float = DEFAULT_TEMPERATURE, chunk_size: int = 512) -> dict:
    """Top-1 and top-5 accuracy of `knn_classify` on labelled queries.

    Returns:
        ``{"knn_top1": float, "knn_top5": float}`` (top-5: top-``min(5, num_classes)``).
    """
    predictions = knn_classify(train_features, train_labels, query_features, num_classes, k, temperature,
                               chunk_size)
    truth = np.asarray(query_labels).reshape(-1)
    if truth.size == 0:
        return {"knn_top1": 0.0, "knn_top5": 0.0}
    return {"knn_top1": float(np.mean(predictions.top1 == truth)),
            "knn_top5": float(np.mean(np.any(predictions.top5 == truth[:, None], axis=1)))}


def extract_features(backbone: keras.Model, dataset) -> tuple[np.ndarray, np.ndarray]:
    """Runs `backbone` in inference mode over ``(images, labels)`` batches.

    Returns:
        ``(features, labels)``: float32 ``[N, D]`` and int32 ``[N]``, in the dataset's order.
    """
    forward = tf.function(lambda images: tf.cast(backbone(images, training=False), tf.float32),
                          reduce_retracing=True)
    features, labels = [], []
    for images, batch_labels in dataset:
        features.append(forward(images).numpy())
        labels.append(np.asarray(batch_labels).reshape(-1))
    if not features:
        raise UsageError("kNN: the dataset yielded no batches")
    return np.concatenate(features), np.concatenate(labels).astype(np.int32)


class KNNMonitor(keras.callbacks.Callback):
    """Adds ``knn_top1`` / ``knn_top5`` of the val split to the logs at the end of every epoch.

    Put it before the callbacks that read the logs (TensorBoard, CSV, the
    checkpoint): Keras hands one logs dict to the callbacks in order.

    Args:
        val_data: ``(images, labels)`` batches of the val split (evaluation transform).
        num_classes: Number of classes.
        train_data: ``(images, labels)`` batches of the train split with the
            evaluation transform (no augmentation); not needed with `train_features_fn`.
        backbone_fn: ``backbone_fn(trained_model) -> keras.Model`` mapping
            images to pooled features ``[B, C]``; default: the trained model's
            inference model (`tfzoo.training.tasks.inference_model`).
        train_features_fn: ``train_features_fn(trained_model) -> (features,
            labels)``: the train features without a pass over the train split
            (instance discrimination's memory bank).
        k: Neighbours per query.
        temperature: Vote temperature.
        every: Evaluate every this many epochs (and not in between).
        verbose: Print one line per evaluation.
    """

    def __init__(self, val_data, num_classes: int, *, train_data=None,
                 backbone_fn: Callable | None = None, train_features_fn: Callable | None = None,
                 k: int = DEFAULT_K, temperature: float = DEFAULT_TEMPERATURE, every: int = 1,
                 verbose: bool = False):
        super().__init__()
        if train_data is None and train_features_fn is None:
            raise ValueError("KNNMonitor needs train_data or train_features_fn")
        self.val_data = val_data
        self.train_data = train_data
        self.num_classes = int(num_classes)
        self.backbone_fn = backbone_fn or inference_model
        self.train_features_fn = train_features_fn
        self.k = int(k)
        self.temperature = float(temperature)
        self.every = max(1, int(every))
        self.verbose = verbose
        self.history: list[dict] = []

    def evaluate(self) -> dict:
        """``{"knn_top1", "knn_top5"}`` of the model as it is now."""
        backbone = self.backbone_fn(self.model)
        if self.train_features_fn is not None:
            train_features, train_labels = self.train_features_fn(self.model)
        else:
            train_features, train_labels = extract_features(backbone, self.train_data)
        val_features, val_labels = extract_features(backbone, self.val_data)
        return knn_accuracy(train_features, train_labels, val_features, val_labels, self.num_classes, self.k,
                            self.temperature)

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every:
            return
        results = self.evaluate()
        self.history.append({"epoch": epoch + 1, **results})
        if logs is not None:
            logs.update(results)
        if self.verbose:
            print(f"epoch {epoch + 1}: kNN (k={self.k}, T={self.temperature:g}) top-1 {results['knn_top1']:.4f}, "
                  f"top-5 {results['knn_top5']:.4f}", flush=True)
