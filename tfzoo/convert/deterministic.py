"""Deterministic, framework-free weights for reference-output tests.

`deterministic_state_dict` fills a PyTorch-style state dict (given only its
keys and shapes) with values that depend on nothing but the key. The script
that records reference outputs (``scripts/make_reference_outputs.py``, which
runs timm) and the test that checks tfzoo against them
(``tests/models/test_reference_outputs.py``, which never imports torch) both
call it, so the stored reference data holds an input and the output logits
but no weights.

The values are drawn so that inference-mode activations stay of order one and
every layer matters (no activation saturates, so a wrong gate or activation
function shows):

- ``*.num_batches_tracked``: 0 (int64);
- ``*.running_mean``: normal, std 0.1;
- ``*.running_var``: uniform(0.5, 1.5);
- 1-D ``*.weight`` (norm scales): uniform(0.5, 1.5);
- any other 0-D or 1-D entry (biases): normal, std 0.1;
- N-D entries (N >= 2): normal, std ``sqrt(weight_scale / fan_in)``, with
  ``fan_in = prod(shape[1:])`` for PyTorch's ``[out, in, *kernel]`` and
  ``[out, in]`` layouts.

Non-trivial running statistics and affine parameters make sure a swapped or
mis-transposed norm parameter changes the output.

`weight_scale` is chosen per model (the reference script records it). In
inference mode nothing renormalizes the activations, so a deep network on
random weights either explodes or forgets its input: for MobileNetV3-Large,
He scaling (2) grows the RMS activation to about 300 by the head (hard-sigmoid
gates saturate), LeCun scaling (1) leaves logits that differ between two
random inputs by 0.2% (biases dominate). In between, the logits stay O(1) and
depend on the input (1.4 for Large, 1.7 for Small).

The random numbers come from the raw 64-bit output of ``PCG64`` seeded with
``zlib.crc32(key)``, turned into floats here (53-bit uniforms, Box-Muller
normals), not from ``numpy.random.Generator.normal``: NumPy guarantees the
bit generator's stream but not its distribution algorithms across versions,
and the script and the tests may run under different NumPy releases.
`checksums` condenses a state dict to one number per entry, so the tests can
tell "the generator changed" apart from "the model changed" (a byte hash would
be too strict: ``log``/``cos`` may differ in the last bit between CPUs).
"""

from __future__ import annotations

import math
import zlib
from typing import Mapping, Sequence

import numpy as np

__all__ = ["checksums", "deterministic_array", "deterministic_state_dict"]


def _uniform01(key: str, count: int) -> np.ndarray:
    """`count` float64 values in (0, 1], a pure function of `key`."""
    bits = np.random.PCG64(zlib.crc32(key.encode("utf-8"))).random_raw(count)
    return ((np.asarray(bits, dtype=np.uint64) >> np.uint64(11)).astype(np.float64) + 1.0) * 2.0 ** -53


def _normal(key: str, count: int) -> np.ndarray:
    """Standard normal float64 values (Box-Muller, cosine branch)."""
    u = _uniform01(key, 2 * count)
    return np.sqrt(-2.0 * np.log(u[:count])) * np.cos(2.0 * math.pi * u[count:])


def deterministic_array(key: str, shape: Sequence[int], weight_scale: float = 1.5) -> np.ndarray:
    """The deterministic value of one state-dict entry; see the module docstring for the rules."""
    shape = tuple(int(d) for d in shape)
    count = int(np.prod(shape, dtype=np.int64))
    leaf = key.rsplit(".", 1)[-1]
    if leaf == "num_batches_tracked":
        return np.zeros(shape, dtype=np.int64)
    if leaf == "running_mean":
        values = 0.1 * _normal(key, count)
    elif leaf == "running_var":
        values = 0.5 + _uniform01(key, count)
    elif len(shape) <= 1 and leaf == "weight":
        values = 0.5 + _uniform01(key, count)
    elif len(shape) <= 1:
        values = 0.1 * _normal(key, count)
    else:
        fan_in = int(np.prod(shape[1:], dtype=np.int64))
        values = math.sqrt(weight_scale / fan_in) * _normal(key, count)
    return values.reshape(shape).astype(np.float32)


def deterministic_state_dict(shapes: Mapping[str, Sequence[int]], weight_scale: float = 1.5) -> dict[str, np.ndarray]:
    """Fills a state dict described by ``{key: shape}`` with deterministic values.

    Args:
        shapes: State-dict keys (e.g. ``"blocks.1.0.conv_pw.weight"``) and
            their PyTorch shapes, parameters and buffers alike.
        weight_scale: Variance scale of conv / linear weights, in units of
            ``1 / fan_in`` (1 is LeCun, 2 is He).

    Returns:
        ``{key: array}`` in the order of `shapes`: float32 arrays, except
        int64 zeros for ``num_batches_tracked``.
    """
    return {key: deterministic_array(key, shape, weight_scale) for key, shape in shapes.items()}


def checksums(state_dict: Mapping[str, np.ndarray]) -> np.ndarray:
    """``sum(|value|)`` of every entry, in float64 and in the order of `state_dict`."""
    return np.array([np.abs(np.asarray(v, dtype=np.float64)).sum() for v in state_dict.values()], dtype=np.float64)
