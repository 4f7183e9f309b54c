"""Timing forward passes, with no framework import: one batch's images/s, and models timed in turns.

Used by `tfzoo.training.benchmark` (TensorFlow) and by the backend-neutral
``scripts/bench_backends.py`` (JAX, PyTorch), which must run where
TensorFlow is not installed. A forward function's output must convert with
``np.asarray``; the clock stops only after that copy to the host, so work
that runs asynchronously (on a GPU) is counted.
"""

from __future__ import annotations

import math
import time
from typing import Callable, Mapping

import numpy as np


def time_batches(forward: Callable, images, iterations: int) -> float:
    """Images/s of `iterations` back-to-back calls of `forward` on `images`.

    The clock stops after the last output is copied to the host, so work
    that runs asynchronously (on a GPU) is counted.
    """
    start = time.perf_counter()
    for _ in range(iterations):
        out = forward(images)
    np.asarray(out)
    return int(images.shape[0]) * iterations / (time.perf_counter() - start)


def iterations_for(forward: Callable, images, seconds: float) -> int:
    """Calls of `forward` that take about `seconds` (at least 1), from one timed call."""
    rate = time_batches(forward, images, 1)
    return max(1, math.ceil(seconds * rate / int(images.shape[0])))


def compare_forwards(forwards: Mapping[str, Callable], images: Mapping, *, rounds: int = 5,
                     iterations: int | None = None, seconds: float = 2.0, warmup: int = 2) -> dict:
    """`compare_inference` for any forward functions (a served signature, a JAX-backend model ...).

    Args:
        forwards: Name -> function of one batch; its output must convert with
            ``np.asarray`` (a tensor, or a dict of them via a lambda).
        images: Name -> the batch that name's function gets.
        rounds, iterations, seconds, warmup: As in `compare_inference`.

    Returns:
        ``{name: {"images_per_sec": [one rate per round], "iterations": n}}``.
    """
    names = list(forwards)
    for name in names:
        for _ in range(warmup):
            np.asarray(forwards[name](images[name]))
    counts = {name: iterations or iterations_for(forwards[name], images[name], seconds) for name in names}
    rates = {name: [] for name in names}
    for round_index in range(rounds):
        for name in names if round_index % 2 == 0 else reversed(names):
            rates[name].append(time_batches(forwards[name], images[name], counts[name]))
    return {name: {"images_per_sec": rates[name], "iterations": counts[name]} for name in names}
