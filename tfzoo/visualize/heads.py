"""Where a classifier's heat maps come from: its logits, its head and its feature layers.

A tfzoo classifier ends, by the builder contract (`tfzoo.models._builder`),
in ``pooling -> [dropout] -> Dense classifier -> "predictions"``. This module
reads that structure back from the functional graph:

- the **logits**: the input of the ``predictions`` activation (the scores
  before softmax, which Grad-CAM differentiates), else the model output;
- whether the head is **global average pooling + one linear layer** over the
  last feature map (CAM's condition): the classifier's input, through dropout
  only, is a `GlobalAveragePooling2D` or a token average (`TokenPool` "avg",
  MLP-Mixer), and the map it pools has the spatial size of the family's
  deepest feature layer. A head with its own layers before the pooling (VGG's
  fc6/fc7 convolutions, MobileNetV3's post-pool 1x1 conv) or two heads
  (DeiT) is not, and CAM does not apply;
- the **feature layer** a map is read from: the layer a user names, else the
  deepest one the registry declares (`tfzoo.models.FeatureInfo`); for a
  transformer whose head reads the class token, the last block's input
  (the output of block ``L-2``): the final ``norm`` feeds the head through
  the class token alone, so its patch tokens get no gradient, and the last
  block's attention is where the patches last reach the class token
  (pytorch-grad-cam reads that block's ``norm1``; its input is used here
  because every path to the logits passes through it, which the JAX
  gradient helper needs).
"""

from __future__ import annotations

import dataclasses

import keras

from tfzoo.errors import UsageError
from tfzoo.layers.head import TokenPool

_PASS_THROUGH = (keras.layers.Dropout,)


def _producer(tensor):
    """The layer that made a KerasTensor."""
    return tensor._keras_history[0]


def _single_input(layer):
    inputs = layer.input
    return inputs if not isinstance(inputs, (list, tuple)) else (inputs[0] if len(inputs) == 1 else None)


def logits_tensor(model: keras.Model):
    """The class scores before the output activation (KerasTensor): ``predictions``'s input, else the output."""
    if isinstance(model.output, (list, tuple, dict)):
        raise UsageError(f"{model.name} has several outputs; heat maps need a classifier with one output")
    try:
        predictions = model.get_layer("predictions")
    except ValueError:
        return model.output
    return predictions.input


@dataclasses.dataclass(frozen=True)
class LinearHead:
    """A global-average-pooling + one linear classifier head (CAM's condition).

    Attributes:
        classifier: The Dense layer (kernel ``[C, K]``).
        features: The KerasTensor the head pools: a map ``[B, h, w, C]`` or tokens ``[B, N, C]``.
        num_prefix_tokens: For tokens, the class/distillation tokens the pooling skips.
    """

    classifier: keras.layers.Dense
    features: object
    num_prefix_tokens: int = 0


def linear_head(model: keras.Model) -> tuple[LinearHead | None, str]:
    """The model's GAP + linear head, or ``(None, why not)`` in a few words."""
    layer = _producer(logits_tensor(model))
    if not isinstance(layer, keras.layers.Dense):
        return None, f"its logits come from {type(layer).__name__} layer {layer.name!r}, not one Dense classifier"
    classifier = layer
    tensor = _single_input(layer)
    while tensor is not None and isinstance(_producer(tensor), _PASS_THROUGH):
        tensor = _single_input(_producer(tensor))
    pool = _producer(tensor) if tensor is not None else None
    if isinstance(pool, keras.layers.GlobalAveragePooling2D) and not pool.keepdims:
        features, prefix = pool.input, 0
    elif isinstance(pool, TokenPool) and pool.mode == "avg":
        features, prefix = pool.input, pool.num_prefix_tokens
    else:
        what = "nothing" if pool is None else f"{type(pool).__name__} {pool.name!r}"
        return None, f"its classifier {classifier.name!r} reads {what}, not a global average pooling"
    deepest = deepest_feature(model)
    if deepest is not None and not deepest.tokens:
        wanted = model.get_layer(deepest.layer).output.shape[1:3]
        if tuple(features.shape[1:3]) != tuple(wanted):
            return None, (f"its head has layers of its own between the last feature map {deepest.layer!r} "
                          f"and the pooling (a {features.shape[1]}x{features.shape[2]} map)")
    return LinearHead(classifier, features, prefix), ""


def _spec(model):
    info = getattr(model, "zoo_info", None) or {}
    name = info.get("name")
    if not name:
        return None
    from tfzoo.models.registry import get_spec

    try:
        return get_spec(name)
    except UsageError:
        return None


def deepest_feature(model):
    """The registry's deepest `FeatureInfo` of the model's family (largest stride), or None."""
    spec = _spec(model)
    features = spec.features() if spec is not None else ()
    features = [feature for feature in features if _has_layer(model, feature.layer)]
    return max(features, key=lambda feature: feature.stride) if features else None


def _has_layer(model, name: str) -> bool:
    try:
        model.get_layer(name)
    except ValueError:
        return False
    return True


def get_layer(model: keras.Model, name: str):
    """``model.get_layer(name)`` whose miss is a one-line `UsageError` naming a few close layer names."""
    try:
        return model.get_layer(name)
    except ValueError:
        import difflib

        names = [layer.name for layer in model.layers]
        close = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
        hint = f"; close names: {', '.join(close)}" if close else f"; its last layers: {', '.join(names[-4:])}"
        raise UsageError(f"{model.name} has no layer {name!r}{hint}") from None


def default_gradcam_layer(model: keras.Model) -> str:
    """The layer Grad-CAM reads by default (see the module docstring)."""
    deepest = deepest_feature(model)
    if deepest is not None and deepest.tokens:
        head, _ = linear_head(model)
        if head is None:  # the head reads prefix tokens: their last mixing with the patches is the last attention
            norms = [layer for layer in model.layers if layer.name.endswith("_norm1")]
            if norms:
                return _producer(_single_input(norms[-1])).name  # the last block's input
        return deepest.layer
    if deepest is not None:
        return deepest.layer
    maps = [layer.name for layer in model.layers[1:]
            if not isinstance(layer.output, (list, tuple, dict)) and len(layer.output.shape) == 4]
    if not maps:
        raise UsageError(f"{model.name} has no 4-D feature map to explain; name one with --layer")
    return maps[-1]


def token_layout(model: keras.Model, tokens_shape) -> tuple[int, int, int]:
    """``(num_prefix_tokens, grid_h, grid_w)`` for a layer's tokens ``[B, N, C]``.

    The grid is the input size over the family's patch stride (its token
    `FeatureInfo`); the prefix tokens are what is left over (1 for ViT, 2 for
    distilled DeiT, 0 for Mixer). Without registry information the patch grid
    is taken to be square.
    """
    count = int(tokens_shape[1])
    height, width = model.input.shape[1:3]
    deepest = deepest_feature(model)
    if deepest is not None and deepest.tokens and height and width:
        grid = (int(height) // deepest.stride, int(width) // deepest.stride)
    else:
        import math

        side = math.isqrt(count)
        grid = (side, side)
    prefix = count - grid[0] * grid[1]
    if prefix < 0 or grid[0] * grid[1] == 0:
        raise UsageError(f"cannot lay {count} tokens of {model.name} out on a patch grid")
    return prefix, grid[0], grid[1]
