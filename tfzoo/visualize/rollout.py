"""Attention rollout for vision transformers.

Paper: "Quantifying Attention Flow in Transformers" (Abnar & Zuidema 2020,
arXiv 2005.00928), section 3: the attention of each layer, averaged over
heads, is mixed with the identity for the residual connection,
``A_hat = 0.5 A + 0.5 I``, rows renormalized, and the layers are multiplied,
``R = A_hat_L ... A_hat_1``; row 0 of ``R`` (the class token) over the patch
tokens, laid out on the patch grid, is the map. Reference:
github.com/samiraabnar/attention_flow. The class-token row is read as in
the ViT paper's figure 6 (Dosovitskiy et al. 2020, arXiv 2010.11929); no
attention is discarded (the "discard ratio" of some re-implementations is not in the paper).

The attention weights come from `FusedQKVAttention.attention_probabilities`
applied to each attention layer's input (the fused ``qkv`` projection), so
the model is read as it is: no layer is rebuilt and nothing about its outputs
or weights changes.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from tfzoo.errors import UsageError
from tfzoo.layers.transformer import FusedQKVAttention
from tfzoo.visualize import heads


def attention_layers(model: keras.Model) -> list:
    """The model's attention layers, in graph order."""
    return [layer for layer in model.layers if isinstance(layer, FusedQKVAttention)]


def attention_maps(model: keras.Model, images) -> list[np.ndarray]:
    """Each attention layer's weights, float32 ``[B, heads, N, N]``, first layer first."""
    layers = attention_layers(model)
    if not layers:
        raise UsageError(f"{model.name} has no self-attention layers; attention rollout is for ViT, DeiT, LV-ViT "
                         "(use method 'gradcam' or 'cam')")
    qkv = keras.Model(model.input, [layer.input for layer in layers])(np.asarray(images, np.float32),
                                                                        training=False)
    return [np.asarray(ops.convert_to_numpy(layer.attention_probabilities(value)), np.float32)
            for layer, value in zip(layers, qkv)]


def rollout_matrix(attentions: list[np.ndarray]) -> np.ndarray:
    """``A_hat_L ... A_hat_1`` with ``A_hat = normalize_rows(0.5 mean_heads(A) + 0.5 I)``, ``[B, N, N]``."""
    result = None
    for attention in attentions:
        mixed = 0.5 * ops.mean(attention, axis=1) + 0.5 * ops.eye(attention.shape[-1])
        mixed = mixed / ops.sum(mixed, axis=-1, keepdims=True)
        result = mixed if result is None else ops.matmul(mixed, result)
    return np.asarray(ops.convert_to_numpy(result), np.float32)


def attention_rollout(model: keras.Model, images) -> np.ndarray:
    """The class token's rolled-out attention over the patches, at input resolution in [0, 1], ``[B, H, W]``.

    Raises:
        UsageError: for a model without attention or without a class token.
    """
    from tfzoo.visualize.class_maps import _images, to_input_size

    images = _images(images)
    matrix = rollout_matrix(attention_maps(model, images))
    prefix, grid_h, grid_w = heads.token_layout(model, (None, matrix.shape[-1]))
    if prefix < 1:
        raise UsageError(f"{model.name} has no class token to roll attention out from")
    maps = matrix[:, 0, prefix:].reshape(len(images), grid_h, grid_w)
    return to_input_size(maps, images.shape[1:3])
