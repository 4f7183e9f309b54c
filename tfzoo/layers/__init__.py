"""Reusable blocks and custom layers. Layers never import models."""

from tfzoo.layers.activations import activation, keras_activation_name
from tfzoo.layers.conv import conv2d, conv_norm_act, depthwise_conv2d, make_divisible
from tfzoo.layers.drop_path import DropPath
from tfzoo.layers.head import classifier, global_pool
from tfzoo.layers.mobile_blocks import depthwise_separable, inverted_residual
from tfzoo.layers.norm import NormConfig, norm_layer
from tfzoo.layers.squeeze_excite import squeeze_excite

__all__ = [
    "activation", "keras_activation_name", "conv2d", "conv_norm_act", "depthwise_conv2d", "make_divisible",
    "DropPath", "classifier", "global_pool", "depthwise_separable", "inverted_residual", "NormConfig",
    "norm_layer", "squeeze_excite",
]
