"""The default export form (RepVGG re-parameterized, conv -> BN folded) gives the trained model's outputs, per family.

Every registered family is checked on its smallest variant at its smallest
input, with non-trivial BatchNorm statistics (`randomize_batch_norms`): the
inference form that `export_saved_model` writes by default must give the same
probabilities as the model it came from, within 1e-4 (the export's
``probabilities`` are a softmax, on a 0..1 scale), and the same logits within
1e-5 of their magnitude; it must have folded every BatchNorm that follows a
convolution. ResNet-18 also goes through the real SavedModel
(``serving_default``), as MobileNetV3 does in test_export_saved_model.py and
RepVGG blocks in test_export_reparam.py. The family list comes from the
registry, so a new family is covered without editing this file.

Cost: the three heaviest families are built shallow (fewer repeats of the
same blocks, so the same layer patterns fold), which keeps the file near
a minute of one worker.
"""

from __future__ import annotations

import dataclasses
import importlib

import keras
import numpy as np
import pytest
import tensorflow as tf

import tfzoo
from tests.export.export_testlib import PREPROCESS
from tfzoo.data.preprocessing import normalize
from tfzoo.export.saved_model import count_batch_norms, export_saved_model, inference_form, read_export_metadata
from tfzoo.models.reparam import count_fusable_bn, count_reparameterizable
from tfzoo.training.benchmark import randomize_batch_norms

PROBABILITY_TOLERANCE = 1e-4
LOGIT_TOLERANCE = 1e-5  # of the largest logit's magnitude
NUM_CLASSES = 5
# Fewer block repeats for the costliest builds (every block kind still appears): family -> (module, table, field).
SHALLOW = {
    "densenet": ("tfzoo.models.densenet", "VARIANTS", "block_config", (2, 2, 2, 2)),
    "resnext": ("tfzoo.models.resnet", "FAMILY_TABLES", "layers", (1, 1, 1, 1)),
    "seresnext": ("tfzoo.models.resnet", "FAMILY_TABLES", "layers", (1, 1, 1, 1)),
}
# Families whose every BatchNorm follows a convolution; the others keep some (DenseNet's pre-activation BNs
# follow a pooling or a concatenation) or have none (transformers, NFNet, VGG without BN).
PARTLY_FOLDED = {"densenet"}


def _smallest_per_family() -> list[tuple[str, str, int]]:
    smallest = {}
    for name in tfzoo.list_models():
        info = tfzoo.model_info(name)
        key = (info["num_params"] or 0, name)
        if info["family"] not in smallest or key < smallest[info["family"]][0]:
            smallest[info["family"]] = (key, max(32, info["min_input_size"]))
    return sorted((family, key[1], size) for family, (key, size) in smallest.items())


FAMILIES = _smallest_per_family()


def _build(name: str, size: int, seed: int = 0) -> keras.Model:
    keras.utils.set_random_seed(seed)
    model = tfzoo.create_model(name, num_classes=NUM_CLASSES, input_shape=(size, size, 3),
                               classifier_activation=None)
    return randomize_batch_norms(model, seed=seed)


def _make_shallow(monkeypatch, family: str, name: str) -> None:
    if family not in SHALLOW:
        return
    module_name, table_name, field, repeats = SHALLOW[family]
    table = getattr(importlib.import_module(module_name), table_name)
    table = table.get(family, table)  # ResNet's tables are keyed by family first
    variant = tfzoo.models.registry.get_spec(name).kwargs["variant"]
    monkeypatch.setitem(table, variant, dataclasses.replace(table[variant], **{field: repeats}))


def _inputs(size: int, batch: int = 3) -> np.ndarray:
    return np.random.default_rng(size).normal(size=(batch, size, size, 3)).astype("float32")


def _assert_same_predictions(logits: np.ndarray, expected_logits: np.ndarray) -> None:
    probabilities, expected = (tf.nn.softmax(x).numpy() for x in (logits, expected_logits))
    assert np.abs(probabilities - expected).max() <= PROBABILITY_TOLERANCE
    assert np.abs(logits - expected_logits).max() <= LOGIT_TOLERANCE * np.abs(expected_logits).max()


def test_every_family_is_sampled():
    families = {family for family, _, _ in FAMILIES}
    assert {"resnet", "mobilenet_v3", "efficientnet", "repvgg", "densenet", "vit"} <= families
    assert len(families) == len({tfzoo.model_info(name)["family"] for name in tfzoo.list_models()})


