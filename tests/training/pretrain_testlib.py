"""A `tfzoo pretrain` run directory made by hand: a small backbone with perturbed weights, and its run.json.

The layout is the one `tfzoo pretrain` writes: ``model.keras`` (the backbone,
``include_top=False`` with average pooling) and ``run.json`` (the keys of
`tfzoo train` plus ``"task": "pretrain"`` and ``"method"``). The weights are
shifted away from any fresh initialization, so a test can tell whether they
were copied.
"""

from __future__ import annotations

import os

import keras
import numpy as np

from tfzoo.data.preprocessing import PreprocessConfig
from tfzoo.models.registry import create_model, get_spec
from tfzoo.training import TrainConfig
from tfzoo.utils.rundir import RunDir

SMALL_MODEL = "mobilenet_v3_small_050"


def make_pretrain_run(path, model: str = SMALL_MODEL, image_size: int = 32, method: str = "simclr",
                      seed: int = 123) -> keras.Model:
    """Writes a pre-training run into `path` and returns its backbone."""
    keras.utils.set_random_seed(seed)
    backbone = create_model(model, include_top=False, pooling="avg", input_shape=(image_size, image_size, 3))
    rng = np.random.default_rng(seed)
    for weight in backbone.weights:  # no fresh build can match these by chance
        value = weight.numpy()
        shift = rng.uniform(0.5, 1.5, value.shape) if "variance" in weight.path else rng.normal(0, 0.05, value.shape)
        weight.assign((value + shift).astype(value.dtype))
    os.makedirs(path, exist_ok=True)
    run = RunDir(str(path))
    backbone.save(run.model_file)
    spec = get_spec(model)
    preprocess = PreprocessConfig(image_size=image_size, crop_pct=spec.crop_pct, interpolation=spec.interpolation,
                                  mean=tuple(spec.mean), std=tuple(spec.std), scale=(0.5, 1.0), hflip=False)
    train = TrainConfig(model=spec.name, run_dir=str(path), epochs=1, image_size=image_size).to_dict()
    run.write_config({"tfzoo_version": "test", "model": spec.name, "model_kwargs": {}, "num_classes": 10,
                      "class_names": [str(d) for d in range(10)], "dataset": "digits",
                      "preprocess": preprocess.to_dict(), "skipped_files": 0, "train": train,
                      "task": "pretrain", "method": method})
    run.write_metrics({"epochs_run": 1, "knn_top1": 0.5})
    return backbone
