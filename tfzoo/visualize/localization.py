"""A localization check for heat maps: digits pasted at random places on a larger blank canvas.

CAM's claim (Zhou et al. 2016, section 4) is that a classifier trained with
image labels only learns *where* the object is. With the embedded digits
(`tfzoo.data.digits`) pasted at a random position of a black canvas, the
position is known exactly, so the claim is testable: the peak of the heat map
should fall inside the digit's box. tests/visualize/test_localization.py and
scripts/cam_localization.py use this.
"""

from __future__ import annotations

import numpy as np


def pasted_digits(count: int, *, canvas: int = 96, digit_size: int = 32, seed: int = 0):
    """`count` digits, each pasted at a uniformly random position into a black ``canvas`` square.

    Args:
        count: Number of images (drawn with replacement from the 1,797 digits).
        canvas: Side of the output images.
        digit_size: Side the 8x8 digits are resized to before pasting.
        seed: Random seed (digit choice and position).

    Returns:
        ``(images, labels, boxes)``: float32 ``[count, canvas, canvas, 3]`` in
        0..255, int32 ``[count]`` and int32 ``[count, 4]`` boxes ``(top, left,
        bottom, right)`` (bottom/right exclusive).
    """
    from tfzoo.data.digits import digits_arrays

    digits, labels = digits_arrays(digit_size)
    rng = np.random.default_rng(seed)
    chosen = rng.integers(0, len(digits), count)
    tops = rng.integers(0, canvas - digit_size + 1, count)
    lefts = rng.integers(0, canvas - digit_size + 1, count)
    images = np.zeros((count, canvas, canvas, 3), np.float32)
    for index, (digit, top, left) in enumerate(zip(chosen, tops, lefts)):
        images[index, top:top + digit_size, left:left + digit_size] = digits[digit]
    boxes = np.stack([tops, lefts, tops + digit_size, lefts + digit_size], axis=1).astype(np.int32)
    return images, labels[chosen].astype(np.int32), boxes


def peak_positions(maps) -> np.ndarray:
    """``(row, col)`` of each heat map's peak, ``[B, 2]``: the centre of the pixels at the maximum.

    Upsampled maps have plateaus at their maximum (bilinear resizing clamps
    at the border), so the plateau's centre of mass is used rather than its
    first pixel.
    """
    maps = np.asarray(maps, np.float32)
    peaks = []
    for heat in maps:
        rows, cols = np.nonzero(heat >= heat.max() - 1e-6)
        peaks.append((rows.mean(), cols.mean()))
    return np.asarray(peaks, np.float32)


def peak_in_box_rate(maps, boxes) -> float:
    """Fraction of heat maps whose peak (`peak_positions`) lies inside the box ``(top, left, bottom, right)``."""
    peaks = peak_positions(maps)
    boxes = np.asarray(boxes)
    inside = ((peaks[:, 0] >= boxes[:, 0]) & (peaks[:, 0] < boxes[:, 2]) &
              (peaks[:, 1] >= boxes[:, 1]) & (peaks[:, 1] < boxes[:, 3]))
    return float(inside.mean())
