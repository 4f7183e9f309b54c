"""LAMB: layer-wise adaptive moments (You et al. 2019, "Large Batch Optimization for Deep
Learning: Training BERT in 76 minutes", arXiv 1904.00962, Algorithm 2).

Per variable ``w`` with gradient ``g`` at step ``t`` (1-based)::

    m = beta_1 * m + (1 - beta_1) * g
    v = beta_2 * v + (1 - beta_2) * g**2
    r = (m / (1 - beta_1**t)) / (sqrt(v / (1 - beta_2**t)) + epsilon) + weight_decay * w
    ratio = ||w|| / ||r||       (1 if either norm is 0, or the variable is excluded)
    w = w - lr * ratio * r

Unlike ``keras.optimizers.Lamb`` (which applies weight decay outside the trust
ratio and cannot exclude variables from layer adaptation), the decay is part of
``r`` as in the paper, and both the weight decay and the layer adaptation skip
variables whose path contains an excluded substring. Layer adaptation defaults
to the weight-decay exclusions, as in tensorflow-addons' ``LAMB`` (whose
``exclude_from_layer_adaptation`` falls back to ``exclude_from_weight_decay``).
The scaling function of the paper is the identity (phi(z) = z), and the trust
ratio is per variable ("layer").
"""

from __future__ import annotations

import keras
from keras import ops

from tfzoo.optimizers.layerwise import DEFAULT_EXCLUDE_FROM_WEIGHT_DECAY, is_excluded, normalize_patterns


def trust_ratio(numerator_norm, denominator_norm):
    """``numerator / denominator``, or 1 where either norm is zero (the papers' convention)."""
    both_positive = ops.logical_and(ops.greater(numerator_norm, 0.0), ops.greater(denominator_norm, 0.0))
    safe_denominator = ops.where(both_positive, denominator_norm, ops.ones_like(denominator_norm))
    return ops.where(both_positive, numerator_norm / safe_denominator, ops.ones_like(numerator_norm))


@keras.saving.register_keras_serializable(package="tfzoo")
class LAMB(keras.optimizers.Optimizer):
    """The LAMB optimizer, as in the paper (see the module docstring).

    Args:
        learning_rate: A float or a `LearningRateSchedule`.
        beta_1: Decay of the first moment.
        beta_2: Decay of the second moment.
        epsilon: Added to the root of the second moment.
        weight_decay: Coefficient ``lambda`` of ``lambda * w`` inside the update.
        exclude_from_weight_decay: Substrings of variable paths that get no
            weight decay; None: biases, norm parameters, position embeddings
            and class/distillation tokens.
        exclude_from_layer_adaptation: Substrings of variable paths whose trust
            ratio is fixed at 1; None: the weight-decay exclusions.
        **kwargs: Base optimizer arguments (``clipnorm``, ``use_ema``,
            ``ema_momentum``, ``name`` ...). Keras's own decoupled
            ``weight_decay`` is not used.
    """

    def __init__(self, learning_rate=1e-3, beta_1: float = 0.9, beta_2: float = 0.999, epsilon: float = 1e-6,
                 weight_decay: float = 0.01, exclude_from_weight_decay=None, exclude_from_layer_adaptation=None,
                 name: str = "lamb", **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, weight_decay=None, **kwargs)
        self.beta_1 = float(beta_1)
        self.beta_2 = float(beta_2)
        self.epsilon = float(epsilon)
        self.lamb_weight_decay = float(weight_decay or 0.0)
        self.exclude_from_weight_decay_names = normalize_patterns(exclude_from_weight_decay,
                                                                  DEFAULT_EXCLUDE_FROM_WEIGHT_DECAY)
        self.exclude_from_layer_adaptation_names = normalize_patterns(exclude_from_layer_adaptation,
                                                                      self.exclude_from_weight_decay_names)

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        self._m = [self.add_variable_from_reference(v, name="m") for v in variables]
        self._v = [self.add_variable_from_reference(v, name="v") for v in variables]

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        lr = ops.cast(learning_rate, dtype)
        gradient = ops.cast(gradient, dtype)
        step = ops.cast(self.iterations + 1, dtype)
        beta_1 = ops.cast(self.beta_1, dtype)
        beta_2 = ops.cast(self.beta_2, dtype)
        index = self._get_variable_index(variable)
        m, v = self._m[index], self._v[index]

        self.assign(m, beta_1 * m + (1.0 - beta_1) * gradient)
        self.assign(v, beta_2 * v + (1.0 - beta_2) * ops.square(gradient))
        m_hat = m / (1.0 - ops.power(beta_1, step))
        v_hat = v / (1.0 - ops.power(beta_2, step))
        update = m_hat / (ops.sqrt(v_hat) + ops.cast(self.epsilon, dtype))
        if self.lamb_weight_decay and not is_excluded(variable, self.exclude_from_weight_decay_names):
            update = update + ops.cast(self.lamb_weight_decay, dtype) * variable
        ratio = ops.cast(1.0, dtype)
        if not is_excluded(variable, self.exclude_from_layer_adaptation_names):
            ratio = trust_ratio(ops.sqrt(ops.sum(ops.square(variable))), ops.sqrt(ops.sum(ops.square(update))))
        self.assign_sub(variable, lr * ratio * update)

    def get_config(self):
        config = super().get_config()
        config.update({
            "beta_1": self.beta_1,
            "beta_2": self.beta_2,
            "epsilon": self.epsilon,
            "weight_decay": self.lamb_weight_decay,
            "exclude_from_weight_decay": list(self.exclude_from_weight_decay_names),
            "exclude_from_layer_adaptation": list(self.exclude_from_layer_adaptation_names),
        })
        return config
