"""Distillation: DeiT's hard and soft losses by value, which head learns from what, a frozen and unsaved teacher.

The two-head student is a stand-in for DeiT's distilled models: Dense layers
``head`` and ``head_dist`` whose logits are averaged before the softmax, as
`tfzoo.models.deit` does at inference. The NumPy formulas below are written
from DeiT's ``losses.py`` (facebookresearch/deit), independently of the code
under test.
"""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfzoo.losses import DistillationLoss, SoftTargetCrossEntropy
from tfzoo.models.deit import distillation_heads
from tfzoo.training.distill import Distiller
from tfzoo.training.tasks import head_logits

B, F, K = 6, 4, 3


def _linear(name, kernel):
    inputs = keras.Input((2,))
    outputs = keras.layers.Dense(2, use_bias=False, name=f"{name}_fc")(inputs)
    model = keras.Model(inputs, outputs, name=name)
    model.get_layer(f"{name}_fc").set_weights([np.asarray(kernel, "float32")])
    return model


def test_loss_by_hand_and_frozen_teacher():
    # x = (1, 0): student logits (0, ln 3) -> p = (1/4, 3/4); teacher logits (ln 3, 0) -> q = (3/4, 1/4).
    student = _linear("student", [[0.0, math.log(3)], [0.0, 0.0]])
    teacher = _linear("teacher", [[math.log(3), 0.0], [0.0, 0.0]])
    distiller = Distiller(student, teacher, DistillationLoss("soft", temperature=1.0), alpha=0.25)
    distiller.compile(optimizer=keras.optimizers.SGD(0.1), loss=SoftTargetCrossEntropy(from_logits=True))
    x = np.array([[1.0, 0.0]], "float32")
    y = np.array([[0.0, 1.0]], "float32")
    # CE(label 1) = ln(4/3); KL(q || p) = 3/4 ln 3 + 1/4 ln(1/3) = ln(3) / 2.
    expected = 0.75 * math.log(4 / 3) + 0.25 * math.log(3) / 2
    loss = distiller.compute_loss(x=x, y=y, y_pred=distiller(x))
    assert float(loss) == pytest.approx(expected, abs=1e-6)

    teacher_before = teacher.get_weights()[0].copy()
    distiller.fit(x, y, epochs=1, verbose=0)
    np.testing.assert_array_equal(teacher.get_weights()[0], teacher_before)
    assert np.abs(student.get_weights()[0] - np.array([[0.0, math.log(3)], [0.0, 0.0]])).max() > 1e-3


def two_head_student(seed=0, features=F, classes=K):
    """Input -> Dense ``head`` and Dense ``head_dist`` -> mean of the logits -> softmax ``predictions``."""
    rng = np.random.default_rng(seed)
    inputs = keras.Input((features,))
    cls = keras.layers.Dense(classes, name="head")(inputs)
    dist = keras.layers.Dense(classes, name="head_dist")(inputs)
    mean = keras.layers.Average(name="head_mean")([cls, dist])
    outputs = keras.layers.Activation("softmax", dtype="float32", name="predictions")(mean)
    model = keras.Model(inputs, outputs, name="two_head")
    for layer in ("head", "head_dist"):
        model.get_layer(layer).set_weights([rng.normal(size=(features, classes)).astype("float32"),
                                            rng.normal(size=(classes,)).astype("float32")])
    return model


def linear_teacher(seed=1):
    rng = np.random.default_rng(seed)
    inputs = keras.Input((F,))
    outputs = keras.layers.Dense(K, name="teacher_fc")(inputs)
    model = keras.Model(inputs, outputs, name="teacher")
    model.set_weights([3 * rng.normal(size=(F, K)).astype("float32"), rng.normal(size=(K,)).astype("float32")])
    return model


def log_softmax(z):
    z = z - z.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def batch(seed=2):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(B, F)).astype("float32")
    # Mixed (soft) targets, as mixup gives: lam * onehot(a) + (1 - lam) * onehot(b).
    a, b = rng.integers(0, K, B), rng.integers(0, K, B)
    lam = rng.uniform(size=(B, 1))
    y = (lam * np.eye(K)[a] + (1 - lam) * np.eye(K)[b]).astype("float32")
    return x, y


