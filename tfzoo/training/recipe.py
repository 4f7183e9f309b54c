"""Turns a `TrainConfig`'s recipe fields into trainer objects: schedule, augmentation, regularization.

Kept apart from `trainer.py` so the trainer hooks each in with one line:

- `learning_rate_schedule`: the linear scaling rule (``--lr_base_batch``),
  then warmup + ``cosine``/``step``/``poly`` decay.
- `augment_config`: the `tfzoo.data.augment.AugmentConfig` of the run.
- `model_overrides`: ``--drop_rate``/``--drop_path_rate`` as builder
  arguments, refused for a model family that has no such option.
"""

from __future__ import annotations

import dataclasses
import inspect

from tfzoo.data.augment import AugmentConfig
from tfzoo.errors import UsageError
from tfzoo.models.registry import get_spec
from tfzoo.optimizers import create_schedule, scaled_learning_rate
from tfzoo.training.config import TrainConfig


def learning_rate_schedule(config: TrainConfig, steps_per_epoch: int):
    """The run's schedule and its peak learning rate.

    The linear scaling rule applies only when ``lr_base_batch`` is set: the
    peak is then ``learning_rate * batch_size / lr_base_batch`` (``batch_size``
    is the global batch). Without it, ``learning_rate`` is the peak as given.

    Returns:
        ``(schedule, peak_learning_rate)``.
    """
    total_steps = steps_per_epoch * config.epochs
    peak = scaled_learning_rate(config.learning_rate, config.batch_size, config.lr_base_batch)
    warmup_steps = min(total_steps, round(config.warmup_epochs * steps_per_epoch))
    step_size = round(config.lr_step_epochs * steps_per_epoch) if config.lr_step_epochs else None
    schedule = create_schedule(config.lr_schedule, peak, total_steps, warmup_steps, step_size=step_size,
                               decay_rate=config.lr_decay_rate, power=config.lr_poly_power)
    return schedule, peak


def optimizer_kwargs(config: TrainConfig) -> dict:
    """Optimizer-specific `create_optimizer` arguments of the run."""
    return {"trust_coefficient": config.trust_coefficient} if config.optimizer == "lars" else {}


def augment_config(config: TrainConfig) -> AugmentConfig:
    """The augmentation settings of the run."""
    # TrainConfig is flat (one field per flag) and carries every AugmentConfig field under the same name.
    return AugmentConfig(**{field.name: getattr(config, field.name) for field in dataclasses.fields(AugmentConfig)})


def _accepts(builder, argument: str) -> bool:
    parameters = inspect.signature(builder).parameters
    return argument in parameters or any(p.kind == p.VAR_KEYWORD for p in parameters.values())


def model_overrides(config: TrainConfig) -> dict:
    """Builder arguments for ``--drop_rate`` (the builders' ``dropout``) and ``--drop_path_rate``.

    Raises:
        UsageError: when the model's family has no such option.
    """
    spec = get_spec(config.model)
    overrides = {}
    for flag, argument in (("drop_rate", "dropout"), ("drop_path_rate", "drop_path_rate")):
        value = getattr(config, flag)
        if value is None:
            continue
        if flag == "drop_rate" and "drop_rate" in inspect.signature(spec.builder).parameters:
            argument = "drop_rate"  # builders on the contract (tfzoo.models._builder) take drop_rate
        if not _accepts(spec.builder, argument):
            raise UsageError(f"{spec.name} has no {flag.replace('_', ' ')} option; leave --{flag} unset "
                             "for this model")
        overrides[argument] = value
    return overrides


def describe(config: TrainConfig, peak_learning_rate: float) -> str:
    """One line naming the optimizer, the effective peak learning rate and the recipe's extras."""
    parts = [f"Optimizer {config.optimizer}, peak learning rate {peak_learning_rate:.4g}"]
    if config.lr_base_batch:
        parts[0] += (f" (= {config.learning_rate:g} x batch {config.batch_size} / {config.lr_base_batch}, "
                     "linear scaling rule)")
    parts.append(f"{config.lr_schedule} schedule after {config.warmup_epochs:g} warmup epochs")
    extras = {"weight EMA": config.ema, "mixup": config.mixup, "cutmix": config.cutmix,
              "label smoothing": config.label_smoothing, "RandAugment ops": config.rand_augment_ops,
              "random erasing": config.random_erasing,
              "aug repeats": config.aug_repeats if config.aug_repeats > 1 else 0}
    parts += [f"{name} {value:g}" for name, value in extras.items() if value]
    return ", ".join(parts)
