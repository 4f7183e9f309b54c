"""predict_files from a run directory and from a SavedModel export: agreement and errors."""

from __future__ import annotations

import os

import numpy as np
import pytest
import tensorflow as tf

from tests.export.export_testlib import CLASS_NAMES, PREPROCESS, make_image, tiny_model, write_run_dir
from tfzoo.data.preprocessing import decode_image, eval_transform, normalize
from tfzoo.errors import UsageError
from tfzoo.export.inference import predict_files

ATOL = 1e-5


@pytest.fixture(scope="module")
def image_files(tmp_path_factory, encoded_images):
    directory = tmp_path_factory.mktemp("images")
    paths = []
    for name, data in [("a.jpg", encoded_images["jpeg"]), ("b.png", encoded_images["png"]),
                       ("c.png", tf.io.encode_png(make_image(64, 36, seed=11)).numpy())]:
        path = directory / name
        path.write_bytes(data)
        paths.append(str(path))
    return paths


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, prob_model):
    return write_run_dir(str(tmp_path_factory.mktemp("run")), prob_model)


def scores_by_class(result) -> dict:
    return {entry["class"]: entry["score"] for entry in result["top_k"]}


def test_run_dir_matches_python_reference(run_dir, image_files, prob_model):
    results = predict_files(run_dir, image_files, top_k=4)
    assert [result["path"] for result in results] == image_files
    for result, path in zip(results, image_files):
        with open(path, "rb") as handle:
            pixels = eval_transform(decode_image(tf.constant(handle.read())), PREPROCESS)
        expected = prob_model(normalize(pixels[None], PREPROCESS), training=False).numpy()[0]
        classes = [entry["class"] for entry in result["top_k"]]
        assert classes == list(np.argsort(-expected, kind="stable"))
        np.testing.assert_allclose([entry["score"] for entry in result["top_k"]], expected[classes], atol=ATOL, rtol=0)
        assert [entry["name"] for entry in result["top_k"]] == [CLASS_NAMES[c] for c in classes]
        assert all(isinstance(entry["class"], int) and isinstance(entry["score"], float) for entry in result["top_k"])


@pytest.mark.parametrize("use_base_dir", [False, True], ids=["version-dir", "base-dir"])
def test_saved_model_agrees_with_run_dir(run_dir, exported, export_base, image_files, use_base_dir):
    source = export_base if use_base_dir else exported
    from_export = predict_files(source, image_files, top_k=2)
    from_run = predict_files(run_dir, image_files, top_k=2)
    assert len(from_export) == len(from_run) == len(image_files)
    for exported_result, run_result in zip(from_export, from_run):
        assert exported_result["path"] == run_result["path"]
        assert [e["class"] for e in exported_result["top_k"]] == [e["class"] for e in run_result["top_k"]]
        assert [e["name"] for e in exported_result["top_k"]] == [e["name"] for e in run_result["top_k"]]
        np.testing.assert_allclose([e["score"] for e in exported_result["top_k"]],
                                   [e["score"] for e in run_result["top_k"]], atol=ATOL, rtol=0)
        assert len(exported_result["top_k"]) == 2
    # The images are told apart, so agreement is not two constant outputs matching.
    assert len({tuple(scores_by_class(r).items()) for r in from_run}) == len(image_files)


def test_logit_run_dir_gets_softmax(tmp_path, image_files):
    model = tiny_model(classifier_activation=None, seed=3)
    rng = np.random.default_rng(3)
    kernel = rng.normal(0, 2, (3, 4)).astype("float32")
    model.get_layer("classifier").set_weights([kernel, np.arange(4, dtype="float32")])
    run = write_run_dir(str(tmp_path / "run"), model)
    result = predict_files(run, image_files[:1], top_k=10)[0]
    scores = scores_by_class(result)
    assert sorted(scores) == [0, 1, 2, 3]  # top_k capped at the 4 classes
    assert sum(scores.values()) == pytest.approx(1.0, abs=1e-5)
    with open(image_files[0], "rb") as handle:
        pixels = eval_transform(decode_image(tf.constant(handle.read())), PREPROCESS)
    logits = model(normalize(pixels[None], PREPROCESS), training=False).numpy()[0]
    assert np.ptp(logits) > 1.0  # really logits, not already probabilities
    np.testing.assert_allclose([scores[c] for c in range(4)], tf.nn.softmax(logits).numpy(), atol=ATOL, rtol=0)


def test_missing_image_is_usage_error(run_dir, image_files, tmp_path):
    missing = str(tmp_path / "nope.jpg")
    with pytest.raises(UsageError, match="image file not found") as info:
        predict_files(run_dir, [image_files[0], missing])
    assert missing in str(info.value)


def test_undecodable_image_is_usage_error(exported, image_files, tmp_path):
    bad = tmp_path / "notes.jpg"
    bad.write_text("this is not an image\n")
    with pytest.raises(UsageError, match="cannot decode image") as info:
        predict_files(exported, [image_files[0], str(bad)])
    assert str(bad) in str(info.value) and "\n" not in str(info.value)


def test_unknown_source_is_usage_error(tmp_path, image_files):
    with pytest.raises(UsageError, match="neither a tfzoo run directory"):
        predict_files(str(tmp_path), image_files)
    with pytest.raises(UsageError, match="not found"):
        predict_files(str(tmp_path / "missing"), image_files)
    os.makedirs(tmp_path / "models" / "1")  # a version dir without a SavedModel in it
    with pytest.raises(UsageError, match="neither"):
        predict_files(str(tmp_path / "models"), image_files)


def test_bad_top_k_and_empty_input(run_dir, image_files):
    with pytest.raises(UsageError, match="top_k"):
        predict_files(run_dir, image_files, top_k=0)
    assert predict_files(run_dir, []) == []
