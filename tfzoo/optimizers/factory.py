"""`create_optimizer`: optimizers by name, with timm's weight-decay exclusions.

Names:

- ``sgd``, ``nesterov``, ``sgdw``: ``keras.optimizers.SGD`` (momentum;
  Nesterov for ``nesterov``). Keras applies weight decay *decoupled* from the
  gradient, ``w <- w - lr * weight_decay * w`` each step (SGDW, Loshchilov &
  Hutter 2019, arXiv 1711.05101), which is not PyTorch's ``SGD(weight_decay=)``
  (an L2 term added to the gradient, amplified by momentum by about
  ``1 / (1 - momentum)``). All three names use the decoupled form; ``sgdw``
  names it explicitly. For the coupled L2 form with momentum, use ``lars``,
  whose ``g + weight_decay * w`` is that term (with layer adaptation).
- ``adam``, ``adamw``: ``keras.optimizers.Adam`` / ``AdamW`` (decoupled decay).
- ``lamb``: `tfzoo.optimizers.LAMB` (arXiv 1904.00962).
- ``lars``: `tfzoo.optimizers.LARS` (arXiv 1708.03888, SimCLR's form).

Weight decay is not applied to biases, normalization parameters or other 1-D
variables (``param.ndim <= 1``), nor to position embeddings and class tokens,
as in timm and the papers. For LAMB and LARS the same variables are also left
out of layer adaptation.
"""

from __future__ import annotations

import keras

from tfzoo.errors import UsageError
from tfzoo.optimizers.lamb import LAMB
from tfzoo.optimizers.lars import LARS

# Defaults that work from scratch at batch 256; the trainer may scale them.
DEFAULT_LEARNING_RATES = {"sgd": 0.1, "sgdw": 0.1, "nesterov": 0.1, "adam": 1e-3, "adamw": 1e-3, "lamb": 5e-3,
                          "lars": 1.0}
OPTIMIZER_NAMES = tuple(DEFAULT_LEARNING_RATES)
NO_DECAY_NAME_PARTS = ("pos_embed", "cls_token", "dist_token", "position_embedding", "class_token")


def no_decay_variables(model: keras.Model) -> list:
    """Variables excluded from weight decay: 1-D tensors and embedding/token parameters."""
    return [v for v in model.trainable_variables
            if len(v.shape) <= 1 or any(part in v.path for part in NO_DECAY_NAME_PARTS)]


def create_optimizer(name: str, model: keras.Model | None = None, learning_rate=None, weight_decay: float = 0.0,
                     momentum: float = 0.9, **kwargs) -> keras.optimizers.Optimizer:
    """Creates an optimizer by name.

    Args:
        name: One of `OPTIMIZER_NAMES` (see the module docstring).
        model: When given, its biases and normalization parameters (every
            variable with ``ndim <= 1``) and token/position embeddings are
            excluded from weight decay (and from LAMB/LARS layer adaptation)
            by their exact paths; without it LAMB and LARS use their
            name-substring defaults.
        learning_rate: A float or a `LearningRateSchedule`; defaults to
            `DEFAULT_LEARNING_RATES[name]`.
        weight_decay: Weight decay coefficient (see the module docstring for
            its form per optimizer).
        momentum: Momentum for the SGD variants and LARS.
        **kwargs: Passed to the optimizer (``trust_coefficient`` for LARS,
            ``beta_1``, Keras's ``use_ema`` ...). The trainer's ``--ema`` is
            `tfzoo.training.ema.ModelEMA`, which also averages batch-norm
            statistics.

    Raises:
        UsageError: for an unknown name.
    """
    key = name.lower()
    if key not in DEFAULT_LEARNING_RATES:
        raise UsageError(f"unknown optimizer {name!r}; choose one of {', '.join(sorted(DEFAULT_LEARNING_RATES))}")
    lr = DEFAULT_LEARNING_RATES[key] if learning_rate is None else learning_rate
    decay = weight_decay or None
    if key in ("lamb", "lars"):
        if model is not None:
            excluded = [v.path for v in no_decay_variables(model)]
            kwargs.setdefault("exclude_from_weight_decay", excluded)
            kwargs.setdefault("exclude_from_layer_adaptation", excluded)
        if key == "lamb":
            return LAMB(lr, weight_decay=weight_decay, **kwargs)
        return LARS(lr, momentum=momentum, weight_decay=weight_decay, **kwargs)
    if key in ("sgd", "sgdw", "nesterov"):
        opt = keras.optimizers.SGD(lr, momentum=momentum, nesterov=key == "nesterov", weight_decay=decay, **kwargs)
    elif key == "adam":
        opt = keras.optimizers.Adam(lr, weight_decay=decay, **kwargs)
    else:
        opt = keras.optimizers.AdamW(lr, weight_decay=weight_decay, **kwargs)
    if model is not None and weight_decay:
        opt.exclude_from_weight_decay(var_list=no_decay_variables(model))
    return opt
