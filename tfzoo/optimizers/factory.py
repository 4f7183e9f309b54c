"""`create_optimizer`: optimizers by name, with timm's weight-decay exclusions.

Weight decay is decoupled (Loshchilov & Hutter 2019) and, as in timm and the
papers, not applied to biases, normalization parameters or other 1-D
variables (``param.ndim <= 1``), nor to position embeddings and class tokens.
"""

from __future__ import annotations

import keras

from tfzoo.errors import UsageError

# Defaults that work from scratch at batch 256; the trainer may scale them.
DEFAULT_LEARNING_RATES = {"sgd": 0.1, "nesterov": 0.1, "adam": 1e-3, "adamw": 1e-3}
NO_DECAY_NAME_PARTS = ("pos_embed", "cls_token", "dist_token", "position_embedding", "class_token")


def no_decay_variables(model: keras.Model) -> list:
    """Variables excluded from weight decay: 1-D tensors and embedding/token parameters."""
    return [v for v in model.trainable_variables
            if len(v.shape) <= 1 or any(part in v.path for part in NO_DECAY_NAME_PARTS)]


def create_optimizer(name: str, model: keras.Model | None = None, learning_rate=None, weight_decay: float = 0.0,
                     momentum: float = 0.9, **kwargs) -> keras.optimizers.Optimizer:
    """Creates an optimizer by name.

    Args:
        name: ``sgd`` (momentum), ``nesterov``, ``adam`` or ``adamw``.
        model: When given, its biases and normalization parameters are
            excluded from weight decay.
        learning_rate: A float or a `LearningRateSchedule`; defaults to
            `DEFAULT_LEARNING_RATES[name]`.
        weight_decay: Decoupled weight decay coefficient.
        momentum: Momentum for the SGD variants.
        **kwargs: Passed to the Keras optimizer.

    Raises:
        UsageError: for an unknown name.
    """
    key = name.lower()
    if key not in DEFAULT_LEARNING_RATES:
        raise UsageError(f"unknown optimizer {name!r}; choose one of {', '.join(sorted(DEFAULT_LEARNING_RATES))}")
    lr = DEFAULT_LEARNING_RATES[key] if learning_rate is None else learning_rate
    decay = weight_decay or None
    if key in ("sgd", "nesterov"):
        opt = keras.optimizers.SGD(lr, momentum=momentum, nesterov=key == "nesterov", weight_decay=decay, **kwargs)
    elif key == "adam":
        opt = keras.optimizers.Adam(lr, weight_decay=decay, **kwargs)
    else:
        opt = keras.optimizers.AdamW(lr, weight_decay=weight_decay, **kwargs)
    if model is not None and weight_decay:
        opt.exclude_from_weight_decay(var_list=no_decay_variables(model))
    return opt
