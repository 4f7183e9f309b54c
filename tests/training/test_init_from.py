"""`tfzoo train --init_from`: the pre-trained backbone's weights by value before the first step, a fresh head."""

import keras
import numpy as np
import pytest

from tests.training.pretrain_testlib import SMALL_MODEL, make_pretrain_run
from tfzoo.errors import UsageError
from tfzoo.models.registry import create_model
from tfzoo.training import TrainConfig, train
from tfzoo.training.init_from import apply_init_from, copy_backbone_weights, init_from_run
from tfzoo.utils.rundir import RunDir


@pytest.fixture(scope="module")
def pretrain_run(tmp_path_factory):
    path = tmp_path_factory.mktemp("pretrain")
    backbone = make_pretrain_run(path)
    return str(path), {layer.name: layer.get_weights() for layer in backbone.layers if layer.weights}


def _assert_backbone_copied(weights_by_layer, pretrained):
    for name, weights in pretrained.items():
        for got, want in zip(weights_by_layer[name], weights):
            np.testing.assert_array_equal(got, want, err_msg=name)


def test_copy_by_layer_name_leaves_the_head_fresh(pretrain_run):
    path, pretrained = pretrain_run
    keras.utils.set_random_seed(0)
    model = create_model(SMALL_MODEL, num_classes=10, input_shape=(32, 32, 3))
    head_before = [w.copy() for w in model.get_layer("classifier").get_weights()]
    record = init_from_run(model, path, SMALL_MODEL)
    _assert_backbone_copied({layer.name: layer.get_weights() for layer in model.layers}, pretrained)
    assert record["tensors_copied"] == sum(len(w) for w in pretrained.values()) > 50
    assert record["method"] == "simclr" and record["run_dir"] == RunDir(path).path
    assert "classifier" in record["fresh_layers"] and not set(record["fresh_layers"]) & set(pretrained)
    for got, want in zip(model.get_layer("classifier").get_weights(), head_before):
        np.testing.assert_array_equal(got, want)


def test_mismatches_are_usage_errors(pretrain_run, tmp_path):
    path, _ = pretrain_run
    model = create_model(SMALL_MODEL, num_classes=10, input_shape=(32, 32, 3))
    with pytest.raises(UsageError, match=f"pre-trained {SMALL_MODEL}, not resnet18"):
        init_from_run(model, path, "resnet18")
    wider = create_model("mobilenet_v3_small_075", num_classes=10, input_shape=(32, 32, 3))
    with pytest.raises(UsageError, match="shapes"):
        copy_backbone_weights(RunDir(path).load_model(), wider)
    classifier_run = tmp_path / "classifier"
    classifier_run.mkdir()
    RunDir(str(classifier_run)).write_config({"model": SMALL_MODEL, "train": {}})
    with pytest.raises(UsageError, match="classifier run"):
        TrainConfig(model=SMALL_MODEL, init_from=str(classifier_run)).validate()
    with pytest.raises(UsageError, match="pick one"):
        TrainConfig(model=SMALL_MODEL, init_from=path, pretrained=True).validate()


@pytest.mark.slow
def test_train_starts_from_the_pretrained_backbone(pretrain_run, tmp_path, monkeypatch):
    """The weights `fit` starts from (captured before the first step) are the pre-trained ones."""
    path, pretrained = pretrain_run
    seen = {}

    class FirstStep(keras.callbacks.Callback):  # stands in for TensorBoard, the trainer's last callback
        def __init__(self, *args, **kwargs):
            super().__init__()

        def on_train_begin(self, logs=None):
            seen.update({layer.name: layer.get_weights() for layer in self.model.layers})

    monkeypatch.setattr(keras.callbacks, "TensorBoard", FirstStep)
    config = TrainConfig(model=SMALL_MODEL, run_dir=str(tmp_path / "fine"), init_from=path, epochs=1,
                         batch_size=16, steps_per_epoch=1, image_size=32, verbose=0)
    train(config)
    _assert_backbone_copied(seen, pretrained)
    head = seen["classifier"]
    assert np.all(head[1] == 0) and np.std(head[0]) > 0  # a fresh Dense: zero bias, random kernel
    record = RunDir(str(tmp_path / "fine")).read_config()["init_from"]
    assert record["tensors_copied"] == sum(len(w) for w in pretrained.values())
    assert RunDir(str(tmp_path / "fine")).read_config()["train"]["init_from"] == path


def test_resume_copies_nothing_and_keeps_the_record(pretrain_run, tmp_path):
    path, pretrained = pretrain_run
    run = RunDir(str(tmp_path / "resumed"))
    record = {"run_dir": path, "model": SMALL_MODEL, "method": "simclr", "tensors_copied": 1, "fresh_layers": []}
    run.write_config({"model": SMALL_MODEL, "init_from": record})
    (tmp_path / "resumed" / "checkpoints").mkdir()
    (tmp_path / "resumed" / "checkpoints" / "epoch-0001.weights.h5").write_bytes(b"")
    model = create_model(SMALL_MODEL, num_classes=10, input_shape=(32, 32, 3))
    before = [w.numpy().copy() for w in model.weights]
    config = TrainConfig(model=SMALL_MODEL, init_from=path)
    assert apply_init_from(model, config, run) == {"init_from": record}
    assert all(np.array_equal(a, w.numpy()) for a, w in zip(before, model.weights))
    assert apply_init_from(model, TrainConfig(model=SMALL_MODEL), run) == {}
