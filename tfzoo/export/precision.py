"""A bfloat16 inference form: weights stored in bfloat16, cast once, no per-call casts around the layers.

Under Keras' ``mixed_bfloat16`` policy every layer keeps float32 variables
and casts each one to bfloat16 on every call, and BatchNormalization and the
normalization layers compute in float32, so a mixed-precision graph is full
of ``Cast`` ops between the convolutions (and of float32 BatchNorms between
bfloat16 convolutions). `to_bfloat16` builds the serving form instead:

- it expects the folded model (`tfzoo.fuse_bn` first), so the convolutions
  follow one another with only bias adds and activations between them;
- every layer gets the plain ``bfloat16`` policy, so its variables *are*
  bfloat16 (the float32 weights are rounded once, when they are loaded) and
  its inputs arrive in bfloat16: one cast of the input batch, none inside;
- normalization layers that remain (DenseNet's pre-activation BatchNorms,
  the transformers' LayerNorms) and the final ``predictions`` layer keep
  ``mixed_bfloat16`` / ``float32``: their statistics and the probabilities
  stay in float32, which is where bfloat16's 8-bit mantissa would cost
  accuracy.

Whether this is faster depends on the CPU: oneDNN has bfloat16 convolution
and matmul kernels for CPUs with AVX512-BF16 or AMX; elsewhere TensorFlow
falls back to slower kernels (see BENCHMARKS.md).
"""

from __future__ import annotations

import copy

import keras

PRECISIONS = ("float32", "bfloat16")
# /proc/cpuinfo flags of the x86 units that oneDNN's bfloat16 convolutions and matmuls need.
BFLOAT16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")
# Layers whose arithmetic stays in float32: their statistics, and the output probabilities.
_FLOAT32_STATE = (keras.layers.BatchNormalization, keras.layers.LayerNormalization,
                  keras.layers.GroupNormalization)


def _policy(name: str) -> dict:
    return {"module": "keras", "class_name": "DTypePolicy", "config": {"name": name}, "registered_name": None}


def _layer_policy(layer) -> str | None:
    """The policy `layer` gets in the bfloat16 form (None: unchanged)."""
    if isinstance(layer, keras.layers.InputLayer):
        return None
    if layer.name == "predictions" or layer.dtype_policy.name == "float32" and layer.name.endswith("predictions"):
        return "float32"
    if isinstance(layer, _FLOAT32_STATE):
        return "mixed_bfloat16"
    return "bfloat16"


def to_bfloat16(model: keras.Model) -> keras.Model:
    """A copy of a functional `model` that computes in bfloat16 with bfloat16 weights.

    Args:
        model: A functional model (best already folded: `tfzoo.fuse_bn`).

    Returns:
        A new model with the same layers and weights (rounded to bfloat16),
        whose output layer ``predictions`` still returns float32.
    """
    config = copy.deepcopy(model.get_config())
    if "layers" not in config:
        raise ValueError(f"to_bfloat16 needs a functional model, got {type(model).__name__}")
    for entry in config["layers"]:
        policy = _layer_policy(model.get_layer(entry.get("name") or entry["config"]["name"]))
        if policy is not None:
            entry["config"]["dtype"] = _policy(policy)
    converted = model.__class__.from_config(config)
    for layer in model.layers:
        converted.get_layer(layer.name).set_weights(layer.get_weights())
    return converted


def cpu_bfloat16_units(cpuinfo: str | None = None) -> bool | None:
    """Whether this x86 CPU has bfloat16 arithmetic units (AVX512-BF16 or AMX-BF16).

    Args:
        cpuinfo: The text of ``/proc/cpuinfo`` (None: read it).

    Returns:
        True or False from the first ``flags`` line; None where it cannot be
        told (no ``/proc/cpuinfo``, no ``flags`` line: another OS or architecture).
    """
    if cpuinfo is None:
        try:
            with open("/proc/cpuinfo") as handle:
                cpuinfo = handle.read()
        except OSError:
            return None
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            return bool(set(value.split()) & set(BFLOAT16_CPU_FLAGS))
    return None


def bfloat16_cpu_note(precision: str, cpuinfo: str | None = None) -> str | None:
    """A one-line note for ``--precision bfloat16`` on a CPU without bfloat16 units; None otherwise."""
    if precision != "bfloat16" or cpu_bfloat16_units(cpuinfo) is not False:
        return None
    return ("note: this CPU has no bfloat16 units (no avx512_bf16 or amx_bf16 flag): TensorFlow runs the bfloat16 "
            "form here with float32 kernels and conversions, slower than float32; a server with AVX512-BF16 or AMX "
            "runs it natively (BENCHMARKS.md)")
