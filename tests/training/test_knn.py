"""The weighted kNN (Wu et al. 2018) against an independent NumPy version, and the per-epoch monitor."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfzoo.errors import UsageError
from tfzoo.training.knn import KNNMonitor, extract_features, knn_accuracy, knn_classify


def numpy_knn(train, labels, queries, num_classes, k, temperature):
    """Cosine similarity, top-k neighbours, votes exp(s / T) summed per class; float64, one query at a time."""
    train = train.astype(np.float64) / np.linalg.norm(train, axis=1, keepdims=True)
    queries = queries.astype(np.float64) / np.linalg.norm(queries, axis=1, keepdims=True)
    k = min(k, len(train))
    top1, top5 = [], []
    for query in queries:
        similarity = train @ query
        nearest = np.argsort(-similarity, kind="stable")[:k]
        votes = np.zeros(num_classes)
        for index in nearest:
            votes[labels[index]] += np.exp(similarity[index] / temperature)
        order = np.argsort(-votes, kind="stable")
        top1.append(order[0])
        top5.append(order[:min(5, num_classes)])
    return np.array(top1), np.array(top5)


def _random_set(seed, train=300, queries=60, dim=16, num_classes=7):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(num_classes, dim))
    train_labels = rng.integers(0, num_classes, train)
    query_labels = rng.integers(0, num_classes, queries)
    train_x = centers[train_labels] + 1.5 * rng.normal(size=(train, dim))
    query_x = centers[query_labels] + 1.5 * rng.normal(size=(queries, dim))
    return (train_x.astype(np.float32) * rng.uniform(0.1, 10, (train, 1)).astype(np.float32), train_labels,
            query_x.astype(np.float32), query_labels)


@pytest.mark.parametrize("k, temperature, chunk", [(20, 0.07, 512), (200, 0.07, 7), (5, 0.5, 13), (1000, 0.1, 64)])
def test_predictions_match_numpy_exactly(k, temperature, chunk):
    train_x, train_y, query_x, query_y = _random_set(seed=k)
    got = knn_classify(train_x, train_y, query_x, 7, k=k, temperature=temperature, chunk_size=chunk)
    top1, top5 = numpy_knn(train_x, train_y, query_x, 7, k, temperature)
    np.testing.assert_array_equal(got.top1, top1)
    np.testing.assert_array_equal(got.top5, top5)
    accuracy = knn_accuracy(train_x, train_y, query_x, query_y, 7, k=k, temperature=temperature, chunk_size=chunk)
    assert accuracy["knn_top1"] == pytest.approx(np.mean(top1 == query_y), abs=1e-12)
    assert accuracy["knn_top5"] == pytest.approx(np.mean([y in row for y, row in zip(query_y, top5)]), abs=1e-12)
    assert 0.3 < accuracy["knn_top1"] < accuracy["knn_top5"] <= 1.0  # separable enough to mean something


def test_weights_decide_over_counts():
    """One very close neighbour of class 1 outvotes two far ones of class 0 at T 0.07, not at T 100."""
    train = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]], np.float32)
    labels = np.array([1, 0, 0])
    query = np.array([[1.0, 0.05]], np.float32)
    assert knn_classify(train, labels, query, 2, k=3, temperature=0.07).top1[0] == 1
    assert knn_classify(train, labels, query, 2, k=3, temperature=100.0).top1[0] == 0
    assert knn_classify(train, labels, query, 2, k=3).top5.shape == (1, 2)  # top-min(5, classes)


def test_bad_inputs_are_usage_errors():
    with pytest.raises(UsageError, match="k >= 1"):
        knn_classify(np.ones((3, 2)), [0, 1, 0], np.ones((1, 2)), 2, k=0)
    with pytest.raises(UsageError, match="must agree"):
        knn_classify(np.ones((3, 2)), [0, 1], np.ones((1, 2)), 2)


def _toy_data(count=48, size=8, num_classes=3, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, num_classes, count).astype(np.int32)
    images = rng.normal(size=(count, size, size, 3)).astype(np.float32) + labels[:, None, None, None]
    return tf.data.Dataset.from_tensor_slices((images, labels)).batch(16), images, labels


def _toy_backbone():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(6, 3, name="conv")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    return keras.Model(inputs, keras.layers.GlobalAveragePooling2D(name="pool")(x), name="toy_backbone")


def test_monitor_writes_knn_into_the_epoch_logs():
    keras.utils.set_random_seed(0)
    data, images, labels = _toy_data()
    backbone = _toy_backbone()
    classifier = keras.Sequential([backbone, keras.layers.Dense(3)])
    classifier.compile(optimizer="sgd", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    monitor = KNNMonitor(data, 3, train_data=data, backbone_fn=lambda model: model.layers[0], k=10)
    history = classifier.fit(data, epochs=2, callbacks=[monitor], verbose=0)
    assert len(history.history["knn_top1"]) == 2 and len(monitor.history) == 2
    # The last epoch's value is the kNN of the trained backbone's inference-mode features.
    features = backbone(images, training=False).numpy()
    expected = knn_accuracy(features, labels, features, labels, 3, k=10)
    assert history.history["knn_top1"][-1] == pytest.approx(expected["knn_top1"], abs=1e-9)
    assert history.history["knn_top5"][-1] == pytest.approx(expected["knn_top5"], abs=1e-9)
    np.testing.assert_allclose(extract_features(backbone, data)[0], features, rtol=1e-5, atol=1e-5)


def test_monitor_takes_train_features_from_a_function():
    """Instance discrimination: train features from a memory bank, not a pass over the train split."""
    data, _, labels = _toy_data()
    backbone = _toy_backbone()
    bank = np.eye(6, dtype=np.float32)[labels] + 0.01  # a bank of the backbone's width that knows the classes
    monitor = KNNMonitor(data, 3, backbone_fn=lambda model: backbone,
                         train_features_fn=lambda model: (bank, labels), k=5, every=2)
    monitor.set_model(backbone)
    logs = {}
    monitor.on_epoch_end(0, logs)
    assert logs == {}  # every=2: not after the first epoch
    monitor.on_epoch_end(1, logs)
    features = backbone(_toy_data()[1], training=False).numpy()
    assert logs == knn_accuracy(bank, labels, features, labels, 3, k=5)
