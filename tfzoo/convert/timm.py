"""Loads a timm (PyTorch) state dict into a tfzoo model, with NumPy and Keras only.

tfzoo names every layer after the timm module it reproduces, with ``.``
spelled ``_`` (``blocks.3.1.conv_dw`` -> ``blocks_3_1_conv_dw``,
``blocks.1.0.se.conv_reduce`` -> ``blocks_1_0_se_conv_reduce``), so the
conversion needs two rules and no per-model table:

1. **Layer -> module.** Every module path in the state dict is spelled with
   underscores and looked up by layer name. Going this way round avoids
   guessing which underscores were dots (``conv_dw`` is one module,
   ``blocks_3`` is two). A family whose names do not mirror timm's passes
   `module_path`, a function from layer name to timm module path, tried
   before the lookup.
2. **Variable -> parameter.** A small table per Keras layer type
   (`PARAM_RULES`) names the PyTorch parameter of each Keras variable and the
   transform from PyTorch to Keras layout:

   ====================  ===================  ==========================  ==========================
   Keras layer           Keras variable       timm parameter              transform
   ====================  ===================  ==========================  ==========================
   Conv2D                kernel ``[kh,kw,i,o]``  weight ``[o,i,kh,kw]``   transpose (2, 3, 1, 0)
   DepthwiseConv2D       kernel ``[kh,kw,c,m]``  weight ``[c*m,1,kh,kw]`` reshape, transpose
   Dense                 kernel ``[i,o]``     weight ``[o,i]``            transpose
   Conv2D / Dense / DW   bias                 bias                        none
   BatchNormalization    gamma, beta          weight, bias                none
                         moving_mean          running_mean                none
                         moving_variance      running_var                 none
   LayerNormalization    gamma, beta          weight, bias                none
   ScaledWSConv2D        kernel, bias, gain   weight, bias, gain          as Conv2D; gain reshaped
   NFResidual            skipinit_gain        skipinit_gain (the block's)  none
   PrefixTokens          cls_token            ``cls_token`` (top level)   none
                         dist_token           ``dist_token`` (top level)  none
   AbsolutePosition...   pos_embed            ``pos_embed`` (top level)   bicubic resampling to the
                                                                          layer's grid when they differ
   LayerScale            gamma                gamma                       none
   ====================  ===================  ==========================  ==========================

   Grouped Conv2D uses the Conv2D rule (PyTorch ``[o, i/g, kh, kw]`` and
   Keras ``[kh, kw, i/g, o]`` are the same transpose). A custom tfzoo layer
   with weights registers its own rule with `register_param_rule`. A rule
   marked ``absolute`` names a top-level timm parameter (a transformer's
   ``cls_token``, ``pos_embed``) instead of one under the layer's module.

A timm state dict recorded at another resolution loads into a transformer
built at this one: a ``pos_embed`` of another length is resampled from its
(square) grid to the model's grid with timm's ``resample_abs_pos_embed``
arithmetic (bicubic, antialias, prefix tokens kept; see
`tfzoo.layers.pos_embed`), as timm's ``checkpoint_filter_fn`` does.

Entries ending in a name of `IGNORED_SUFFIXES` (``num_batches_tracked``) have
no Keras counterpart and are skipped. Nothing is assigned unless every check
passes, so a failed strict load leaves the model untouched.
"""

from __future__ import annotations

import warnings
from typing import Callable, Iterator, Mapping, NamedTuple

import keras
import numpy as np

from tfzoo.layers.nf_layers import NFResidual
from tfzoo.layers.pos_embed import AbsolutePositionEmbedding, resample_position_embedding
from tfzoo.layers.transformer import LayerScale, PrefixTokens
from tfzoo.layers.ws_conv import ScaledWSConv2D

__all__ = ["IGNORED_SUFFIXES", "PARAM_RULES", "ParamRule", "load_timm_state_dict", "register_param_rule"]

# (PyTorch value, Keras variable shape) -> value in Keras layout.
Transform = Callable[[np.ndarray, tuple], np.ndarray]


def _identity(value: np.ndarray, shape: tuple) -> np.ndarray:
    return value


def _conv_kernel(weight: np.ndarray, shape: tuple) -> np.ndarray:
    """PyTorch ``[out, in/groups, kh, kw]`` -> Keras ``[kh, kw, in/groups, out]``."""
    return np.transpose(weight, (2, 3, 1, 0))


def _depthwise_kernel(weight: np.ndarray, shape: tuple) -> np.ndarray:
    """PyTorch ``[channels * multiplier, 1, kh, kw]`` -> Keras ``[kh, kw, channels, multiplier]``.

    PyTorch's output channel ``c * multiplier + j`` filters input channel
    ``c``, which is Keras' ``[:, :, c, j]``; the multiplier is read from the
    Keras shape.
    """
    if len(shape) != 4 or weight.ndim != 4 or weight.shape[1] != 1 or weight.shape[0] != shape[2] * shape[3]:
        raise ValueError(f"not a depthwise weight for a Keras kernel of shape {shape}")
    kh, kw, channels, multiplier = shape
    return np.transpose(weight.reshape(channels, multiplier, *weight.shape[2:]), (2, 3, 0, 1))


