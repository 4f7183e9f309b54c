"""The `tfzoo` command line as a user runs it: one subprocess per command.

User mistakes must print exactly one line on stderr and exit with code 2.
"""

import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

ENV = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
ENV["PYTHONUNBUFFERED"] = "1"
TINY = ["--model", "mobilenet_v3_small", "--batch_size", "16", "--steps_per_epoch", "3"]


def tfzoo(*args, cwd=None, timeout=600):
    return subprocess.run([sys.executable, "-m", "tfzoo.cli.main", *args], capture_output=True, text=True,
                          env=ENV, cwd=cwd, timeout=timeout)


def assert_one_line_usage_error(result, *needles):
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1, f"expected one line on stderr, got:\n{result.stderr}"
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("cli") / "run"
    result = tfzoo("train", *TINY, "--epochs", "1", "--run_dir", str(run_dir))
    assert result.returncode == 0, result.stderr
    return run_dir


@pytest.mark.parametrize("args, needles", [
    (["train", "--model", "mobilenetv3"], ["unknown model", "mobilenet_v3"]),
    (["train", "--dataset", "cifar_from_nowhere"], ["unknown dataset"]),
    (["train", "--data_dir", "/no/such/folder"], ["--data_dir", "does not exist"]),
    (["train", "--batch_size", "0"], ["--batch_size"]),
    (["train", "--epochs", "-1"], ["--epochs"]),
    (["train", "--learning_rate", "0"], ["--learning_rate"]),
    (["train", "--epochs", "many"], ["epochs"]),
    (["train", "--no_such_flag"], ["no_such_flag"]),
    (["train", "--image_size", "16"], ["too small"]),
    (["fly"], ["unknown verb"]),
    (["eval", "--run_dir", "/no/such/run"], ["not found"]),
    (["train", "--flagfile=no_such.flags"], ["--flagfile", "not found"]),
    (["train", "--momentum", "5", "--optimizer", "sgd"], ["--momentum must be in [0, 1)"]),
    (["predict", "--source", "/no/such/run", "x.jpg"], []),
    (["benchmark", "--model", "resnet9000"], ["unknown model"]),
    (["list", "zzz_no_model*"], ["no model matches"]),
    (["relabel", "--annotator", "/no/such.keras", "--output", "labels"], ["does not exist"]),
    (["relabel", "--annotator", "resnet18", "--output", "labels"], ["--annotator_weights"]),
    (["train", "--model", "resnet18", "--token_labels", "labels"], ["LV-ViT"]),
    (["train", "--model", "lvvit_t", "--mixtoken"], ["--mixtoken needs --token_labels"]),
    (["train", "--model", "lvvit_t", "--token_labels", "/no/labels"], ["not a finished label directory"]),
])
def test_user_mistakes_give_one_line_and_exit_2(args, needles, tmp_path):
    assert_one_line_usage_error(tfzoo(*args, cwd=tmp_path), *needles)


def test_list_prints_a_table():
    result = tfzoo("list", "mobilenet_v3*")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["name", "params", "input", "family"]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert rows["mobilenet_v3_large"][1:] == ["5.48M", "224", "mobilenet_v3"]
    assert "mobilenet_v3_small" in rows


def test_export_then_saved_model_cli_and_predict(trained_run, tmp_path):
    export_dir = tmp_path / "models" / "digits" / "1"
    result = tfzoo("export", "--run_dir", str(trained_run), "--output", str(export_dir))
    assert result.returncode == 0, result.stderr
    assert (export_dir / "saved_model.pb").is_file()
    # No absl INFO lines from the SavedModel writer ("I1122 ... fingerprinting_utils.py:49] Writing fingerprint").
    assert not re.search(r"^I\d{4} ", result.stderr, re.MULTILINE), result.stderr

    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    shown = subprocess.run([cli, "show", "--dir", str(export_dir), "--all"], capture_output=True, text=True, env=ENV)
    assert shown.returncode == 0, shown.stderr
    assert "signature_def['serving_default']" in shown.stdout
    assert "signature_def['predict_images']" in shown.stdout
    for output in ("probabilities", "top_k_classes", "top_k_scores", "top_k_names"):
        assert output in shown.stdout

    again = tfzoo("export", "--run_dir", str(trained_run), "--output", str(export_dir))
    assert_one_line_usage_error(again, "already exists", "--overwrite")

    import tensorflow as tf

    image = tmp_path / "digit.png"
    pixels = np.zeros((40, 40, 3), np.uint8)
    pixels[8:32, 18:22] = 255  # a "1"
    image.write_bytes(tf.io.encode_png(pixels).numpy())
    outputs = []
    for source in (trained_run, export_dir):
        predicted = tfzoo("predict", "--source", str(source), str(image))
        assert predicted.returncode == 0, predicted.stderr
        lines = predicted.stdout.splitlines()
        # First what the model is: the registry name recorded in model.keras, or the export's metadata.
        assert lines[0].startswith("model: mobilenet_v3_small"), lines[0]
        lines = lines[1:]
        assert lines[0] == str(image) and len(lines) == 6  # path + top 5
        outputs.append([line.split()[1:] for line in lines[1:]])
    assert [row[0] for row in outputs[0]] == [row[0] for row in outputs[1]]
    for a, b in zip(outputs[0], outputs[1]):
        assert float(a[1]) == pytest.approx(float(b[1]), abs=1e-4)


