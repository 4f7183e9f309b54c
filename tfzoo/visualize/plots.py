"""Pictures: heat-map overlays and feature-map grids as PNG files (matplotlib, Agg backend, no display).

Heat maps are coloured with a matplotlib colormap (``"jet"`` by default, as
the CAM and Grad-CAM papers draw them) and blended over the image. Every PNG
is written atomically (`tfzoo.utils.atomic`).
"""

from __future__ import annotations

import os

import numpy as np

from tfzoo.errors import UsageError
from tfzoo.utils.atomic import atomic_path


def pyplot():
    """matplotlib's pyplot on the Agg backend (files only, never a window)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def colormap(name: str):
    """A matplotlib colormap by name (`UsageError` for an unknown one)."""
    import matplotlib

    try:
        return matplotlib.colormaps[name]
    except KeyError:
        raise UsageError(f"unknown matplotlib colormap {name!r} (e.g. jet, viridis, inferno, turbo)") from None


def to_uint8(image) -> np.ndarray:
    """An image ``[H, W, 3]`` (or ``[H, W]``) in 0..255 as RGB uint8."""
    array = np.asarray(image, np.float32)
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=-1)
    if array.shape[-1] == 1:
        array = np.repeat(array, 3, axis=-1)
    return np.clip(np.round(array), 0, 255).astype(np.uint8)


def overlay(image, heatmap, *, alpha: float = 0.45, cmap: str = "jet") -> np.ndarray:
    """Blends a heat map in [0, 1] over an image: ``(1 - alpha) image + alpha colormap(heatmap)``.

    Args:
        image: Pixels ``[H, W, 3]`` in 0..255.
        heatmap: ``[H, W]`` in [0, 1] (`tfzoo.visualize.class_maps`), same size as the image.
        alpha: Weight of the colours.
        cmap: A matplotlib colormap name.

    Returns:
        uint8 ``[H, W, 3]``.
    """
    image = to_uint8(image).astype(np.float32)
    heatmap = np.asarray(heatmap, np.float32)
    if heatmap.shape != image.shape[:2]:
        raise ValueError(f"heat map {heatmap.shape} and image {image.shape[:2]} differ in size")
    colours = colormap(cmap)(np.clip(heatmap, 0.0, 1.0))[..., :3] * 255.0
    return to_uint8((1.0 - alpha) * image + alpha * colours)


def save_figure(figure, path: str, dpi: int = 100) -> str:
    """Writes a matplotlib figure to a PNG atomically, closes it and returns the path."""
    plt = pyplot()
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    try:
        with atomic_path(path, suffix=".png") as tmp:
            figure.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight")
    finally:
        plt.close(figure)
    return path


def save_overlay(path: str, image, heatmap, *, title: str | None = None, alpha: float = 0.45,
                 cmap: str = "jet", size: float = 4.0) -> str:
    """A PNG of the image and its heat-map overlay side by side, with a title and a colour bar."""
    plt = pyplot()
    figure, axes = plt.subplots(1, 2, figsize=(2 * size + 0.6, size + (0.6 if title else 0.2)))
    axes[0].imshow(to_uint8(image))
    axes[0].set_title("image", fontsize=9)
    shown = axes[1].imshow(overlay(image, heatmap, alpha=alpha, cmap=cmap))
    shown.set_cmap(cmap)  # the colour bar shows the heat map's scale, 0..1
    shown.set_clim(0.0, 1.0)
    axes[1].set_title("heat map", fontsize=9)
    for axis in axes:
        axis.axis("off")
    figure.colorbar(shown, ax=axes[1], fraction=0.046, pad=0.02)
    if title:
        figure.suptitle(title, fontsize=9)
    return save_figure(figure, path)


def save_feature_grid(path: str, maps, *, max_channels: int = 64, title: str | None = None,
                      cmap: str = "viridis") -> str:
    """A PNG grid of the first `max_channels` channels of a feature map ``[h, w, C]``, each scaled to its range."""
    maps = np.asarray(maps, np.float32)
    if maps.ndim != 3:
        raise UsageError(f"a feature grid needs a map [h, w, C], got shape {maps.shape}")
    if max_channels < 1:
        raise UsageError(f"the grid needs at least one channel, got {max_channels}")
    count = min(max_channels, maps.shape[-1])
    columns = int(np.ceil(np.sqrt(count)))
    rows = int(np.ceil(count / columns))
    plt = pyplot()
    figure, axes = plt.subplots(rows, columns, figsize=(1.3 * columns, 1.3 * rows + (0.4 if title else 0)),
                                squeeze=False)
    for index, axis in enumerate(axes.flat):
        axis.axis("off")
        if index < count:
            axis.imshow(maps[..., index], cmap=cmap, interpolation="nearest")
            axis.set_title(str(index), fontsize=6, pad=1)
    if title:
        figure.suptitle(title, fontsize=9)
    return save_figure(figure, path)
