"""Callbacks: atomic per-epoch checkpoints and training throughput."""

from __future__ import annotations

import time

import keras

from tfzoo.training.ema import inference_weights
from tfzoo.training.nan import check_finite_weights
from tfzoo.training.tasks.base import inference_model
from tfzoo.utils.atomic import atomic_path
from tfzoo.utils.rundir import RunDir


class EpochCheckpoint(keras.callbacks.Callback):
    """Writes the run's state at the end of every epoch, atomically.

    Two files per epoch, in this order:
    1. ``checkpoints/epoch-NNNN.weights.h5``: weights and optimizer slots (what
       the trained model tracks: no distillation teacher), the commit point for resume;
    2. ``model.keras``: the inference model (no optimizer; a task wrapper's inner
       model, e.g. without a distillation teacher), for eval/export/predict,
       with the EMA weights when the optimizer keeps them (`tfzoo.training.ema`).
    Each write is atomic, so a kill during one leaves the previous file. A kill
    between the two leaves ``model.keras`` one epoch *behind* the newest
    checkpoint, never ahead of it: resume restarts from that checkpoint and
    the trainer rewrites the stale ``model.keras`` from it first
    (`write_inference_model`, when the run is already finished), so the two
    always end up describing the same epoch. The other order could leave a
    ``model.keras`` of an epoch that resume then trains again.

    Non-finite weights are never written (`tfzoo.training.nan.check_finite_weights`
    raises `TrainingDiverged` instead), so a diverged run keeps its last finite epoch.

    Args:
        run_dir: The run directory.
        keep: How many epoch checkpoints to keep.
        inference_model: Also write ``model.keras``; off for a multi-worker
            run's non-chief workers, whose checkpoints are only their backup.
        advice: What to try, appended to a divergence message.
    """

    def __init__(self, run_dir: RunDir, keep: int = 2, inference_model: bool = True, advice: str = ""):
        super().__init__()
        self.run_dir = run_dir
        self.keep = keep
        self.inference_model = inference_model
        self.advice = advice
        self._twin = None

    def _inference_twin(self, weights) -> keras.Model:
        # A compile-free copy of the architecture, so model.keras carries no
        # optimizer state; built once, weights refreshed each epoch. The model's
        # own class (e.g. a registry model that records its name), not
        # keras.Model; a task or multi-worker wrapper names the model it wraps.
        if self._twin is None:
            source = inference_model(self.model)
            self._twin = type(source).from_config(source.get_config())
        self._twin.set_weights(weights)
        return self._twin

    def write_inference_model(self, epoch: int) -> None:
        """Writes ``model.keras`` from the model's current (EMA) weights, which belong to 1-based `epoch`."""
        weights = inference_weights(self.model, inference_model(self.model))  # the EMA weights when kept
        check_finite_weights(weights, epoch=epoch, advice=self.advice)
        with atomic_path(self.run_dir.model_file, suffix=".keras") as tmp:
            self._inference_twin(weights).save(tmp)

    def on_epoch_end(self, epoch, logs=None):
        check_finite_weights(self.model.get_weights(), epoch=epoch + 1, advice=self.advice)
        with atomic_path(self.run_dir.checkpoint_file(epoch + 1), suffix=".weights.h5") as tmp:
            self.model.save_weights(tmp)
        if self.inference_model:
            self.write_inference_model(epoch + 1)
        self.run_dir.prune_checkpoints(self.keep)


class Throughput(keras.callbacks.Callback):
    """Measures training images per second, leaving out the first epoch of the session (tracing).

    Args:
        images_per_step: Global batch size.
    """

    def __init__(self, images_per_step: int):
        super().__init__()
        self.images_per_step = images_per_step
        self.images = 0
        self.seconds = 0.0
        self._epochs_seen = 0
        self._start = 0.0
        self._steps = 0
        self._all_images = 0
        self._all_seconds = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()
        self._steps = 0

    def on_train_batch_end(self, batch, logs=None):
        self._steps += 1

    def on_epoch_end(self, epoch, logs=None):
        elapsed = time.perf_counter() - self._start
        images = self._steps * self.images_per_step
        self._all_images += images
        self._all_seconds += elapsed
        if self._epochs_seen > 0:
            self.images += images
            self.seconds += elapsed
        self._epochs_seen += 1

    @property
    def seconds_total(self) -> float:
        """Seconds of training in this session (0.0: no epoch ran)."""
        return self._all_seconds

    @property
    def images_per_second(self) -> float:
        if self.seconds > 0:
            return self.images / self.seconds
        return self._all_images / self._all_seconds if self._all_seconds > 0 else 0.0
