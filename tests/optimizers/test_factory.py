"""`create_optimizer` for every name: exclusions, get_config/from_config, and checkpoint resume of the slots."""

import copy

import keras
import numpy as np
import pytest

from tfzoo.errors import UsageError
from tfzoo.optimizers import LAMB, LARS, OPTIMIZER_NAMES, WarmupCosine, create_optimizer


def _tiny_model(seed=0):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((6,))
    x = keras.layers.Dense(8, name="fc1")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.Activation("relu")(x)
    outputs = keras.layers.Dense(3, activation="softmax", name="head")(x)
    return keras.Model(inputs, outputs)


def _data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(32, 6)).astype("float32"), np.eye(3, dtype="float32")[rng.integers(0, 3, 32)]


def _compiled(name, seed=0):
    model = _tiny_model(seed)
    schedule = WarmupCosine(0.05 if name not in ("lars",) else 1.0, total_steps=20, warmup_steps=2)
    model.compile(optimizer=create_optimizer(name, model, learning_rate=schedule, weight_decay=0.01,
                                                       use_ema=True, ema_momentum=0.9),
                  loss="categorical_crossentropy")
    return model


EXPECTED_CLASSES = {"sgd": keras.optimizers.SGD, "sgdw": keras.optimizers.SGD, "nesterov": keras.optimizers.SGD,
                    "adam": keras.optimizers.Adam, "adamw": keras.optimizers.AdamW, "lamb": LAMB, "lars": LARS}


def test_every_name_is_covered():
    assert set(OPTIMIZER_NAMES) == set(EXPECTED_CLASSES)
    with pytest.raises(UsageError, match="unknown optimizer"):
        create_optimizer("adagrad")


@pytest.mark.parametrize("name", sorted(EXPECTED_CLASSES))
def test_config_round_trip(name):
    model = _tiny_model()
    optimizer = create_optimizer(name, model, learning_rate=WarmupCosine(0.1, 100, 10), weight_decay=0.01,
                                 use_ema=True, ema_momentum=0.99)
    assert type(optimizer) is EXPECTED_CLASSES[name]
    assert optimizer.use_ema and optimizer.ema_momentum == 0.99
    config = keras.saving.serialize_keras_object(optimizer)
    restored = keras.saving.deserialize_keras_object(copy.deepcopy(config))  # it consumes its argument
    assert type(restored) is type(optimizer)
    assert keras.saving.serialize_keras_object(restored) == config
    if name == "nesterov":
        assert restored.nesterov


@pytest.mark.parametrize("name", ["lamb", "lars"])
def test_model_exclusions_are_the_1d_variables(name):
    model = _tiny_model()
    optimizer = create_optimizer(name, model, weight_decay=0.01)
    excluded = set(optimizer.exclude_from_weight_decay_names)
    assert excluded == {"fc1/bias", "bn/gamma", "bn/beta", "head/bias"}
    assert set(optimizer.exclude_from_layer_adaptation_names) == excluded


def _gradients(model, steps, seed):
    rng = np.random.default_rng(seed)
    return [[rng.normal(scale=0.1, size=v.shape).astype("float32") for v in model.trainable_variables]
            for _ in range(steps)]


@pytest.mark.parametrize("name", ["lamb", "lars", "adamw", "sgdw"])
def test_checkpoint_resume_restores_slots_and_continues_identically(name, tmp_path):
    # As the trainer does: model.save_weights of a compiled model holds the optimizer's slots, step
    # counter and EMA averages; a fresh model loads them after building its optimizer.
    first, second = _gradients(_tiny_model(), 4, seed=1), _gradients(_tiny_model(), 3, seed=2)
    reference = _compiled(name)
    for grads in first:
        reference.optimizer.apply(grads, reference.trainable_variables)
    path = str(tmp_path / "ckpt.weights.h5")
    reference.save_weights(path)

    resumed = _compiled(name, seed=1)  # different initial weights: everything must come from the file
    resumed.optimizer.build(resumed.trainable_variables)
    resumed.load_weights(path)
    assert int(resumed.optimizer.iterations) == 4
    slots = [keras.ops.convert_to_numpy(v) for v in reference.optimizer.variables]
    assert len(slots) > 2 and sum(float(np.abs(s).max()) > 0 for s in slots) > 2
    for expected, actual in zip(slots, resumed.optimizer.variables):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(actual), expected, err_msg=actual.path)

    for model in (reference, resumed):
        for grads in second:
            model.optimizer.apply(grads, model.trainable_variables)
    for a, b in zip(reference.get_weights() + [keras.ops.convert_to_numpy(v) for v in reference.optimizer.variables],
                    resumed.get_weights() + [keras.ops.convert_to_numpy(v) for v in resumed.optimizer.variables]):
        np.testing.assert_array_equal(a, b)
