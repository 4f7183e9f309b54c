"""Soft-target cross-entropy and distillation losses against hand-computed values."""

import math

import keras
import numpy as np
import pytest

from tfzoo.losses import DistillationLoss, SoftTargetCrossEntropy


def test_soft_target_cross_entropy_by_hand():
    # Probabilities p = (0.5, 0.25, 0.25); target t = (0.6, 0.4, 0) (a 0.6 mixup of classes 0 and 1):
    # -(0.6 ln 0.5 + 0.4 ln 0.25) = 0.6 * 0.693147 + 0.4 * 1.386294 = 0.970406
    loss = SoftTargetCrossEntropy()
    value = float(loss(np.array([[0.6, 0.4, 0.0]]), np.array([[0.5, 0.25, 0.25]])))
    assert value == pytest.approx(0.6 * math.log(2) + 0.4 * math.log(4), abs=1e-6)
    assert value == pytest.approx(0.970406, abs=1e-6)


def test_label_smoothing_of_mixed_targets_by_hand():
    # s = 0.3, K = 3: t = 0.7 * (0.6, 0.4, 0) + 0.1 = (0.52, 0.38, 0.1), the same as mixing the smoothed
    # one-hots 0.6 * (0.8, 0.1, 0.1) + 0.4 * (0.1, 0.8, 0.1) (timm's order).
    # -(0.52 ln 0.5 + 0.38 ln 0.25 + 0.1 ln 0.25) = 0.52 * 0.693147 + 0.48 * 1.386294 = 1.025857
    loss = SoftTargetCrossEntropy(label_smoothing=0.3)
    value = float(loss(np.array([[0.6, 0.4, 0.0]]), np.array([[0.5, 0.25, 0.25]])))
    assert value == pytest.approx(1.025857, abs=1e-6)


def test_from_logits_and_batch_mean():
    # Logits (0, ln 2, 0) -> softmax (0.25, 0.5, 0.25); one-hot class 1: ln 2. Second row: uniform, ln 3.
    loss = SoftTargetCrossEntropy(from_logits=True)
    value = float(loss(np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]),
                       np.array([[0.0, math.log(2), 0.0], [1.0, 1.0, 1.0]])))
    assert value == pytest.approx((math.log(2) + math.log(3)) / 2, abs=1e-6)


def test_soft_distillation_by_hand():
    # tau = 2. Teacher logits (2 ln 3, 0) -> softmax at tau: (3/4, 1/4); student logits (0, 0) -> (1/2, 1/2).
    # KL = 0.75 ln(1.5) + 0.25 ln(0.5) = 0.304099 - 0.173287 = 0.130812; times tau^2 = 0.523248.
    loss = DistillationLoss("soft", temperature=2.0)
    value = float(loss(np.array([[2 * math.log(3), 0.0]]), np.array([[0.0, 0.0]])))
    assert value == pytest.approx(4 * (0.75 * math.log(1.5) + 0.25 * math.log(0.5)), abs=1e-6)
    assert value == pytest.approx(0.523248, abs=1e-6)
    # Identical logits: no loss.
    assert float(loss(np.array([[1.0, -2.0, 0.5]]), np.array([[1.0, -2.0, 0.5]]))) == pytest.approx(0.0, abs=1e-6)


def test_hard_distillation_by_hand():
    # Teacher argmax is class 2; student logits (0, 0, ln 2) -> p_2 = 2/4: CE = ln 2.
    loss = DistillationLoss("hard")
    value = float(loss(np.array([[0.1, 0.2, 3.0]]), np.array([[0.0, 0.0, math.log(2)]])))
    assert value == pytest.approx(math.log(2), abs=1e-6)


@pytest.mark.parametrize("loss", [SoftTargetCrossEntropy(label_smoothing=0.1, from_logits=True),
                                  DistillationLoss("hard", temperature=3.0), DistillationLoss("soft", 4.0)])
def test_serialization_round_trip(loss):
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss))
    assert type(restored) is type(loss) and restored.get_config() == loss.get_config()


def test_distillation_rejects_bad_arguments():
    with pytest.raises(ValueError, match="kind"):
        DistillationLoss("medium")
    with pytest.raises(ValueError, match="temperature"):
        DistillationLoss("soft", temperature=0.0)
