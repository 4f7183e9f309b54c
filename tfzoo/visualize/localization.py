"""A localization check for heat maps: digits pasted at random places on a larger blank canvas.

CAM's claim (Zhou et al. 2016, section 4) is that a classifier trained with
image labels only learns *where* the object is. With the embedded digits
(`tfzoo.data.digits`) pasted at a random position of a black canvas, the
position is known exactly, so the claim is testable: the peak of the heat map
should fall inside the digit's box. `train_and_measure` trains a zoo model on them and measures it;
tests/visualize/test_localization.py and scripts/cam_localization.py run it.

What decides the figure is the resolution of the map CAM reads and how far
its cells see. A stride-32 map of a small canvas has a few cells whose
receptive fields all cover the whole canvas, and the CAM then peaks on the
central cells whatever the digit's position: MobileNetV1-0.25 on a 96 px
canvas (3x3 map, 48 px digits) put 41% of its peaks in the box; at 64 px
with a stride-16 map (4x4) it reached 72% (10 classes, top-1 0.90), the misses
being digits near a border whose peak sat one cell toward the centre. As the
CAM paper does (section 3: VGGnet-GAP drops the layers after conv5_3 for a
14x14 map), `train_and_measure` can therefore put the GAP + linear head on a
shallower feature layer of the backbone (``feature_stride``); with the
stride-8 map (8x8 on a 64 px canvas) the same backbone localizes 95% of the
digits (scripts/cam_localization.py prints the figures).
"""

from __future__ import annotations

import numpy as np


def pasted_digits(count: int, *, canvas: int = 96, digit_size: int = 48, seed: int = 0, classes=None):
    """`count` digits, each pasted at a uniformly random position into a black ``canvas`` square.

    Args:
        count: Number of images (drawn with replacement from the 1,797 digits).
        canvas: Side of the output images.
        digit_size: Side the 8x8 digits are resized to before pasting.
        seed: Random seed (digit choice and position).
        classes: The digits to draw from (default all ten); labels are their index in `classes`.

    Returns:
        ``(images, labels, boxes)``: float32 ``[count, canvas, canvas, 3]`` in
        0..255, int32 ``[count]`` and int32 ``[count, 4]`` boxes ``(top, left,
        bottom, right)`` (bottom/right exclusive).
    """
    from tfzoo.data.digits import digits_arrays

    digits, labels = digits_arrays(digit_size)
    if classes is not None:
        keep = np.isin(labels, classes)
        digits, labels = digits[keep], np.searchsorted(np.asarray(sorted(classes)), labels[keep])
    rng = np.random.default_rng(seed)
    chosen = rng.integers(0, len(digits), count)
    tops = rng.integers(0, canvas - digit_size + 1, count)
    lefts = rng.integers(0, canvas - digit_size + 1, count)
    images = np.zeros((count, canvas, canvas, 3), np.float32)
    for index, (digit, top, left) in enumerate(zip(chosen, tops, lefts)):
        images[index, top:top + digit_size, left:left + digit_size] = digits[digit]
    boxes = np.stack([tops, lefts, tops + digit_size, lefts + digit_size], axis=1).astype(np.int32)
    return images, labels[chosen].astype(np.int32), boxes


def peak_positions(maps, image_size) -> np.ndarray:
    """``(row, col)`` of each heat map's peak in image pixels, ``[B, 2]``.

    A map of ``h x w`` cells over an ``H x W`` image (CAM at the feature map's
    own resolution, or one upsampled to ``H x W``) peaks at its highest cell;
    its position is that cell's centre, ``((i + 0.5) H / h, (j + 0.5) W / w)``
    (ties: the first cell in row-major order).
    """
    maps = np.asarray(maps, np.float32)
    height, width = image_size
    cells_h, cells_w = maps.shape[1:3]
    flat = maps.reshape(len(maps), -1).argmax(axis=1)
    rows, cols = np.unravel_index(flat, (cells_h, cells_w))
    return np.stack([(rows + 0.5) * height / cells_h, (cols + 0.5) * width / cells_w], axis=1).astype(np.float32)


def peak_in_box_rate(maps, boxes, image_size) -> float:
    """Fraction of heat maps whose peak (`peak_positions`) lies inside the box ``(top, left, bottom, right)``."""
    peaks = peak_positions(maps, image_size)
    boxes = np.asarray(boxes)
    inside = ((peaks[:, 0] >= boxes[:, 0]) & (peaks[:, 0] < boxes[:, 2]) &
              (peaks[:, 1] >= boxes[:, 1]) & (peaks[:, 1] < boxes[:, 3]))
    return float(inside.mean())


def gap_classifier(model_name: str, input_shape, num_classes: int, feature_stride: int | None = None,
                   **model_kwargs):
    """A zoo classifier, or its backbone cut at the feature layer of `feature_stride` with a GAP + linear head.

    Args:
        model_name: A registered model.
        input_shape: ``(H, W, 3)``.
        num_classes: Classes of the head (logits, no softmax).
        feature_stride: None for the model as registered; else a stride of
            its `tfzoo.models.FeatureInfo` (4, 8, 16 ...): the layers after
            that feature layer are dropped and ``head_global_pool``
            (`GlobalAveragePooling2D`) + ``head_fc`` (`Dense`) read it, the
            CAM paper's VGGnet-GAP recipe.
    """
    import keras

    import tfzoo
    from tfzoo.errors import UsageError

    if feature_stride is None:
        return tfzoo.create_model(model_name, input_shape=input_shape, num_classes=num_classes,
                                  classifier_activation=None, **model_kwargs)
    spec = tfzoo.models.registry.get_spec(model_name)
    layers = [info.layer for info in spec.feature_info if info.stride == feature_stride and not info.tokens]
    if not layers:
        raise UsageError(f"{model_name} has no feature map of stride {feature_stride}; its strides are "
                         f"{', '.join(str(info.stride) for info in spec.feature_info)}")
    backbone = tfzoo.create_model(model_name, input_shape=input_shape, include_top=False, **model_kwargs)
    pooled = keras.layers.GlobalAveragePooling2D(name="head_global_pool")(backbone.get_layer(layers[-1]).output)
    logits = keras.layers.Dense(num_classes, name="head_fc")(pooled)
    return keras.Model(backbone.input, logits, name=f"{model_name}_stride{feature_stride}_gap")


