"""View augmentation of the self-supervised methods (SimCLR, MoCo v1/v2/v3, SwAV, instance discrimination).

Each method is a tuple of `ViewAugment` records in `METHODS`, from the paper
and its official code:

- ``simclr``: google-research/simclr ``tf2/data_util.py``
  (``preprocess_for_train`` + ``batch_random_blur``): crop 0.08-1, flip,
  color jitter of strength 1 (0.8, 0.8, 0.8, 0.2) at p 0.8 in random order
  with tf.image's contrast (per-channel mean) and saturation (HSV), grayscale
  p 0.2, Gaussian blur p 0.5 with sigma 0.1-2 and a kernel of 10% of the side,
  zero-padded ("SAME" convolution).
- ``moco_v1`` and ``instdisc``: facebookresearch/moco ``main_moco.py``
  (``aug_plus`` off) and zhirongw/lemniscate.pytorch ``main.py``: crop 0.2-1,
  grayscale p 0.2 *before* color jitter 0.4 (all four, always), flip.
- ``moco_v2``: crop 0.2-1, jitter (0.4, 0.4, 0.4, 0.1) p 0.8, grayscale 0.2,
  blur p 0.5 sigma 0.1-2, flip.
- ``moco_v3``: facebookresearch/moco-v3 ``main_moco.py``: asymmetric views;
  crop 0.08-1, jitter (0.4, 0.4, 0.2, 0.1) p 0.8, grayscale 0.2, flip; view 1
  blur p 1.0, no solarize; view 2 blur p 0.1, solarize p 0.2.
- ``swav``: facebookresearch/swav ``src/multicropdataset.py``: 2 crops at the
  full size, scale 0.14-1, and 6 crops at 96/224 of the size, scale
  0.05-0.14; flip, color distortion of strength 1 at p 0.8, grayscale 0.2,
  blur p 0.5 sigma 0.1-2.

The torchvision methods use torchvision's ``ColorJitter`` semantics (the four
ops in random order: brightness scales, contrast blends with the mean gray
level of the image, saturation blends with the grayscale image, hue shifts in
HSV), written here with tf.image ops: Keras's ``RandomColorJitter`` adds
brightness instead of scaling, uses per-channel contrast means and a fixed
order, so it matches neither reference. Their blur (PIL ``GaussianBlur``,
radius = sigma) is an exact Gaussian truncated at 3 sigma_max with edge
padding (PIL approximates it with box blurs). Grayscale is ITU-R 601-2
(0.299, 0.587, 0.114; tf.image's 0.2989 differs by 1e-4). Solarize inverts
pixels >= 128 (PIL ``ImageOps.solarize``). Crops reuse
`preprocessing.random_resized_crop` (tf.image's sampler, ratio 3/4-4/3).

Sizes scale with the input: a view is ``round(image_size * size_fraction)``
pixels (at least `MIN_CROP_SIZE`), so SwAV's small crops are 96 px at 224 and
14 px at 32. The map functions take a decoded ``[H, W, C]`` image (uint8 or
float in 0..255) and return a tuple of float32 views normalized with
`preprocessing.normalize`.
"""

from __future__ import annotations

import dataclasses
import math

import tensorflow as tf

from tfzoo.data.preprocessing import PreprocessConfig, normalize, random_resized_crop, to_rgb

MIN_CROP_SIZE = 8
GRAY_WEIGHTS = (0.299, 0.587, 0.114)
JITTER_IMPLS = ("torchvision", "simclr")
BLUR_KERNELS = ("pil", "simclr")


