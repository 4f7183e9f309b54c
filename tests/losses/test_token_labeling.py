"""Token labeling (LV-ViT): the loss, MixToken's box and lambda, and the label-map alignment, by value."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfzoo.data import token_labels
from tfzoo.layers.mix_token import MixToken, UnmixTokens, box_mask, mixed_lambda, token_box
from tfzoo.losses.token_labeling import TokenLabelingLoss


def _np_soft_ce(targets, logits):
    logits = logits - logits.max(-1, keepdims=True)
    log_p = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    return -(targets * log_p).sum(-1)


# ---- loss --------------------------------------------------------------------------------------------------

def test_token_labeling_loss_by_hand():
    # One image, 2 classes, 2 tokens. cls logits (0, 0): CE vs (1, 0) = ln 2.
    # Token logits (ln 3, 0) -> p = (3/4, 1/4): CE vs (1, 0) = ln(4/3); token 2 logits (0, 0) vs (0.5, 0.5): ln 2.
    # loss = 1.0 * ln 2 + 2.0 * (ln(4/3) + ln 2) / 2
    loss = TokenLabelingLoss(cls_weight=1.0, dense_weight=2.0)
    y_true = {"cls": np.array([[1.0, 0.0]]), "dense": np.array([[[1.0, 0.0], [0.5, 0.5]]])}
    y_pred = {"cls": np.zeros((1, 2)), "aux": np.array([[[math.log(3), 0.0], [0.0, 0.0]]])}
    expected = math.log(2) + (math.log(4 / 3) + math.log(2))
    assert float(loss(y_true, y_pred)) == pytest.approx(expected, abs=1e-6)


def test_token_labeling_loss_mixes_the_class_target_with_lam():
    rng = np.random.default_rng(0)
    batch, tokens, classes = 4, 3, 5
    t_cls = rng.dirichlet(np.ones(classes), size=batch)
    t_dense = rng.dirichlet(np.ones(classes), size=(batch, tokens))
    cls, aux = rng.normal(size=(batch, classes)), rng.normal(size=(batch, tokens, classes))
    lam = 0.625
    loss = TokenLabelingLoss(cls_weight=0.7, dense_weight=1.3)
    value = float(loss({"cls": t_cls, "dense": t_dense},
                       {"cls": cls, "aux": aux, "lam": np.full((batch, 1), lam)}))
    mixed = lam * t_cls + (1 - lam) * t_cls[::-1]
    expected = 0.7 * _np_soft_ce(mixed, cls).mean() + 1.3 * _np_soft_ce(t_dense, aux).mean()
    assert value == pytest.approx(expected, rel=1e-5)


def test_token_labeling_loss_config_round_trip():
    loss = TokenLabelingLoss(cls_weight=0.5, dense_weight=0.25)
    again = TokenLabelingLoss.from_config(loss.get_config())
    assert (again.cls_weight, again.dense_weight) == (0.5, 0.25)
    with pytest.raises(ValueError):
        TokenLabelingLoss(cls_weight=0.0, dense_weight=0.0)


# ---- MixToken ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("lam, cy, cx, expected", [
    # 14 x 14 grid, lam 0.75: sqrt(0.25) = 0.5 -> sides 7, half 3: rows 5-3..5+3 = [2, 8), cols [7, 13).
    (0.75, 5, 10, (2, 8, 7, 13)),
    # Clipped at the border: centre (0, 13) -> rows [0, 3), cols [10, 14); area 12 of 196.
    (0.75, 0, 13, (0, 3, 10, 14)),
    # lam 0.5: sqrt(0.5) * 14 = 9.899 -> side 9, half 4: rows [3, 11), cols [2, 10).
    (0.5, 7, 6, (3, 11, 2, 10)),
])
def test_token_box_and_lambda_by_value(lam, cy, cx, expected):
    box = tuple(int(v) for v in token_box(14, 14, lam, cy, cx))
    assert box == expected
    top, bottom, left, right = expected
    mask = box_mask(14, 14, *box)
    assert float(np.asarray(mask).sum()) == (bottom - top) * (right - left)
    assert float(mixed_lambda(mask)) == pytest.approx(1 - (bottom - top) * (right - left) / 196)


def test_mixtoken_swaps_the_box_and_unmix_restores_it():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(4, 6, 5, 3)).astype("float32")
    layer = MixToken(enabled=True, seed=3)
    mixed, mask = (np.asarray(t) for t in layer(x, training=True))
    m = mask[0, ..., 0].astype(bool)
    np.testing.assert_array_equal(mixed[:, m], x[::-1][:, m])
    np.testing.assert_array_equal(mixed[:, ~m], x[:, ~m])
    tokens = mixed.reshape(4, 30, 3)
    restored = np.asarray(UnmixTokens()((tokens, mask))).reshape(4, 6, 5, 3)
    np.testing.assert_array_equal(restored, x)  # swapping the same box twice is the identity
    # Inference and the disabled layer pass tokens through with an empty box.
    for out, out_mask in (layer(x, training=False), MixToken(enabled=False)(x, training=True)):
        np.testing.assert_array_equal(np.asarray(out), x)
        assert float(np.asarray(out_mask).sum()) == 0.0


def test_mixtoken_draws_many_boxes():
    layer = MixToken(enabled=True, seed=0)
    x = np.zeros((2, 8, 8, 1), "float32")
    areas = {float(np.asarray(layer(x, training=True)[1]).sum()) for _ in range(20)}
    assert len(areas) > 3


# ---- label maps --------------------------------------------------------------------------------------------

def _np_axis_weights(start, length, out, size):
    """torchvision roi_align (aligned=False, sampling_ratio=-1) weights along one axis, plain Python."""
    length = max(length, 1.0)
    bin_size = length / out
    grid = max(math.ceil(bin_size), 1)
    weights = np.zeros((out, size))
    for p in range(out):
        for i in range(grid):
            y = start + p * bin_size + (i + 0.5) * bin_size / grid
            if y < -1.0 or y > size:
                continue
            y = max(y, 0.0)
            low = int(y)
            if low >= size - 1:
                high = low = size - 1
                y = float(low)
            else:
                high = low + 1
            frac = y - low
            weights[p, low] += (1 - frac) / grid
            weights[p, high] += frac / grid
    return weights


def _np_roi_align(fmap, box, out_h, out_w):
    h, w = fmap.shape[:2]
    rows = _np_axis_weights(box[0] * h - 0.5, (box[2] - box[0]) * h, out_h, h)
    cols = _np_axis_weights(box[1] * w - 0.5, (box[3] - box[1]) * w, out_w, w)
    return np.einsum("ph,hwc,qw->pqc", rows, fmap, cols)


def test_roi_align_whole_map_is_identity_at_same_size():
    fmap = np.arange(4 * 4 * 2, dtype="float32").reshape(4, 4, 2)
    out = token_labels.roi_align(fmap, [0.0, 0.0, 1.0, 1.0], 4, 4)
    np.testing.assert_allclose(out, fmap, atol=1e-5)


def test_roi_align_box_crop_by_hand():
    # 4 x 4 map with value = row index. Box rows [0.25, 0.75) of the image = map rows 1..3 (edges),
    # shifted by -0.5: start 0.5, length 2, 2 output rows of bin 1 -> samples at 1.0 and 2.0 -> values 1, 2.
    fmap = np.repeat(np.arange(4, dtype="float32")[:, None, None], 4, axis=1)
    out = np.asarray(token_labels.roi_align(fmap, [0.25, 0.0, 0.75, 1.0], 2, 2))
    np.testing.assert_allclose(out[..., 0], [[1.0, 1.0], [2.0, 2.0]], atol=1e-6)
    # Half a bin: box rows [0.25, 0.5) -> start 0.5, length 1, 2 rows of bin 0.5: samples 0.75, 1.25.
    out = np.asarray(token_labels.roi_align(fmap, [0.25, 0.0, 0.5, 1.0], 2, 1))
    np.testing.assert_allclose(out[:, 0, 0], [0.75, 1.25], atol=1e-6)


@pytest.mark.parametrize("box, out", [
    ([0.1, 0.2, 0.9, 0.7], (3, 3)),
    ([0.0, 0.0, 1.0, 1.0], (2, 2)),   # larger bins: 2 samples per bin
    ([0.3, 0.05, 0.45, 0.95], (4, 5)),  # a box thinner than a map pixel (extent forced to 1)
    ([0.0, 0.6, 0.2, 1.0], (7, 7)),  # edges: samples clamped and beyond the map
])
def test_roi_align_matches_numpy(box, out):
    rng = np.random.default_rng(2)
    fmap = rng.normal(size=(5, 6, 3)).astype("float32")
    np.testing.assert_allclose(token_labels.roi_align(fmap, box, *out), _np_roi_align(fmap, box, *out),
                               atol=1e-5)


def test_token_targets_crop_flip_softmax_smoothing():
    rng = np.random.default_rng(3)
    h, w, k, classes, grid = 4, 4, 3, 6, (2, 2)
    values = rng.normal(size=(h, w, k)).astype("float32") * 3
    indices = np.stack([rng.permutation(classes)[:k] for _ in range(h * w)]).reshape(h, w, k).astype("int32")
    box = [0.25, 0.0, 1.0, 0.75]
    dense_map = np.zeros((h, w, classes), "float32")
    for i in range(h):
        for j in range(w):
            dense_map[i, j, indices[i, j]] = values[i, j]
    np.testing.assert_allclose(token_labels.scatter_topk(values, indices, classes), dense_map, atol=1e-6)

    def expected(flip):
        dense = _np_roi_align(dense_map, box, *grid)
        if flip:
            dense = dense[:, ::-1]
        cls = _np_roi_align(dense_map, box, 1, 1)[0, 0]
        def soft(z):
            e = np.exp(z - z.max(-1, keepdims=True))
            return e / e.sum(-1, keepdims=True)

        smooth = lambda p: p * (1 - 0.1 + 0.1 / classes) + 0.1 / classes  # noqa: E731
        return smooth(soft(cls)), smooth(soft(dense)).reshape(4, classes)

    for flip in (False, True):
        cls, dense = token_labels.token_targets(values, indices, box, flip, num_classes=classes, grid=grid,
                                                smoothing=0.1)
        want_cls, want_dense = expected(flip)
        np.testing.assert_allclose(cls, want_cls, atol=1e-6)
        np.testing.assert_allclose(dense, want_dense, atol=1e-6)
    # The flip mirrors the token columns: token (r, c) of the flipped crop is token (r, 1 - c) of the crop.
    _, plain = token_labels.token_targets(values, indices, box, False, num_classes=classes, grid=grid)
    _, flipped = token_labels.token_targets(values, indices, box, True, num_classes=classes, grid=grid)
    np.testing.assert_allclose(np.asarray(flipped).reshape(2, 2, -1), np.asarray(plain).reshape(2, 2, -1)[:, ::-1])


def test_crop_box_matches_the_image_crop():
    from tfzoo.data.preprocessing import PreprocessConfig, random_resized_crop_with_box

    tf.random.set_seed(0)
    image = tf.reshape(tf.range(20 * 30, dtype=tf.float32), [20, 30, 1])
    image = tf.tile(image, [1, 1, 3])
    config = PreprocessConfig(image_size=20, scale=(0.2, 0.5), interpolation="bilinear")
    for _ in range(3):
        crop, box = random_resized_crop_with_box(image, config)
        top, left, bottom, right = np.asarray(box) * [20, 30, 20, 30]
        # The crop's corner pixels come from the box's corner pixels (nearest resize would equal them exactly).
        assert abs(float(crop[0, 0, 0]) - (round(top) * 30 + round(left))) < 30 * 1.01
        assert 0 <= top < bottom <= 20 and 0 <= left < right <= 30
        area = (bottom - top) * (right - left) / 600
        assert 0.15 < area < 0.55
