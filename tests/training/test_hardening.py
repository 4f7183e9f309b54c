"""Hardening of the trainer (issue 10): divergence, one run at a time, results that agree, determinism.

Runs are tiny (MobileNetV3-Small 0.5 at 32 px, 2 steps an epoch); processes that must be real (a second
trainer, kill -9, exit codes, bit-identical runs) are subprocesses with timeouts.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import h5py
import keras
import numpy as np
import pytest

from tests.data.datalib import make_class_folders, write_bytes
from tfzoo.errors import TrainingDiverged
from tfzoo.training import TrainConfig, evaluate_run, train
from tfzoo.training.nan import DivergenceGuard, SkipNonFinite
from tfzoo.utils.atomic import write_json
from tfzoo.utils.lock import RunDirBusy, RunDirLock
from tfzoo.utils.rundir import RunDir

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ENV = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
ENV.update(PYTHONUNBUFFERED="1", PYTHONPATH=REPO + os.pathsep + ENV.get("PYTHONPATH", ""))
TINY = ["--model", "mobilenet_v3_small_050", "--image_size", "32", "--batch_size", "16", "--steps_per_epoch", "2"]


def tfzoo(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "tfzoo.cli.main", *args], capture_output=True, text=True,
                          env=ENV, timeout=timeout)


def start_tfzoo(*args):
    return subprocess.Popen([sys.executable, "-m", "tfzoo.cli.main", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=ENV)


def stderr_lines(result):
    return [line for line in result.stderr.splitlines() if line.strip()]


def wait_for_lock(run_dir, pid, process, timeout=240):
    """Waits until `pid` is written in RUN_DIR/.lock (the process holds the run)."""
    deadline = time.time() + timeout
    while time.time() < deadline and process.poll() is None:
        try:
            if (run_dir / ".lock").read_text().split()[:1] == [str(pid)]:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"process {pid} never took the lock (exit code {process.poll()})")


def h5_arrays(path):
    arrays = {}
    with h5py.File(path, "r") as handle:
        handle.visititems(lambda name, obj: arrays.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset)
                          else None)
    return arrays


def model_weights(path):
    return keras.saving.load_model(str(path), compile=False).get_weights()


def tiny_config(run_dir, **overrides):
    values = dict(model="mobilenet_v3_small_050", image_size=32, run_dir=str(run_dir), epochs=1, batch_size=16,
                  steps_per_epoch=2, verbose=0)
    values.update(overrides)
    return TrainConfig(**values)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A finished one-epoch run (in this process), copied by tests that change it."""
    run_dir = tmp_path_factory.mktemp("hardening") / "base"
    metrics = train(tiny_config(run_dir))
    return run_dir, metrics


# Strict JSON, orphans ---------------------------------------------------------------------------------


def test_metrics_json_is_strict(tmp_path):
    path = tmp_path / "m.json"
    write_json(str(path), {"loss": float("nan"), "top": [float("inf"), np.float32(-np.inf), 1.5], "n": 3})
    text = path.read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text, parse_constant=lambda name: pytest.fail(f"bare {name}")) == {
        "loss": None, "top": [None, None, 1.5], "n": 3}


def test_orphan_temporary_files_are_removed(tmp_path):
    run = RunDir(str(tmp_path / "run"))
    os.makedirs(run.checkpoint_dir)
    orphans = [os.path.join(run.path, ".tmp-abc.keras"), os.path.join(run.checkpoint_dir, ".tmp-x.weights.h5")]
    for path in orphans:
        write_bytes(path, b"torn")
    os.makedirs(os.path.join(run.path, ".tmp-export-1"))
    keep = os.path.join(run.path, "notes.tmp")
    write_bytes(keep, b"mine")
    removed = run.remove_orphans()
    assert sorted(removed) == sorted(orphans + [os.path.join(run.path, ".tmp-export-1")])
    assert os.listdir(run.checkpoint_dir) == [] and sorted(os.listdir(run.path)) == ["checkpoints", "notes.tmp"]


