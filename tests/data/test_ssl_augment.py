"""Self-supervised view augmentation: pixel ops against NumPy, method tables, shapes, ranges and seeding."""

import math

import numpy as np
import pytest
import tensorflow as tf

from tfzoo.data import ssl_augment
from tfzoo.data.preprocessing import PreprocessConfig

PRE = PreprocessConfig(image_size=32)


def _image(size=24, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(size, size, 3)).astype(np.uint8)


def numpy_blur(image, sigma, radius, padding):
    """Direct 2D convolution with the outer product of a truncated, normalized Gaussian."""
    x = np.arange(-radius, radius + 1)
    g = np.exp(-x ** 2 / (2 * sigma ** 2))
    kernel = np.outer(g, g) / g.sum() ** 2
    mode = "edge" if padding == "edge" else "constant"
    padded = np.pad(image, [(radius, radius), (radius, radius), (0, 0)], mode=mode)
    h, w, _ = image.shape
    out = np.zeros_like(image, dtype=np.float64)
    for i in range(h):
        for j in range(w):
            out[i, j] = np.tensordot(kernel, padded[i:i + 2 * radius + 1, j:j + 2 * radius + 1], axes=[[0, 1], [0, 1]])
    return out


@pytest.mark.parametrize("padding,sigma,radius", [("edge", 1.3, 6), ("zeros", 0.7, 1), ("edge", 2.0, 3)])
def test_gaussian_blur_matches_numpy(padding, sigma, radius):
    image = _image(10).astype(np.float64) / 255
    got = ssl_augment.gaussian_blur(tf.constant(image, tf.float32), sigma, radius, padding).numpy()
    np.testing.assert_allclose(got, numpy_blur(image, sigma, radius, padding), atol=1e-5)


def test_blur_radius_rules():
    simclr = ssl_augment.METHODS["simclr"][0]
    assert ssl_augment.blur_radius(simclr, 224) == 11 and ssl_augment.blur_radius(simclr, 32) == 1
    assert ssl_augment.blur_radius(ssl_augment.METHODS["moco_v2"][0], 32) == 6  # ceil(3 * 2.0)


def test_grayscale_solarize_and_jitter_formulas():
    image = _image(6).astype(np.float64) / 255
    gray = image @ np.array([0.299, 0.587, 0.114])
    t = tf.constant(image, tf.float32)
    np.testing.assert_allclose(ssl_augment.grayscale(t).numpy(), np.repeat(gray[..., None], 3, -1), atol=1e-6)
    # Solarize: 127 stays, 128 -> 127, 255 -> 0.
    pixels = tf.constant(np.array([127, 128, 255], np.float32).reshape(1, 3, 1) / 255)
    np.testing.assert_allclose(ssl_augment.solarize(pixels).numpy().ravel() * 255, [127, 127, 0], atol=1e-4)
    # torchvision contrast: blend with the image's mean gray level; saturation: blend with its grayscale.
    contrast = np.clip(1.5 * image + (1 - 1.5) * gray.mean(), 0, 1)
    np.testing.assert_allclose(ssl_augment.adjust_contrast(t, 1.5).numpy(), contrast, atol=1e-6)
    saturation = np.clip(0.3 * image + 0.7 * gray[..., None], 0, 1)
    np.testing.assert_allclose(ssl_augment.adjust_saturation(t, 0.3).numpy(), saturation, atol=1e-6)
    np.testing.assert_allclose(ssl_augment.adjust_brightness(t, 1.7).numpy(), np.clip(1.7 * image, 0, 1), atol=1e-6)
    # SimCLR's tf.image contrast uses each channel's own mean.
    per_channel = np.clip(1.5 * image - 0.5 * image.mean(axis=(0, 1)), 0, 1)
    np.testing.assert_allclose(ssl_augment.adjust_contrast(t, 1.5, "simclr").numpy(), per_channel, atol=1e-6)


def test_method_table_matches_the_papers():
    simclr = ssl_augment.METHODS["simclr"][0]
    assert (simclr.brightness, simclr.contrast, simclr.saturation, simclr.hue) == (0.8, 0.8, 0.8, 0.2)
    assert simclr.jitter_p == 0.8 and simclr.blur_p == 0.5 and simclr.scale == (0.08, 1.0)
    v1 = ssl_augment.METHODS["moco_v1"][0]
    assert v1.jitter_p == 1.0 and v1.hue == 0.4 and v1.grayscale_first and v1.blur_p == 0 and v1.scale == (0.2, 1.0)
    assert ssl_augment.METHODS["instdisc"] == ssl_augment.METHODS["moco_v1"]
    first, second = ssl_augment.METHODS["moco_v3"]
    assert (first.blur_p, first.solarize_p, second.blur_p, second.solarize_p) == (1.0, 0.0, 0.1, 0.2)
    assert (first.saturation, first.hue) == (0.2, 0.1)
    large, small = ssl_augment.METHODS["swav"]
    assert (large.count, large.scale, small.count, small.scale) == (2, (0.14, 1.0), 6, (0.05, 0.14))
    assert ssl_augment.view_size(small, 224) == 96 and ssl_augment.view_size(small, 32) == 14
    assert ssl_augment.view_size(small, 8) == 8
    with pytest.raises(ValueError, match="unknown self-supervised"):
        ssl_augment.method_views("byol")
    with pytest.raises(ValueError, match="fields"):
        ssl_augment.method_views("simclr", colour=1)
    with pytest.raises(ValueError, match="two views"):
        ssl_augment.two_view_fn("swav", 32, PRE)


