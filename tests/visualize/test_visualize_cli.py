"""End to end: a run gets report.png, confusion.png and TensorBoard heat maps; `tfzoo cam` / `features` / `report`.

One tiny training run (in process), then the verbs as a user runs them (one subprocess each, two at a time):
`tfzoo cam` on the run directory, on its export (the same heat maps) and on `--model NAME`.
"""

import concurrent.futures
import glob
import os
import subprocess
import sys

import numpy as np
import pytest

from tfzoo.visualize.localization import pasted_digits

ENV = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
ENV.update(PYTHONUNBUFFERED="1", CUDA_VISIBLE_DEVICES="")
PNG = b"\x89PNG\r\n\x1a\n"


def tfzoo(*args):
    return subprocess.run([sys.executable, "-m", "tfzoo.cli.main", *map(str, args)], capture_output=True, text=True,
                          env=ENV, timeout=600)


def _is_png(path) -> bool:
    with open(path, "rb") as handle:
        return handle.read(8) == PNG


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    import tensorflow as tf

    from tfzoo.training import TrainConfig, train

    root = tmp_path_factory.mktemp("viz")
    run_dir = root / "run"
    train(TrainConfig(model="resnet18", run_dir=str(run_dir), epochs=2, batch_size=16, steps_per_epoch=2,
                      image_size=32, verbose=0, tensorboard_images=2))
    images, _, _ = pasted_digits(2, canvas=48, digit_size=20, seed=3)
    paths = []
    for index, image in enumerate(images):
        path = root / f"digit{index}.png"
        path.write_bytes(tf.io.encode_png(image.astype(np.uint8)).numpy())
        paths.append(str(path))
    return run_dir, paths, root


@pytest.mark.slow
def test_train_writes_report_confusion_and_tensorboard_heat_maps(run):
    import tensorflow as tf

    run_dir, _, _ = run
    assert _is_png(run_dir / "report.png") and _is_png(run_dir / "confusion.png")
    tags = []
    for path in glob.glob(str(run_dir / "logs" / "images" / "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            tags += [(value.tag, event.step) for value in event.summary.value]
    assert ("val_cam", 0) in tags and ("val_cam", 1) in tags
    from tfzoo.visualize.report import read_history

    history = read_history(str(run_dir / "logs"))
    assert sorted(history["train"]["loss"]) == [0, 1] and sorted(history["validation"]["top1"]) == [0, 1]
    assert history["train"]["learning_rate"][0] > history["train"]["learning_rate"][1] >= 0  # cosine decay


@pytest.mark.slow
def test_cam_verb_on_a_run_an_export_and_a_registered_model(run):
    run_dir, paths, root = run
    from tfzoo.export.saved_model import export_saved_model
    from tfzoo.visualize.source import load_model_source

    loaded = load_model_source(str(run_dir))
    export_dir = export_saved_model(loaded.model, str(root / "export" / "1"), preprocess=loaded.preprocess,
                                    class_names=loaded.class_names)
    commands = {
        "run": ["cam", "--source", run_dir, *paths, "--output", root / "cam_run"],
        "export": ["cam", "--source", root / "export", *paths, "--output", root / "cam_export"],
        "model": ["cam", "--model", "resnet18", "--method", "gradcam", "--class", "3", paths[0], "--output",
                  root / "cam_model"],
        "features": ["features", "--source", run_dir, "--layer", "layer1_0_act2", paths[0], "--output",
                     root / "grid.png"],
    }
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        results = dict(zip(commands, pool.map(lambda args: tfzoo(*args), commands.values())))
    for name, result in results.items():
        assert result.returncode == 0, f"{name}: {result.stderr}"
    assert "model: resnet18" in results["run"].stdout
    for index in range(2):
        assert _is_png(root / "cam_run" / f"digit{index}_cam.png")
        heat = np.load(root / "cam_run" / f"digit{index}_cam.npy")
        assert heat.shape == (32, 32) and heat.min() >= 0 and heat.max() == pytest.approx(1.0)
        np.testing.assert_allclose(np.load(root / "cam_export" / f"digit{index}_cam.npy"), heat, rtol=0, atol=1e-5)
    assert np.load(root / "cam_model" / "digit0_cam.npy").shape == (224, 224)
    assert "class 3" in results["model"].stdout
    assert _is_png(root / "grid.png")
    assert "layer1_0_act2: 8x8x64" in results["features"].stdout
    assert os.path.isfile(os.path.join(export_dir, "assets.extra", "model.keras"))
