"""`tfzoo relabel`: dense scores of a zoo classifier, the label directory, and resuming after a kill."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import tfzoo
from tfzoo.data import token_labels
from tfzoo.data.digits import digits_arrays
from tfzoo.data.splits import stratified_split
from tfzoo.errors import UsageError
from tfzoo.training.relabel import RelabelConfig, dense_scorer, relabel

ENV = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
ENV["PYTHONUNBUFFERED"] = "1"
SIZE = 32


@pytest.fixture(scope="module")
def annotator(tmp_path_factory):
    path = tmp_path_factory.mktemp("annotator") / "annotator.keras"
    model = tfzoo.create_model("resnet18", num_classes=10, input_shape=(SIZE, SIZE, 3))
    model.save(path)
    return str(path)


def test_dense_scores_of_a_gap_dense_head_average_to_the_logits():
    # GAP -> Dense is linear, so the mean of the per-position scores is the model's logits.
    model = tfzoo.create_model("resnet18", num_classes=7, input_shape=(64, 64, 3), classifier_activation=None)
    images = np.random.default_rng(0).normal(size=(2, 64, 64, 3)).astype("float32")
    scores = np.asarray(dense_scorer(model)(images))
    assert scores.shape == (2, 2, 2, 7)
    np.testing.assert_allclose(scores.mean(axis=(1, 2)), np.asarray(model(images)), atol=1e-4)


def _files(directory):
    return {name: open(os.path.join(directory, name), "rb").read()
            for name in sorted(os.listdir(directory)) if not name.startswith(".")}


@pytest.mark.slow
def test_relabel_killed_midway_resumes_to_identical_output(annotator, tmp_path):
    common = ["--annotator", annotator, "--dataset", "digits", "--top_k", "3", "--shard_size", "256",
              "--batch_size", "64"]
    complete = tmp_path / "complete"
    manifest = relabel(RelabelConfig(annotator=annotator, output=str(complete), top_k=3, shard_size=256))
    assert manifest["num_shards"] == 8 and manifest["num_examples"] == 1797  # train (1437) + val (360)

    resumed = tmp_path / "resumed"
    process = subprocess.Popen([sys.executable, "-m", "tfzoo.cli.main", "relabel", *common, "--output",
                                str(resumed)], env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    first = resumed / token_labels.SHARD_PATTERN.format(0)
    deadline = time.time() + 300
    while not first.exists() and process.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert first.exists(), process.stdout.read().decode()
    written = sorted(p.name for p in resumed.glob("shard-*.npz"))
    assert not (resumed / token_labels.MANIFEST).exists(), "the run finished before it was killed"
    assert len(written) < 8

    result = subprocess.run([sys.executable, "-m", "tfzoo.cli.main", "relabel", *common, "--output",
                             str(resumed)], env=ENV, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "shard 1/8" not in result.stdout  # finished shards are not redone
    assert _files(resumed) == _files(complete)

    # What training reads: every digits image (train split, then val) by its index in the embedded set,
    # so a split drawn with another seed finds its maps too; 1x1 maps at 32 px.
    maps = token_labels.read_label_dir(str(complete))
    _, labels = digits_arrays(SIZE)
    train_index, val_index = stratified_split(labels, 0.2, 0)
    assert list(maps.keys) == [str(i) for i in train_index] + [str(i) for i in val_index]
    assert maps.values.shape == (1797, 1, 1, 3) and maps.values.dtype == np.float16
    assert maps.indices.dtype == np.int16
    assert (np.diff(maps.values.astype(np.float32), axis=-1) <= 0).all()  # top-k sorted


def test_relabel_refuses_other_settings_and_exports(annotator, tmp_path):
    output = str(tmp_path / "labels")
    os.makedirs(output)
    from tfzoo.utils.atomic import write_json

    write_json(os.path.join(output, "settings.json"), {"format": token_labels.FORMAT, "top_k": 9})
    with pytest.raises(UsageError, match="other settings"):
        relabel(RelabelConfig(annotator=annotator, output=output, top_k=3))
    export = tmp_path / "export"
    (export / "assets.extra").mkdir(parents=True)
    with pytest.raises(UsageError, match="SavedModel export"):
        relabel(RelabelConfig(annotator=str(export), output=str(tmp_path / "x")))
    with pytest.raises(UsageError, match="annotator_weights"):
        relabel(RelabelConfig(annotator="resnet18", output=str(tmp_path / "y")))


def test_dense_scores_of_lvvit_are_its_aux_head_tokens():
    model = tfzoo.create_model("lvvit_t", num_classes=4, input_shape=(32, 32, 3), depth=1, img_size=32,
                               classifier_activation=None)
    images = np.random.default_rng(1).normal(size=(2, 32, 32, 3)).astype("float32")
    scores = np.asarray(dense_scorer(model)(images))
    assert scores.shape == (2, 2, 2, 4)
    # The model's output is cls + 0.5 * max over these token scores.
    cls = np.asarray(keras_model_output(model, "head", images))
    np.testing.assert_allclose(np.asarray(model(images)), cls + 0.5 * scores.max(axis=(1, 2)), atol=1e-5)


def keras_model_output(model, layer, images):
    import keras

    return keras.Model(model.inputs, model.get_layer(layer).output)(images)
