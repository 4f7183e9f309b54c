"""Inference-form conversion of whole models: `reparameterize` and `fuse_bn`.

`reparameterize(model)` is timm's ``reparameterize_model`` for functional
Keras models: every layer that implements `tfzoo.layers.Reparameterizable`
(the RepVGG block) is replaced by its inference form. The model is rebuilt
from its own config with those layers' ``deploy_config()`` and receives their
``reparameterize()`` weights; every other layer keeps its weights. Nested
functional or sequential models are converted too.

`fuse_bn(model)` folds each BatchNormalization that directly follows a
Conv2D or DepthwiseConv2D into that convolution, as inference engines do:
it edits the functional config (drops the BN, gives the convolution a bias,
points the BN's consumers at the convolution) and loads folded weights. A
pair is folded only when it is exactly equivalent: the convolution has no
activation, its output feeds nothing but the BN, both are called once, and
the BN normalizes the channel axis. Everything else (a BN before a
convolution, as in DenseNet, or after an addition) stays as it is.

Both leave the original model untouched and return a new, uncompiled model,
or the original model when there is nothing to convert. Outputs agree with
the original's inference-mode outputs up to float32 rounding.
"""

from __future__ import annotations

import copy

import keras

from tfzoo.layers.reparam import Reparameterizable, fold_batch_norm

FUSABLE_CONVS = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D)


def _entry_name(entry: dict) -> str:
    return entry.get("name") or entry["config"]["name"]


def _is_nested_model(layer) -> bool:
    return isinstance(layer, keras.Model) and "layers" in layer.get_config()


def count_reparameterizable(model: keras.Model) -> int:
    """Number of layers (nested models included) that `reparameterize` would convert."""
    total = 0
    for layer in model.layers:
        if isinstance(layer, Reparameterizable) and not getattr(layer, "deploy", False):
            total += 1
        elif _is_nested_model(layer):
            total += count_reparameterizable(layer)
    return total


def _deploy_config(model: keras.Model, config: dict) -> dict:
    """`config` (the model's config, copied) with each reparameterizable layer's deploy config."""
    for entry in config["layers"]:
        layer = model.get_layer(_entry_name(entry))
        if isinstance(layer, Reparameterizable):
            entry["config"] = layer.deploy_config()
        elif _is_nested_model(layer):
            _deploy_config(layer, entry["config"])
    return config


def _copy_weights(source: keras.Model, target: keras.Model) -> None:
    """Loads `target` (the deploy form of `source`) layer by layer."""
    for layer in source.layers:
        new = target.get_layer(layer.name)
        if _is_nested_model(layer):
            _copy_weights(layer, new)
        elif isinstance(layer, Reparameterizable):
            new.set_weights(layer.reparameterize())
        else:
            new.set_weights(layer.get_weights())


def reparameterize(model: keras.Model, fuse_bn: bool = False) -> keras.Model:
    """Converts a model to its inference form.

    Args:
        model: A functional or sequential `keras.Model`.
        fuse_bn: Also fold conv -> BatchNorm pairs (see `fuse_bn`).

    Returns:
        A new model in which every `Reparameterizable` layer is in its
        deploy form (for RepVGG: one 3x3 convolution with bias + ReLU per
        block, the paper's inference architecture), with equal outputs in
        inference mode; `model` itself when no layer needs converting.
    """
    if count_reparameterizable(model):
        deployed = model.__class__.from_config(_deploy_config(model, copy.deepcopy(model.get_config())))
        _copy_weights(model, deployed)
        model = deployed
    return _fuse_bn(model) if fuse_bn else model


# --- conv -> BN folding ------------------------------------------------------------------------------------


def _tensor_refs(node, found: list) -> None:
    """Collects the ``keras_history`` lists ([layer, node, index]) in a serialized call's arguments."""
    if isinstance(node, dict):
        if node.get("class_name") == "__keras_tensor__":
            found.append(node["config"]["keras_history"])
            return
        for value in node.values():
            _tensor_refs(value, found)
    elif isinstance(node, (list, tuple)):
        for value in node:
            _tensor_refs(value, found)


def _is_ref(node) -> bool:
    return (isinstance(node, (list, tuple)) and len(node) == 3 and isinstance(node[0], str)
            and isinstance(node[1], int) and isinstance(node[2], int))


