"""The trainer end to end on the embedded digits, kept tiny (MobileNetV3-Small, 32 px, a few steps)."""

import json
import os

import numpy as np
import pytest

from tfzoo.errors import UsageError
from tfzoo.training import TrainConfig, evaluate_run, train
from tfzoo.utils.rundir import RunDir


def tiny_config(run_dir, **overrides):
    values = dict(model="mobilenet_v3_small", run_dir=str(run_dir), epochs=2, batch_size=16, steps_per_epoch=3,
                  verbose=0)
    values.update(overrides)
    return TrainConfig(**values)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("run")
    metrics = train(tiny_config(run_dir))
    return run_dir, metrics


def test_run_directory_contents(finished_run):
    run_dir, metrics = finished_run
    run = RunDir(str(run_dir))
    with open(run.metrics_file) as handle:
        stored = json.load(handle)
    assert stored == metrics
    for key in ("val_top1", "val_top5", "epochs_run", "train_images_per_sec"):
        assert key in stored
    assert stored["epochs_run"] == 2 and stored["num_train"] == 1437 and stored["num_val"] == 360
    assert 0.0 <= stored["val_top1"] <= stored["val_top5"] <= 1.0
    assert stored["train_images_per_sec"] > 0
    assert [epoch for epoch, _ in run.checkpoints()] == [1, 2]
    config = run.read_config()
    assert config["model"] == "mobilenet_v3_small" and config["class_names"] == [str(d) for d in range(10)]
    # The digits recipe filled the unset flags.
    assert config["train"]["image_size"] == 64 and config["train"]["hflip"] is False
    assert config["preprocess"]["scale"] == [0.5, 1.0]
    assert os.listdir(run.log_dir), "TensorBoard logs missing"
    assert not [f for f in os.listdir(run.path) if f.startswith(".tmp")], "temporary files left behind"


def test_evaluate_run_matches_final_metrics(finished_run):
    run_dir, metrics = finished_run
    results = evaluate_run(str(run_dir))
    assert results["val_top1"] == pytest.approx(metrics["val_top1"], abs=1e-6)
    assert results["val_top5"] == pytest.approx(metrics["val_top5"], abs=1e-6)


def test_resume_continues_from_last_epoch(finished_run, capsys):
    run_dir, _ = finished_run
    metrics = train(tiny_config(run_dir, epochs=3))
    out = capsys.readouterr().out
    assert "Resuming" in out and "from epoch 2 of 3" in out
    assert metrics["resumed_from_epoch"] == 2 and metrics["epochs_run"] == 3
    run = RunDir(str(run_dir))
    assert [epoch for epoch, _ in run.checkpoints()] == [2, 3]  # keeps the newest two

    # The optimizer state came back: its step counter continued from 2 epochs x 3 steps.
    import h5py

    with h5py.File(run.checkpoint_file(3), "r") as handle:
        iterations = int(np.array(handle["optimizer/vars/0"]))  # Keras stores the step counter first
    assert iterations == 9

    again = train(tiny_config(run_dir, epochs=3))
    assert "already finished 3 of 3 epochs" in capsys.readouterr().out
    assert again["val_top1"] == pytest.approx(metrics["val_top1"], abs=1e-6)


def test_resume_refuses_different_settings(finished_run):
    run_dir, _ = finished_run
    with pytest.raises(UsageError, match="batch_size"):
        train(tiny_config(run_dir, batch_size=8))


@pytest.mark.parametrize("overrides, message", [
    ({"epochs": 0}, "--epochs"),
    ({"batch_size": -4}, "--batch_size"),
    ({"learning_rate": 0.0}, "--learning_rate"),
    ({"image_size": 16}, "too small"),
    ({"model": "mobilenet_v9"}, "unknown model"),
    ({"dataset": "imagenet_from_nowhere"}, "unknown dataset"),
    ({"data_dir": "/no/such/dir"}, "does not exist"),
    ({"batch_size": 4096}, "larger than"),
])
def test_bad_settings_raise_usage_errors(tmp_path, overrides, message):
    with pytest.raises(UsageError, match=message):
        train(tiny_config(tmp_path / "bad", **overrides))


@pytest.mark.parametrize("overrides", [{"precision": "mixed_bfloat16"}, {"strategy": "mirrored"},
                                       {"optimizer": "sgd", "learning_rate": 0.05}])
def test_precision_strategy_and_optimizer_options_train(tmp_path, overrides):
    import keras

    metrics = train(tiny_config(tmp_path / "opt", epochs=1, steps_per_epoch=2, **overrides))
    assert np.isfinite(metrics["val_loss"]) and metrics["epochs_run"] == 1
    assert keras.mixed_precision.global_policy().name == "float32", "the global policy leaked out of train()"
    model = RunDir(str(tmp_path / "opt")).load_model()
    expected = overrides.get("precision", "float32")
    assert model.get_layer("conv_stem").dtype_policy.name == expected
    assert model.get_layer("predictions").dtype_policy.name == "float32"