# The lock ---------------------------------------------------------------------------------------------

HOLDER = "import sys, time; from tfzoo.utils.lock import RunDirLock; RunDirLock(sys.argv[1], 'relabel').acquire(); " \
         "print('held', flush=True); time.sleep(120)"


def test_lock_names_the_holder_and_is_taken_over_after_kill_9(tmp_path):
    run_dir = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(run_dir)], stdout=subprocess.PIPE, text=True,
                              env=ENV)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(RunDirBusy, match=f"in use by process {holder.pid} \\(relabel\\)"):
            RunDirLock(str(run_dir)).acquire()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
    assert (run_dir / ".lock").read_text().split()[0] == str(holder.pid)  # the dead holder's PID is still there
    with RunDirLock(str(run_dir), "train") as lock:  # ... but the kernel released its flock
        assert (run_dir / ".lock").read_text().split() == [str(os.getpid()), "train"]
        with RunDirLock(str(run_dir)):  # re-entrant within a process
            pass
        assert lock._key is not None
    assert (run_dir / ".lock").read_text() == ""


def test_lock_refuses_a_file(tmp_path):
    path = tmp_path / "file"
    path.write_text("x")
    with pytest.raises(Exception, match="is a file, not a directory"):
        RunDirLock(str(path)).acquire()


def test_two_trainers_on_one_run_dir_and_kill_9(tmp_path):
    """The second trainer exits 2 naming the first's PID; the first finishes; a kill -9 leaves no lock behind.

    The first trainer reads an image folder with an unreadable file, so it also checks the skipped-file records.
    """
    data_dir = tmp_path / "images"
    make_class_folders(str(data_dir), per_class=12)
    corrupt = data_dir / "bee" / "broken.png"
    write_bytes(str(corrupt), b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    run_dir = tmp_path / "run"
    args = [*TINY, "--batch_size", "8", "--data_dir", str(data_dir), "--run_dir", str(run_dir)]

    first = start_tfzoo("train", *args, "--epochs", "1")
    try:
        wait_for_lock(run_dir, first.pid, first)
        second = tfzoo("train", *args, "--epochs", "1", timeout=300)
        assert second.returncode == 2, second.stderr
        assert len(stderr_lines(second)) == 1 and "Traceback" not in second.stderr, second.stderr
        assert f"in use by process {first.pid} (train)" in second.stderr
        out, err = first.communicate(timeout=600)
    finally:
        first.kill()
    assert first.returncode == 0, err
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["epochs_run"] == 1 and metrics["skipped_files"] == 1
    assert json.loads((run_dir / "run.json").read_text())["skipped_files"] == 1
    assert (run_dir / "skipped_files.txt").read_text().splitlines() == [str(corrupt)]

    # A trainer killed with -9 while it holds the run: the next one takes over and removes the torn files.
    killed = start_tfzoo("train", *args, "--epochs", "2")
    wait_for_lock(run_dir, killed.pid, killed)
    killed.send_signal(signal.SIGKILL)
    killed.wait(timeout=60)
    orphans = [run_dir / ".tmp-k1x.keras", run_dir / "checkpoints" / ".tmp-k2y.weights.h5"]
    for path in orphans:
        path.write_bytes(b"torn")
    # --epochs 1: the run is finished, so the next trainer only takes the lock, cleans up and says so (fast).
    metrics_before = (run_dir / "metrics.json").read_bytes()
    result = tfzoo("train", *args, "--epochs", "1")
    assert result.returncode == 0, result.stderr
    assert "Removed temporary files" in result.stdout and "already finished 1 of 1 epochs" in result.stdout
    assert not any(path.exists() for path in orphans)
    assert (run_dir / "metrics.json").read_bytes() == metrics_before
    assert (run_dir / ".lock").read_text() == ""  # released


# Divergence ------------------------------------------------------------------------------------------


def test_divergence_stops_with_one_line_and_keeps_the_last_finite_epoch(finished_run, tmp_path):
    base, _ = finished_run
    run_dir = tmp_path / "nan"
    shutil.copytree(base, run_dir)
    # A run whose learning rate is far too high from epoch 2 on: the run directory's record is edited, so
    # that resuming with --learning_rate 1e6 is accepted.
    config = json.loads((run_dir / "run.json").read_text())
    config["train"]["learning_rate"] = 1e6
    (run_dir / "run.json").write_text(json.dumps(config))
    checkpoint = run_dir / "checkpoints" / "epoch-0001.weights.h5"
    before = {"checkpoint": h5_arrays(checkpoint), "model": model_weights(run_dir / "model.keras"),
              "metrics": (run_dir / "metrics.json").read_bytes()}

    result = tfzoo("train", *TINY, "--epochs", "3", "--learning_rate", "1e6", "--run_dir", str(run_dir))
    assert result.returncode == 1, result.stderr
    lines = stderr_lines(result)
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert "diverged at epoch 2" in lines[0] and "keeps epoch 1" in lines[0] and "--learning_rate" in lines[0]
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == ["epoch-0001.weights.h5"]
    after = h5_arrays(checkpoint)
    assert after.keys() == before["checkpoint"].keys()
    for name, array in before["checkpoint"].items():
        np.testing.assert_array_equal(after[name], array, err_msg=name)
    for old, new in zip(before["model"], model_weights(run_dir / "model.keras"), strict=True):
        np.testing.assert_array_equal(new, old)
    assert (run_dir / "metrics.json").read_bytes() == before["metrics"]
    assert not [p for p in run_dir.rglob(".tmp*")]


def _dense_model(optimizer):
    inputs = keras.Input((3,))
    outputs = keras.layers.Dense(2, kernel_initializer="ones", bias_initializer="zeros")(inputs)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=optimizer, loss="mse")
    return model


