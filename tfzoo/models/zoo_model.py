"""`ZooModel`: the functional model every tfzoo builder returns, knowing what built it.

keras-hub's rule is that a model's config is its constructor arguments. A
tfzoo model is a plain functional graph (so it saves, loads and converts like
any Keras model), and `ZooModel` adds one thing to that graph's config:
``zoo_info``, a small JSON-able dict with the registry name, family and the
builder arguments that produced it. It travels with ``get_config`` /
``from_config`` and ``.keras`` files (safe mode included), so ``tfzoo eval``
and ``tfzoo predict`` can say which model a file holds.
"""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="tfzoo")
class ZooModel(keras.Model):
    """A functional `keras.Model` that records how it was built.

    Args:
        *args: `keras.Model` functional arguments (``inputs, outputs``).
        zoo_info: JSON-able dict, e.g. ``{"name": "resnet50", "family":
            "resnet", "builder_args": {...}}``.
        **kwargs: `keras.Model` keyword arguments (``name`` ...).
    """

    def __init__(self, *args, zoo_info: dict | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.zoo_info = dict(zoo_info or {})

    def get_config(self):
        config = super().get_config()
        config["zoo_info"] = _plain(self.zoo_info)
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        info = config.pop("zoo_info", {})
        model = super().from_config(config, custom_objects=custom_objects)
        model.zoo_info = dict(info)
        return model


def _plain(value):
    """`value` with Keras' tracked dicts and lists (which hold a reference to the model) turned into plain ones.

    Attributes of a Keras layer are wrapped in ``TrackedDict`` / ``TrackedList``
    objects whose tracker points back at the model, so a ``copy.deepcopy`` of
    a config that held them copied the whole model (seconds per call).
    """
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(item) for item in value) if type(value) in (list, tuple) else [
            _plain(item) for item in value]
    return value


def describe(model) -> str:
    """One line naming what a model is, e.g. ``resnet50 (family resnet, 10 classes, 224x224)``."""
    info = dict(getattr(model, "zoo_info", None) or {})
    name = info.get("name") or getattr(model, "name", "model")
    parts = []
    if info.get("family"):
        parts.append(f"family {info['family']}")
    args = info.get("builder_args") or {}
    if args.get("num_classes") and args.get("include_top", True):
        parts.append(f"{args['num_classes']} classes")
    shape = args.get("input_shape")
    if shape:
        parts.append(f"{shape[0]}x{shape[1]}")
    return f"{name} ({', '.join(parts)})" if parts else str(name)