def _dense_kernel(weight: np.ndarray, shape: tuple) -> np.ndarray:
    """PyTorch ``[out, in]`` -> Keras ``[in, out]``."""
    return weight.T


def _flatten(value: np.ndarray, shape: tuple) -> np.ndarray:
    """PyTorch ``[out, 1, 1, 1]`` (a ScaledStdConv2d gain) or ``[]`` -> the Keras shape."""
    return value.reshape(shape)


def _resample_pos_embed(value: np.ndarray, shape: tuple, layer: AbsolutePositionEmbedding) -> np.ndarray:
    """A timm ``pos_embed`` of any square grid -> the layer's grid (timm's checkpoint_filter_fn)."""
    if value.ndim != 3 or value.shape[-1] != shape[-1] or value.shape[1] <= layer.num_prefix_tokens:
        raise ValueError(f"not a position embedding for a Keras weight of shape {shape}")
    if tuple(value.shape) == tuple(shape):
        return value
    return resample_position_embedding(value, layer.grid_size, num_prefix_tokens=layer.num_prefix_tokens,
                                       antialias=layer.antialias)


class ParamRule(NamedTuple):
    """Where one Keras variable comes from: the timm parameter name and the layout transform.

    Attributes:
        param: The parameter's name under the layer's timm module, or its full key when `absolute`.
        transform: ``transform(pytorch_value, keras_shape)`` -> the value in Keras layout
            (``transform(pytorch_value, keras_shape, layer)`` when `pass_layer`).
        absolute: `param` is a top-level state-dict key, not one under the layer's module.
        pass_layer: The transform also receives the Keras layer (for its configuration).
    """

    param: str
    transform: Callable = _identity
    absolute: bool = False
    pass_layer: bool = False


# Keras layer type -> {Keras variable name: rule}. Checked in order with
# isinstance, so list subclasses (DepthwiseConv2D) before their bases.
PARAM_RULES: list[tuple[type, dict[str, ParamRule]]] = [
    (ScaledWSConv2D, {"kernel": ParamRule("weight", _conv_kernel), "bias": ParamRule("bias"),
                      "gain": ParamRule("gain", _flatten)}),
    (NFResidual, {"skipinit_gain": ParamRule("skipinit_gain", _flatten)}),
    (PrefixTokens, {"cls_token": ParamRule("cls_token", absolute=True),
                    "dist_token": ParamRule("dist_token", absolute=True)}),
    (AbsolutePositionEmbedding, {"pos_embed": ParamRule("pos_embed", _resample_pos_embed, absolute=True,
                                                        pass_layer=True)}),
    (LayerScale, {"gamma": ParamRule("gamma")}),
    (keras.layers.DepthwiseConv2D, {"kernel": ParamRule("weight", _depthwise_kernel), "bias": ParamRule("bias")}),
    (keras.layers.Conv2D, {"kernel": ParamRule("weight", _conv_kernel), "bias": ParamRule("bias")}),
    (keras.layers.Dense, {"kernel": ParamRule("weight", _dense_kernel), "bias": ParamRule("bias")}),
    (keras.layers.BatchNormalization, {
        "gamma": ParamRule("weight"),
        "beta": ParamRule("bias"),
        "moving_mean": ParamRule("running_mean"),
        "moving_variance": ParamRule("running_var"),
    }),
    (keras.layers.LayerNormalization, {"gamma": ParamRule("weight"), "beta": ParamRule("bias")}),
]

IGNORED_SUFFIXES = ("num_batches_tracked",)


def register_param_rule(layer_type: type, rules: Mapping[str, ParamRule]) -> None:
    """Adds (or replaces) the variable table of a Keras layer type, checked before the built-in ones.

    Args:
        layer_type: A `keras.layers.Layer` subclass, e.g. a custom tfzoo layer.
        rules: ``{keras variable name: ParamRule(timm parameter name, transform)}``, where
            ``transform(pytorch_value, keras_shape)`` returns the value in Keras layout.
    """
    PARAM_RULES[:] = [(t, r) for t, r in PARAM_RULES if t is not layer_type]
    PARAM_RULES.insert(0, (layer_type, dict(rules)))


def _rules_for(layer: keras.layers.Layer) -> dict[str, ParamRule] | None:
    for layer_type, rules in PARAM_RULES:
        if isinstance(layer, layer_type):
            return rules
    return None


def _layers_with_weights(model: keras.Model) -> Iterator[keras.layers.Layer]:
    """Leaf layers that own weights, descending into nested models."""
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _layers_with_weights(layer)
        elif layer.weights:
            yield layer


def _module_index(keys) -> dict[str, str | None]:
    """``{module path with '_' for '.': module path}``; None marks two modules that spell the same."""
    index: dict[str, str | None] = {}
    for key in keys:
        module = key.rpartition(".")[0]
        spelled = module.replace(".", "_")
        if index.get(spelled, module) != module:
            index[spelled] = None
        else:
            index[spelled] = module
    return index


