"""SavedModel export: signatures, numerics against the Keras model, version layout and atomicity."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from tfzoo.data.preprocessing import PreprocessConfig, decode_image, eval_transform, normalize, resize_to_input
from tfzoo.errors import UsageError
from tfzoo.export import saved_model as saved_model_module
from tfzoo.export.saved_model import METADATA_FILE, export_saved_model, read_export_metadata

from tests.export.export_testlib import CLASS_NAMES, PREPROCESS, checkpoint_values, make_image, mobilenet, tiny_model

ATOL = 1e-5


def saved_model_cli() -> str:
    candidate = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    return candidate if os.path.isfile(candidate) else shutil.which("saved_model_cli")


def tree_hash(directory: str) -> str:
    digest = hashlib.sha256()
    for root, dirs, files in sorted(os.walk(directory)):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(root, name)
            digest.update(os.path.relpath(path, directory).encode())
            with open(path, "rb") as handle:
                digest.update(handle.read())
    return digest.hexdigest()


def leftovers(base: str) -> list[str]:
    return [entry for entry in os.listdir(base) if entry.startswith(".")]


def check_top_k(outputs, k: int, class_names=None):
    probabilities = outputs["probabilities"].numpy()
    scores = outputs["top_k_scores"].numpy()
    classes = outputs["top_k_classes"].numpy()
    assert outputs["top_k_classes"].dtype == tf.int32
    assert scores.shape == classes.shape == (probabilities.shape[0], k)
    expected = np.argsort(-probabilities, axis=-1, kind="stable")[:, :k]
    np.testing.assert_array_equal(classes, expected)
    np.testing.assert_array_equal(scores, np.take_along_axis(probabilities, expected, axis=-1))
    assert np.all(np.diff(scores, axis=-1) <= 0)
    if class_names is not None:
        names = outputs["top_k_names"].numpy().astype(str)
        np.testing.assert_array_equal(names, np.asarray(class_names)[classes])


def test_saved_model_cli_lists_signatures(exported):
    cli = saved_model_cli()
    assert cli, "saved_model_cli not found next to the Python interpreter or on PATH"
    result = subprocess.run([cli, "show", "--dir", exported, "--all"], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.returncode == 0, result.stderr
    for expected in ("signature_def['serving_default']", "signature_def['predict_images']",
                     "inputs['images']", "inputs['image_bytes']", "outputs['probabilities']",
                     "outputs['top_k_scores']", "outputs['top_k_classes']", "outputs['top_k_names']"):
        assert expected in result.stdout, expected
    assert "DT_STRING" in result.stdout and "(-1, -1, -1, 3)" in result.stdout


def test_export_writes_version_one_with_metadata(exported, export_base):
    assert exported == os.path.join(os.path.abspath(export_base), "1")
    assert os.path.isfile(os.path.join(exported, "saved_model.pb"))
    metadata = read_export_metadata(exported)
    assert os.path.isfile(os.path.join(exported, METADATA_FILE))
    assert metadata["model"] == "mobilenet_v3_small"
    assert metadata["class_names"] == CLASS_NAMES
    assert metadata["preprocess"] == PREPROCESS.to_dict()
    assert metadata["top_k"] == 3 and metadata["num_classes"] == 4 and metadata["version"] == 1
    assert metadata["softmax_in_graph"] is False
    assert leftovers(export_base) == []


def test_export_stores_each_weight_once(prob_model, exported, loaded):
    # Keras' ExportArchive.track(model) saved every weight twice (keras-team/keras#23553): 2x disk and RAM.
    # count_params() counts trainable weights and BN statistics; the dropout seed state is not serving state.
    # The default export is the fused form: its weights, each once, and no BatchNorm left.
    served_model, form = saved_model_module.inference_form(prob_model, reparameterize=True, fuse_bn=True)
    assert read_export_metadata(exported)["form"] == form == {
        "form": "plain", "reparameterized_layers": 0, "fused_batchnorms": 34, "unfused_batchnorms": 0,
        "precision": "float32"}
    assert checkpoint_values(exported) == served_model.count_params() < prob_model.count_params()
    revived = {variable.name.split(":")[0]: variable.numpy() for variable in loaded.variables}
    assert len(revived) == len(loaded.variables) == len(served_model.weights)
    assert len(loaded.trainable_variables) == len(served_model.trainable_weights)
    for weight in served_model.weights:
        np.testing.assert_array_equal(revived[weight.path], weight.numpy(), err_msg=weight.path)


def test_serving_default_matches_keras(prob_model, loaded):
    signature = loaded.signatures["serving_default"]
    images = np.stack([make_image(48, 40, seed=s) for s in (3, 4, 5)]).astype("float32")
    outputs = signature(images=tf.constant(images))
    expected = prob_model(normalize(resize_to_input(images, PREPROCESS), PREPROCESS), training=False).numpy()
    assert outputs["probabilities"].dtype == tf.float32 and outputs["probabilities"].shape == (3, 4)
    np.testing.assert_allclose(outputs["probabilities"].numpy(), expected, atol=ATOL, rtol=0)
    assert np.ptp(expected, axis=0).max() > 1e-2  # the images get different predictions, so this can fail
    check_top_k(outputs, 3, CLASS_NAMES)


def test_serving_default_at_model_size_skips_resize(prob_model, loaded):
    images = np.stack([make_image(32, 32, seed=s) for s in (6, 7)]).astype("float32")
    outputs = loaded.signatures["serving_default"](images=tf.constant(images))
    expected = prob_model(normalize(images, PREPROCESS), training=False).numpy()
    np.testing.assert_allclose(outputs["probabilities"].numpy(), expected, atol=ATOL, rtol=0)


def test_predict_images_matches_keras_for_jpeg_and_png(prob_model, loaded, encoded_images):
    signature = loaded.signatures["predict_images"]
    batch = [encoded_images["jpeg"], encoded_images["png"]]
    outputs = signature(image_bytes=tf.constant(batch))
    pixels = tf.stack([eval_transform(decode_image(tf.constant(data)), PREPROCESS) for data in batch])
    expected = prob_model(normalize(pixels, PREPROCESS), training=False).numpy()
    np.testing.assert_allclose(outputs["probabilities"].numpy(), expected, atol=ATOL, rtol=0)
    check_top_k(outputs, 3, CLASS_NAMES)
    # The two images differ, so a graph that ignored its input would fail here.
    assert not np.allclose(expected[0], expected[1], atol=1e-3)


def test_empty_batches(loaded):
    for name, inputs in [("serving_default", {"images": tf.zeros([0, 40, 40, 3])}),
                         ("predict_images", {"image_bytes": tf.constant([], tf.string)})]:
        outputs = loaded.signatures[name](**inputs)
        assert outputs["probabilities"].shape == (0, 4), name
        assert outputs["top_k_classes"].shape == outputs["top_k_names"].shape == (0, 3), name


def test_logit_model_gets_softmax(tmp_path):
    model = mobilenet(classifier_activation=None, seed=1)
    version_dir = export_saved_model(model, str(tmp_path / "logits"), preprocess=PREPROCESS, top_k=10)
    loaded = tf.saved_model.load(version_dir)
    images = np.stack([make_image(32, 32, seed=8), make_image(32, 32, seed=9)]).astype("float32")
    outputs = loaded.signatures["serving_default"](images=tf.constant(images))
    logits = model(normalize(images, PREPROCESS), training=False).numpy()
    assert np.any(logits < 0) or np.any(logits > 1)  # really logits
    probabilities = outputs["probabilities"].numpy()
    np.testing.assert_allclose(probabilities, tf.nn.softmax(logits).numpy(), atol=ATOL, rtol=0)
    np.testing.assert_allclose(probabilities.sum(axis=-1), 1.0, atol=1e-5)
    assert "top_k_names" not in outputs  # no class names given
    check_top_k(outputs, 4)  # top_k=10 is capped at the 4 classes
    assert read_export_metadata(version_dir)["softmax_in_graph"] is True


def test_base_dir_gets_next_versions(tmp_path):
    base = str(tmp_path / "models" / "tiny")
    model = tiny_model()
    assert export_saved_model(model, base, preprocess=PREPROCESS) == os.path.join(base, "1")
    assert export_saved_model(model, base, preprocess=PREPROCESS) == os.path.join(base, "2")
    assert export_saved_model(model, os.path.join(base, "7"), preprocess=PREPROCESS) == os.path.join(base, "7")
    assert export_saved_model(model, base, preprocess=PREPROCESS) == os.path.join(base, "8")
    assert sorted(os.listdir(base)) == ["1", "2", "7", "8"]
    assert all(os.path.isfile(os.path.join(base, v, "saved_model.pb")) for v in ("1", "2", "7", "8"))


def test_existing_version_needs_overwrite(tmp_path):
    base = str(tmp_path / "tiny")
    version_dir = export_saved_model(tiny_model(seed=0), os.path.join(base, "3"), preprocess=PREPROCESS)
    before = tree_hash(version_dir)
    with pytest.raises(UsageError) as info:
        export_saved_model(tiny_model(seed=1), version_dir, preprocess=PREPROCESS)
    message = str(info.value)
    assert "already exists" in message and "--overwrite" in message and version_dir in message
    assert "\n" not in message
    assert tree_hash(version_dir) == before
    assert leftovers(base) == []

    replacement = tiny_model(seed=1)
    assert export_saved_model(replacement, version_dir, preprocess=PREPROCESS, overwrite=True) == version_dir
    assert tree_hash(version_dir) != before
    images = tf.constant(make_image(32, 32, seed=10)[None].astype("float32"))
    served = tf.saved_model.load(version_dir).signatures["serving_default"](images=images)["probabilities"]
    expected = replacement(normalize(images, PREPROCESS), training=False)
    np.testing.assert_allclose(served.numpy(), expected.numpy(), atol=ATOL, rtol=0)
    assert sorted(os.listdir(base)) == ["3"]


@pytest.mark.parametrize("existing", [False, True], ids=["new-version", "overwrite"])
def test_crash_during_save_leaves_nothing_behind(tmp_path, monkeypatch, existing):
    base = str(tmp_path / "tiny")
    version_dir = os.path.join(base, "1")
    before = None
    if existing:
        export_saved_model(tiny_model(seed=0), version_dir, preprocess=PREPROCESS)
        before = tree_hash(version_dir)
    def crashing_write_json(path, data):
        # Called inside the temporary version dir once the SavedModel is complete: the process "dies" here.
        with open(os.path.join(os.path.dirname(os.path.dirname(path)), "partial"), "wb") as handle:
            handle.write(b"x")
        raise RuntimeError("simulated crash")

    monkeypatch.setattr(saved_model_module, "write_json", crashing_write_json)
    with pytest.raises(RuntimeError, match="simulated crash"):
        export_saved_model(tiny_model(seed=1), base if not existing else version_dir, preprocess=PREPROCESS,
                           overwrite=existing)
    assert leftovers(base) == []
    if existing:
        assert tree_hash(version_dir) == before
        assert sorted(os.listdir(base)) == ["1"]
    else:
        assert os.listdir(base) == []


def test_bad_arguments_are_usage_errors(tmp_path, exported):
    model = tiny_model()
    with pytest.raises(UsageError, match="class names"):
        export_saved_model(model, str(tmp_path / "a"), preprocess=PREPROCESS, class_names=["only", "three", "names"])
    with pytest.raises(UsageError, match="top_k"):
        export_saved_model(model, str(tmp_path / "b"), preprocess=PREPROCESS, top_k=0)
    with pytest.raises(UsageError, match="32x32"):
        export_saved_model(model, str(tmp_path / "c"), preprocess=PreprocessConfig(image_size=64))
    with pytest.raises(UsageError, match="without a version number"):
        export_saved_model(model, _unversioned_copy(exported, tmp_path), preprocess=PREPROCESS)
    assert not os.path.exists(tmp_path / "a") and not os.path.exists(tmp_path / "b")


def _unversioned_copy(version_dir, tmp_path) -> str:
    target = str(tmp_path / "unversioned")
    shutil.copytree(version_dir, target)
    return target
