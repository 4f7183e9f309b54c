"""Activation lookup shared by every family.

Names follow timm (``relu``, ``hard_swish``, ``swish``/``silu``, ``gelu``) and
map to Keras core activations, so the resulting layers serialize without any
custom object.
"""

import keras

_KERAS_NAMES = {
    "relu": "relu",
    "relu6": "relu6",
    "hard_swish": "hard_silu",
    "hard_silu": "hard_silu",
    "hard_sigmoid": "hard_sigmoid",
    "swish": "silu",
    "silu": "silu",
    "gelu": "gelu",
    "sigmoid": "sigmoid",
    "tanh": "tanh",
    "linear": "linear",
}


def keras_activation_name(name: str) -> str:
    """Maps a timm-style activation name to the Keras core name."""
    try:
        return _KERAS_NAMES[name]
    except KeyError:
        raise ValueError(f"unknown activation {name!r}; known: {', '.join(sorted(_KERAS_NAMES))}") from None


def activation(name: str, layer_name: str) -> keras.layers.Layer:
    """A named `keras.layers.Activation` for a timm-style activation name."""
    return keras.layers.Activation(keras_activation_name(name), name=layer_name)
