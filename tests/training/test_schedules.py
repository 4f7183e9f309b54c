"""WarmupCosine against the closed-form formula, and its serialization."""

import math

import keras
import numpy as np
import pytest

from tfzoo.optimizers import WarmupCosine


def reference_lr(step, base, total, warmup, min_lr, init):
    if step < warmup:
        return init + (base - init) * step / warmup
    progress = min(max((step - warmup) / max(total - warmup, 1), 0.0), 1.0)
    return min_lr + 0.5 * (base - min_lr) * (1 + math.cos(math.pi * progress))


@pytest.mark.parametrize("warmup", [0, 10])
def test_warmup_cosine_matches_formula(warmup):
    schedule = WarmupCosine(0.1, total_steps=100, warmup_steps=warmup, min_lr=1e-4, warmup_init_lr=1e-3)
    for step in [0, 1, 5, 9, 10, 11, 50, 99, 100, 150]:
        expected = reference_lr(step, 0.1, 100, warmup, 1e-4, 1e-3)
        assert float(schedule(step)) == pytest.approx(expected, rel=1e-5, abs=1e-7)


def test_warmup_cosine_serializes():
    schedule = WarmupCosine(0.5, total_steps=40, warmup_steps=4)
    restored = keras.optimizers.schedules.deserialize(keras.optimizers.schedules.serialize(schedule))
    assert isinstance(restored, WarmupCosine)
    assert [float(restored(s)) for s in range(0, 41, 8)] == [float(schedule(s)) for s in range(0, 41, 8)]
    with pytest.raises(ValueError):
        WarmupCosine(0.1, total_steps=10, warmup_steps=11)


def test_create_optimizer_excludes_biases_and_norms_from_decay():
    from tfzoo import create_model
    from tfzoo.optimizers import create_optimizer, no_decay_variables

    model = create_model("mobilenet_v3_small", num_classes=3, input_shape=(32, 32, 3))
    excluded = no_decay_variables(model)
    assert excluded and all(len(v.shape) <= 1 for v in excluded)
    assert len(excluded) == sum(1 for v in model.trainable_variables if len(v.shape) == 1)
    opt = create_optimizer("adamw", model, learning_rate=0.1, weight_decay=0.5)
    assert isinstance(opt, keras.optimizers.AdamW)
    # One decoupled step with zero gradients: kernels shrink by lr * wd, excluded variables stay.
    opt.build(model.trainable_variables)
    before = {v.path: np.array(v) for v in model.trainable_variables}
    opt.apply_gradients([(np.zeros(v.shape, "float32"), v) for v in model.trainable_variables])
    excluded_paths = {v.path for v in excluded}
    for v in model.trainable_variables:
        expected = before[v.path] if v.path in excluded_paths else before[v.path] * (1 - 0.1 * 0.5)
        np.testing.assert_allclose(np.array(v), expected, rtol=1e-5, atol=1e-7)