# One method per code path (torchvision jitter with gray first, SimCLR jitter and blur, multi-crop); moco_v3
# is run by the solarize test and every table entry is checked above.
@pytest.mark.parametrize("method", ["moco_v1", "simclr", "swav"])
def test_views_shapes_ranges_and_differ(method):
    if method == "swav":
        fn = ssl_augment.multi_crop_fn(32, PRE, num_crops=(2, 1))
        sizes = [32, 32, 14]
    else:
        fn = ssl_augment.two_view_fn(method, 32, PRE)
        sizes = [32, 32]
    tf.random.set_seed(1)
    views = tf.function(fn)(tf.constant(_image(40)))
    assert [tuple(v.shape) for v in views] == [(s, s, 3) for s in sizes]
    low = (0 - np.array(PRE.mean)) / np.array(PRE.std)
    high = (1 - np.array(PRE.mean)) / np.array(PRE.std)
    for view in views:
        assert view.dtype == tf.float32
        v = view.numpy()
        assert np.all(v >= low - 1e-4) and np.all(v <= high + 1e-4)
    assert not np.allclose(views[0].numpy(), views[1].numpy())


def _pipeline_views(seed):
    tf.random.set_seed(seed)
    # Every random op but the (costly to trace) color jitter: crop, flip, grayscale and blur draws.
    fn = ssl_augment.two_view_fn("moco_v2", 32, PRE, jitter_p=0.0)
    data = tf.data.Dataset.from_tensor_slices(np.stack([_image(40, s) for s in range(2)])).map(fn)
    return [tuple(v.numpy() for v in views) for views in data]


def test_seeded_pipeline_is_deterministic():
    first, again, other = _pipeline_views(3), _pipeline_views(3), _pipeline_views(4)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])
    assert not all(np.allclose(a[0], c[0]) for a, c in zip(first, other))


def test_moco_v3_second_view_solarizes_sometimes():
    # A flat 200-gray image: no crop/flip/blur/gray effect; solarize maps 200 -> 55 (p 0.2 on view 2 only).
    fn = tf.function(ssl_augment.two_view_fn("moco_v3", 16, PRE, jitter_p=0.0))
    image = tf.fill([16, 16, 3], tf.constant(200, tf.uint8))
    tf.random.set_seed(0)
    mean_gray = PRE.mean[0] * 255, PRE.std[0] * 255
    firsts, seconds = [], []
    for _ in range(40):
        v1, v2 = fn(image)
        firsts.append(v1.numpy()[0, 0, 0] * mean_gray[1] + mean_gray[0])
        seconds.append(v2.numpy()[0, 0, 0] * mean_gray[1] + mean_gray[0])
    np.testing.assert_allclose(firsts, 200, atol=1e-3)
    solarized = np.isclose(seconds, 55, atol=1e-3)
    assert np.all(solarized | np.isclose(seconds, 200, atol=1e-3))
    assert 1 <= solarized.sum() <= 20
    assert math.isclose(ssl_augment.METHODS["moco_v3"][1].solarize_p, 0.2)


def _tiny_source(count=10, size=12):
    from tfzoo.data.pipeline import Source

    # Image i is filled with the value 10 * i, so a view's index can be read back from its pixels.
    images = np.stack([np.full((size, size, 3), 10 * i, np.uint8) for i in range(count)])
    labels = np.arange(count) % 3
    train = tf.data.Dataset.from_tensor_slices((images, labels))
    return Source(name="tiny", train=train, val=train, decode=lambda item: item, class_names=["a", "b", "c"],
                  num_train=count, num_val=count)


def test_pipeline_views_fn_with_train_index_and_shards():
    from tfzoo.data.pipeline import build_bundle

    def views(image):  # stand-in views: the raw pixels and their negation
        image = tf.cast(image, tf.float32)
        return image, -image

    pre = PreprocessConfig(image_size=12)
    seen = []
    for pipeline_id in range(2):
        context = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=pipeline_id)
        bundle = build_bundle(_tiny_source(), pre, 1, views_fn=views, train_index=True, input_context=context)
        for (first, second), targets in bundle.train.as_numpy_iterator():
            assert first.shape == (1, 12, 12, 3) and first.dtype == np.float32
            np.testing.assert_array_equal(second, -first)
            index = int(targets["index"][0])
            assert first[0, 0, 0, 0] == 10 * index and targets["label"][0] == index % 3
            assert targets["index"].dtype == np.int32
            seen.append(index)
        # The val split keeps the classification transform: [B, 12, 12, 3] images, int labels.
        images, labels = next(iter(bundle.val))
        assert images.shape[1:] == (12, 12, 3) and labels.dtype == tf.int32
    assert sorted(seen) == list(range(10))  # the two shards partition the split, indices name the examples

    plain = build_bundle(_tiny_source(), pre, 5, views_fn=views)
    _, labels = next(iter(plain.train))
    assert labels.dtype == tf.int32 and labels.shape == (5,)
    with pytest.raises(ValueError, match="views_fn"):
        build_bundle(_tiny_source(), pre, 5, train_index=True)
    from tfzoo.data.augment import AugmentConfig
    with pytest.raises(ValueError, match="augment"):
        build_bundle(_tiny_source(), pre, 5, views_fn=views, augment=AugmentConfig(random_erasing=0.25))


def test_load_dataset_with_two_view_fn():
    from tfzoo.data import load_dataset

    pre = PreprocessConfig(image_size=16)
    fn = ssl_augment.two_view_fn("simclr", 16, pre, flip=False, scale=(0.5, 1.0), jitter_p=0.0)
    bundle = load_dataset("digits", preprocess=pre, batch_size=8, views_fn=fn, train_index=True)
    (first, second), targets = next(iter(bundle.train))
    assert first.shape == (8, 16, 16, 3) and second.shape == (8, 16, 16, 3)
    assert np.all((targets["index"].numpy() >= 0) & (targets["index"].numpy() < bundle.num_train))