class _Problems:
    """Collects every mismatch, so one error lists them all."""

    def __init__(self):
        self.items: dict[str, list[str]] = {}

    def add(self, kind: str, message: str):
        self.items.setdefault(kind, []).append(message)

    def __bool__(self):
        return bool(self.items)

    def report(self, model_name: str, limit: int = 20) -> str:
        lines = [f"cannot load the timm state dict into {model_name!r}:"]
        for kind, messages in self.items.items():
            lines.append(f"  {kind} ({len(messages)}):")
            lines.extend(f"    {m}" for m in messages[:limit])
            if len(messages) > limit:
                lines.append(f"    ... and {len(messages) - limit} more")
        return "\n".join(lines)


def _weight_map(
    model: keras.Model,
    keys,
    module_path: Callable[[str], str | None] | None = None,
) -> tuple[list[tuple[keras.Variable, str, ParamRule, keras.layers.Layer]], _Problems]:
    """Pairs every weight of `model` with a state-dict key (no values are read).

    Args:
        model: A tfzoo model.
        keys: The state dict's keys.
        module_path: Optional per-family hook, layer name -> timm module path
            (or None to fall back to the underscore lookup).

    Returns:
        ``[(variable, key, rule, layer)]`` and the problems found (layers with no
        module or no rule, keys the model lacks).
    """
    keys = list(keys)
    key_set = set(keys)
    index = _module_index(keys)
    problems = _Problems()
    pairs = []
    for layer in _layers_with_weights(model):
        rules = _rules_for(layer)
        if rules is None:
            problems.add("layers with no conversion rule",
                         f"{layer.name} ({type(layer).__name__}); add one with register_param_rule")
            continue
        module = module_path(layer.name) if module_path else None
        if module is None and all(rule.absolute for rule in rules.values()):
            module = ""
        if module is None:
            module = index.get(layer.name, "")
            if module is None:
                problems.add("ambiguous layer names", f"{layer.name}: two timm modules spell it with '_' for '.'; "
                             "pass module_path to disambiguate")
                continue
            if not module:
                problems.add("layers with no timm module",
                             f"{layer.name} ({type(layer).__name__}): no state-dict key starts with a module path "
                             f"that spells {layer.name!r} with '.' for '_'")
                continue
        for variable in layer.weights:
            rule = rules.get(variable.name)
            if rule is None:
                problems.add("variables with no conversion rule", f"{variable.path} ({type(layer).__name__})")
                continue
            key = rule.param if rule.absolute else f"{module}.{rule.param}"
            if key not in key_set:
                problems.add("missing keys", f"{key} (for {variable.path})")
                continue
            pairs.append((variable, key, rule, layer))
    return pairs, problems


def load_timm_state_dict(
    model: keras.Model,
    state_dict: Mapping[str, np.ndarray],
    strict: bool = True,
    module_path: Callable[[str], str | None] | None = None,
) -> None:
    """Assigns a timm state dict to a tfzoo model whose layer names mirror timm's modules.

    Args:
        model: A built tfzoo model.
        state_dict: ``{timm key: array}``, e.g. ``{k: v.numpy() for k, v in
            timm_model.state_dict().items()}``; NumPy arrays or anything
            ``np.asarray`` accepts (no torch import happens here).
        strict: When True, raise unless every model weight and every state-dict
            entry (other than `IGNORED_SUFFIXES`) are paired with matching
            shapes. When False, load the pairs that match, skip the rest (for
            example a classifier of another width) and warn about them.
        module_path: Per-family hook for names that do not mirror timm: layer
            name -> timm module path, or None to use the default rule.

    Raises:
        ValueError: in strict mode, listing every unpaired weight, unused key
            and shape mismatch; nothing is assigned then.
    """
    pairs, problems = _weight_map(model, state_dict.keys(), module_path)
    used = {key for _, key, _, _ in pairs}
    for key in state_dict:
        if key not in used and not key.endswith(IGNORED_SUFFIXES):
            problems.add("unexpected keys", f"{key} {tuple(np.shape(state_dict[key]))}")

    assignments = []
    for variable, key, rule, layer in pairs:
        source = np.asarray(state_dict[key])
        try:
            if rule.pass_layer:
                value = rule.transform(source, tuple(variable.shape), layer)
            else:
                value = rule.transform(source, tuple(variable.shape))
        except ValueError as error:
            problems.add("shape mismatches", f"{key} {source.shape}: {error}")
            continue
        if tuple(value.shape) != tuple(variable.shape):
            problems.add("shape mismatches", f"{key} {source.shape} -> {tuple(value.shape)} in Keras layout, "
                         f"but {variable.path} is {tuple(variable.shape)}")
            continue
        assignments.append((variable, value))

    if problems:
        if strict:
            raise ValueError(problems.report(model.name))
        warnings.warn(problems.report(model.name).replace("cannot load", "skipped parts of", 1), stacklevel=2)
    for variable, value in assignments:
        variable.assign(value.astype(variable.dtype))
