"""Exponential moving average (EMA) of a model's weights, as timm's ``ModelEmaV3``.

``--ema DECAY`` keeps, next to the trained ("raw") weights, an average of
*every* model weight, batch-norm moving statistics included (as timm, which
averages buffers too), updated after each optimizer step::

    d = min(DECAY, 1 - (1 + step) ** (-2/3))     # timm's warmup (warmup_gamma=1, warmup_power=2/3)
    average = d * average + (1 - d) * weight

At step 0 ``d`` is 0, so the average starts at the first weights; the warmup
keeps the average from being dominated by early weights on short runs: after
660 steps (30 digits epochs) ``d`` is at most 0.987 whatever DECAY is, and it
reaches 0.9999 after about a million steps.

Averaging the batch-norm statistics matters: an average of the weights lags
the raw weights by about ``1 / (1 - d)`` steps, and evaluating it with the raw
model's statistics (as Keras's optimizer ``use_ema`` does, which averages
trainable variables only) gave chance-level accuracy in the first epochs of a
MobileNetV3 run on digits.

What uses which weights:

- Training updates the raw weights.
- The averages are variables added to the optimizer, so the per-epoch
  checkpoint (``model.save_weights``) holds the raw weights and their
  averages, and a resumed run continues both.
- Validation during ``fit`` swaps the averages in and back out.
- ``model.keras`` (used by ``tfzoo eval``, ``export`` and ``predict``) holds
  the averages (`inference_weights`), and so do the final metrics
  (`ModelEMA.copy_to_model` after training).
"""

from __future__ import annotations

import weakref

import keras
import numpy as np

WARMUP_POWER = 2.0 / 3.0

# model -> its ModelEMA, so that checkpoint writers find the averages of a model.
_ATTACHED: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def ema_decay(step, decay: float, warmup: bool = True):
    """The decay used after optimizer step `step` (0-based): ``min(decay, 1 - (1 + step)^(-2/3))``."""
    if not warmup:
        return keras.ops.convert_to_tensor(decay, "float32")
    step = keras.ops.cast(step, "float32")
    return keras.ops.minimum(decay, 1.0 - keras.ops.power(1.0 + step, -WARMUP_POWER))


class ModelEMA(keras.callbacks.Callback):
    """Averages all weights of a compiled model after every training step.

    Create it after ``model.compile`` and before building the optimizer or
    loading a checkpoint: the averages are added to the optimizer's variables,
    so they are saved and restored with it.

    Args:
        model: The compiled model.
        decay: Final decay of the average (e.g. 0.9999).
        warmup: Use timm's decay warmup (see the module docstring).
    """

    def __init__(self, model: keras.Model, decay: float, warmup: bool = True):
        super().__init__()
        if not 0.0 < decay < 1.0:
            raise ValueError(f"decay must be in (0, 1), got {decay}")
        self.decay = float(decay)
        self.warmup = warmup
        self._model = model
        optimizer = model.optimizer
        while hasattr(optimizer, "inner_optimizer"):  # loss scaling, AGC: their variables are the inner one's
            optimizer = optimizer.inner_optimizer
        self._optimizer = optimizer
        self._weights = list(model.weights)
        self.averages = [optimizer.add_variable_from_reference(weight, name="ema") for weight in self._weights]
        self._raw = None
        self._update = None
        _ATTACHED[model] = self

    def _update_fn(self):
        def update():
            # `iterations` has already counted the step just taken: the first update uses step 0.
            decay = ema_decay(self._optimizer.iterations - 1, self.decay, self.warmup)
            for average, weight in zip(self.averages, self._weights):
                value = keras.ops.cast(weight, average.dtype)
                d = keras.ops.cast(decay, average.dtype)
                average.assign(d * average + (1.0 - d) * value)

        import tensorflow as tf  # the trainer's backend; kept local so the module imports without it

        return tf.function(update)

    def update(self) -> None:
        """Folds the model's current weights into the averages (one step)."""
        if self._update is None:
            self._update = self._update_fn()
        self._update()

    def on_train_batch_end(self, batch, logs=None):
        self.update()

    def average_values(self) -> list:
        """The averages as NumPy arrays, in ``model.weights`` order."""
        return [np.asarray(keras.ops.convert_to_numpy(average)) for average in self.averages]

    def copy_to_model(self) -> None:
        """Overwrites the model's weights with the averages (for final evaluation)."""
        self._model.set_weights(self.average_values())

    def on_test_begin(self, logs=None):
        if self._raw is None:
            self._raw = self._model.get_weights()
            self.copy_to_model()

    def on_test_end(self, logs=None):
        if self._raw is not None:
            self._model.set_weights(self._raw)
            self._raw = None


def attached_ema(model: keras.Model) -> ModelEMA | None:
    """The `ModelEMA` created for `model`, if any."""
    return _ATTACHED.get(model)


def inference_weights(model: keras.Model, target: keras.Model | None = None) -> list:
    """The weights an inference copy should get: the EMA when the model keeps one, else its own.

    Args:
        model: The trained model (a task wrapper, or the model itself).
        target: The model whose ``weights`` order the result follows, when it
            differs from `model` (a task wrapper's inner model, whose
            variables are a subset of the wrapper's).
    """
    ema = attached_ema(model)
    values = ema.average_values() if ema is not None else model.get_weights()
    if target is None or target is model:
        return values
    by_variable = {id(weight): value for weight, value in zip(model.weights, values)}
    return [by_variable[id(weight)] for weight in target.weights]