@dataclasses.dataclass(frozen=True)
class ViewAugment:
    """How one kind of view is drawn from an image.

    Attributes:
        count: Views of this kind per image (SwAV: 2 large, 6 small).
        size_fraction: View side as a fraction of the input size.
        scale: Random-resized-crop area range.
        ratio: Random-resized-crop aspect-ratio range.
        flip: Random horizontal flip (p 0.5).
        brightness: Jitter brightness strength ``b``: factor in ``[1-b, 1+b]``.
        contrast: Contrast strength (same form).
        saturation: Saturation strength (same form).
        hue: Hue shift in ``[-hue, hue]`` (fraction of the color wheel).
        jitter_p: Probability of applying the color jitter.
        jitter_impl: ``"torchvision"`` or ``"simclr"`` (tf.image contrast and
            saturation, see the module docstring).
        grayscale_p: Probability of converting to grayscale.
        grayscale_first: Grayscale before the jitter (MoCo v1, instdisc).
        blur_p: Probability of a Gaussian blur.
        blur_sigma: Range of the blur's standard deviation, pixels.
        blur_kernel: ``"pil"`` (truncated at 3 sigma_max, edge padding) or
            ``"simclr"`` (side // 10 taps rounded to odd, zero padding).
        solarize_p: Probability of solarizing.
    """

    count: int = 1
    size_fraction: float = 1.0
    scale: tuple = (0.08, 1.0)
    ratio: tuple = (3.0 / 4.0, 4.0 / 3.0)
    flip: bool = True
    brightness: float = 0.4
    contrast: float = 0.4
    saturation: float = 0.4
    hue: float = 0.1
    jitter_p: float = 0.8
    jitter_impl: str = "torchvision"
    grayscale_p: float = 0.2
    grayscale_first: bool = False
    blur_p: float = 0.0
    blur_sigma: tuple = (0.1, 2.0)
    blur_kernel: str = "pil"
    solarize_p: float = 0.0


_SIMCLR = ViewAugment(scale=(0.08, 1.0), brightness=0.8, contrast=0.8, saturation=0.8, hue=0.2, jitter_p=0.8,
                      jitter_impl="simclr", blur_p=0.5, blur_kernel="simclr")
_MOCO_V1 = ViewAugment(scale=(0.2, 1.0), brightness=0.4, contrast=0.4, saturation=0.4, hue=0.4, jitter_p=1.0,
                       grayscale_first=True)
_MOCO_V2 = ViewAugment(scale=(0.2, 1.0), hue=0.1, blur_p=0.5)
_MOCO_V3 = ViewAugment(scale=(0.08, 1.0), saturation=0.2, hue=0.1, blur_p=1.0)
_SWAV = ViewAugment(count=2, scale=(0.14, 1.0), brightness=0.8, contrast=0.8, saturation=0.8, hue=0.2, blur_p=0.5)

METHODS: dict[str, tuple[ViewAugment, ...]] = {
    "simclr": (_SIMCLR, _SIMCLR),
    "moco_v1": (_MOCO_V1, _MOCO_V1),
    "moco_v2": (_MOCO_V2, _MOCO_V2),
    "moco_v3": (_MOCO_V3, dataclasses.replace(_MOCO_V3, blur_p=0.1, solarize_p=0.2)),
    "swav": (_SWAV, dataclasses.replace(_SWAV, count=6, size_fraction=96 / 224, scale=(0.05, 0.14))),
    "instdisc": (_MOCO_V1, _MOCO_V1),
}


# ----------------------------------------------------------------------------- pixel ops (float 0..1, [H, W, 3])

def grayscale(image: tf.Tensor) -> tf.Tensor:
    """ITU-R 601-2 luma repeated on three channels."""
    gray = tf.tensordot(image, tf.constant(GRAY_WEIGHTS, image.dtype), axes=[[-1], [0]])[..., None]
    return tf.tile(gray, [1, 1, 3])


def solarize(image: tf.Tensor, threshold: float = 128 / 255) -> tf.Tensor:
    """Inverts the pixels at or above `threshold` (PIL ``ImageOps.solarize``, 128 of 255)."""
    return tf.where(image >= threshold, 1.0 - image, image)


def _blend(image, other, factor):
    return tf.clip_by_value(factor * image + (1.0 - factor) * other, 0.0, 1.0)


def adjust_brightness(image, factor):
    """torchvision/SimCLR v2 brightness: ``clip(factor * image)``."""
    return tf.clip_by_value(image * factor, 0.0, 1.0)


def adjust_contrast(image, factor, impl: str = "torchvision"):
    """Blend with the mean gray level (torchvision) or with each channel's mean (tf.image, SimCLR)."""
    if impl == "simclr":
        return tf.clip_by_value(tf.image.adjust_contrast(image, factor), 0.0, 1.0)
    mean = tf.reduce_mean(grayscale(image)[..., 0])
    return _blend(image, mean, factor)


def adjust_saturation(image, factor, impl: str = "torchvision"):
    """Blend with the grayscale image (torchvision) or scale HSV saturation (tf.image, SimCLR)."""
    if impl == "simclr":
        return tf.clip_by_value(tf.image.adjust_saturation(image, factor), 0.0, 1.0)
    return _blend(image, grayscale(image), factor)


def adjust_hue(image, delta):
    """Rotates the hue by `delta` of the color wheel (both references)."""
    return tf.clip_by_value(tf.image.adjust_hue(image, delta), 0.0, 1.0)


