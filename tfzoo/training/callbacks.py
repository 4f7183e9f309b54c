"""Callbacks: atomic per-epoch checkpoints and training throughput."""

from __future__ import annotations

import time

import keras

from tfzoo.training.ema import inference_weights
from tfzoo.utils.atomic import atomic_path
from tfzoo.utils.rundir import RunDir


class EpochCheckpoint(keras.callbacks.Callback):
    """Writes the run's state at the end of every epoch, atomically.

    Two files per epoch, in this order:
    1. ``model.keras``: the inference model (no optimizer), for eval/export/predict,
       with the EMA weights when the optimizer keeps them (`tfzoo.training.ema`);
    2. ``checkpoints/epoch-NNNN.weights.h5``: weights and optimizer slots, the
       commit point for resume.
    A kill between or during the writes leaves the previous epoch's files intact.

    Args:
        run_dir: The run directory.
        keep: How many epoch checkpoints to keep.
        inference_model: Also write ``model.keras``; off for a multi-worker
            run's non-chief workers, whose checkpoints are only their backup.
    """

    def __init__(self, run_dir: RunDir, keep: int = 2, inference_model: bool = True):
        super().__init__()
        self.run_dir = run_dir
        self.keep = keep
        self.inference_model = inference_model
        self._twin = None

    def _inference_twin(self) -> keras.Model:
        # A compile-free copy of the architecture, so model.keras carries no
        # optimizer state; built once, weights refreshed each epoch.
        if self._twin is None:
            # A training wrapper (tasks.token_labeling) names the model it trains.
            source = getattr(self.model, "inference_model", self.model)
            self._twin = keras.Model.from_config(source.get_config())
        self._twin.set_weights(inference_weights(self.model))  # the EMA weights when the run keeps them
        return self._twin

    def on_epoch_end(self, epoch, logs=None):
        if self.inference_model:
            with atomic_path(self.run_dir.model_file, suffix=".keras") as tmp:
                self._inference_twin().save(tmp)
        with atomic_path(self.run_dir.checkpoint_file(epoch + 1), suffix=".weights.h5") as tmp:
            self.model.save_weights(tmp)
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
    def images_per_second(self) -> float:
        if self.seconds > 0:
            return self.images / self.seconds
        return self._all_images / self._all_seconds if self._all_seconds > 0 else 0.0
