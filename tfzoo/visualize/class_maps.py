"""Class activation maps: CAM, Grad-CAM and token Grad-CAM, at input resolution in [0, 1].

Papers:

- CAM: "Learning Deep Features for Discriminative Localization" (Zhou et al.
  2016, arXiv 1512.04150), section 2: for a head that global-average-pools
  the last feature map ``f_k(x, y)`` and applies one linear classifier, the
  map of class ``c`` is ``M_c(x, y) = sum_k w_k^c f_k(x, y)`` (the bias,
  constant over the map, is left out). Reference: github.com/zhoubolei/CAM.
- Grad-CAM: "Grad-CAM: Visual Explanations from Deep Networks via
  Gradient-based Localization" (Selvaraju et al. 2017, arXiv 1610.02391),
  equations 1-2: ``alpha_k^c = mean_{ij} d y^c / d A^k_ij`` (``y^c`` the
  score before softmax), ``L^c = ReLU(sum_k alpha_k^c A^k)``. Reference:
  github.com/ramprs/grad-cam. For a GAP + linear head ``d y^c / d A^k_ij =
  w_k^c / (h w)``, so Grad-CAM is ``ReLU(CAM) / (h w)``: CAM up to a positive
  scale (section 3.1 of the paper), which tests/visualize checks.
- Token Grad-CAM for transformers: the same formula on the patch tokens of a
  layer laid out on the patch grid, prefix (class, distillation) tokens
  dropped, as pytorch-grad-cam's ``reshape_transform`` for ViT does.

Both maps are then made comparable and drawable the same way: ReLU (the
evidence for the class), bilinear upsampling to the input size
(`keras.ops.image.resize`), division by the maximum (an all-zero map stays
zero). This is Grad-CAM's normalization; the CAM paper shows the map
without stating one, and min-max scaling (another common choice) would
paint the least negative evidence as hot.
"""

from __future__ import annotations

import warnings

import keras
import numpy as np
from keras import ops

from tfzoo.errors import UsageError
from tfzoo.visualize import heads
from tfzoo.visualize._gradients import features_and_gradients

METHODS = ("auto", "cam", "gradcam", "rollout")


def _as_map(model, values: np.ndarray, num_prefix_tokens: int | None = None) -> np.ndarray:
    """A feature output as a map ``[B, h, w, C]``: tokens are laid out on the patch grid, prefix dropped."""
    if values.ndim == 4:
        return values
    if values.ndim != 3:
        raise UsageError(f"a heat map needs a feature map [B, h, w, C] or tokens [B, N, C], got shape {values.shape}")
    prefix, grid_h, grid_w = heads.token_layout(model, values.shape)
    if num_prefix_tokens is not None and num_prefix_tokens != prefix:
        prefix = num_prefix_tokens
    return values[:, prefix:].reshape(values.shape[0], grid_h, grid_w, values.shape[-1])


def _images(images) -> np.ndarray:
    array = np.asarray(images, np.float32)
    if array.ndim == 3:
        array = array[None]
    if array.ndim != 4:
        raise UsageError(f"images must be [B, H, W, C] (or one [H, W, C] image), got shape {array.shape}")
    return array


def cam_raw(model: keras.Model, images, class_index=None) -> tuple[np.ndarray, np.ndarray]:
    """CAM at the resolution of the last feature map, before ReLU and scaling.

    Returns:
        ``(maps, classes)``: float32 ``[B, h, w]`` ``sum_k w_k^c f_k`` and the
        class of each image (int32 ``[B]``; its top class when `class_index` is None).

    Raises:
        UsageError: when the head is not global average pooling + one linear layer.
    """
    head, why = heads.linear_head(model)
    if head is None:
        raise UsageError(f"CAM needs a global-average-pooling + linear head, and {model.name} has none: {why}; "
                         "use method 'gradcam'")
    images = _images(images)
    features, logits = keras.Model(model.input, [head.features, heads.logits_tensor(model)])(images, training=False)
    logits = np.asarray(ops.convert_to_numpy(logits), np.float32)
    if class_index is None:
        classes = np.argmax(logits, axis=-1).astype(np.int32)
    else:
        classes = np.broadcast_to(np.asarray(class_index), (len(images),)).astype(np.int32)
        if np.any(classes < 0) or np.any(classes >= logits.shape[-1]):
            raise UsageError(f"class index {class_index} is out of range for {logits.shape[-1]} classes")
    features = _as_map(model, np.asarray(ops.convert_to_numpy(features), np.float32), head.num_prefix_tokens)
    kernel = ops.convert_to_numpy(head.classifier.kernel).astype(np.float32)  # [C, K]
    weights = ops.take(ops.transpose(kernel), classes, axis=0)  # [B, C]
    maps = ops.einsum("bhwc,bc->bhw", features, weights)
    return np.asarray(ops.convert_to_numpy(maps), np.float32), classes


