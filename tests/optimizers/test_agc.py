"""Adaptive gradient clipping against an independent NumPy version of the formula (tolerance 1e-5 absolute)."""

import keras
import numpy as np
import pytest

import tfzoo
from tfzoo.optimizers import AGC, adaptive_grad_clip
from tfzoo.optimizers.agc import DEFAULT_EXCLUDE, is_excluded

TOLERANCE = 1e-5


def numpy_agc(grad, param, clipping=0.01, eps=1e-3):
    """Brock et al. 2021, eq. 3, in float64, one unit (output channel) at a time."""
    grad = np.asarray(grad, np.float64)
    param = np.asarray(param, np.float64)
    if param.ndim <= 1:
        units_g, units_p = [grad.reshape(-1)], [param.reshape(-1)]
    else:
        units_g = [grad[..., j].reshape(-1) for j in range(grad.shape[-1])]
        units_p = [param[..., j].reshape(-1) for j in range(param.shape[-1])]
    out = []
    for g, p in zip(units_g, units_p):
        max_norm = clipping * max(np.linalg.norm(p), eps)
        g_norm = np.linalg.norm(g)
        out.append(g * max_norm / max(g_norm, 1e-6) if g_norm > max_norm else g)
    if param.ndim <= 1:
        return out[0].reshape(grad.shape)
    return np.stack([u.reshape(grad.shape[:-1]) for u in out], axis=-1)


def _case(shape, seed, grad_scale):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=shape) * grad_scale).astype("float32"), rng.normal(size=shape).astype("float32")


@pytest.mark.parametrize("shape", [(3, 3, 4, 6), (1, 1, 8, 5), (7, 5), (6,), ()])
@pytest.mark.parametrize("grad_scale", [1e-4, 0.05, 3.0])
def test_matches_numpy(shape, grad_scale):
    """Per-unit norms over the fan-in (conv HWIO: H, W, I; dense: I), whole tensor for vectors and scalars."""
    grad, param = _case(shape, len(shape), grad_scale)
    (clipped,) = adaptive_grad_clip([grad], [param], clipping=0.01, eps=1e-3)
    expected = numpy_agc(grad, param)
    np.testing.assert_allclose(np.asarray(clipped), expected, atol=TOLERANCE, rtol=1e-5)


def test_mixed_units_and_eps_floor():
    """Some output channels clipped, some not; a zero weight uses the eps floor."""
    param = np.zeros((2, 3), "float32")
    param[:, 0] = 10.0  # ||W|| = 14.1 -> threshold 0.141
    grad = np.full((2, 3), 0.05, "float32")  # unit norm 0.0707
    grad[:, 2] = 1.0  # zero weights: threshold 0.01 * 1e-3
    (clipped,) = adaptive_grad_clip([grad], [param])
    clipped = np.asarray(clipped)
    np.testing.assert_allclose(clipped[:, 0], grad[:, 0], atol=1e-7)  # under the threshold: untouched
    np.testing.assert_allclose(np.linalg.norm(clipped[:, 1]), 1e-5, rtol=1e-4)
    np.testing.assert_allclose(np.linalg.norm(clipped[:, 2]), 1e-5, rtol=1e-4)
    np.testing.assert_allclose(clipped, numpy_agc(grad, param), atol=TOLERANCE)


def test_classifier_layers_are_excluded_by_default():
    model = tfzoo.create_model("nf_resnet26", num_classes=3, input_shape=(32, 32, 3))
    excluded = {v.path for v in model.trainable_variables if is_excluded(v, DEFAULT_EXCLUDE)}
    assert excluded == {"head_fc/kernel", "head_fc/bias"}

    class Named:
        def __init__(self, path):
            self.path = path

    # The classifier names of the other families; squeeze-excite "fc1"/"fc2" convs are not classifiers.
    for path, expected in (("fc/kernel", True), ("classifier/bias", True), ("head_fc/kernel", True),
                           ("layer1_0_se_fc1/kernel", False), ("stages_0_0_attn_last_fc2/bias", False),
                           ("conv_head/kernel", False), ("fc1/kernel", False)):
        assert is_excluded(Named(path), DEFAULT_EXCLUDE) == expected, path
    assert is_excluded(Named("head_fc/kernel"), ("head",)) and not is_excluded(Named("head_fc/kernel"), ())
    grads = [np.full(v.shape, 10.0, "float32") for v in model.trainable_variables]
    clipped = adaptive_grad_clip(grads, model.trainable_variables)
    for v, g, c in zip(model.trainable_variables, grads, clipped):
        assert np.array_equal(np.asarray(c), g) == is_excluded(v, DEFAULT_EXCLUDE), v.path


def _toy_model():
    inputs = keras.Input((4, 4, 2))
    x = keras.layers.Conv2D(3, 3, name="conv")(inputs)
    x = keras.layers.Flatten()(x)
    outputs = keras.layers.Dense(2, name="head_fc")(x)
    return keras.Model(inputs, outputs)


