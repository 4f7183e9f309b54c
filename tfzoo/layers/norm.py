"""Normalization layer factory.

Families ask for "the norm layer" by kind rather than hard-coding
BatchNormalization, so a later `norm=` option (GN, LN, IN ...) is one table
entry. Defaults follow PyTorch, which the reference implementations use:
epsilon 1e-5 and a running-average update of 0.1 per step, which is Keras
momentum 0.9. That short averaging window is also what lets a model trained
for a few hundred steps evaluate correctly in inference mode.
"""

import dataclasses

import keras


@dataclasses.dataclass(frozen=True)
class NormConfig:
    """How a family normalizes activations.

    Attributes:
        kind: ``"bn"`` (batch norm) is the only kind every family supports.
        momentum: Keras-style moving-average momentum (1 - PyTorch momentum).
        epsilon: Variance epsilon.
    """

    kind: str = "bn"
    momentum: float = 0.9
    epsilon: float = 1e-5


def norm_layer(config: NormConfig, name: str) -> keras.layers.Layer:
    """Builds the normalization layer that `config` describes, for channels-last input."""
    if config.kind == "bn":
        return keras.layers.BatchNormalization(momentum=config.momentum, epsilon=config.epsilon, name=name)
    raise ValueError(f"unknown norm kind {config.kind!r}; supported: 'bn'")
