"""LARS: layer-wise adaptive rate scaling (You et al. 2017, "Large Batch Training of Convolutional
Networks", arXiv 1708.03888), in the form SimCLR uses (arXiv 2002.05709,
``google-research/simclr`` ``lars_optimizer.py``), which SwAV and MoCo v3 follow.

Per variable ``w`` with gradient ``g``::

    g' = g + weight_decay * w
    trust = trust_coefficient * ||w|| / ||g'||   (1 if either norm is 0, or the variable is excluded)
    v = momentum * v + lr * trust * g'
    w = w - v                                    (nesterov: w = w - (momentum * v + lr * trust * g'))

Both the weight decay and the layer adaptation skip variables whose path
contains an excluded substring; layer adaptation defaults to the weight-decay
exclusions (SimCLR excludes batch-norm and bias variables from both). The
learning rate sits inside the momentum buffer, as in SimCLR (not in the
PyTorch-SGD form ``v = momentum * v + g'; w -= lr * v``).
"""

from __future__ import annotations

import keras
from keras import ops

from tfzoo.optimizers.lamb import trust_ratio
from tfzoo.optimizers.layerwise import DEFAULT_EXCLUDE_FROM_WEIGHT_DECAY, is_excluded, normalize_patterns


@keras.saving.register_keras_serializable(package="tfzoo")
class LARS(keras.optimizers.Optimizer):
    """The LARS optimizer, as SimCLR implements it (see the module docstring).

    Args:
        learning_rate: A float or a `LearningRateSchedule`.
        momentum: Momentum of the update buffer.
        weight_decay: Coefficient of the L2 term added to the gradient.
        trust_coefficient: ``eta`` of the trust ratio.
        nesterov: Nesterov momentum.
        exclude_from_weight_decay: Substrings of variable paths that get no
            weight decay; None: biases, norm parameters, position embeddings
            and class/distillation tokens.
        exclude_from_layer_adaptation: Substrings of variable paths whose trust
            ratio is fixed at 1; None: the weight-decay exclusions.
        **kwargs: Base optimizer arguments (``clipnorm``, ``use_ema`` ...).
    """

    def __init__(self, learning_rate=0.1, momentum: float = 0.9, weight_decay: float = 1e-6,
                 trust_coefficient: float = 0.001, nesterov: bool = False, exclude_from_weight_decay=None,
                 exclude_from_layer_adaptation=None, name: str = "lars", **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, weight_decay=None, **kwargs)
        self.momentum = float(momentum)
        self.lars_weight_decay = float(weight_decay or 0.0)
        self.trust_coefficient = float(trust_coefficient)
        self.nesterov = bool(nesterov)
        self.exclude_from_weight_decay_names = normalize_patterns(exclude_from_weight_decay,
                                                                  DEFAULT_EXCLUDE_FROM_WEIGHT_DECAY)
        self.exclude_from_layer_adaptation_names = normalize_patterns(exclude_from_layer_adaptation,
                                                                      self.exclude_from_weight_decay_names)

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        self._velocity = [self.add_variable_from_reference(v, name="velocity") for v in variables]

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        lr = ops.cast(learning_rate, dtype)
        gradient = ops.cast(gradient, dtype)
        momentum = ops.cast(self.momentum, dtype)
        velocity = self._velocity[self._get_variable_index(variable)]

        if self.lars_weight_decay and not is_excluded(variable, self.exclude_from_weight_decay_names):
            gradient = gradient + ops.cast(self.lars_weight_decay, dtype) * variable
        scaled_lr = lr
        if not is_excluded(variable, self.exclude_from_layer_adaptation_names):
            w_norm = ops.sqrt(ops.sum(ops.square(variable)))
            g_norm = ops.sqrt(ops.sum(ops.square(gradient)))
            trust = trust_ratio(ops.cast(self.trust_coefficient, dtype) * w_norm, g_norm)
            # trust_ratio gives 1 when a norm is 0; with w_norm > 0 and g_norm > 0 it is eta*|w|/|g'|.
            scaled_lr = lr * trust
        step = scaled_lr * gradient
        self.assign(velocity, momentum * velocity + step)
        if self.nesterov:
            self.assign_sub(variable, momentum * velocity + step)
        else:
            self.assign_sub(variable, velocity)

    def get_config(self):
        config = super().get_config()
        config.update({
            "momentum": self.momentum,
            "weight_decay": self.lars_weight_decay,
            "trust_coefficient": self.trust_coefficient,
            "nesterov": self.nesterov,
            "exclude_from_weight_decay": list(self.exclude_from_weight_decay_names),
            "exclude_from_layer_adaptation": list(self.exclude_from_layer_adaptation_names),
        })
        return config