def stored_model_name(run_dir) -> str:
    with open(run_dir / "run.json") as handle:
        return json.load(handle)["model"]


def test_eval_prints_metrics(trained_run):
    result = tfzoo("eval", "--run_dir", str(trained_run))
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout[result.stdout.index("{"):])
    assert metrics["zoo_info"]["name"] == metrics["model"].split()[0] == stored_model_name(trained_run)
    with open(trained_run / "metrics.json") as handle:
        stored = json.load(handle)
    assert metrics["val_top1"] == pytest.approx(stored["val_top1"], abs=1e-6)


def test_benchmark_reports_params_flops_and_speed():
    result = tfzoo("benchmark", "--model", "mobilenet_v3_small", "--image_size", "64", "--batch_size", "2",
                   "--iterations", "2", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout[result.stdout.index("{"):])
    assert report["trainable_params"] == 2_542_856
    # ~56 MMACs at 224 px scale with resolution squared: ~4.6 MMACs = ~9 MFLOPs at 64 px.
    assert 0.005 < report["gflops"] < 0.02
    assert report["images_per_sec"] > 0


def test_kill_then_rerun_resumes(tmp_path):
    run_dir = tmp_path / "killed"
    command = [sys.executable, "-m", "tfzoo.cli.main", "train", *TINY, "--epochs", "8", "--run_dir", str(run_dir)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
    checkpoint = run_dir / "checkpoints" / "epoch-0002.weights.h5"
    deadline = time.time() + 300
    while not checkpoint.exists() and process.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    assert checkpoint.exists(), "no checkpoint appeared"
    process.send_signal(signal.SIGKILL)
    process.wait()
    epochs_done = max(int(p.name[6:10]) for p in (run_dir / "checkpoints").glob("epoch-*.weights.h5"))
    assert epochs_done < 8

    result = subprocess.run(command, capture_output=True, text=True, env=ENV, timeout=600)
    assert result.returncode == 0, result.stderr
    assert f"Resuming {run_dir} from epoch {epochs_done} of 8" in result.stdout
    with open(run_dir / "metrics.json") as handle:
        metrics = json.load(handle)
    assert metrics["epochs_run"] == 8 and metrics["resumed_from_epoch"] == epochs_done
    assert not [p for p in run_dir.rglob(".tmp*")], "a temporary file survived"


def test_flagfile_is_read(tmp_path):
    flagfile = tmp_path / "train.flags"
    flagfile.write_text("--model=mobilenet_v3_lrge\n--epochs=1\n")
    assert_one_line_usage_error(tfzoo("train", f"--flagfile={flagfile}", cwd=tmp_path), "mobilenet_v3_large")


def test_predict_reports_bad_images_and_predicts_the_rest(trained_run, tmp_path):
    import tensorflow as tf

    good = tmp_path / "good.png"
    good.write_bytes(tf.io.encode_png(np.zeros((40, 40, 3), np.uint8)).numpy())
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0" + b"garbage" * 10)  # libjpeg prints its own line for this one
    missing = tmp_path / "missing.png"
    result = tfzoo("predict", "--source", str(trained_run), "--top_k", "2", str(bad), str(good), str(missing),
                   str(good))
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert lines == [f"tfzoo predict: error: cannot decode image {bad}: not a JPEG, PNG, GIF or BMP file, or corrupt",
                     f"tfzoo predict: error: image file not found: {missing}"], result.stderr
    out = result.stdout.splitlines()
    assert out[0].startswith("model: ") and "classes" in out[0]  # what the run's model is
    out = out[1:]
    assert out[0] == str(good) and out[3] == str(good) and len(out) == 6  # both good images, top 2 each
    assert out[1:3] == out[4:6]
