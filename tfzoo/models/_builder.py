"""The builder contract: what every model family builder takes, returns and raises.

This module is the one written contract for tfzoo's families (CNNs and
transformers alike); the shared steps it describes are implemented here, so a
family module holds only its architecture and its variant table.

**Registration.** A family module describes its variants as a table of
keyword-built records (a frozen dataclass or NamedTuple per variant) and calls
`tfzoo.models.registry.register_model` once per registered name with a
`ModelSpec`: the family builder, the keyword arguments that select the variant
(``{"variant": "a0"}``), the paper and reference, the reference's trainable
parameter count at 1000 classes, the default input size, crop, interpolation,
mean/std, and the family's `FeatureInfo` declarations.

**Arguments.** `create_model(name, **overrides)` calls
``spec.builder(num_classes=..., input_shape=..., include_top=..., pooling=...,
weights=..., name=spec.name, **spec.kwargs, **overrides)``. Every builder takes
the keras.applications arguments, documented once in `COMMON_ARGS`:
``include_top, weights, input_shape, pooling, num_classes,
classifier_activation``, plus ``drop_rate`` and ``drop_path_rate`` (a family
without stochastic depth raises `UsageError` for a non-zero rate rather than
ignoring it) and ``name``; family options come after. Unknown keyword
arguments are a `TypeError` (Python's own), which `create_model` turns into a
`UsageError`.

**What comes back.** A `tfzoo.models.ZooModel` (a functional `keras.Model`
that records its registry name and builder arguments in its config):

- ``include_top=True``: the head pools the last features (``head_pooling``:
  global average for CNNs, the class token for ViT/DeiT, the token average for
  Mixer), applies dropout (``drop_rate``) and the classifier (a Dense layer
  named as in the reference: ``fc``, ``classifier``, ``head`` ...), then a
  float32 activation layer ``predictions`` (``classifier_activation``, None
  for logits). Output ``[batch, num_classes]``.
- ``include_top=False``: ``pooling=None`` returns the last features as they
  are (a map ``[batch, h, w, c]`` or tokens ``[batch, tokens, c]``);
  ``"avg"``/``"max"`` pool them to ``[batch, c]``; token families also take
  ``"token"`` (the class token).
- ``create_model(name, features_only=True)``: a model whose output is a dict
  ``{"stride_S": map}``, one entry per `FeatureInfo` the family declares
  (strides 4/8/16/32 for CNNs; one stride-16 or stride-32 map of patch tokens
  for transformers, prefix tokens dropped).

**Errors.** `UsageError` (one line, what is wrong and how to fix it) for an
unknown variant (listing only that family's variants), a malformed or too
small ``input_shape``, a pooling the family does not have, a non-positive
``num_classes``, weights that are not a local ``.keras`` / ``.weights.h5``
file, and options a variant cannot take.
"""

from __future__ import annotations

import os
from typing import Mapping

import keras

from tfzoo.errors import UsageError
from tfzoo.layers.head import POOLINGS, TokenPool, classifier, global_pool
from tfzoo.models.zoo_model import ZooModel

MAP_POOLINGS = POOLINGS  # (None, "avg", "max")
TOKEN_POOLINGS = (None, "token", "avg", "max")

COMMON_ARGS = """\
    include_top: Include the head (pooling, dropout, classifier and the
        output activation); without it the model returns features (see `pooling`).
    weights: None, or the path of a local ``.keras`` / ``.weights.h5`` file
        of the same architecture.
    input_shape: ``(height, width, 3)``; default ``({size}, {size}, 3)``. At
        least {min_size} px a side.
    pooling: Without the top: {pooling}.
    num_classes: Classifier width.
    classifier_activation: Activation of the output (``"softmax"``), or None
        for logits; it runs in float32 under mixed precision.
    drop_rate: Dropout before the classifier (timm's ``drop_rate``).
    drop_path_rate: Stochastic depth rate{drop_path}.
"""

_POOLING_TEXT = {
    MAP_POOLINGS: "None (the last feature map ``[batch, h, w, c]``), ``\"avg\"`` or ``\"max\"``",
    TOKEN_POOLINGS: ("None (the normalized tokens ``[batch, tokens, c]``), ``\"token\"`` (the class token), "
                     "``\"avg\"`` or ``\"max\"`` over the patch tokens"),
}


def builder_doc(summary: str, *, variant: str = "", extra: str = "", input_size: int = 224, min_size: int = 32,
                poolings: tuple = MAP_POOLINGS, drop_path: str = " of the last block (0 turns it off)"):
    """Decorator giving a family builder the shared docstring of the contract.

    Args:
        summary: The builder's first paragraph.
        variant: Description of the ``variant`` argument ("" if it has none).
        extra: Google-style lines (4-space indented) for the family's own arguments.
        input_size: The default input size shown.
        min_size: The smallest input side.
        poolings: `MAP_POOLINGS` or `TOKEN_POOLINGS`.
        drop_path: How the family applies ``drop_path_rate``.
    """
    head = f"    variant: {variant}\n" if variant else ""
    common = COMMON_ARGS.format(size=input_size, min_size=min_size, pooling=_POOLING_TEXT[poolings],
                                drop_path=drop_path)
    doc = (f"{summary}\n\nFollows the builder contract of `tfzoo.models._builder`.\n\nArgs:\n{head}{common}"
           f"{extra.rstrip()}\n    name: Model name.\n\nReturns:\n    A `tfzoo.models.ZooModel`.\n\n"
           "Raises:\n    UsageError: for an unknown variant, a bad input shape, pooling or class count, or weights\n"
           "        that are not a local .keras / .weights.h5 file.\n")

    def decorate(fn):
        fn.__doc__ = doc
        return fn
    return decorate


