"""ModelEMA: timm's decay warmup, averages of all weights (batch-norm statistics included) against a NumPy
recurrence, checkpoint/resume of the averages, and the swap around validation."""

import keras
import numpy as np
import pytest

from tfzoo.optimizers import create_optimizer
from tfzoo.training.ema import ModelEMA, ema_decay, inference_weights


def test_decay_warmup_by_hand():
    # 1 - (1 + step)^(-2/3): step 0 -> 0, step 7 -> 1 - 8^(-2/3) = 0.75, step 999 -> 1 - 1000^(-2/3) = 0.99.
    assert float(ema_decay(0, 0.9999)) == 0.0
    assert float(ema_decay(7, 0.9999)) == pytest.approx(0.75, abs=1e-6)
    assert float(ema_decay(999, 0.9999)) == pytest.approx(0.99, abs=1e-5)
    assert float(ema_decay(999, 0.9)) == pytest.approx(0.9)          # capped at the decay
    assert float(ema_decay(3, 0.9, warmup=False)) == pytest.approx(0.9)


def _model(seed):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((4,))
    x = keras.layers.Dense(5, name="fc")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    outputs = keras.layers.Dense(2, activation="softmax", name="head")(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=create_optimizer("lamb", model, learning_rate=0.05, weight_decay=0.01),
                  loss="categorical_crossentropy")
    return model, ModelEMA(model, decay=0.6)


def _step(model, ema, rng):
    grads = [rng.normal(size=v.shape).astype("float32") for v in model.trainable_variables]
    model.optimizer.apply(grads, model.trainable_variables)
    moving_mean = next(v for v in model.weights if v.path == "bn/moving_mean")
    moving_mean.assign(rng.normal(size=moving_mean.shape).astype("float32"))  # as a training step would
    ema.update()


def test_averages_follow_the_recurrence_and_survive_a_checkpoint(tmp_path):
    model, ema = _model(0)
    rng = np.random.default_rng(0)
    expected = None
    for step in range(4):
        _step(model, ema, rng)
        decay = min(0.6, 1 - (1 + step) ** (-2 / 3))
        weights = model.get_weights()
        expected = weights if expected is None else [decay * a + (1 - decay) * w for a, w in zip(expected, weights)]
    names = [v.path for v in model.weights]
    assert "bn/moving_mean" in names and "bn/moving_variance" in names  # non-trainable weights are averaged too
    for name, want, got in zip(names, expected, ema.average_values()):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-6, err_msg=name)
    assert any(np.abs(a - w).max() > 1e-3 for a, w in zip(expected, model.get_weights()))  # they differ
    for got, want in zip(inference_weights(model), expected):
        np.testing.assert_allclose(got, want, atol=1e-6)

    # The averages are optimizer variables: model.save_weights / load_weights carry them.
    path = str(tmp_path / "ckpt.weights.h5")
    model.save_weights(path)
    resumed, resumed_ema = _model(1)
    resumed.optimizer.build(resumed.trainable_variables)
    resumed.load_weights(path)
    for got, want in zip(resumed_ema.average_values(), ema.average_values()):
        np.testing.assert_array_equal(got, want)
    for model_, ema_ in ((model, ema), (resumed, resumed_ema)):
        _step(model_, ema_, np.random.default_rng(5))
    for got, want in zip(resumed_ema.average_values(), ema.average_values()):
        np.testing.assert_allclose(got, want, atol=1e-6)


def test_validation_swaps_the_averages_in_and_out():
    model, ema = _model(0)
    _step(model, ema, np.random.default_rng(1))
    _step(model, ema, np.random.default_rng(2))
    raw = model.get_weights()
    ema.on_test_begin()
    for got, want in zip(model.get_weights(), ema.average_values()):
        np.testing.assert_array_equal(got, want)
    ema.on_test_end()
    for got, want in zip(model.get_weights(), raw):
        np.testing.assert_array_equal(got, want)