def test_wrapper_update_equals_sgd_on_clipped_gradients():
    keras.utils.set_random_seed(0)
    model = _toy_model()
    variables = model.trainable_variables
    before = [np.asarray(v).copy() for v in variables]
    grads = [np.random.default_rng(i).normal(size=v.shape).astype("float32") for i, v in enumerate(variables)]
    optimizer = AGC(keras.optimizers.SGD(0.1), clipping=0.01, exclude=("head",))
    optimizer.apply(grads, variables)
    for v, w, g in zip(variables, before, grads):
        expected_grad = g if v.path.startswith("head_fc") else numpy_agc(g, w)
        np.testing.assert_allclose(np.asarray(v), w - 0.1 * expected_grad, atol=TOLERANCE)
    assert int(np.asarray(optimizer.iterations)) == 1


def test_wrapper_fit_serialize_and_resume(tmp_path):
    """compile/fit under a tf.distribute strategy, config round trip, and momentum slots restored on resume."""
    import tensorflow as tf

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(16, 4, 4, 2)).astype("float32"), rng.integers(0, 2, 16)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def make(strategy):
        with strategy.scope():
            model = _toy_model()
            model.compile(optimizer=AGC(keras.optimizers.SGD(0.05, momentum=0.9), clipping=0.05), loss=loss)
        return model

    keras.utils.set_random_seed(1)
    model = make(tf.distribute.MirroredStrategy(["/cpu:0"]))
    history = model.fit(x, y, batch_size=8, epochs=3, verbose=0).history["loss"]
    assert np.all(np.isfinite(history))

    config = keras.optimizers.serialize(model.optimizer)
    clone = keras.optimizers.deserialize(config)
    assert isinstance(clone, AGC) and clone.clipping == 0.05 and clone.inner_optimizer.momentum == 0.9

    # Resume: weights + optimizer state through a checkpoint, then one more step must match an uninterrupted run.
    path = str(tmp_path / "ckpt.weights.h5")
    model.save_weights(path)
    resumed = make(tf.distribute.get_strategy())
    resumed.optimizer.build(resumed.trainable_variables)
    resumed.load_weights(path)
    assert int(np.asarray(resumed.optimizer.iterations)) == int(np.asarray(model.optimizer.iterations)) == 6
    for a, b in zip(resumed.optimizer.variables, model.optimizer.variables):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    model.fit(x[:8], y[:8], batch_size=8, epochs=1, verbose=0, shuffle=False)
    resumed.fit(x[:8], y[:8], batch_size=8, epochs=1, verbose=0, shuffle=False)
    for a, b in zip(resumed.weights, model.weights):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-6)


_TWO_REPLICAS = r"""
import os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np, tensorflow as tf
tf.config.set_logical_device_configuration(
    tf.config.list_physical_devices("CPU")[0], [tf.config.LogicalDeviceConfiguration()] * 2)
import keras
sys.path.insert(0, os.getcwd())
from tests.optimizers.test_agc import _toy_model, numpy_agc
from tfzoo.optimizers import AGC

rng = np.random.default_rng(0)
x, y = rng.normal(size=(8, 4, 4, 2)).astype("float32"), rng.integers(0, 2, 8)
loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
keras.utils.set_random_seed(0)
reference = _toy_model()
weights = [np.asarray(w).copy() for w in reference.weights]
with tf.GradientTape() as tape:
    value = loss(y, reference(x))
grads = [g.numpy() for g in tape.gradient(value, reference.trainable_variables)]
expected = [w - 0.5 * (g if v.path.startswith("head_fc") else numpy_agc(g, w))
            for v, w, g in zip(reference.trainable_variables, weights, grads)]
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
assert strategy.num_replicas_in_sync == 2
with strategy.scope():
    model = _toy_model()
    model.set_weights(weights)
    model.compile(optimizer=AGC(keras.optimizers.SGD(0.5)), loss=loss)
model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
error = max(float(np.abs(np.asarray(v) - e).max()) for v, e in zip(model.trainable_variables, expected))
print("max_error", error)
assert error < 1e-5, error
"""


def test_wrapper_clips_the_cross_replica_sum():
    """Two replicas: the update equals SGD on AGC(full-batch gradient), not on the sum of per-replica clips."""
    import subprocess
    import sys

    from tests.conftest import REPO

    result = subprocess.run([sys.executable, "-c", _TWO_REPLICAS], cwd=REPO, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "max_error" in result.stdout


def test_train_config_agc_flag():
    from tfzoo.training.config import RESUME_KEYS, TrainConfig

    assert "agc" in RESUME_KEYS  # a run started with clipping is not resumed without it
    assert TrainConfig(agc=0.01).validate().agc == 0.01
    with pytest.raises(tfzoo.UsageError, match="--agc"):
        TrainConfig(agc=-0.1).validate()