def _factor(strength):
    return tf.random.uniform([], max(0.0, 1.0 - strength), 1.0 + strength)


def color_jitter(image: tf.Tensor, view: ViewAugment) -> tf.Tensor:
    """Brightness, contrast, saturation and hue with random factors, in a random order."""
    ops = []
    if view.brightness:
        ops.append(lambda x: adjust_brightness(x, _factor(view.brightness)))
    if view.contrast:
        ops.append(lambda x: adjust_contrast(x, _factor(view.contrast), view.jitter_impl))
    if view.saturation:
        ops.append(lambda x: adjust_saturation(x, _factor(view.saturation), view.jitter_impl))
    if view.hue:
        ops.append(lambda x: adjust_hue(x, tf.random.uniform([], -view.hue, view.hue)))
    order = tf.random.shuffle(tf.range(len(ops)))
    for position in range(len(ops)):
        image = tf.switch_case(order[position], [lambda op=op: op(image) for op in ops])
        image.set_shape([None, None, 3])
    return image


def blur_radius(view: ViewAugment, size: int) -> int:
    """Kernel half-width in pixels: SimCLR ``(size // 10) // 2``; PIL-like ``ceil(3 * sigma_max)``."""
    if view.blur_kernel == "simclr":
        return (size // 10) // 2
    return int(math.ceil(3.0 * view.blur_sigma[1]))


def _blur_matrix(length, taps, radius: int, padding: str):
    """``[length, length]`` matrix of a 1-D convolution with `taps`, borders edge-repeated or zero-padded."""
    sources = tf.range(length)[:, None] + tf.range(-radius, radius + 1)[None, :]
    if padding == "zeros":  # one_hot(-1) is all zeros: taps outside the image drop out
        sources = tf.where((sources >= 0) & (sources < length), sources, -1)
    else:
        sources = tf.clip_by_value(sources, 0, length - 1)
    return tf.reduce_sum(tf.one_hot(sources, length) * taps[None, :, None], axis=1)


def gaussian_blur(image: tf.Tensor, sigma, radius: int, padding: str = "edge") -> tf.Tensor:
    """Separable Gaussian blur of a ``[H, W, C]`` image.

    The two 1-D convolutions are ``[H, H]`` and ``[W, W]`` matrices applied
    with one einsum (4-5x faster per image than depthwise convolutions here).

    Args:
        image: Float image.
        sigma: Standard deviation in pixels (scalar tensor or float).
        radius: Half-width of the ``2 * radius + 1`` taps.
        padding: ``"edge"`` (repeat border pixels, as PIL) or ``"zeros"``
            (SimCLR's ``SAME`` convolution).
    """
    if radius < 1:
        return image
    x = tf.range(-radius, radius + 1, dtype=tf.float32)
    taps = tf.exp(-tf.square(x) / (2.0 * tf.square(tf.cast(sigma, tf.float32))))
    taps = taps / tf.reduce_sum(taps)
    shape = tf.shape(image)
    rows = _blur_matrix(shape[0], taps, radius, padding)
    cols = _blur_matrix(shape[1], taps, radius, padding)
    return tf.einsum("ij,jwc,kw->ikc", rows, tf.cast(image, tf.float32), cols)


def _maybe(p: float, fn, image):
    if p <= 0:
        return image
    if p >= 1:
        return fn(image)
    return tf.cond(tf.random.uniform([]) < p, lambda: fn(image), lambda: image)


# ----------------------------------------------------------------------------- views

def view_size(view: ViewAugment, image_size: int) -> int:
    """Side of a view: ``round(image_size * size_fraction)``, at least `MIN_CROP_SIZE` (never above the input)."""
    return min(image_size, max(MIN_CROP_SIZE, int(round(image_size * view.size_fraction))))


def augment_view(image: tf.Tensor, view: ViewAugment, size: int, preprocess: PreprocessConfig, seed: int):
    """One view in 0..1: crop, flip, [grayscale], jitter, [grayscale], blur, solarize.

    Flips commute with the pixel ops, so one order serves every reference.

    Args:
        image: ``[H, W, C]`` uint8 or float image in 0..255.
        view: The view's recipe.
        size: Output side.
        preprocess: Interpolation of the crop's resize.
        seed: Op seed of the crop sampler (distinct per view, so that two
            views never share a crop sequence).

    Returns:
        float32 ``[size, size, 3]`` in 0..1.
    """
    crop_config = dataclasses.replace(preprocess, image_size=size, scale=tuple(view.scale),
                                      ratio=tuple(view.ratio))
    image = random_resized_crop(image, crop_config, seed=seed) / 255.0
    if view.flip:
        image = tf.image.random_flip_left_right(image)
    if view.grayscale_first:
        image = _maybe(view.grayscale_p, grayscale, image)
    image = _maybe(view.jitter_p, lambda x: color_jitter(x, view), image)
    if not view.grayscale_first:
        image = _maybe(view.grayscale_p, grayscale, image)
    radius = blur_radius(view, size)
    padding = "zeros" if view.blur_kernel == "simclr" else "edge"
    image = _maybe(view.blur_p, lambda x: gaussian_blur(
        x, tf.random.uniform([], view.blur_sigma[0], view.blur_sigma[1]), radius, padding), image)
    image = _maybe(view.solarize_p, solarize, image)
    image = tf.clip_by_value(image, 0.0, 1.0)
    image.set_shape([size, size, 3])
    return image


def method_views(method: str, **overrides) -> tuple[ViewAugment, ...]:
    """The `ViewAugment` records of `method`, with `overrides` (field values) applied to every view.

    Raises:
        ValueError: Unknown method or field.
    """
    if method not in METHODS:
        raise ValueError(f"unknown self-supervised method {method!r}; expected one of {sorted(METHODS)}")
    fields = {f.name for f in dataclasses.fields(ViewAugment)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise ValueError(f"unknown ViewAugment fields {unknown}")
    return tuple(dataclasses.replace(view, **overrides) for view in METHODS[method])


def views_fn(views, image_size: int, preprocess: PreprocessConfig, seed: int = 0):
    """A tf.data map function: decoded image -> tuple of normalized views, in `views` order (large first).

    Args:
        views: Sequence of `ViewAugment` (each repeated ``count`` times).
        image_size: Input size the views scale from.
        preprocess: Mean, std and interpolation (its own size and crop are
            not used).
        seed: Base op seed of the crop samplers.
    """
    for view in views:
        if view.jitter_impl not in JITTER_IMPLS or view.blur_kernel not in BLUR_KERNELS:
            raise ValueError(f"bad ViewAugment {view}")
    expanded = [view for view in views for _ in range(view.count)]

    def fn(image):
        image = to_rgb(image)
        return tuple(normalize(augment_view(image, view, view_size(view, image_size), preprocess,
                                            seed=1000 * (seed + 1) + index) * 255.0, preprocess)
                     for index, view in enumerate(expanded))

    return fn


def two_view_fn(method: str, image_size: int, preprocess: PreprocessConfig, seed: int = 0, **overrides):
    """Map function ``image -> (view_1, view_2)`` of a two-view method (all but ``swav``).

    `overrides` replace `ViewAugment` fields in both views (e.g. ``flip=False``
    or ``scale=(0.5, 1.0)`` for the digits).
    """
    views = method_views(method, **overrides)
    if sum(view.count for view in views) != 2:
        raise ValueError(f"{method} does not use two views; use multi_crop_fn")
    return views_fn(views, image_size, preprocess, seed)


def multi_crop_fn(image_size: int, preprocess: PreprocessConfig, num_crops=(2, 6), size_fractions=None,
                  scales=None, method: str = "swav", seed: int = 0, **overrides):
    """SwAV's multi-crop map function: ``image -> (large_1, large_2, small_1, ..., small_6)``.

    Args:
        image_size: Side of the large crops.
        preprocess: Normalization and interpolation.
        num_crops: ``--nmb_crops`` per kind (2, 6).
        size_fractions: Sides per kind relative to `image_size` (default
            1 and 96/224, from ``--size_crops 224 96``).
        scales: Crop area ranges per kind (default (0.14, 1) and (0.05, 0.14)).
        method: Method whose records describe the two kinds (``"swav"``).
        seed: Base op seed.
        **overrides: `ViewAugment` fields for every kind.
    """
    base = method_views(method, **overrides)
    if len(num_crops) != len(base):
        raise ValueError(f"num_crops {tuple(num_crops)} must give one count per kind ({len(base)})")
    views = []
    for index, view in enumerate(base):
        changes = {"count": int(num_crops[index])}
        if size_fractions is not None:
            changes["size_fraction"] = float(size_fractions[index])
        if scales is not None:
            changes["scale"] = tuple(scales[index])
        views.append(dataclasses.replace(view, **changes))
    return views_fn([view for view in views if view.count > 0], image_size, preprocess, seed)
