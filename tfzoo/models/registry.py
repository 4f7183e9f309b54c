"""Model registry, in the manner of timm's `_registry.py`.

Each family module describes its variants as a table and calls
`register_model` once per row. `create_model` builds a registered variant by
name, `list_models` filters names with shell-style patterns, and `model_info`
returns the metadata a trainer or exporter needs (input size, crop fraction,
normalization, the paper, the reference parameter count).
"""

from __future__ import annotations

import dataclasses
import difflib
import fnmatch
from typing import Any, Callable, Mapping

from tfzoo.errors import UsageError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclasses.dataclass(frozen=True)
class FeatureInfo:
    """One feature output a family declares for ``create_model(..., features_only=True)``.

    Attributes:
        stride: Total stride of the feature map (its key is ``stride_<stride>``).
        layer: Name of the layer whose output it is.
        tokens: The layer outputs tokens ``[B, N, C]`` (a transformer); they are
            laid out as a ``[B, H/stride, W/stride, C]`` map.
        num_prefix_tokens: Class/distillation tokens dropped before the layout.
    """

    stride: int
    layer: str
    tokens: bool = False
    num_prefix_tokens: int = 0


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """Everything the registry knows about one named variant.

    Attributes:
        name: Registered name, e.g. ``"mobilenet_v3_large"``.
        family: Family name, e.g. ``"mobilenet_v3"``.
        builder: Family builder; called as ``builder(**kwargs, **overrides)``.
        kwargs: Keyword arguments that select this variant in the builder.
        paper: Paper title and arXiv id.
        reference: The reference implementation this variant matches.
        num_params: Trainable parameters of the reference with 1000 classes.
        input_size: Default (train and test) square input resolution.
        test_input_size: Evaluation resolution when it differs from training.
        min_input_size: Smallest resolution the architecture accepts.
        crop_pct: Center-crop fraction used for evaluation.
        interpolation: Resize interpolation used for evaluation.
        mean: Per-channel mean, in 0..1 units.
        std: Per-channel standard deviation, in 0..1 units.
        aliases: Other names that resolve to this variant.
        feature_info: The family's `FeatureInfo` declarations, used by
            ``create_model(..., features_only=True)``.
        feature_layers: ``(stride, layer_name)`` pairs, the older spelling of
            map-only `feature_info`.
    """

    name: str
    family: str
    builder: Callable[..., Any]
    kwargs: Mapping[str, Any]
    paper: str
    reference: str
    num_params: int | None = None
    input_size: int = 224
    test_input_size: int | None = None
    min_input_size: int = 32
    crop_pct: float = 0.875
    interpolation: str = "bilinear"
    mean: tuple = IMAGENET_MEAN
    std: tuple = IMAGENET_STD
    aliases: tuple = ()
    feature_layers: tuple = ()
    feature_info: tuple = ()

    def features(self) -> tuple:
        """The `FeatureInfo` declarations (from `feature_layers` when only those are given)."""
        if self.feature_info:
            return tuple(self.feature_info)
        return tuple(FeatureInfo(stride=stride, layer=layer) for stride, layer in self.feature_layers)

    def info(self) -> dict:
        """Returns the public metadata as a plain dict (no builder)."""
        return {
            "name": self.name,
            "family": self.family,
            "paper": self.paper,
            "reference": self.reference,
            "num_params": self.num_params,
            "input_size": self.input_size,
            "test_input_size": self.test_input_size or self.input_size,
            "min_input_size": self.min_input_size,
            "crop_pct": self.crop_pct,
            "interpolation": self.interpolation,
            "mean": tuple(self.mean),
            "std": tuple(self.std),
            "aliases": tuple(self.aliases),
            "feature_strides": tuple(feature.stride for feature in self.features()),
        }


_MODELS: dict[str, ModelSpec] = {}
_ALIASES: dict[str, str] = {}


def register_model(spec: ModelSpec) -> ModelSpec:
    """Adds a variant (and its aliases) to the registry.

    Raises:
        ValueError: if the name or an alias is already taken.
    """
    for key in (spec.name, *spec.aliases):
        if key in _MODELS or key in _ALIASES:
            raise ValueError(f"model name {key!r} is registered twice")
    _MODELS[spec.name] = spec
    for alias in spec.aliases:
        _ALIASES[alias] = spec.name
    return spec


def list_models(pattern: str = "*", include_aliases: bool = False) -> list[str]:
    """Registered names matching a shell-style pattern, sorted.

    Args:
        pattern: fnmatch pattern, e.g. ``"mobilenet*"``; a plain word without
            wildcards matches names that contain it.
        include_aliases: Also list alias names.
    """
    if not any(ch in pattern for ch in "*?["):
        pattern = f"*{pattern}*"
    names = list(_MODELS)
    if include_aliases:
        names += list(_ALIASES)
    return sorted(n for n in names if fnmatch.fnmatchcase(n, pattern))


