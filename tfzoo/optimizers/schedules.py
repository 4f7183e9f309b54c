"""Learning-rate schedules (serializable `keras.optimizers.schedules.LearningRateSchedule`s).

Each is a linear warmup from ``warmup_init_lr`` to ``base_lr`` over
``warmup_steps`` (Goyal et al. 2017, arXiv 1706.02677), then a decay evaluated
per optimizer step, as timm's schedulers (without restarts or noise):

- `WarmupCosine`: half-cosine from ``base_lr`` to ``min_lr`` at ``total_steps``
  (Loshchilov & Hutter 2017, arXiv 1608.03983; timm ``CosineLRScheduler``).
- `WarmupStep`: ``base_lr * decay_rate ** floor(step / step_size)`` (timm
  ``StepLRScheduler``: the step count includes the warmup).
- `WarmupPolynomial`: ``min_lr + (base_lr - min_lr) * (1 - p) ** power`` with
  ``p`` the fraction of the post-warmup steps done (timm ``PolyLRScheduler``).

`create_schedule` picks one by name, and `scaled_learning_rate` applies the
linear scaling rule (Goyal et al. 2017).
"""

from __future__ import annotations

import math

import keras
from keras import ops

from tfzoo.errors import UsageError

SCHEDULES = ("cosine", "step", "poly")


def scaled_learning_rate(learning_rate: float, global_batch_size: int, base_batch_size: int | None) -> float:
    """The linear scaling rule: ``learning_rate * global_batch_size / base_batch_size``.

    With ``base_batch_size`` None the learning rate is returned unchanged (it is
    taken to be meant for the batch size in use).
    """
    if not base_batch_size:
        return float(learning_rate)
    return float(learning_rate) * global_batch_size / base_batch_size


class _Warmup(keras.optimizers.schedules.LearningRateSchedule):
    """Shared warmup; subclasses define `_decay(step)` for steps >= warmup_steps."""

    def __init__(self, base_lr: float, total_steps: int, warmup_steps: int = 0, warmup_init_lr: float = 0.0):
        if total_steps < 1:
            raise ValueError(f"total_steps must be >= 1, got {total_steps}")
        if not 0 <= warmup_steps <= total_steps:
            raise ValueError(f"warmup_steps must be in [0, total_steps], got {warmup_steps}")
        self.base_lr = float(base_lr)
        self.total_steps = int(total_steps)
        self.warmup_steps = int(warmup_steps)
        self.warmup_init_lr = float(warmup_init_lr)

    def _decay(self, step):
        raise NotImplementedError

    def __call__(self, step):
        step = ops.cast(step, "float32")
        decayed = self._decay(step)
        if self.warmup_steps == 0:
            return decayed
        warmup_lr = self.warmup_init_lr + (self.base_lr - self.warmup_init_lr) * step / float(self.warmup_steps)
        return ops.where(step < self.warmup_steps, warmup_lr, decayed)

    def _progress(self, step):
        decay_steps = float(max(self.total_steps - self.warmup_steps, 1))
        return ops.clip((step - self.warmup_steps) / decay_steps, 0.0, 1.0)

    def get_config(self):
        return {"base_lr": self.base_lr, "total_steps": self.total_steps, "warmup_steps": self.warmup_steps,
                "warmup_init_lr": self.warmup_init_lr}


@keras.saving.register_keras_serializable(package="tfzoo")
class WarmupCosine(_Warmup):
    """Linear warmup then cosine decay, evaluated per optimizer step.

    Args:
        base_lr: Peak learning rate, reached at the end of warmup.
        total_steps: Step at which the schedule reaches `min_lr`.
        warmup_steps: Length of the linear warmup.
        min_lr: Final learning rate.
        warmup_init_lr: Learning rate at step 0.
    """

    def __init__(self, base_lr: float, total_steps: int, warmup_steps: int = 0, min_lr: float = 0.0,
                 warmup_init_lr: float = 0.0):
        super().__init__(base_lr, total_steps, warmup_steps, warmup_init_lr)
        self.min_lr = float(min_lr)

    def _decay(self, step):
        progress = self._progress(step)
        return self.min_lr + 0.5 * (self.base_lr - self.min_lr) * (1.0 + ops.cos(math.pi * progress))

    def get_config(self):
        return {**super().get_config(), "min_lr": self.min_lr}


