"""Normalization layer factory: BatchNorm, GroupNorm (+ Weight Standardization), LayerNorm, InstanceNorm.

Families ask for "the norm layer" by kind rather than hard-coding
BatchNormalization, so ``norm=`` switches a whole network. Every kind is a
Keras core layer normalizing a channels-last feature map:

========  ===================================================  =============================================
kind      layer                                                paper
========  ===================================================  =============================================
``bn``    BatchNormalization (the default)                     Ioffe & Szegedy 2015, arXiv 1502.03167
``gn``    GroupNormalization, 32 groups (fewer if 32 does not  Wu & He 2018, arXiv 1803.08494
          divide the channels: the largest divisor <= 32)
``gn_ws`` GroupNorm as ``gn``, and every convolution built by  Qiao et al. 2019, arXiv 1903.10520
          `tfzoo.layers.conv2d` / `conv_norm_act` becomes a
          `WSConv2D` (the micro-batch recipe)
``ln``    LayerNormalization over the channels                 Ba et al. 2016, arXiv 1607.06450
``in``    GroupNormalization with one group per channel        Ulyanov et al. 2016, arXiv 1607.08022
========  ===================================================  =============================================

BatchNorm defaults follow PyTorch, which the reference implementations use:
epsilon 1e-5 and a running-average update of 0.1 per step, which is Keras
momentum 0.9. That short averaging window is also what lets a model trained
for a few hundred steps evaluate correctly in inference mode. The other kinds
use the same epsilon (PyTorch's ``GroupNorm`` / ``LayerNorm`` default).
"""

import dataclasses

import keras

NORM_KINDS = ("bn", "gn", "gn_ws", "ln", "in")
MAX_GROUPS = 32


@dataclasses.dataclass(frozen=True)
class NormConfig:
    """How a family normalizes activations.

    Attributes:
        kind: One of `NORM_KINDS`: ``"bn"`` (batch norm), ``"gn"``, ``"gn_ws"``, ``"ln"`` or ``"in"``.
        momentum: Keras-style moving-average momentum (1 - PyTorch momentum), BatchNorm only.
        epsilon: Variance epsilon.
    """

    kind: str = "bn"
    momentum: float = 0.9
    epsilon: float = 1e-5

    def __post_init__(self):
        if self.kind not in NORM_KINDS:
            raise ValueError(f"unknown norm {self.kind!r}; choose one of {', '.join(NORM_KINDS)}")

    @property
    def weight_standardized(self) -> bool:
        """Whether convolutions followed by this norm standardize their weights (`WSConv2D`)."""
        return self.kind == "gn_ws"


def group_count(channels: int, max_groups: int = MAX_GROUPS) -> int:
    """The largest group count <= `max_groups` that divides `channels`."""
    return next(g for g in range(min(max_groups, channels), 0, -1) if channels % g == 0)


def norm_layer(config: NormConfig, name: str, channels: int | None = None) -> keras.layers.Layer:
    """Builds the normalization layer that `config` describes, for channels-last input.

    Args:
        config: The norm kind and its settings.
        name: Layer name.
        channels: Channels of the input; needed by ``gn`` / ``gn_ws`` / ``in``.
    """
    if config.kind == "bn":
        return keras.layers.BatchNormalization(momentum=config.momentum, epsilon=config.epsilon, name=name)
    if config.kind == "ln":
        return keras.layers.LayerNormalization(axis=-1, epsilon=config.epsilon, name=name)
    if channels is None:
        raise ValueError(f"norm {config.kind!r} needs the channel count")
    groups = channels if config.kind == "in" else group_count(channels)
    return keras.layers.GroupNormalization(groups=groups, axis=-1, epsilon=config.epsilon, name=name)