def gradcam_raw(model: keras.Model, images, class_index=None, layer: str | None = None):
    """Grad-CAM (or token Grad-CAM) at the layer's resolution: ``sum_k alpha_k^c A^k`` before ReLU.

    Args:
        model: A functional classifier.
        images: Preprocessed images ``[B, H, W, 3]``.
        class_index: None (each image's top class), an int, or one per image.
        layer: The layer name; default `tfzoo.visualize.heads.default_gradcam_layer`.

    Returns:
        ``(maps, classes)`` as in `cam_raw`.
    """
    images = _images(images)
    name = layer or heads.default_gradcam_layer(model)
    tensor = heads.get_layer(model, name).output
    if isinstance(tensor, (list, tuple, dict)):
        raise UsageError(f"layer {name!r} has several outputs; name a layer with one")
    features, gradients, _, classes = features_and_gradients(model, tensor, heads.logits_tensor(model), images,
                                                             class_index)
    features, gradients = _as_map(model, features), _as_map(model, gradients)
    alpha = ops.mean(gradients, axis=(1, 2))  # [B, C]
    maps = ops.einsum("bhwc,bc->bhw", features, alpha)
    return np.asarray(ops.convert_to_numpy(maps), np.float32), classes


def to_input_size(maps, size) -> np.ndarray:
    """ReLU, bilinear upsampling to ``size = (H, W)`` and division by each map's maximum: ``[B, H, W]`` in [0, 1]."""
    maps = ops.relu(ops.convert_to_tensor(np.asarray(maps, np.float32)))[..., None]
    maps = ops.image.resize(maps, tuple(int(side) for side in size), interpolation="bilinear")[..., 0]
    peak = ops.max(maps, axis=(1, 2), keepdims=True)
    maps = ops.where(peak > 0, maps / ops.maximum(peak, 1e-12), ops.zeros_like(maps))
    return np.clip(np.asarray(ops.convert_to_numpy(maps), np.float32), 0.0, 1.0)


def resolve_method(model: keras.Model, method: str = "auto", layer: str | None = None) -> str:
    """The method `cam` uses: "auto" is CAM for a GAP + linear head read at its own map, else Grad-CAM.

    Raises:
        UsageError: for an unknown method, "cam" on a head it does not apply to,
            or "cam" with a layer other than the one the head pools.
    """
    if method not in METHODS:
        raise UsageError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    if method in ("gradcam", "rollout"):
        return method
    head, why = heads.linear_head(model)
    pooled = None if head is None else head.features._keras_history[0].name
    if method == "cam":
        if head is None:
            raise UsageError(f"CAM needs a global-average-pooling + linear head, and {model.name} has none: {why}; "
                             "use --method gradcam (or auto)")
        if layer is not None and layer != pooled:
            raise UsageError(f"CAM reads the map the head pools ({pooled!r}), not {layer!r}; drop --layer or use "
                             "--method gradcam")
        return "cam"
    return "cam" if head is not None and layer in (None, pooled) else "gradcam"


def cam(model: keras.Model, images, class_index=None, method: str = "auto", layer: str | None = None,
        return_classes: bool = False):
    """Heat maps of where a classifier finds a class, at input resolution in [0, 1].

    Args:
        model: A functional classifier (every tfzoo model; a run's ``model.keras``).
        images: Preprocessed images ``[B, H, W, 3]`` (or one ``[H, W, 3]``), as the model takes them.
        class_index: None (each image's top class), an int, or one int per image.
        method: ``"auto"`` (CAM for a global-average-pooling + linear head, else
            Grad-CAM), ``"cam"``, ``"gradcam"`` (token Grad-CAM for transformers)
            or ``"rollout"`` (attention rollout, `attention_rollout`; class-agnostic).
        layer: The layer Grad-CAM reads (default: the family's deepest feature
            layer, see `tfzoo.visualize.heads`).
        return_classes: Also return the class of each map.

    Returns:
        float32 ``[B, H, W]`` in [0, 1] (and int32 ``[B]`` classes with `return_classes`;
        -1 for rollout).
    """
    images = _images(images)
    method = resolve_method(model, method, layer)
    if method == "rollout":
        from tfzoo.visualize.rollout import attention_rollout

        maps = attention_rollout(model, images)
        return (maps, np.full([len(images)], -1, np.int32)) if return_classes else maps
    if method == "cam":
        raw, classes = cam_raw(model, images, class_index)
    else:
        raw, classes = gradcam_raw(model, images, class_index, layer)
    warn_if_single_cell(raw, images.shape[1:3], method)
    maps = to_input_size(raw, images.shape[1:3])
    return (maps, classes) if return_classes else maps


class SingleCellMapWarning(UserWarning):
    """The map was computed on a 1x1 feature map, so it says nothing about where."""


def warn_if_single_cell(raw, input_size, method: str) -> None:
    """Warns (`SingleCellMapWarning`) when `raw` maps are 1x1: upsampled, they are flat (or all zero).

    A ResNet at 32 px ends on a 1x1 map (stride 32), so its CAM and Grad-CAM
    hold one value per image and paint the whole picture one colour.
    """
    raw = np.asarray(raw)
    if raw.ndim == 3 and raw.shape[1] == 1 and raw.shape[2] == 1:
        height, width = (int(side) for side in input_size)
        warnings.warn(f"the {method} map is 1x1 at this {height}x{width} input (the layer's stride is at least the "
                      "input size), so the heat map is flat and shows no location; use a larger input "
                      "(--image_size) or name an earlier layer with --layer (Grad-CAM)",
                      SingleCellMapWarning, stacklevel=3)