def _output_refs(node, found: list) -> None:
    if _is_ref(node):
        found.append(node)
    elif isinstance(node, (list, tuple)):
        for value in node:
            _output_refs(value, found)
    elif isinstance(node, dict):
        for value in node.values():
            _output_refs(value, found)


def _fusable_pairs(model: keras.Model, config: dict) -> dict:
    """``{bn_name: conv_name}`` of the conv -> BN pairs that fold exactly."""
    entries = {_entry_name(entry): entry for entry in config["layers"]}
    consumers = {name: 0 for name in entries}
    inputs = {}
    for name, entry in entries.items():
        refs = []
        _tensor_refs(entry.get("inbound_nodes", []), refs)
        inputs[name] = refs
        for ref in refs:
            consumers[ref[0]] = consumers.get(ref[0], 0) + 1
    outputs = []
    _output_refs(config.get("output_layers", []), outputs)
    for ref in outputs:
        consumers[ref[0]] = consumers.get(ref[0], 0) + 1

    pairs = {}
    for name, entry in entries.items():
        layer = model.get_layer(name)
        if type(layer) is not keras.layers.BatchNormalization or len(entry.get("inbound_nodes", [])) != 1:
            continue
        if len(inputs[name]) != 1 or layer.axis not in (-1, len(layer.input.shape) - 1):
            continue
        source = inputs[name][0][0]
        conv = model.get_layer(source)
        # Exact classes only: a subclass (e.g. a weight-standardized conv) transforms its kernel in call().
        if type(conv) not in FUSABLE_CONVS or conv.get_config().get("activation") != "linear":
            continue
        if consumers.get(source) != 1 or len(entries[source].get("inbound_nodes", [])) != 1:
            continue
        pairs[name] = source
    return pairs


def _rewire(node, renames: dict):
    """A copy of a serialized structure with tensor references to `renames`' keys pointed at their values."""
    if isinstance(node, dict):
        if node.get("class_name") == "__keras_tensor__":
            history = list(node["config"]["keras_history"])
            history[0] = renames.get(history[0], history[0])
            return {**node, "config": {**node["config"], "keras_history": history}}
        return {key: _rewire(value, renames) for key, value in node.items()}
    if isinstance(node, (list, tuple)):
        if _is_ref(list(node)):
            return [renames.get(node[0], node[0]), node[1], node[2]]
        return type(node)(_rewire(value, renames) for value in node)
    return node


def count_fusable_bn(model: keras.Model) -> int:
    """Number of conv -> BN pairs `fuse_bn` would fold (top-level functional graph)."""
    config = model.get_config()
    return len(_fusable_pairs(model, config)) if "layers" in config and "input_layers" in config else 0


def _fuse_bn(model: keras.Model) -> keras.Model:
    config = copy.deepcopy(model.get_config())
    if "layers" not in config or "input_layers" not in config:
        return model  # not a functional model
    pairs = _fusable_pairs(model, config)
    if not pairs:
        return model
    convs = set(pairs.values())
    layers = []
    for entry in config["layers"]:
        name = _entry_name(entry)
        if name in pairs:
            continue
        if name in convs:
            entry["config"]["use_bias"] = True
        layers.append(entry)
    config["layers"] = _rewire(layers, pairs)
    config["output_layers"] = _rewire(config["output_layers"], pairs)
    fused_model = model.__class__.from_config(config)

    fused = {}
    for bn_name, conv_name in pairs.items():
        conv = model.get_layer(conv_name)
        depthwise = isinstance(conv, keras.layers.DepthwiseConv2D)
        fused[conv_name] = list(fold_batch_norm(conv.kernel, conv.bias if conv.use_bias else None,
                                           model.get_layer(bn_name), depthwise=depthwise))
    for layer in model.layers:
        if layer.name not in pairs:
            fused_model.get_layer(layer.name).set_weights(fused.get(layer.name, layer.get_weights()))
    return fused_model


def fuse_bn(model: keras.Model) -> keras.Model:
    """Folds every BatchNormalization that directly follows a Conv2D / DepthwiseConv2D into it.

    Args:
        model: A functional `keras.Model` (the tfzoo families: VGG-BN, ResNet,
            MobileNet, EfficientNet, RegNet, DenseNet ...).

    Returns:
        A new model with one convolution with bias in place of each folded
        pair and equal inference-mode outputs; `model` itself when nothing
        folds. BatchNorms that do not follow a convolution directly stay.
    """
    return _fuse_bn(model)
