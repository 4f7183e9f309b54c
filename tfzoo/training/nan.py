"""Non-finite losses and weights: stop at once, or skip the batch (``--nan_policy``).

A diverging run (a learning rate far too high, an unstable model) produces
NaN or infinite losses, then NaN weights. Saving them would overwrite the
last good epoch, so:

- `DivergenceGuard` (a callback placed before the checkpoint writer) raises
  `tfzoo.errors.TrainingDiverged` on the first non-finite training loss
  (policy ``stop``), or at the end of an epoch whose validation loss is
  non-finite or whose every batch was skipped. The exception leaves ``fit``
  before the epoch's checkpoint and ``model.keras`` are written, so the run
  directory keeps the last finite epoch; the command line prints one line and
  exits with code 1.
- `check_finite_weights` is the writer's last check: `EpochCheckpoint`
  refuses to write non-finite weights whatever the policy.
- `SkipNonFinite` (policy ``skip_batch``) wraps the optimizer: a step whose
  gradients (summed over replicas) hold a NaN or infinity leaves the weights,
  the optimizer slots and the step counter unchanged and counts the batch in
  ``skipped`` instead; the epoch's mean training loss then reads NaN in the
  logs, but validation and the weights stay clean. Batch-norm statistics are
  updated by the forward pass, not the optimizer, so a batch that already
  produced non-finite activations can still poison them; the epoch-end check
  then stops the run.
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

from tfzoo.errors import TrainingDiverged
from tfzoo.optimizers.wrapper import WrappedOptimizer

NAN_POLICIES = ("stop", "skip_batch")


def _is_finite(value) -> bool:
    try:
        return math.isfinite(float(np.asarray(value)))
    except (TypeError, ValueError):
        return True  # not a number: nothing to judge


def check_finite_weights(weights, *, epoch: int, advice: str = "") -> None:
    """Raises `TrainingDiverged` if any array in `weights` holds a NaN or infinity.

    Args:
        weights: Arrays (``model.get_weights()``).
        epoch: The 1-based epoch they belong to, for the message.
        advice: What to try, appended to the message.
    """
    for array in weights:
        array = np.asarray(array)
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            raise TrainingDiverged(f"training diverged in epoch {epoch}: the weights are no longer finite; "
                                   f"nothing was saved for epoch {epoch}{advice}")


class DivergenceGuard(keras.callbacks.Callback):
    """Stops training with `TrainingDiverged` when the loss becomes non-finite.

    Place it before `EpochCheckpoint` in the callback list, so that it runs
    first at the end of an epoch.

    Args:
        policy: ``stop`` (the first non-finite training loss stops) or
            ``skip_batch`` (batches are skipped by `SkipNonFinite`; stop when
            a whole epoch was skipped).
        steps_per_epoch: Steps of one epoch.
        skipper: The `SkipNonFinite` optimizer (``skip_batch`` only).
        advice: What to try, appended to every message (see `advice`).
    """

    def __init__(self, policy: str = "stop", steps_per_epoch: int = 0, skipper=None, advice: str = ""):
        super().__init__()
        if policy not in NAN_POLICIES:
            raise ValueError(f"policy must be one of {NAN_POLICIES}, got {policy!r}")
        self.policy = policy
        self.steps_per_epoch = steps_per_epoch
        self.skipper = skipper
        self.advice = advice
        self.skipped_total = 0
        self._epoch = 0
        self._skipped_before = 0

    def _stop(self, what: str, step: int | None = None) -> None:
        where = f"epoch {self._epoch + 1}" + (f", step {step}" if step is not None else "")
        raise TrainingDiverged(f"training diverged at {where}: {what}; nothing was saved for epoch "
                               f"{self._epoch + 1}, the run directory keeps epoch {self._epoch}{self.advice}")

    def _skipped_now(self) -> int:
        return self.skipper.skipped_count() if self.skipper is not None else 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        self._skipped_before = self._skipped_now()

    def on_train_batch_end(self, batch, logs=None):
        if self.policy == "stop" and logs and not _is_finite(logs.get("loss", 0.0)):
            self._stop(f"the training loss is {float(np.asarray(logs['loss']))}", step=batch + 1)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        skipped = self._skipped_now() - self._skipped_before
        self.skipped_total += skipped
        if self.policy == "skip_batch" and self.steps_per_epoch and skipped >= self.steps_per_epoch:
            self._stop(f"all {skipped} batches had non-finite gradients and were skipped")
        for key in ("loss", "val_loss"):
            if key == "loss" and self.policy == "skip_batch":
                continue  # a skipped batch makes the epoch's mean NaN; the weights were left alone
            if key in logs and not _is_finite(logs[key]):
                self._stop(f"the {'validation' if key == 'val_loss' else 'training'} loss is "
                           f"{float(np.asarray(logs[key]))}")


def advice(config) -> str:
    """The end of a divergence message: what to try with this run's flags."""
    fresh = [f"a lower --learning_rate (this run: {config.learning_rate:g})"]
    if not config.agc:
        fresh.append("--agc 0.01")
    fresh.append(f"a longer --warmup_epochs (this run: {config.warmup_epochs:g})")
    text = "; try " + ", ".join(fresh) + " with a new --run_dir"
    if config.nan_policy == "stop":
        text += ", or resume this one with --nan_policy skip_batch"
    return text


