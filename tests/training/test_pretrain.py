"""`tfzoo pretrain` end to end at tiny size: every method writes the pretrain run layout; MoCo resumes its queue."""

from __future__ import annotations

import json
import os

import h5py
import numpy as np
import pytest

from tests.training.ssl_testlib import TINY_BACKBONE, TINY_SSL, register, tiny_pretrain_config
from tfzoo.training import train
from tfzoo.utils.rundir import RunDir


@pytest.fixture
def tiny(monkeypatch):
    register(monkeypatch)


def _h5_arrays(path) -> dict:
    """Every dataset of a ``.weights.h5`` file by its path."""
    arrays = {}
    with h5py.File(path, "r") as handle:
        handle.visititems(lambda name, item: arrays.__setitem__(name, np.array(item))
                          if isinstance(item, h5py.Dataset) else None)
    return arrays


def _find(arrays: dict, shape) -> list:
    return [name for name, value in arrays.items() if value.shape == tuple(shape)]


@pytest.mark.slow
@pytest.mark.parametrize("method", sorted(TINY_SSL))
def test_pretrain_writes_the_backbone_run_layout(tiny, tmp_path, method):
    import keras

    from tfzoo.models.registry import create_model

    metrics = train(tiny_pretrain_config(method, tmp_path))
    run = RunDir(str(tmp_path))
    with open(run.metrics_file) as handle:
        assert json.load(handle) == metrics
    assert 0.0 <= metrics["knn_top1"] <= metrics["knn_top5"] <= 1.0 and metrics["epochs_run"] == 1
    config = run.read_config()
    assert (config["task"], config["method"], config["model"], config["num_classes"]) == (
        "pretrain", method, TINY_BACKBONE, 10)
    assert config["train"]["ssl"]["method"] == method and config["train"]["batch_size"] == 8
    # model.keras is the backbone alone: pooled features, the layer names of a classifier build minus its head.
    backbone = run.load_model()
    assert tuple(backbone.output.shape) == (None, 16)
    classifier = create_model(TINY_BACKBONE, num_classes=10, input_shape=(16, 16, 3))
    assert [layer.name for layer in backbone.layers] == [layer.name for layer in classifier.layers][:-1]
    features = backbone(np.zeros((2, 16, 16, 3), "float32"))
    assert np.isfinite(keras.ops.convert_to_numpy(features)).all()
    # Training-only state is in the checkpoint, not in model.keras.
    arrays = _h5_arrays(run.checkpoint_file(1))
    ssl = TINY_SSL[method]
    state_shape = {"moco_v1": ("queue_size", "proj_dim"), "moco_v2": ("queue_size", "proj_dim"),
                   "swav": (2, "queue_size", "proj_dim"), "instdisc": (1437, "proj_dim")}.get(method)
    if state_shape:
        shape = [ssl[key] if isinstance(key, str) else key for key in state_shape]
        assert _find(arrays, shape), f"{method}: queue / memory bank missing from the checkpoint"
    if method in ("moco_v1", "moco_v2", "moco_v3"):  # the momentum encoder: a second copy of every conv kernel
        assert len(_find(arrays, (3, 3, 8, 16))) >= 2
    if method == "instdisc":
        z = [value for name, value in arrays.items() if value.shape == () and value.dtype.kind == "f" and value > 0]
        assert z, "NCE's normalizing constant Z is not in the checkpoint"
    if method == "swav":
        prototypes = arrays[_find(arrays, (ssl["proj_dim"], ssl["num_prototypes"]))[0]]
        # Frozen in epoch 1 and normalized before each step: unit columns.
        np.testing.assert_allclose(np.linalg.norm(prototypes, axis=0), 1.0, atol=1e-5)


@pytest.mark.slow
def test_moco_resume_restores_queue_and_pointer(tiny, tmp_path):
    """The queue and its pointer come back from the checkpoint: the pointer continues from its saved value."""
    ssl = TINY_SSL["moco_v1"]
    train(tiny_pretrain_config("moco_v1", tmp_path, epochs=1))
    run = RunDir(str(tmp_path))
    saved = _h5_arrays(run.checkpoint_file(1))
    (queue_name,) = _find(saved, (ssl["queue_size"], ssl["proj_dim"]))
    pointers = [name for name, value in saved.items() if value.shape == () and value.dtype == np.int32]
    (pointer_name,) = [name for name in pointers if int(saved[name]) == 16]  # 2 steps x batch 8
    metrics = train(tiny_pretrain_config("moco_v1", tmp_path, epochs=2))
    assert metrics["resumed_from_epoch"] == 1
    resumed = _h5_arrays(run.checkpoint_file(2))
    assert int(resumed[pointer_name]) == 0  # (16 + 2 x 8) % 32: continued, not restarted
    # Rows 0..15 were written in epoch 1 and kept; epoch 2 overwrote rows 16..31 only.
    np.testing.assert_array_equal(resumed[queue_name][:16], saved[queue_name][:16])
    assert not np.allclose(resumed[queue_name][16:], saved[queue_name][16:])
    assert os.path.exists(run.model_file)
