"""Feature maps of any named layer, as arrays and as a PNG grid of channels."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from tfzoo.errors import UsageError
from tfzoo.visualize import heads


def feature_maps(model: keras.Model, image, layer: str) -> np.ndarray:
    """The output of layer `layer` for one image, as a map ``[h, w, C]`` (float32).

    Tokens ``[N, C]`` (a transformer layer) are laid out on the patch grid with
    the class/distillation tokens dropped.

    Args:
        model: A functional model.
        image: One preprocessed image ``[H, W, 3]`` (or a batch of one).
        layer: The layer's name (``model.summary()`` lists them).
    """
    from tfzoo.visualize.class_maps import _as_map, _images

    images = _images(image)
    if len(images) != 1:
        raise UsageError(f"feature_maps takes one image, got {len(images)}")
    tensor = heads.get_layer(model, layer).output
    if isinstance(tensor, (list, tuple, dict)):
        raise UsageError(f"layer {layer!r} has several outputs; name a layer with one")
    if len(tensor.shape) not in (3, 4):
        raise UsageError(f"layer {layer!r} outputs shape {tuple(tensor.shape)}, not a feature map or tokens; "
                         "name a convolution, block or token layer")
    values = keras.Model(model.input, tensor)(images, training=False)
    return _as_map(model, np.asarray(ops.convert_to_numpy(values), np.float32))[0]
