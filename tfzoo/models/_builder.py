"""The builder contract: what every model family builder takes, returns and raises.

This module is the one written contract for tfzoo's families (CNNs and
transformers alike); the shared steps it describes are implemented here, so a
family module holds only its architecture and its variant table.

**Registration.** A family module describes its variants as a table of
keyword-built records (a frozen dataclass, ``kw_only=True``, or a NamedTuple
built with keywords; never positional tuples unpacked by position), and
calls `tfzoo.models.registry.register_model` once per registered name with a
`ModelSpec`: the family builder, the keyword arguments that select the
variant (``{"variant": "a0"}``), the paper and reference, the reference's
trainable parameter count at 1000 classes, the default input size, crop,
interpolation, mean/std, and the family's `FeatureInfo` declarations
(``feature_info=``). The builder resolves its variant with
``resolve_variant(table, variant, family)``.

After adding or changing a registered name, regenerate the static catalog
that ``tfzoo list`` reads without TensorFlow: ``python -m tfzoo.catalog
--write`` (tests/models/test_catalog.py fails while it is stale).

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

**One mechanism for the common arguments.** A builder is written as

    @builder_doc("Builds a Foo.", variant="'s', 'm'", extra=BN_ARGS, drop_path=None)
    def Foo(variant="s", *, bn_momentum=0.9, bn_epsilon=1e-5, **common):
        arch = resolve_variant(VARIANTS, variant, "foo")
        args = CommonArgs.parse(common, builder="Foo", name=f"foo_{variant}", input_size=224,
                                min_size=32, drop_path_rate=None)
        inputs = args.inputs()
        x = ...  # the architecture
        return args.finish(inputs, x, classifier_name="fc")

`CommonArgs.parse` checks the common arguments once (unknown names, pooling,
class count, rates in [0, 1), a rate the family lacks) and fills in the
family defaults (``drop_rate=None`` means the variant's own rate);
`builder_doc` writes the shared docstring and gives the builder a full
``__signature__`` (its own parameters, then the common ones; without
``drop_path_rate`` when the family has no stochastic depth), which is what
``help()`` shows and what the trainer checks ``--drop_rate`` /
``--drop_path_rate`` against (`builder_accepts`). A family with its own head
uses ``args.include_top``, ``args.pool`` and ``args.make`` (or
`finish_model` with ``head_pooling=None`` after pooling itself). Builders that
spell the common arguments out and call `check_head_args` / `finish_model`
directly also satisfy the contract.

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
  for transformers, prefix tokens dropped). tests/models/test_all_models.py
  builds every model at two input sizes and checks each declared stride
  against the size of the map it gets.

**Errors.** `UsageError` (one line, what is wrong and how to fix it) for an
unknown variant (listing only that family's variants), a malformed or too
small ``input_shape``, a pooling the family does not have, a non-positive
``num_classes``, a ``drop_rate`` / ``drop_path_rate`` outside [0, 1)
(`create_model` checks these for every family), weights that are not a
local ``.keras`` / ``.weights.h5`` file, and options a variant cannot take.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
from typing import Mapping

import keras

from tfzoo.errors import UsageError
from tfzoo.layers.head import POOLINGS, TokenPool, classifier, global_pool
from tfzoo.models.registry import check_rate
from tfzoo.models.zoo_model import ZooModel

MAP_POOLINGS = POOLINGS  # (None, "avg", "max")
TOKEN_POOLINGS = (None, "token", "avg", "max")

COMMON_ARGS = """\
    include_top: Include the head (pooling, dropout, classifier and the
        output activation); without it the model returns features (see `pooling`).
    weights: None, or the path of a local ``.keras`` / ``.weights.h5`` file
        of the same architecture.
    input_shape: ``(height, width, 3)``; default {size}. At
        least {min_size} px a side.
    pooling: Without the top: {pooling}.
    num_classes: Classifier width.
    classifier_activation: Activation of the output (``"softmax"``), or None
        for logits; it runs in float32 under mixed precision.
    drop_rate: Dropout before the classifier (timm's ``drop_rate``){drop_rate}.
    drop_path_rate: {drop_path}
"""

_POOLING_TEXT = {
    MAP_POOLINGS: "None (the last feature map ``[batch, h, w, c]``), ``\"avg\"`` or ``\"max\"``",
    TOKEN_POOLINGS: ("None (the normalized tokens ``[batch, tokens, c]``), ``\"token\"`` (the class token), "
                     "``\"avg\"`` or ``\"max\"`` over the patch tokens"),
}


# Shared text for the BatchNorm options most CNN families take (pass it in `builder_doc`'s ``extra``).
BN_ARGS = """\
    bn_momentum: Keras BatchNorm momentum (0.9 is PyTorch's 0.1).
    bn_epsilon: BatchNorm epsilon.
"""

# The common arguments with their contract defaults, in signature order.
COMMON_DEFAULTS = {
    "include_top": True,
    "weights": None,
    "input_shape": None,
    "pooling": None,
    "num_classes": 1000,
    "classifier_activation": "softmax",
    "drop_rate": 0.0,
    "drop_path_rate": 0.0,
    "name": None,
}


def builder_doc(summary: str, *, variant: str = "", extra: str = "", input_size: int | str = 224, min_size: int = 32,
                poolings: tuple = MAP_POOLINGS, drop_path: str | None = " of the last block (0 turns it off)",
                drop_rate: str = "", defaults: Mapping | None = None, pooling_text: str | None = None):
    """Decorator giving a family builder the shared docstring (and signature) of the contract.

    A builder written as ``def Family(variant=..., *, family_option=..., **common)``
    (the common arguments parsed by `CommonArgs.parse`) also gets a full
    ``__signature__``: its own parameters, then the common keyword arguments
    with their defaults, so ``help()``, IDEs and ``inspect.signature`` (which
    the trainer uses to check options per family) see every argument. A
    builder that spells the common arguments out keeps its own signature.

    Args:
        summary: The builder's first paragraph.
        variant: Description of the ``variant`` argument ("" if it has none).
        extra: Google-style lines (4-space indented) for the family's own arguments
            (`BN_ARGS` for ``bn_momentum`` / ``bn_epsilon``).
        input_size: The default input size shown (a number, or words such as "the variant's").
        min_size: The smallest input side.
        poolings: `MAP_POOLINGS` or `TOKEN_POOLINGS`.
        drop_path: How the family applies ``drop_path_rate`` (text after "Stochastic depth rate"),
            or None for a family without stochastic depth: the rate must then be 0, and the
            signature leaves ``drop_path_rate`` out (the trainer then refuses ``--drop_path_rate``).
        drop_rate: Text after the ``drop_rate`` description, e.g. its family default.
        defaults: Common arguments whose default differs in this family, e.g.
            ``{"drop_rate": None}`` (None: the variant's own rate).
        pooling_text: What ``pooling`` does without the top, where the text for `poolings`
            does not fit (e.g. tokens without a class token).
    """
    head = f"    variant: {variant}\n" if variant else ""
    size = f"``({input_size}, {input_size}, 3)``" if isinstance(input_size, int) else str(input_size)
    drop_path_text = ("Must be 0: this family has no stochastic depth." if drop_path is None
                      else f"Stochastic depth rate{drop_path}.")
    common = COMMON_ARGS.format(size=size, min_size=min_size, pooling=pooling_text or _POOLING_TEXT[poolings],
                                drop_path=drop_path_text, drop_rate=drop_rate)
    doc = (f"{summary}\n\nFollows the builder contract of `tfzoo.models._builder`.\n\nArgs:\n{head}{common}"
           f"{extra.rstrip()}\n    name: Model name.\n\nReturns:\n    A `tfzoo.models.ZooModel`.\n\n"
           "Raises:\n    UsageError: for an unknown variant, a bad input shape, pooling or class count, or weights\n"
           "        that are not a local .keras / .weights.h5 file.\n")
    shown = {**COMMON_DEFAULTS, **(defaults or {})}
    if drop_path is None:
        shown.pop("drop_path_rate")

    def decorate(fn):
        fn.__doc__ = doc
        signature = inspect.signature(fn)
        params = [p for p in signature.parameters.values() if p.kind != p.VAR_KEYWORD]
        if len(params) < len(signature.parameters):  # ``**common``: show the common arguments
            own = {p.name for p in params}
            params += [inspect.Parameter(key, inspect.Parameter.KEYWORD_ONLY, default=value)
                       for key, value in shown.items() if key not in own]
            fn.__signature__ = signature.replace(parameters=params)
        return fn
    return decorate


@dataclasses.dataclass(frozen=True)
class CommonArgs:
    """The contract's common builder arguments, parsed and checked once (`CommonArgs.parse`).

    A family builder takes them as ``**common`` and hands the parsed object to
    its body, which then needs no copy of the argument list:
    ``args.inputs()`` makes the checked `keras.Input`, ``args.finish(inputs, x,
    classifier_name="fc")`` the standard ending (`finish_model`), and a family
    with its own head uses ``args.include_top``, ``args.pool(x)`` and
    ``args.make(inputs, outputs)``.

    Attributes:
        include_top, weights, input_shape, pooling, num_classes, classifier_activation,
        drop_rate, drop_path_rate, name: The resolved arguments (defaults filled in).
        min_size: The smallest input side of the family.
    """

    include_top: bool
    weights: str | None
    input_shape: tuple
    pooling: str | None
    num_classes: int
    classifier_activation: str | None
    drop_rate: float
    drop_path_rate: float
    name: str
    min_size: int = 32

    @classmethod
    def parse(cls, common: Mapping, *, builder: str, name: str, input_size: int, min_size: int = 32,
              poolings: tuple = MAP_POOLINGS, drop_rate: float = 0.0,
              drop_path_rate: float | None = 0.0) -> "CommonArgs":
        """Checks a builder's ``**common`` keyword arguments and fills in the defaults.

        Args:
            common: The keyword arguments the builder received beyond its own.
            builder: The builder's name, for the unknown-argument error.
            name: The default model name.
            input_size: The default input side.
            min_size: The smallest input side (the total stride, or more).
            poolings: `MAP_POOLINGS` or `TOKEN_POOLINGS`.
            drop_rate: The family's default classifier dropout (used for ``drop_rate=None``).
            drop_path_rate: The family's default stochastic depth rate, or None when
                the family has none (then only 0 is accepted).

        Raises:
            TypeError: for an argument that is not a common one (as Python would
                raise; `create_model` turns it into a `UsageError`).
            UsageError: for bad head arguments or rates.
        """
        unknown = sorted(set(common) - set(COMMON_DEFAULTS))
        if unknown:
            raise TypeError(f"{builder}() got an unexpected keyword argument '{unknown[0]}'")
        values = {**COMMON_DEFAULTS, **common}
        model_name = values["name"] or name
        check_head_args(include_top=values["include_top"], pooling=values["pooling"],
                        num_classes=values["num_classes"], model_name=model_name, poolings=poolings)
        rates = {"drop_rate": drop_rate, "drop_path_rate": drop_path_rate or 0.0}
        for key, default in rates.items():
            given = common.get(key)
            rates[key] = check_rate(default if given is None else given, key, model_name)
        if drop_path_rate is None and rates["drop_path_rate"]:
            raise UsageError(f"{model_name} has no stochastic depth; leave drop_path_rate (--drop_path_rate) "
                             f"unset, got {rates['drop_path_rate']}")
        input_shape = values["input_shape"] or (input_size, input_size, 3)
        return cls(include_top=values["include_top"], weights=values["weights"], input_shape=input_shape,
                   pooling=values["pooling"], num_classes=values["num_classes"],
                   classifier_activation=values["classifier_activation"], drop_rate=float(rates["drop_rate"]),
                   drop_path_rate=float(rates["drop_path_rate"]), name=model_name, min_size=min_size)

    def inputs(self):
        """The checked `keras.Input` named "images" (`image_input`)."""
        return image_input(self.input_shape, min_size=self.min_size, model_name=self.name)

    def pool(self, x, *, num_prefix_tokens: int = 0):
        """``pooling`` applied to the last features (for a family that builds its own head).

        Args:
            x: A feature map ``[B, H, W, C]`` or tokens ``[B, N, C]``.
            num_prefix_tokens: Class/distillation tokens in front of the patch tokens
                (``"avg"`` / ``"max"`` skip them).
        """
        return pool_features(x, self.pooling, num_prefix_tokens=num_prefix_tokens)

    def make(self, inputs, outputs) -> ZooModel:
        """`make_model` with this model's name and weights (for a family that builds its own head)."""
        return make_model(inputs, outputs, name=self.name, weights=self.weights)

    def finish(self, inputs, x, **head) -> ZooModel:
        """`finish_model` with these arguments; `head` takes its naming options (``classifier_name`` ...)."""
        return finish_model(inputs, x, include_top=self.include_top, pooling=self.pooling,
                            num_classes=self.num_classes, drop_rate=self.drop_rate,
                            classifier_activation=self.classifier_activation, name=self.name,
                            weights=self.weights, **head)


def builder_accepts(builder, argument: str) -> bool:
    """Whether a registered builder honours a keyword argument (by its signature as `builder_doc` shows it).

    A builder whose shown signature still has ``**kwargs`` accepts any name.
    """
    parameters = inspect.signature(builder).parameters
    return argument in parameters or any(p.kind == p.VAR_KEYWORD for p in parameters.values())


def one_of(table) -> str:
    """The ``variant`` description for `builder_doc`: "One of ``'a0'``, ``'a1'`` ..." from a variant table."""
    return "One of " + ", ".join(f"``{key!r}``" for key in table) + "."


def variant_entry_point(builder, variant: str, name: str, title: str):
    """A one-variant entry point over a family builder, e.g. ``ResNet50 = variant_entry_point(ResNet, "50", ...)``.

    It takes the builder's arguments except ``variant`` (its signature says so)
    and its docstring points at the builder's.

    Args:
        builder: The family builder, whose first parameter is ``variant``.
        variant: The variant it builds.
        name: The entry point's name, e.g. ``"ResNet50"``.
        title: The model's name in prose, e.g. ``"ResNet-50"``.
    """
    def entry_point(**kwargs) -> ZooModel:
        return builder(variant, **kwargs)

    entry_point.__name__ = entry_point.__qualname__ = name
    entry_point.__module__ = builder.__module__
    entry_point.__doc__ = f"{title}: `{builder.__name__}` with ``variant={variant!r}``; see it for the arguments."
    signature = inspect.signature(builder)
    entry_point.__signature__ = signature.replace(
        parameters=[p for p in signature.parameters.values() if p.name != "variant"])
    return entry_point


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
                 pool_name: str = "global_pool", head_pooling: str | None = "avg",
                 num_prefix_tokens: int = 0) -> ZooModel:
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
        head_pooling: Pooling of the head: ``"avg"`` (CNNs, Mixer), ``"token"`` (ViT/DeiT) or ``"max"``;
            None when `x` is already pooled (a family head that pools first, as MobileNetV3's).
        num_prefix_tokens: Class/distillation tokens in front of the patch tokens.
    """
    if include_top:
        x = pool_features(x, head_pooling, num_prefix_tokens=num_prefix_tokens, name=pool_name)
        x = classifier(x, num_classes, dropout=drop_rate, classifier_activation=classifier_activation,
                       name=classifier_name)
    else:
        x = pool_features(x, pooling, num_prefix_tokens=num_prefix_tokens)
    return make_model(inputs, x, name=name, weights=weights)