@keras.saving.register_keras_serializable(package="tfzoo")
class WarmupStep(_Warmup):
    """Linear warmup then step decay: ``base_lr * decay_rate ** floor(step / step_size)``.

    Args:
        base_lr: Peak learning rate.
        total_steps: Total optimizer steps (for validation only).
        step_size: Steps between decays.
        decay_rate: Factor applied at each decay.
        warmup_steps: Length of the linear warmup.
        warmup_init_lr: Learning rate at step 0.
    """

    def __init__(self, base_lr: float, total_steps: int, step_size: int, decay_rate: float = 0.1,
                 warmup_steps: int = 0, warmup_init_lr: float = 0.0):
        super().__init__(base_lr, total_steps, warmup_steps, warmup_init_lr)
        if step_size < 1:
            raise ValueError(f"step_size must be >= 1, got {step_size}")
        self.step_size = int(step_size)
        self.decay_rate = float(decay_rate)

    def _decay(self, step):
        return self.base_lr * ops.power(self.decay_rate, ops.floor(step / float(self.step_size)))

    def get_config(self):
        return {**super().get_config(), "step_size": self.step_size, "decay_rate": self.decay_rate}


@keras.saving.register_keras_serializable(package="tfzoo")
class WarmupPolynomial(_Warmup):
    """Linear warmup then polynomial decay to `min_lr` at `total_steps`.

    Args:
        base_lr: Peak learning rate.
        total_steps: Step at which the schedule reaches `min_lr`.
        power: Exponent of the decay (1: linear).
        warmup_steps: Length of the linear warmup.
        min_lr: Final learning rate.
        warmup_init_lr: Learning rate at step 0.
    """

    def __init__(self, base_lr: float, total_steps: int, power: float = 1.0, warmup_steps: int = 0,
                 min_lr: float = 0.0, warmup_init_lr: float = 0.0):
        super().__init__(base_lr, total_steps, warmup_steps, warmup_init_lr)
        self.power = float(power)
        self.min_lr = float(min_lr)

    def _decay(self, step):
        return self.min_lr + (self.base_lr - self.min_lr) * ops.power(1.0 - self._progress(step), self.power)

    def get_config(self):
        return {**super().get_config(), "power": self.power, "min_lr": self.min_lr}


def create_schedule(name: str, base_lr: float, total_steps: int, warmup_steps: int = 0, *,
                    step_size: int | None = None, decay_rate: float = 0.1, power: float = 1.0,
                    min_lr: float = 0.0) -> keras.optimizers.schedules.LearningRateSchedule:
    """A warmup schedule by name: ``cosine``, ``step`` or ``poly``.

    Args:
        name: Schedule name.
        base_lr: Peak learning rate.
        total_steps: Total optimizer steps.
        warmup_steps: Linear warmup steps.
        step_size: ``step``: steps between decays (default: a third of
            `total_steps`).
        decay_rate: ``step``: factor per decay.
        power: ``poly``: exponent.
        min_lr: ``cosine``/``poly``: final learning rate.

    Raises:
        UsageError: for an unknown name.
    """
    if name == "cosine":
        return WarmupCosine(base_lr, total_steps, warmup_steps, min_lr=min_lr)
    if name == "step":
        return WarmupStep(base_lr, total_steps, step_size or max(1, total_steps // 3), decay_rate, warmup_steps)
    if name == "poly":
        return WarmupPolynomial(base_lr, total_steps, power, warmup_steps, min_lr=min_lr)
    raise UsageError(f"unknown learning-rate schedule {name!r}; choose one of {', '.join(SCHEDULES)}")