def resolve_variant(table: Mapping, variant, family: str):
    """Returns ``table[variant]``.

    Raises:
        UsageError: for an unknown variant, listing this family's variants only.
    """
    try:
        return table[variant]
    except (KeyError, TypeError):
        raise UsageError(f"unknown {family} variant {variant!r}; choose one of {', '.join(map(str, table))}") from None


def image_input(input_shape, *, min_size: int, model_name: str):
    """Validates a keras.applications-style ``input_shape`` and returns the `keras.Input`.

    Raises:
        UsageError: for a malformed shape or a side shorter than `min_size`.
    """
    if input_shape is None or len(tuple(input_shape)) != 3:
        raise UsageError(f"{model_name}: input_shape must be (height, width, channels), got {input_shape!r}")
    height, width, channels = tuple(input_shape)
    if channels is None or int(channels) < 1:
        raise UsageError(f"{model_name}: input_shape needs a positive channel count, got {input_shape!r}")
    for side in (height, width):
        if side is not None and int(side) < min_size:
            raise UsageError(
                f"input size {height}x{width} is too small for {model_name}: it needs at least "
                f"{min_size}x{min_size} (its total stride); pass a larger --image_size / input_shape"
            )
    return keras.Input(shape=(height, width, channels), name="images")


def check_head_args(*, include_top: bool, pooling, num_classes: int, model_name: str, poolings=MAP_POOLINGS):
    """Validates the head arguments that every builder takes."""
    if pooling not in poolings:
        choices = ", ".join("None" if p is None else repr(p) for p in poolings)
        raise UsageError(f"{model_name}: pooling must be one of {choices}, got {pooling!r}")
    if include_top and (isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1):
        raise UsageError(f"{model_name}: num_classes must be a positive integer, got {num_classes!r}")


def load_weights(model: keras.Model, weights: str | None) -> keras.Model:
    """Loads local weights into a freshly built model.

    Args:
        model: The built model.
        weights: None, or the path of a ``.keras`` or ``.weights.h5`` file.
            tfzoo never downloads weights, so named weights like
            ``"imagenet"`` are rejected with an explanation.
    """
    if weights is None:
        return model
    weights = os.fspath(weights)
    if not weights.endswith((".keras", ".weights.h5")):
        raise UsageError(
            f"weights must be None or a local .keras / .weights.h5 file, got {weights!r} "
            "(tfzoo does not download pretrained weights)"
        )
    if not os.path.isfile(weights):
        raise UsageError(f"weights file not found: {weights}")
    model.load_weights(weights)
    return model


def pool_features(x, pooling, *, num_prefix_tokens: int = 0, name: str = "global_pool"):
    """Pools a feature map ``[B, H, W, C]`` or tokens ``[B, N, C]``; None returns `x`.

    For tokens, ``"token"`` takes token 0 (the class token) and ``"avg"`` /
    ``"max"`` reduce over the patch tokens after the `num_prefix_tokens`
    class/distillation tokens.
    """
    if pooling is None:
        return x
    if len(x.shape) == 3:
        return TokenPool(pooling, num_prefix_tokens=num_prefix_tokens, name=name)(x)
    if pooling == "token":
        raise UsageError("pooling='token' needs a token model (ViT, DeiT ...); use 'avg' or 'max'")
    return global_pool(x, pooling, name=name)


def make_model(inputs, outputs, *, name: str, weights=None, zoo_info: dict | None = None) -> ZooModel:
    """The last step of every builder: the `ZooModel`, then the optional local weights."""
    model = ZooModel(inputs, outputs, name=name, zoo_info=zoo_info or {"name": name})
    return load_weights(model, weights)


def finish_model(inputs, x, *, include_top: bool, pooling, num_classes: int, drop_rate: float = 0.0,
                 classifier_activation="softmax", name: str, weights, classifier_name: str = "classifier",
                 pool_name: str = "global_pool", head_pooling: str = "avg", num_prefix_tokens: int = 0,
                 dropout: float | None = None) -> ZooModel:
    """The standard ending: pooling + dropout + classifier (or the requested pooling), model, weights.

    Args:
        inputs: The model input.
        x: The last features: a map ``[B, H, W, C]`` or tokens ``[B, N, C]``.
        include_top: Add the head.
        pooling: Without the top: None, ``"avg"``, ``"max"`` (``"token"`` for tokens).
        num_classes: Classifier width.
        drop_rate: Dropout before the classifier.
        classifier_activation: Output activation, None for logits.
        name: Model name.
        weights: None or a local weights file.
        classifier_name: The reference's name of the final linear layer
            (``fc``, ``classifier``, ``head`` ...), so weights convert by name.
        pool_name: Name of the pooling layer in the classifier head.
        head_pooling: Pooling of the head: ``"avg"`` (CNNs, Mixer), ``"token"`` (ViT/DeiT) or ``"max"``.
        num_prefix_tokens: Class/distillation tokens in front of the patch tokens.
        dropout: Deprecated spelling of `drop_rate`.
    """
    if dropout is not None:
        drop_rate = dropout
    if include_top:
        x = pool_features(x, head_pooling, num_prefix_tokens=num_prefix_tokens, name=pool_name)
        x = classifier(x, num_classes, dropout=drop_rate, classifier_activation=classifier_activation,
                       name=classifier_name)
    else:
        x = pool_features(x, pooling, num_prefix_tokens=num_prefix_tokens)
    return make_model(inputs, x, name=name, weights=weights)
