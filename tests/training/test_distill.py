"""Distiller: its loss is (1 - alpha) * the compiled loss + alpha * the distillation loss; the teacher is frozen."""

import math

import keras
import numpy as np
import pytest

from tfzoo.losses import DistillationLoss, SoftTargetCrossEntropy
from tfzoo.training.distill import Distiller


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