def deit_loss_numpy(kind, cls, dist, teacher, y, alpha, tau, smoothing):
    """DeiT's DistillationLoss.forward on NumPy arrays (base criterion: soft-target CE with smoothing)."""
    targets = y * (1 - smoothing) + smoothing / K
    base = -(targets * log_softmax(cls)).sum(-1).mean()
    if kind == "hard":
        distill = -log_softmax(dist)[np.arange(len(dist)), teacher.argmax(-1)].mean()
    else:
        log_q, log_p = log_softmax(teacher / tau), log_softmax(dist / tau)
        distill = (np.exp(log_q) * (log_q - log_p)).sum() * tau * tau / dist.size  # sum / numel
    return base * (1 - alpha) + distill * alpha


def make_distiller(kind, alpha, tau, smoothing):
    student, teacher = two_head_student(), linear_teacher()
    distiller = Distiller(student, teacher, DistillationLoss(kind, temperature=tau, mean_over_classes=True),
                          alpha=alpha)
    distiller.compile(optimizer=keras.optimizers.SGD(0.5),
                      loss=SoftTargetCrossEntropy(label_smoothing=smoothing, from_logits=True))
    return distiller, student, teacher


@pytest.mark.parametrize("kind,alpha,tau", [("hard", 0.5, 1.0), ("soft", 0.5, 1.0), ("soft", 0.3, 3.0),
                                            ("hard", 1.0, 1.0)])
def test_deit_loss_matches_numpy(kind, alpha, tau):
    distiller, student, teacher = make_distiller(kind, alpha, tau, smoothing=0.1)
    x, y = batch()
    cls, dist = (np.asarray(v) for v in distillation_heads(student)(x))
    expected = deit_loss_numpy(kind, cls, dist, np.asarray(teacher(x)), y, alpha, tau, 0.1)
    loss = distiller.compute_loss(x=x, y=y, y_pred=distiller(x, training=True), training=True)
    assert float(loss) == pytest.approx(expected, rel=1e-5, abs=1e-6)
    # The two-head student is recognized, class head first.
    assert distiller.num_heads == 2 and len(head_logits(student)) == 2


def test_inference_output_is_mean_of_heads_and_validation_loss_uses_it():
    distiller, student, _ = make_distiller("hard", 0.5, 1.0, smoothing=0.0)
    x, y = batch()
    cls, dist = (np.asarray(v) for v in distillation_heads(student)(x))
    *heads, output = distiller(x)
    np.testing.assert_allclose(np.asarray(output), np.exp(log_softmax((cls + dist) / 2)), atol=1e-6)
    val_loss = distiller.compute_loss(x=x, y=y, y_pred=distiller(x), training=False)
    assert float(val_loss) == pytest.approx(-(y * log_softmax((cls + dist) / 2)).sum(-1).mean(), rel=1e-5)


@pytest.mark.parametrize("kind", ["hard", "soft"])
def test_class_head_learns_labels_only_and_dist_head_teacher_only(kind):
    alpha, tau, smoothing = 0.3, 2.0, 0.1
    distiller, student, teacher = make_distiller(kind, alpha, tau, smoothing)
    x, y = batch()
    with tf.GradientTape() as tape:
        loss = distiller.compute_loss(x=x, y=y, y_pred=distiller(x, training=True), training=True)
    head, head_dist = student.get_layer("head"), student.get_layer("head_dist")
    grads = tape.gradient(loss, [head.kernel, head.bias, head_dist.kernel, head_dist.bias])
    cls, dist = (np.asarray(v) for v in distillation_heads(student)(x))
    t = np.asarray(teacher(x))
    # d/dlogits of the mean CE against targets is (softmax - targets) / B.
    targets = y * (1 - smoothing) + smoothing / K
    d_cls = (1 - alpha) * (np.exp(log_softmax(cls)) - targets) / B
    if kind == "hard":
        d_dist = alpha * (np.exp(log_softmax(dist)) - np.eye(K)[t.argmax(-1)]) / B
    else:  # d/dz of tau^2 * KL(q || softmax(z / tau)) / (B K) = tau * (softmax(z / tau) - q) / (B K)
        d_dist = alpha * tau * (np.exp(log_softmax(dist / tau)) - np.exp(log_softmax(t / tau))) / (B * K)
    expected = [x.T @ d_cls, d_cls.sum(0), x.T @ d_dist, d_dist.sum(0)]
    for got, want in zip(grads, expected):
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-4, atol=1e-6)
    # And the student's trainable weights are exactly the two heads: the teacher is not among them.
    assert {id(v) for v in distiller.trainable_variables} == {id(v) for v in student.trainable_variables}