@pytest.mark.parametrize("strategy", ["default", "mirrored"])
def test_skip_batch_leaves_weights_and_optimizer_alone(strategy):
    """A batch with a NaN input is skipped: same weights and step count as training on the good batches only."""
    import tensorflow as tf

    scope = tf.distribute.MirroredStrategy(["/cpu:0"]) if strategy == "mirrored" else tf.distribute.get_strategy()
    with scope.scope():
        _check_skip_batch()


def _check_skip_batch():
    good = np.arange(12, dtype="float32").reshape(4, 3) / 10.0
    bad = good.copy()
    bad[1, 2] = np.nan
    targets = np.ones([4, 2], "float32")

    reference = _dense_model(keras.optimizers.SGD(0.1))
    reference.fit(np.concatenate([good, good]), np.concatenate([targets, targets]), batch_size=4, shuffle=False,
                  verbose=0)
    skipper = SkipNonFinite(keras.optimizers.SGD(0.1))
    model = _dense_model(skipper)
    x = np.concatenate([good, bad, good])
    guard = DivergenceGuard("skip_batch", steps_per_epoch=3, skipper=skipper)
    model.fit(x, np.concatenate([targets] * 3), batch_size=4, shuffle=False, verbose=0, callbacks=[guard])
    assert skipper.skipped_count() == 1 and guard.skipped_total == 1
    assert int(skipper.iterations.numpy()) == 2
    for new, old in zip(model.get_weights(), reference.get_weights()):
        np.testing.assert_allclose(new, old, rtol=0, atol=0)
    assert all(np.isfinite(w).all() for w in model.get_weights())


def test_skip_batch_stops_when_a_whole_epoch_is_skipped():
    skipper = SkipNonFinite(keras.optimizers.SGD(0.1))
    model = _dense_model(skipper)
    x = np.full([8, 3], np.nan, "float32")
    with pytest.raises(TrainingDiverged, match="all 2 batches"):
        model.fit(x, np.ones([8, 2], "float32"), batch_size=4, verbose=0,
                  callbacks=[DivergenceGuard("skip_batch", steps_per_epoch=2, skipper=skipper)])