def suggest(name: str, limit: int = 5) -> list[str]:
    """Close registered names for a misspelled one."""
    candidates = list(_MODELS) + list(_ALIASES)
    normalized = name.lower().replace("-", "_")
    close = difflib.get_close_matches(normalized, candidates, n=limit, cutoff=0.6)
    squashed = normalized.replace("_", "")
    for cand in sorted(candidates):
        if len(close) >= limit:
            break
        if cand not in close and (squashed in cand.replace("_", "") or cand.replace("_", "") in squashed):
            close.append(cand)
    return close


def get_spec(name: str) -> ModelSpec:
    """Looks up a variant by name or alias.

    Raises:
        UsageError: for an unknown name, with the closest registered names.
    """
    if not isinstance(name, str):
        raise UsageError(f"model name must be a string, got {type(name).__name__}")
    key = _ALIASES.get(name, name)
    if key in _MODELS:
        return _MODELS[key]
    hints = suggest(name)
    hint = f"; did you mean {', '.join(hints)}?" if hints else ""
    raise UsageError(f"unknown model {name!r}{hint} (`tfzoo list` shows every model)")


def model_info(name: str) -> dict:
    """Metadata for a registered variant: family, paper, input size, parameter count and more."""
    return get_spec(name).info()


def create_model(
    name: str,
    num_classes: int = 1000,
    input_shape: tuple | None = None,
    include_top: bool = True,
    pooling: str | None = None,
    weights: str | None = None,
    features_only: bool = False,
    **overrides: Any,
):
    """Builds a registered model.

    Args:
        name: Registered name or alias (see `list_models`).
        num_classes: Size of the classifier.
        input_shape: ``(height, width, 3)``; defaults to the variant's input size.
        include_top: Whether to include the classifier head.
        pooling: With ``include_top=False``: ``None``, ``"avg"`` or ``"max"``
            (token models also ``"token"``).
        weights: Path of a local ``.keras`` or ``.weights.h5`` file, or None.
        features_only: Return a backbone whose outputs are a dict of the
            feature maps the family declares (`FeatureInfo`; keys
            ``"stride_4"`` ...), for detection and segmentation heads.
        **overrides: Family-specific builder arguments (``drop_rate``,
            ``drop_path_rate``, ``width_multiplier`` ...).

    Returns:
        A `tfzoo.models.ZooModel` (functional) whose ``zoo_info`` records the
        registry name, family and these arguments; see `tfzoo.models._builder`
        for the builder contract.

    Raises:
        UsageError: for an unknown name, or an option the family does not take.
    """
    spec = get_spec(name)
    kwargs = dict(spec.kwargs)
    kwargs.setdefault("name", spec.name)
    kwargs.update(overrides)
    if input_shape is None:
        input_shape = (spec.input_size, spec.input_size, 3)
    zoo_info = {
        "name": spec.name,
        "family": spec.family,
        "builder_args": _jsonable({"num_classes": num_classes, "input_shape": list(input_shape),
                                   "include_top": include_top, "pooling": pooling,
                                   "features_only": features_only, **overrides}),
    }
    try:
        if features_only:
            model = _feature_extractor(spec, input_shape, weights, kwargs)
        else:
            model = spec.builder(num_classes=num_classes, input_shape=input_shape, include_top=include_top,
                                 pooling=pooling, weights=weights, **kwargs)
    except TypeError as error:
        if "unexpected keyword argument" not in str(error):
            raise
        argument = str(error).rsplit("argument", 1)[-1].strip(" '\"")
        raise UsageError(f"{spec.name} ({spec.family}) has no option {argument!r}") from None
    model.zoo_info = zoo_info
    return model


def _jsonable(values: dict) -> dict:
    """The entries of `values` that JSON can hold (what a saved model can record)."""
    import json

    kept = {}
    for key, value in values.items():
        try:
            json.dumps(value)
        except (TypeError, ValueError):
            continue
        kept[key] = value
    return kept


def _feature_extractor(spec: ModelSpec, input_shape, weights, kwargs):
    from tfzoo.layers.head import TokensToMap
    from tfzoo.models.zoo_model import ZooModel

    features = spec.features()
    if not features:
        raise UsageError(f"{spec.name} does not support features_only")
    backbone = spec.builder(include_top=False, pooling=None, input_shape=input_shape, weights=weights, **kwargs)
    outputs = {}
    for feature in features:
        x = backbone.get_layer(feature.layer).output
        if feature.tokens:
            # The grid is read from the images at run time, so inputs of unknown size work too.
            x = TokensToMap(num_prefix_tokens=feature.num_prefix_tokens, stride=feature.stride,
                            name=f"stride_{feature.stride}_map")(x, backbone.input)
        outputs[f"stride_{feature.stride}"] = x
    return ZooModel(backbone.input, outputs, name=f"{backbone.name}_features")
