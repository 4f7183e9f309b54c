"""A table of user mistakes across every verb: each one exits 2 with exactly one stderr line, no traceback.

Each row runs the real command line (``python -m tfzoo.cli.main``) in a
subprocess; the rows run concurrently. Rows marked ``FAST`` must be answered
before TensorFlow or Keras load: they run with stub ``tensorflow`` and
``keras`` packages first on the path that raise on import, so a verb that
imports either while validating its flags fails the row.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import struct
import subprocess
import sys
import zlib

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FAST, TF = True, False

# (id, arguments, text the line must contain, answered before TensorFlow loads).
# Arguments may name the workspace's paths: {file}, {empty_dir}, {corrupt}, {unsafe}, {one_class},
# {bad_jpeg}, {good_png}, {missing}. Rows that need TensorFlow are few (each costs its import, ~4 s of CPU);
# unknown names for train / benchmark / list are in test_cli.py.
MISTAKES = [
    # train: ranges, one message per flag, non-finite values refused like negative ones
    ("train-momentum", ["train", "--momentum", "5", "--optimizer", "sgd"], "--momentum must be in [0, 1)", FAST),
    ("train-lr-inf", ["train", "--learning_rate", "inf"], "--learning_rate", FAST),
    ("train-lr-nan", ["train", "--learning_rate", "nan"], "not a finite number", FAST),
    ("train-lr-negative", ["train", "--learning_rate", "-0.1"], "--learning_rate must be positive", FAST),
    ("train-lr-zero", ["train", "--learning_rate", "0"], "--learning_rate", FAST),
    ("train-wd-nan", ["train", "--weight_decay", "nan"], "--weight_decay must be >= 0", FAST),
    ("train-wd-negative", ["train", "--weight_decay", "-1"], "--weight_decay must be >= 0", FAST),
    ("train-smoothing", ["train", "--label_smoothing", "1"], "--label_smoothing must be in [0, 1)", FAST),
    ("train-warmup", ["train", "--warmup_epochs", "-2"], "--warmup_epochs must be >= 0", FAST),
    ("train-warmup-inf", ["train", "--warmup_epochs", "inf"], "--warmup_epochs", FAST),
    ("train-agc-inf", ["train", "--agc", "inf"], "--agc", FAST),
    ("train-ema", ["train", "--ema", "1"], "--ema must be in (0, 1)", FAST),
    ("train-mixup", ["train", "--mixup", "-0.5"], "--mixup", FAST),
    ("train-drop-rate", ["train", "--drop_rate", "1.5"], "--drop_rate must be in [0, 1]", FAST),
    ("train-crop-scale", ["train", "--crop_scale_min", "0"], "--crop_scale_min", FAST),
    ("train-randaug-magnitude", ["train", "--rand_augment_magnitude", "11"], "--rand_augment_magnitude", FAST),
    ("train-aug-repeats", ["train", "--aug_repeats", "0"], "--aug_repeats", FAST),
    ("train-batch-zero", ["train", "--batch_size", "0"], "--batch_size must be a positive integer", FAST),
    ("train-epochs-negative", ["train", "--epochs", "-1"], "--epochs", FAST),
    ("train-epochs-word", ["train", "--epochs", "many"], "epochs", FAST),
    ("train-steps-zero", ["train", "--steps_per_epoch", "0"], "--steps_per_epoch", FAST),
    ("train-image-zero", ["train", "--image_size", "0"], "--image_size", FAST),
    ("train-image-huge", ["train", "--image_size", "100000"], "at most 2048 px", FAST),
    ("train-optimizer-enum", ["train", "--optimizer", "adagrad"], "optimizer", FAST),
    ("train-precision-enum", ["train", "--precision", "float8"], "precision", FAST),
    ("train-schedule-enum", ["train", "--lr_schedule", "exp"], "lr_schedule", FAST),
    ("train-bad-dataset", ["train", "--dataset", "cifar_from_nowhere"], "unknown dataset", FAST),
    ("train-folder-no-dir", ["train", "--dataset", "folder"], "--data_dir", FAST),
    ("train-tfds-empty", ["train", "--dataset", "tfds:"], "tfds:", FAST),
    ("train-missing-data-dir", ["train", "--data_dir", "{missing}"], "does not exist", FAST),
    # pretrain (issue 14): the method, its hyperparameters, batch constraints
    ("pretrain-no-method", ["pretrain", "--model", "resnet18"], "--method is required", FAST),
    ("pretrain-bad-method", ["pretrain", "--method", "byol"], "method", FAST),
    ("pretrain-temperature", ["pretrain", "--method", "simclr", "--temperature", "0"], "--temperature", FAST),
    ("pretrain-momentum", ["pretrain", "--method", "moco_v2", "--encoder_momentum", "1.5"], "--encoder_momentum",
     FAST),
    ("pretrain-queue", ["pretrain", "--method", "moco_v1", "--queue_size", "-1"], "--queue_size", FAST),
    ("pretrain-swav-crops", ["pretrain", "--method", "swav", "--num_large_crops", "1"], "--num_large_crops", FAST),
    ("pretrain-crop-scales", ["pretrain", "--method", "swav", "--small_crop_scale_min", "0.5"],
     "--small_crop_scale_min", FAST),
    ("pretrain-recipe-for-eval", ["eval", "--recipe", "digits_simclr"], "not of `tfzoo eval`", FAST),
    ("train-run-dir-file", ["train", "--run_dir", "{file}"], "is a file", FAST),
    ("train-flagfile-missing", ["train", "--flagfile={missing}.flags"], "--flagfile", FAST),
    ("train-recipe-unknown", ["train", "--recipe", "no_such_recipe"], "unknown recipe", FAST),
    ("train-recipe-twice", ["train", "--recipe", "digits_lamb", "--recipe=digits_lars"], "one --recipe", FAST),
    ("train-recipe-bad-override", ["train", "--recipe", "digits_lars", "--momentum", "1.5"], "--momentum", FAST),
    ("train-unknown-flag", ["train", "--no_such_flag"], "no_such_flag", FAST),
    ("train-positional", ["train", "extra_argument"], "unexpected arguments", FAST),

    ("train-unknown-variant", ["train", "--model", "efficientnet_b99"], "unknown model", TF),
    ("train-image-8x", ["train", "--model", "mobilenet_v3_small_050", "--image_size", "1800"], "8x", TF),
    ("train-one-class", ["train", "--model", "mobilenet_v3_small_050", "--image_size", "32", "--batch_size", "4",
                         "--data_dir", "{one_class}", "--run_dir", "{tmp}/one-class-run"], "one class", TF),
    # eval
    ("eval-no-run-dir", ["eval"], "run_dir", FAST),
    ("eval-missing-run", ["eval", "--run_dir", "{missing}"], "not found", FAST),
    ("eval-not-a-run", ["eval", "--run_dir", "{empty_dir}"], "no run.json", FAST),
    ("eval-run-dir-file", ["eval", "--run_dir", "{file}"], "is a file", FAST),
    ("eval-batch-zero", ["eval", "--run_dir", "{corrupt}", "--batch_size", "0"], "--batch_size", FAST),
    ("eval-recipe", ["eval", "--recipe", "digits_lamb"], "--recipe is a flag of `tfzoo train`", FAST),
    ("eval-corrupt-model", ["eval", "--run_dir", "{corrupt}"], "not a valid .keras file", TF),
    ("eval-unsafe-model", ["eval", "--run_dir", "{unsafe}"], "safe mode", TF),
    # export
    ("export-no-output", ["export", "--run_dir", "{corrupt}"], "output", FAST),
    ("export-output-under-file", ["export", "--run_dir", "{corrupt}", "--output", "{file}/1"], "is a file", FAST),
    ("export-top-k", ["export", "--run_dir", "{corrupt}", "--output", "{tmp}/out", "--top_k", "0"], "--top_k", FAST),
    ("export-missing-run", ["export", "--run_dir", "{missing}", "--output", "{tmp}/out"], "not found", FAST),
    ("export-no-source", ["export", "--output", "{tmp}/out"], "--run_dir RUN, or --model NAME", FAST),
    ("export-run-and-model", ["export", "--run_dir", "{corrupt}", "--model", "resnet18", "--output", "{tmp}/out"],
     "not both", FAST),
    ("export-size-with-run", ["export", "--run_dir", "{corrupt}", "--image_size", "64", "--output", "{tmp}/out"],
     "--image_size goes with --model", FAST),
    ("export-image-size", ["export", "--model", "resnet18", "--image_size", "0", "--output", "{tmp}/out"],
     "--image_size", FAST),
    ("export-unsafe-model", ["export", "--run_dir", "{unsafe}", "--output", "{tmp}/out"], "safe mode", TF),
    # predict
    ("predict-no-source", ["predict", "{good_png}"], "--source", FAST),
    ("predict-missing-source", ["predict", "--source", "{missing}", "{good_png}"], "not found", FAST),
    ("predict-source-file", ["predict", "--source", "{file}", "{good_png}"], "is a file", FAST),
    ("predict-no-images", ["predict", "--source", "{corrupt}"], "image paths", FAST),
    ("predict-top-k", ["predict", "--source", "{corrupt}", "--top_k", "0", "{good_png}"], "--top_k", FAST),
    ("predict-missing-image", ["predict", "--source", "{corrupt}", "{missing}.jpg"], "image file not found", TF),
    ("predict-libjpeg", ["predict", "--source", "{unsafe}", "{bad_jpeg}"], "cannot decode image", TF),

    ("predict-unsafe-model", ["predict", "--source", "{unsafe}", "{good_png}"], "safe mode", TF),
    ("predict-corrupt-model", ["predict", "--source", "{corrupt}", "{good_png}"], "not a valid .keras", TF),
    # linear_eval (issue 14): what is evaluated, then the numbers
    ("linear-eval-nothing", ["linear_eval"], "pass --run_dir PRETRAIN_RUN", FAST),
    ("linear-eval-missing-run", ["linear_eval", "--run_dir", "{missing}"], "not found", FAST),
    ("linear-eval-not-a-run", ["linear_eval", "--run_dir", "{empty_dir}"], "no run.json", FAST),
    ("linear-eval-classifier-run", ["linear_eval", "--run_dir", "{corrupt}"], "classifier run", FAST),
    ("linear-eval-no-model-file", ["linear_eval", "--run_dir", "{pretrain_unfinished}"], "no model.keras", FAST),
    ("linear-eval-model-with-run", ["linear_eval", "--run_dir", "{pretrain}", "--model", "resnet18"],
     "--model is for --random_init", FAST),
    ("linear-eval-image-size-with-run", ["linear_eval", "--run_dir", "{pretrain}", "--image_size", "64"],
     "--image_size is for --random_init", FAST),
    ("linear-eval-random-no-model", ["linear_eval", "--random_init"], "needs --model", FAST),
    ("linear-eval-random-and-run", ["linear_eval", "--random_init", "--model", "resnet18", "--run_dir", "{pretrain}"],
     "drop --run_dir", FAST),
    ("linear-eval-epochs-zero", ["linear_eval", "--model", "resnet18", "--random_init", "--epochs", "0"], "--epochs",
     FAST),
    ("linear-eval-lr-nan", ["linear_eval", "--run_dir", "{pretrain}", "--learning_rate", "nan"], "not a finite", FAST),
    ("linear-eval-momentum", ["linear_eval", "--run_dir", "{pretrain}", "--momentum", "1"], "--momentum", FAST),
    ("linear-eval-decay-word", ["linear_eval", "--run_dir", "{pretrain}", "--lr_decay_epochs", "0.6,late"],
     "--lr_decay_epochs", FAST),
    ("linear-eval-decay-range", ["linear_eval", "--run_dir", "{pretrain}", "--lr_decay_epochs", "60,80"],
     "--lr_decay_epochs", FAST),
    ("linear-eval-knn-k", ["linear_eval", "--run_dir", "{pretrain}", "--knn_k", "0"], "--knn_k", FAST),
    ("linear-eval-positional", ["linear_eval", "--run_dir", "{pretrain}", "extra"], "unexpected arguments", FAST),
    ("linear-eval-corrupt-backbone", ["linear_eval", "--run_dir", "{pretrain}"], "not a valid .keras file", TF),
    # train --init_from (issue 14)
    ("train-init-from-missing", ["train", "--init_from", "{missing}"], "not found", FAST),
    ("train-init-from-classifier", ["train", "--init_from", "{corrupt}"], "classifier run", FAST),
    ("train-init-from-unfinished", ["train", "--init_from", "{pretrain_unfinished}"], "no model.keras", FAST),
    # cam, features, report (issue 15)
    ("cam-no-model", ["cam", "{good_png}", "--output", "{tmp}/cam"], "needs a model", FAST),
    ("cam-both-sources", ["cam", "--source", "{corrupt}", "--model", "resnet18", "{good_png}", "--output", "{tmp}/c"],
     "not both", FAST),
    ("cam-no-output", ["cam", "--source", "{corrupt}", "{good_png}"], "--output", FAST),
    ("cam-no-images", ["cam", "--source", "{corrupt}", "--output", "{tmp}/cam"], "image paths", FAST),
    ("cam-missing-source", ["cam", "--source", "{missing}", "{good_png}", "--output", "{tmp}/cam"], "not found", FAST),
    ("cam-method-enum", ["cam", "--method", "saliency"], "method", FAST),
    ("cam-alpha", ["cam", "--source", "{corrupt}", "--alpha", "0", "{good_png}", "--output", "{tmp}/cam"], "--alpha",
     FAST),
    ("cam-pretrained-no-model", ["cam", "--pretrained", "{good_png}", "--output", "{tmp}/cam"], "--model", FAST),
    ("features-no-layer", ["features", "--source", "{corrupt}", "{good_png}", "--output", "{tmp}/g.png"], "--layer",
     FAST),
    ("features-two-images", ["features", "--source", "{corrupt}", "--layer", "x", "{good_png}", "{good_png}",
                             "--output", "{tmp}/g.png"], "exactly one image", FAST),
    ("features-output-dir", ["features", "--source", "{corrupt}", "--layer", "x", "{good_png}", "--output",
                             "{empty_dir}"], "is a directory", FAST),
    ("report-no-run-dir", ["report"], "--run_dir", FAST),
    ("report-not-a-run", ["report", "--run_dir", "{empty_dir}"], "no run.json", FAST),
    ("train-tensorboard-images", ["train", "--tensorboard_images", "-1"], "--tensorboard_images", FAST),
    ("cam-on-a-head-without-gap", ["cam", "--model", "mobilenet_v3_small_050", "--method", "cam", "{good_png}",
                                   "--output", "{tmp}/cam"], "global-average-pooling", TF),
    ("cam-export-without-keras-model", ["cam", "--source", "{bare_export}", "{good_png}", "--output", "{tmp}/cam"],
     "Keras model", TF),
    # list, benchmark, recipes, verbs

    ("list-unknown-flag", ["list", "--no_such_flag"], "no_such_flag", FAST),

    ("benchmark-batch-zero", ["benchmark", "--batch_size", "0"], "--batch_size", FAST),
    ("benchmark-iterations", ["benchmark", "--iterations", "-1"], "--iterations", FAST),
    ("benchmark-image-huge", ["benchmark", "--image_size", "100000"], "too large", FAST),
    ("benchmark-bool-value", ["benchmark", "--xla=maybe"], "xla", FAST),
    ("recipes-argument", ["recipes", "extra"], "no arguments", FAST),
    ("bad-verb", ["fly"], "unknown verb", FAST),
]


def _png(path: str, value: int) -> None:
    """Writes an 8x8 gray PNG without any image library."""
    rows = b"".join(b"\x00" + bytes([value]) * 8 for _ in range(8))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 8, 8, 8, 0, 0, 0, 0)
    with open(path, "wb") as handle:
        handle.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
                     + chunk(b"IEND", b""))


def _run_json(path: str, **extra) -> None:
    config = {"model": "mobilenet_v3_small_050", "dataset": "digits", "num_classes": 2, "class_names": ["a", "b"],
              "preprocess": {"image_size": 32, "crop_pct": 0.875, "interpolation": "bilinear",
                             "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]}, **extra}
    with open(os.path.join(path, "run.json"), "w") as handle:
        json.dump(config, handle)


def _unsafe_keras_file(path: str) -> None:
    """A .keras file holding a Python lambda: Keras safe mode refuses to load it."""
    import keras

    inputs = keras.Input((32, 32, 3), name="images")
    x = keras.layers.Lambda(lambda t: t * 2.0)(inputs)
    outputs = keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(x))
    keras.Model(inputs, outputs).save(path)


def _workspace(root) -> dict:
    paths = {"tmp": str(root), "missing": str(root / "no_such_thing"), "file": str(root / "a_file.txt"),
             "empty_dir": str(root / "empty"), "corrupt": str(root / "corrupt_run"), "unsafe": str(root / "unsafe_run"),
             "one_class": str(root / "one_class"), "bad_jpeg": str(root / "bad.jpg"),
             "good_png": str(root / "good.png"), "bare_export": str(root / "bare_export"),
             "pretrain": str(root / "pretrain_run"), "pretrain_unfinished": str(root / "pretrain_unfinished")}
    (root / "a_file.txt").write_text("not a directory\n")
    for name in ("empty", "corrupt_run", "unsafe_run", "one_class/cats", "stubs/tensorflow", "stubs/keras",
                 "bare_export", "pretrain_run", "pretrain_unfinished"):
        (root / name).mkdir(parents=True)
    for name in ("pretrain", "pretrain_unfinished"):  # `tfzoo pretrain` runs (issue 14)
        _run_json(paths[name], task="pretrain")
    (root / "pretrain_run" / "model.keras").write_bytes(b"PK\x03\x04 cut short by a killed copy")
    _run_json(paths["corrupt"])
    (root / "corrupt_run" / "model.keras").write_bytes(b"PK\x03\x04 cut short by a killed copy")
    _run_json(paths["unsafe"])
    _unsafe_keras_file(os.path.join(paths["unsafe"], "model.keras"))
    for index in range(6):
        _png(str(root / "one_class" / "cats" / f"{index}.png"), 40 * index)
    _png(paths["good_png"], 128)
    (root / "bare_export" / "saved_model.pb").write_bytes(b"")  # a SavedModel without tfzoo's Keras model
    # A JPEG header followed by garbage: libjpeg prints "Input file read error" on its own.
    (root / "bad.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"garbage" * 10)
    for package in ("tensorflow", "keras"):
        (root / "stubs" / package / "__init__.py").write_text(
            f"raise ImportError('{package} was imported before the flags were validated')\n")
    return paths


def _env(stubs: str | None) -> dict:
    env = {key: value for key, value in os.environ.items() if key != "TF_CPP_MIN_LOG_LEVEL"}
    env["PYTHONPATH"] = os.pathsep.join(([stubs] if stubs else []) + [REPO])
    env["PYTHONUNBUFFERED"] = "1"
    env["CUDA_VISIBLE_DEVICES"] = ""
    return env


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    root = tmp_path_factory.mktemp("mistakes")
    paths = _workspace(root)
    stubs = str(root / "stubs")

    def run(row):
        name, args, _, fast = row
        command = [sys.executable, "-m", "tfzoo.cli.main", *[arg.format(**paths) for arg in args]]
        return name, subprocess.run(command, capture_output=True, text=True, cwd=str(root), timeout=300,
                                    env=_env(stubs if fast else None))

    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        return dict(pool.map(run, MISTAKES))


def test_the_table_is_broad():
    assert len(MISTAKES) >= 40
    assert len({row[0] for row in MISTAKES}) == len(MISTAKES)
    verbs = {row[1][0] for row in MISTAKES}
    assert {"train", "eval", "export", "predict", "list", "benchmark", "recipes", "fly", "cam", "features",
            "report"} <= verbs


@pytest.mark.parametrize("name, args, needle, fast", MISTAKES, ids=[row[0] for row in MISTAKES])
def test_mistake_gives_one_line_and_exit_2(results, name, args, needle, fast):
    result = results[name]
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1, f"expected one line on stderr, got:\n{result.stderr}"
    assert lines[0].startswith("tfzoo"), lines[0]
    assert needle in lines[0], lines[0]
    assert "JPEG library" not in result.stderr and "read error" not in result.stderr


def test_no_verb_prints_usage_on_stderr_and_exits_2(tmp_path):
    result = subprocess.run([sys.executable, "-m", "tfzoo.cli.main"], capture_output=True, text=True,
                            env=_env(None), cwd=tmp_path, timeout=60)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith("usage: tfzoo VERB") and "recipes" in result.stderr


@pytest.mark.parametrize("args", [["--help"], ["train", "--help"], ["predict", "--help"], ["recipes"]])
def test_help_goes_to_stdout_exits_0_without_tensorflow(args, tmp_path):
    stubs = tmp_path / "stubs"
    for package in ("tensorflow", "keras"):
        (stubs / package).mkdir(parents=True)
        (stubs / package / "__init__.py").write_text("raise ImportError('imported for --help')\n")
    result = subprocess.run([sys.executable, "-m", "tfzoo.cli.main", *args], capture_output=True, text=True,
                            env=_env(str(stubs)), cwd=tmp_path, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stderr == "" and result.stdout