def test_stop_policy_raises_on_the_first_non_finite_loss():
    model = _dense_model(keras.optimizers.SGD(0.1))
    x = np.ones([8, 3], "float32")
    x[5] = np.inf
    with pytest.raises(TrainingDiverged, match="epoch 1, step 2: the training loss is"):
        model.fit(x, np.ones([8, 2], "float32"), batch_size=4, shuffle=False, verbose=0,
                  callbacks=[DivergenceGuard("stop", steps_per_epoch=2)])


# Results that agree ------------------------------------------------------------------------------------


def test_rerunning_a_finished_run_leaves_metrics_untouched(finished_run, capsys):
    run_dir, metrics = finished_run
    path = run_dir / "metrics.json"
    before = path.read_bytes(), os.stat(path).st_mtime_ns
    again = train(tiny_config(run_dir))
    assert "already finished 1 of 1 epochs" in capsys.readouterr().out
    assert (path.read_bytes(), os.stat(path).st_mtime_ns) == before
    assert again == metrics and metrics["train_images_per_sec"] > 0


def test_eval_reports_the_losses_of_metrics_json(finished_run):
    run_dir, metrics = finished_run
    results = evaluate_run(str(run_dir))
    assert results["label_smoothing"] == 0.1
    assert results["val_loss"] == pytest.approx(metrics["val_loss"], abs=1e-5)
    assert results["val_loss_plain"] == pytest.approx(metrics["val_loss_plain"], abs=1e-5)
    assert metrics["val_loss"] != pytest.approx(metrics["val_loss_plain"], abs=1e-7)  # they do differ


def test_model_keras_keeps_the_model_class(finished_run):
    """The inference twin is built as the model's own class (a ZooModel that records its registry name),
    and RunDir.load_model finds that class in a fresh process that imported nothing else."""
    code = ("import sys; from tfzoo.utils.rundir import RunDir; m = RunDir(sys.argv[1]).load_model(); "
            "print(type(m).__name__, m.get_config()['zoo_info']['name'])")
    result = subprocess.run([sys.executable, "-c", code, str(finished_run[0])], capture_output=True, text=True,
                            env=ENV, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["ZooModel", "mobilenet_v3_small_050"]


def test_model_keras_behind_the_checkpoint_is_caught_up(finished_run, tmp_path):
    """A kill between the checkpoint and model.keras (checkpoint first) is repaired by the next start."""
    run_dir = tmp_path / "behind"
    shutil.copytree(finished_run[0], run_dir)
    expected = model_weights(run_dir / "model.keras")
    os.unlink(run_dir / "model.keras")
    os.unlink(run_dir / "metrics.json")
    metrics = train(tiny_config(run_dir))
    for new, old in zip(model_weights(run_dir / "model.keras"), expected, strict=True):
        np.testing.assert_array_equal(new, old)
    assert metrics["val_top1"] == pytest.approx(finished_run[1]["val_top1"], abs=1e-6)
    assert metrics["train_images_per_sec"] is None  # nothing trained in that session


# Determinism ----------------------------------------------------------------------------------------


def test_deterministic_runs_are_bit_identical(tmp_path):
    runs = [tmp_path / "a", tmp_path / "b"]
    args = [*TINY, "--epochs", "1", "--steps_per_epoch", "3", "--deterministic", "--seed", "7"]
    processes = [start_tfzoo("train", *args, "--run_dir", str(run)) for run in runs]
    for process in processes:
        _, err = process.communicate(timeout=600)
        assert process.returncode == 0, err
    first, second = (model_weights(run / "model.keras") for run in runs)
    assert len(first) == len(second) > 100
    for a, b in zip(first, second):
        assert a.tobytes() == b.tobytes()
    a, b = (h5_arrays(run / "checkpoints" / "epoch-0001.weights.h5") for run in runs)
    assert all(a[name].tobytes() == b[name].tobytes() for name in a)