def train_and_measure(model_name: str = "mobilenet_v1_100", *, canvas: int = 64, digit_size: int = 32,
                      num_train: int = 3000, num_val: int = 300, epochs: int = 8, batch_size: int = 32,
                      learning_rate: float = 3e-3, seed: int = 0, model_kwargs: dict | None = None,
                      feature_stride: int | None = None, examples_dir: str | None = None,
                      feature_layer: str | None = None, classes=None) -> dict:
    """Trains `model_name` on pasted digits and measures its CAM / Grad-CAM localization; returns the figures.

    `feature_stride` puts the GAP + linear head on a shallower feature layer
    (`gap_classifier`). With `examples_dir`, also writes ``cam_<i>.png``
    overlays (the digit's box drawn in the title) for the first six
    validation images, ``cams.png`` (the six in a row) and, with `feature_layer`, ``features.png``: that
    layer's first 16 channels for the first one.
    """
    import time

    import keras

    import tfzoo
    from tfzoo.visualize.class_maps import cam_raw, gradcam_raw

    keras.utils.set_random_seed(seed)
    spec = tfzoo.models.registry.get_spec(model_name)
    mean = np.asarray(spec.mean, np.float32) * 255.0
    std = np.asarray(spec.std, np.float32) * 255.0
    train_x, train_y, _ = pasted_digits(num_train, canvas=canvas, digit_size=digit_size, seed=seed, classes=classes)
    val_x, val_y, val_boxes = pasted_digits(num_val, canvas=canvas, digit_size=digit_size, seed=seed + 1,
                                            classes=classes)
    model = gap_classifier(model_name, (canvas, canvas, 3), len(classes or range(10)), feature_stride,
                           **(model_kwargs or {}))
    model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    started = time.perf_counter()
    model.fit((train_x - mean) / std, train_y, batch_size=batch_size, epochs=epochs, verbose=0, shuffle=True)
    seconds = time.perf_counter() - started
    val = (val_x - mean) / std
    accuracy = float(np.mean(np.argmax(np.asarray(model.predict(val, verbose=0)), -1) == val_y))
    figures = {"model": model_name, "model_kwargs": model_kwargs or {}, "feature_stride": feature_stride,
               "map_size": None, "canvas": canvas, "digit_size": digit_size,
               "num_train": num_train, "num_val": num_val, "epochs": epochs, "classes": list(classes or range(10)),
               "train_seconds": round(seconds, 1), "val_top1": accuracy}
    for method, raw in (("cam", cam_raw), ("gradcam", gradcam_raw)):  # peaks at the feature map's own cells
        maps = np.concatenate([raw(model, val[start:start + 50])[0] for start in range(0, num_val, 50)])
        figures[f"{method}_peak_in_box"] = peak_in_box_rate(maps, val_boxes, (canvas, canvas))
        figures["map_size"] = list(maps.shape[1:3])
    if examples_dir:
        _write_examples(model, val[:6], val_x[:6], val_y[:6], val_boxes[:6], examples_dir, feature_layer)
    return figures


def _write_examples(model, images, pixels, labels, boxes, directory, feature_layer):
    """``cam_<i>.png`` per image, ``cams.png`` (all of them in a row, box and peak drawn), ``features.png``."""
    import os

    from tfzoo.visualize.class_maps import cam, cam_raw
    from tfzoo.visualize.features import feature_maps
    from tfzoo.visualize.plots import overlay, pyplot, save_feature_grid, save_figure, save_overlay

    maps, classes = cam(model, images, return_classes=True)
    peaks = peak_positions(cam_raw(model, images)[0], images.shape[1:3])
    plt = pyplot()
    figure, axes = plt.subplots(1, len(images), figsize=(1.9 * len(images), 2.3), squeeze=False)
    for index, (image, heat, label, predicted, box) in enumerate(zip(pixels, maps, labels, classes, boxes)):
        save_overlay(os.path.join(directory, f"cam_{index}.png"), image, heat, size=3.0,
                     title=f"CAM of class {predicted} (true {label}); digit box rows {box[0]}-{box[2]}, "
                           f"cols {box[1]}-{box[3]}")
        axis = axes[0, index]
        axis.imshow(overlay(image, heat))
        top, left, bottom, right = box
        axis.add_patch(plt.Rectangle((left - 0.5, top - 0.5), right - left, bottom - top, fill=False,
                                     edgecolor="white", linewidth=1.2))
        inside = top <= peaks[index, 0] < bottom and left <= peaks[index, 1] < right
        axis.plot(peaks[index, 1] - 0.5, peaks[index, 0] - 0.5, marker="+", color="white", markersize=9)
        axis.set_title(f"{predicted} (true {label}), {'in' if inside else 'out'}", fontsize=8)
        axis.axis("off")
    figure.suptitle("CAM over validation images: digit box (white), peak cell centre (+)", fontsize=8)
    save_figure(figure, os.path.join(directory, "cams.png"))
    if feature_layer:
        save_feature_grid(os.path.join(directory, "features.png"), feature_maps(model, images[0], feature_layer),
                          max_channels=16, title=f"{model.name}: {feature_layer}, channels 0-15")
