"""Step and polynomial warmup schedules against NumPy formulas; serialization; the linear scaling rule."""

import math

import keras
import numpy as np
import pytest

from tfzoo.errors import UsageError
from tfzoo.optimizers import (WarmupCosine, WarmupPolynomial, WarmupStep, create_schedule,
                              scaled_learning_rate)

STEPS = [0, 1, 4, 5, 6, 19, 20, 39, 40, 59, 60, 99, 100, 150]


def _warmup(step, base, warmup, init=0.0):
    return init + (base - init) * step / warmup


def numpy_step(step, base=0.4, total=100, step_size=20, rate=0.5, warmup=5):
    return _warmup(step, base, warmup) if step < warmup else base * rate ** math.floor(step / step_size)


def numpy_poly(step, base=0.4, total=100, power=2.0, warmup=5, min_lr=0.01):
    if step < warmup:
        return _warmup(step, base, warmup)
    progress = min(max((step - warmup) / (total - warmup), 0.0), 1.0)
    return min_lr + (base - min_lr) * (1 - progress) ** power


def _values(schedule):
    return np.array([float(schedule(step)) for step in STEPS])


def test_step_schedule_matches_formula():
    schedule = WarmupStep(0.4, total_steps=100, step_size=20, decay_rate=0.5, warmup_steps=5)
    np.testing.assert_allclose(_values(schedule), [numpy_step(s) for s in STEPS], rtol=1e-6, atol=1e-9)
    # By hand: after the warmup 0.4 until step 19, then halved every 20 steps (0.2 at 20, 0.05 at 60).
    assert float(schedule(19)) == pytest.approx(0.4) and float(schedule(20)) == pytest.approx(0.2)
    assert float(schedule(60)) == pytest.approx(0.05)


def test_poly_schedule_matches_formula():
    schedule = WarmupPolynomial(0.4, total_steps=100, power=2.0, warmup_steps=5, min_lr=0.01)
    np.testing.assert_allclose(_values(schedule), [numpy_poly(s) for s in STEPS], rtol=1e-6, atol=1e-9)
    assert float(schedule(100)) == pytest.approx(0.01) and float(schedule(5)) == pytest.approx(0.4)


@pytest.mark.parametrize("schedule", [
    WarmupCosine(0.5, 40, 4, min_lr=0.01, warmup_init_lr=0.001),
    WarmupStep(0.5, 40, step_size=7, decay_rate=0.3, warmup_steps=3, warmup_init_lr=0.01),
    WarmupPolynomial(0.5, 40, power=0.5, warmup_steps=2, min_lr=0.02),
])
def test_serialization_round_trip(schedule):
    config = keras.saving.serialize_keras_object(schedule)
    restored = keras.saving.deserialize_keras_object(config)
    assert type(restored) is type(schedule) and restored.get_config() == schedule.get_config()
    np.testing.assert_array_equal(_values(restored), _values(schedule))


def test_create_schedule_by_name():
    assert isinstance(create_schedule("cosine", 0.1, 100, 10), WarmupCosine)
    step = create_schedule("step", 0.1, 90, 0, decay_rate=0.1)
    assert isinstance(step, WarmupStep) and step.step_size == 30  # default: a third of the run
    assert isinstance(create_schedule("poly", 0.1, 100, 10, power=2.0), WarmupPolynomial)
    with pytest.raises(UsageError, match="unknown learning-rate schedule"):
        create_schedule("exponential", 0.1, 100)


def test_linear_scaling_rule():
    assert scaled_learning_rate(0.1, 1024, 256) == pytest.approx(0.4)
    assert scaled_learning_rate(5e-4, 64, 512) == pytest.approx(6.25e-5)
    assert scaled_learning_rate(0.1, 1024, None) == 0.1  # no base batch: used as given