@pytest.mark.parametrize("family, name, size", FAMILIES, ids=[family for family, _, _ in FAMILIES])
def test_default_inference_form_equals_the_trained_model(monkeypatch, family, name, size):
    _make_shallow(monkeypatch, family, name)
    model = _build(name, size)
    batch_norms = count_batch_norms(model)
    fused, form = inference_form(model, reparameterize=True, fuse_bn=True)
    assert count_reparameterizable(fused) == 0 and count_fusable_bn(fused) == 0
    assert form["unfused_batchnorms"] == count_batch_norms(fused)
    if family == "repvgg":
        assert form["form"] == "deploy" and form["reparameterized_layers"] > 0
    if family in PARTLY_FOLDED:
        assert 0 < form["unfused_batchnorms"] < batch_norms and form["fused_batchnorms"] > 0
    elif batch_norms:
        assert form["unfused_batchnorms"] == 0, f"{form['unfused_batchnorms']} BatchNorms were not folded"
    else:
        assert fused is model and form["fused_batchnorms"] == 0
        return  # nothing converted: the same model
    x = _inputs(size)
    _assert_same_predictions(np.asarray(fused(x, training=False)), np.asarray(model(x, training=False)))


def test_default_saved_model_serves_the_trained_models_predictions(tmp_path):
    """The exported graph itself, not just its Keras form, on ResNet-18 (20 folded pairs)."""
    model = _build("resnet18", PREPROCESS.image_size, seed=1)
    version_dir = export_saved_model(model, str(tmp_path / "resnet18"), preprocess=PREPROCESS)
    form = read_export_metadata(version_dir)["form"]
    assert (form["fused_batchnorms"], form["unfused_batchnorms"]) == (20, 0)
    images = np.random.default_rng(2).uniform(0, 255, (3, 32, 32, 3)).astype("float32")
    served = tf.saved_model.load(version_dir).signatures["serving_default"](images=tf.constant(images))
    expected = tf.nn.softmax(model(normalize(images, PREPROCESS), training=False)).numpy()
    assert np.abs(served["probabilities"].numpy() - expected).max() <= PROBABILITY_TOLERANCE
    assert np.ptp(expected, axis=0).max() > 1e-3  # the images get different predictions


def test_cli_exports_a_registered_model_and_benchmarks_the_fused_form(tmp_path):
    """``tfzoo export --model NAME`` (fresh weights, for serving benchmarks) and ``tfzoo benchmark --fused``."""
    import concurrent.futures
    import json
    import os
    import subprocess
    import sys

    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=repo)
    commands = {
        "export": ["export", "--model", "mobilenet_v3_small_050", "--image_size", "32", "--output",
                   str(tmp_path / "mnv3")],
        "benchmark": ["benchmark", "--model", "mobilenet_v3_small_050", "--image_size", "32", "--batch_size", "1",
                      "--iterations", "1", "--fused", "--json"],
    }
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        futures = {key: pool.submit(subprocess.run, [sys.executable, "-m", "tfzoo.cli.main", *args],
                                    capture_output=True, text=True, env=env, timeout=600)
                   for key, args in commands.items()}
        results = {key: future.result() for key, future in futures.items()}
    for result in results.values():
        assert result.returncode == 0, result.stderr
    assert "34 folded batch norms, 0 left, float32, fresh weights" in results["export"].stdout
    metadata = read_export_metadata(str(tmp_path / "mnv3" / "1"))
    assert metadata["model"] == "mobilenet_v3_small_050" and metadata["num_classes"] == 1000
    assert metadata["preprocess"]["image_size"] == 32 and metadata["form"]["fused_batchnorms"] == 34
    report = json.loads(results["benchmark"].stdout[results["benchmark"].stdout.index("{"):])
    assert (report["form"], report["fused_batchnorms"]) == ("plain", 34)
    # Folding drops each BN's four vectors and gives its conv a bias: 1,593,224 - 3 x (BN channels).
    model = tfzoo.create_model("mobilenet_v3_small_050", input_shape=(32, 32, 3))
    bn_channels = sum(layer.moving_mean.shape[0] for layer in model.layers
                      if isinstance(layer, keras.layers.BatchNormalization))
    assert report["total_params"] == model.count_params() - 3 * bn_channels