def all_finite(grads):
    """A boolean scalar: every gradient in `grads` (None ignored) is finite."""
    checks = [ops.all(ops.isfinite(g)) for g in grads if g is not None]
    return ops.all(ops.stack(checks)) if checks else ops.convert_to_tensor(True)


class SkipNonFinite(WrappedOptimizer):
    """Wraps an optimizer and skips every update whose gradients are not all finite.

    A skipped step changes nothing (weights, slots, step counter); it adds one
    to `skipped`. The wrapper has no variables of its own in checkpoints: its
    `variables` are the wrapped optimizer's, so a checkpoint written with or
    without it restores into the other. Under mixed float16, wrap this in the
    `LossScaleOptimizer`, which skips overflowing steps itself.

    Args:
        inner_optimizer: The optimizer to wrap.
        name: Optimizer name.
    """

    def __init__(self, inner_optimizer, name: str | None = None):
        super().__init__(inner_optimizer, name=name or "skip_non_finite")
        self.skipped = keras.Variable(0, dtype="int64", trainable=False, name="skipped_batches",
                                      aggregation="only_first_replica")

    def skipped_count(self) -> int:
        return int(np.asarray(keras.ops.convert_to_numpy(self.skipped)))

    def _count_skip(self):
        self.skipped.assign_add(1)

    def apply(self, grads, trainable_variables=None):
        grads = list(grads)
        if not self.built:
            self.build(list(trainable_variables) if trainable_variables is not None else self._trainable_variables)
        import tensorflow as tf  # the trainer's backend

        def apply_inner(grads_, variables_):
            self.inner_optimizer.apply(grads_, variables_)

        if not tf.distribute.has_strategy() or tf.__internal__.distribute.strategy_supports_no_merge_call():
            ops.cond(all_finite(grads), lambda: apply_inner(grads, trainable_variables), self._count_skip)
            return

        def cross_replica(distribution, grads_, variables_):
            # Every replica must take the same branch: skip if any replica saw a non-finite gradient.
            per_replica = distribution.extended.call_for_each_replica(all_finite, args=(grads_,))
            finite = ops.all(ops.stack([ops.convert_to_tensor(v)
                                        for v in distribution.experimental_local_results(per_replica)]))

            def update():
                distribution.extended.call_for_each_replica(apply_inner, args=(grads_, variables_))

            ops.cond(finite, update, self._count_skip)  # a cond with merge_call inside must be cross-replica

        tf.distribute.get_replica_context().merge_call(cross_replica, args=(grads, trainable_variables))

    def stateless_apply(self, optimizer_variables, grads, trainable_variables):
        raise NotImplementedError("SkipNonFinite is for the TensorFlow trainer (stateful apply)")