def test_train_step_leaves_teacher_unchanged_and_weights_file_has_no_teacher(tmp_path):
    distiller, student, teacher = make_distiller("soft", 0.5, 1.0, smoothing=0.1)
    x, y = batch()
    teacher_before = [w.copy() for w in teacher.get_weights()]
    student_before = [w.copy() for w in student.get_weights()]
    distiller.fit(x, y, batch_size=B, epochs=1, verbose=0)
    for before, after in zip(teacher_before, teacher.get_weights()):
        np.testing.assert_array_equal(before, after)
    assert max(np.abs(b - a).max() for b, a in zip(student_before, student.get_weights())) > 1e-3

    path = str(tmp_path / "distiller.weights.h5")
    distiller.save_weights(path)
    import h5py

    arrays = []
    with h5py.File(path) as handle:
        handle.visititems(lambda name, item: arrays.append(item.shape) if isinstance(item, h5py.Dataset) else None)
    # The student's 4 weights, and SGD's iteration counter and learning rate: nothing of the teacher.
    assert sorted(arrays) == sorted([(F, K), (K,), (F, K), (K,), (), ()])
    assert (F, K) in [tuple(w.shape) for w in teacher.weights]  # ...which has a same-shaped kernel

    # The file restores the student into a fresh distiller with another teacher.
    fresh, fresh_student, _ = make_distiller("soft", 0.5, 1.0, smoothing=0.1)
    fresh.optimizer.build(fresh.trainable_variables)
    fresh.load_weights(path)
    for want, got in zip(student.get_weights(), fresh_student.get_weights()):
        np.testing.assert_array_equal(want, got)


def test_single_head_student_gets_both_terms_on_its_logits():
    inputs = keras.Input((F,))
    logits = keras.layers.Dense(K, name="fc")(inputs)
    student = keras.Model(inputs, keras.layers.Activation("softmax", name="predictions")(logits))
    teacher = linear_teacher()
    distiller = Distiller(student, teacher, DistillationLoss("hard"), alpha=0.4)
    distiller.compile(optimizer="sgd", loss=SoftTargetCrossEntropy(from_logits=True))
    x, y = batch()
    z = np.asarray(keras.Model(inputs, logits)(x))
    expected = deit_loss_numpy("hard", z, z, np.asarray(teacher(x)), y, 0.4, 1.0, 0.0)
    loss = distiller.compute_loss(x=x, y=y, y_pred=distiller(x, training=True), training=True)
    assert distiller.num_heads == 1 and float(loss) == pytest.approx(expected, rel=1e-5)


def test_fused_softmax_teacher_gives_log_probabilities_and_fused_student_is_refused():
    from tfzoo.errors import UsageError
    from tfzoo.training.tasks.teacher import _keras_teacher

    inputs = keras.Input((F,))
    fused = keras.Model(inputs, keras.layers.Dense(K, activation="softmax", name="fc")(inputs), name="fused")
    x, _ = batch()
    np.testing.assert_allclose(np.asarray(_keras_teacher(fused, None)(x)), np.log(np.asarray(fused(x))), atol=1e-5)
    with pytest.raises(UsageError, match="applies its softmax inside its classifier layer"):
        Distiller(fused, linear_teacher())
