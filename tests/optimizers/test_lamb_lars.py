"""LAMB and LARS against independent NumPy implementations of the papers' formulas (float64), with
exclusions by name, plus the trust-ratio edge cases."""

import keras
import numpy as np
import pytest

from tfzoo.optimizers import LAMB, LARS

TOLERANCE = 1e-6  # absolute, on weights of magnitude ~1 after 5 steps (float32 optimizer vs float64 NumPy)
STEPS = 5


def _problem(seed=0):
    """Three variables (a kernel, a bias, a norm gamma) and STEPS gradients for each."""
    rng = np.random.default_rng(seed)
    shapes = {"dense/kernel": (4, 3), "dense/bias": (3,), "norm/gamma": (3,)}
    weights = {name: rng.normal(size=shape) for name, shape in shapes.items()}
    grads = [{name: rng.normal(scale=0.1, size=shape) for name, shape in shapes.items()} for _ in range(STEPS)]
    return weights, grads


def _run_keras(optimizer, weights, grads):
    variables = [keras.Variable(value.astype("float32"), name=name.replace("/", "_")) for name, value in
                 weights.items()]
    names = list(weights)
    # The optimizer matches exclusions against variable paths; give them the "layer/var" form.
    for variable, name in zip(variables, names):
        variable._path = name
    for step_grads in grads:
        optimizer.apply([step_grads[name].astype("float32") for name in names], variables)
    return {name: keras.ops.convert_to_numpy(v) for name, v in zip(names, variables)}


def _norm(x):
    return np.sqrt(np.sum(x * x))


def _ratio(numerator, denominator):
    return numerator / denominator if numerator > 0 and denominator > 0 else 1.0


def numpy_lamb(weights, grads, lr, beta_1, beta_2, epsilon, weight_decay, no_decay, no_adapt):
    w = {k: v.copy() for k, v in weights.items()}
    m = {k: np.zeros_like(v) for k, v in w.items()}
    v = {k: np.zeros_like(x) for k, x in w.items()}
    for t, step_grads in enumerate(grads, start=1):
        for k in w:
            g = step_grads[k]
            m[k] = beta_1 * m[k] + (1 - beta_1) * g
            v[k] = beta_2 * v[k] + (1 - beta_2) * g * g
            r = (m[k] / (1 - beta_1 ** t)) / (np.sqrt(v[k] / (1 - beta_2 ** t)) + epsilon)
            if k not in no_decay:
                r = r + weight_decay * w[k]
            ratio = 1.0 if k in no_adapt else _ratio(_norm(w[k]), _norm(r))
            w[k] = w[k] - lr * ratio * r
    return w


def numpy_lars(weights, grads, lr, momentum, weight_decay, eta, nesterov, no_decay, no_adapt):
    w = {k: v.copy() for k, v in weights.items()}
    buf = {k: np.zeros_like(v) for k, v in w.items()}
    for step_grads in grads:
        for k in w:
            g = step_grads[k] + (0.0 if k in no_decay else weight_decay * w[k])
            trust = 1.0 if k in no_adapt else _ratio(eta * _norm(w[k]), _norm(g))
            buf[k] = momentum * buf[k] + lr * trust * g
            w[k] = w[k] - (momentum * buf[k] + lr * trust * g if nesterov else buf[k])
    return w


def _assert_close(actual, expected):
    for name in expected:
        np.testing.assert_allclose(actual[name], expected[name], atol=TOLERANCE, rtol=0, err_msg=name)


@pytest.mark.parametrize("exclude_decay, exclude_adapt", [
    (None, None),                         # defaults: bias and gamma excluded from both
    (["bias"], ["kernel"]),               # decay on gamma, no layer adaptation on the kernel
    ([], []),                             # nothing excluded
])
def test_lamb_matches_numpy(exclude_decay, exclude_adapt):
    weights, grads = _problem()
    kwargs = dict(learning_rate=0.05, beta_1=0.9, beta_2=0.99, epsilon=1e-6, weight_decay=0.1)
    optimizer = LAMB(**kwargs, exclude_from_weight_decay=exclude_decay, exclude_from_layer_adaptation=exclude_adapt)
    actual = _run_keras(optimizer, weights, grads)
    no_decay = {"dense/bias", "norm/gamma"} if exclude_decay is None else {
        k for k in weights if any(p in k for p in exclude_decay)}
    no_adapt = no_decay if exclude_adapt is None else {k for k in weights if any(p in k for p in exclude_adapt)}
    expected = numpy_lamb(weights, grads, 0.05, 0.9, 0.99, 1e-6, 0.1, no_decay, no_adapt)
    _assert_close(actual, expected)
    # The test can fail: the update moved the weights by much more than the tolerance.
    assert np.abs(expected["dense/kernel"] - weights["dense/kernel"]).max() > 1e-2


@pytest.mark.parametrize("nesterov", [False, True])
@pytest.mark.parametrize("exclude_decay, exclude_adapt", [(None, None), (["bias"], ["gamma"])])
def test_lars_matches_numpy(nesterov, exclude_decay, exclude_adapt):
    weights, grads = _problem(1)
    optimizer = LARS(learning_rate=2.0, momentum=0.9, weight_decay=0.01, trust_coefficient=0.01, nesterov=nesterov,
                     exclude_from_weight_decay=exclude_decay, exclude_from_layer_adaptation=exclude_adapt)
    actual = _run_keras(optimizer, weights, grads)
    no_decay = {"dense/bias", "norm/gamma"} if exclude_decay is None else {
        k for k in weights if any(p in k for p in exclude_decay)}
    no_adapt = no_decay if exclude_adapt is None else {k for k in weights if any(p in k for p in exclude_adapt)}
    expected = numpy_lars(weights, grads, 2.0, 0.9, 0.01, 0.01, nesterov, no_decay, no_adapt)
    _assert_close(actual, expected)
    assert np.abs(expected["dense/kernel"] - weights["dense/kernel"]).max() > 1e-2


def test_trust_ratio_is_one_for_zero_norms():
    # A zero weight (|w| = 0) and a zero gradient with no decay (|r| = 0 for LAMB, |g'| = 0 for LARS).
    weights = {"a/kernel": np.zeros((2, 2)), "b/kernel": np.ones((2, 2))}
    grads = [{"a/kernel": np.full((2, 2), 0.5), "b/kernel": np.zeros((2, 2))}]
    lamb = _run_keras(LAMB(0.1, weight_decay=0.0), weights, grads)
    # LAMB step 1: m_hat/(sqrt(v_hat)+eps) = g/(|g|+eps) = 0.5/(0.5+1e-6); ratio 1 because |w| = 0.
    np.testing.assert_allclose(lamb["a/kernel"], -0.1 * 0.5 / (0.5 + 1e-6), atol=1e-7)
    np.testing.assert_allclose(lamb["b/kernel"], 1.0, atol=0)
    lars = _run_keras(LARS(0.1, weight_decay=0.0), weights, grads)
    np.testing.assert_allclose(lars["a/kernel"], -0.1 * 0.5, atol=1e-7)  # trust 1: plain momentum-SGD step
    np.testing.assert_allclose(lars["b/kernel"], 1.0, atol=0)
