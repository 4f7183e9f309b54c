"""Linear evaluation of a frozen backbone (`tfzoo linear_eval`), with its kNN accuracy alongside.

The standard measure of self-supervised features: a linear classifier is
trained on the pooled features of a frozen backbone, and its validation
top-1 / top-5 are the score. The protocol is MoCo's, "Momentum Contrast for
Unsupervised Visual Representation Learning" (He et al., arXiv:1911.05722;
facebookresearch/moco, ``main_lincls.py``), which MoCo v2 and instance
discrimination reuse, scaled to the dataset:

- the backbone is frozen and runs in inference mode (its batch norms use
  their moving statistics and are not updated);
- one ``Dense`` layer on the pooled features, weights drawn from
  N(0, 0.01), bias 0;
- SGD, momentum 0.9, no weight decay, learning rate 30 per 256 images
  (scaled linearly to the batch: ``learning_rate * batch_size / 256``), cut
  by 10x at 60% and 80% of training (MoCo: epochs 60 and 80 of 100);
- training images: random-resized-crop + horizontal flip, seen through the
  frozen backbone at every step (the faithful augmented protocol, not
  features cached once); validation: resize + center crop
  (`tfzoo.data.preprocessing.eval_transform`);
- the score is the validation top-1 / top-5 after the last epoch.

Scaled to the dataset: 30 epochs by default instead of 100, at batch 64
instead of 256 (MoCo's 100 epochs are 500k steps on ImageNet; 1,437 digits
at batch 256 would give 5 steps an epoch, at batch 64 they give 22), and the
crop scale / flip follow the dataset's training recipe (digits: crop area
>= 50%, no flip, because a mirrored or half-cut digit is often another
digit); elsewhere they are the paper's (0.08-1, flip). Every value is a flag.

Why MoCo's protocol and not one per method: the acceptance comparison is
"pre-trained vs. random initialization under the same protocol", so one
protocol evaluates every method and the baseline alike. SimCLR's
optimizer settings (Nesterov momentum, learning rate 0.1 x B / 256) are
``--nesterov --learning_rate 0.1``; its schedule (a cosine, not steps) is
not offered.

The kNN accuracy (`tfzoo.training.knn`, k 200, T 0.07) of the same frozen
features is measured first and written alongside.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time

import keras

from tfzoo import __version__
from tfzoo.data import dataset_defaults, load_dataset, load_eval_dataset
from tfzoo.data.preprocessing import PreprocessConfig
from tfzoo.errors import UsageError
from tfzoo.models.registry import create_model, get_spec
from tfzoo.training.knn import extract_features, knn_accuracy
from tfzoo.training.linear_eval_config import LinearEvalConfig
from tfzoo.utils.lock import RunDirLock
from tfzoo.utils.rundir import RunDir
from tfzoo.utils.atomic import write_json

PAPER_CROP_SCALE_MIN = 0.08  # torchvision's RandomResizedCrop default, used by main_lincls.py


def _say(message: str) -> None:
    print(message, flush=True)


def random_backbone(name: str, image_size: int) -> keras.Model:
    """A freshly initialized backbone with the pooling its classifier uses (class token for ViTs, else average)."""
    try:
        return create_model(name, include_top=False, pooling="token", input_shape=(image_size, image_size, 3))
    except UsageError:  # no class token: average pooling
        return create_model(name, include_top=False, pooling="avg", input_shape=(image_size, image_size, 3))


def _spec_preprocess(model: str, image_size: int) -> PreprocessConfig:
    spec = get_spec(model)
    if image_size < spec.min_input_size:
        raise UsageError(f"--image_size {image_size} is too small for {spec.name}: it needs at least "
                         f"{spec.min_input_size} px")
    return PreprocessConfig(image_size=image_size, crop_pct=spec.crop_pct, interpolation=spec.interpolation,
                            mean=tuple(spec.mean), std=tuple(spec.std))


def _source(config: LinearEvalConfig):
    """Backbone, preprocessing, data arguments and a description of what is evaluated."""
    if config.random_init:
        spec = get_spec(config.model)
        dataset = config.dataset or "digits"
        defaults = dataset_defaults("folder" if config.data_dir else dataset)
        size = config.image_size or defaults.get("image_size") or spec.input_size
        preprocess = _spec_preprocess(spec.name, size)
        data = {"name": "folder" if config.data_dir else dataset, "data_dir": config.data_dir,
                "tfds_data_dir": config.tfds_data_dir, "seed": config.seed}
        backbone = random_backbone(spec.name, size)
        return backbone, preprocess, data, {"model": spec.name, "source": "random_init", "method": None}
    run = RunDir(config.run_dir)
    run_config = run.read_config()
    train_cfg = run_config.get("train", {})
    data_dir = config.data_dir or (None if config.dataset else train_cfg.get("data_dir"))
    dataset = config.dataset or train_cfg.get("dataset", "digits")
    data = {"name": "folder" if data_dir else dataset, "data_dir": data_dir,
            "tfds_data_dir": config.tfds_data_dir or train_cfg.get("tfds_data_dir"),
            "seed": train_cfg.get("seed", config.seed)}
    preprocess = PreprocessConfig.from_dict(run_config["preprocess"])
    backbone = run.load_model()
    if len(backbone.output_shape) != 2:
        raise UsageError(f"{run.model_file} outputs {backbone.output_shape}, not pooled features [batch, channels]; "
                         "linear_eval needs a pre-training run's backbone")
    return backbone, preprocess, data, {"model": run_config.get("model"), "source": run.path,
                                         "method": run_config.get("method")}


def linear_classifier(backbone: keras.Model, num_classes: int) -> keras.Model:
    """Frozen `backbone` (inference mode) -> ``Dense(num_classes)`` logits, initialized as MoCo's ``fc``."""
    backbone.trainable = False  # Keras runs non-trainable BatchNormalization in inference mode
    inputs = keras.Input(backbone.input_shape[1:], name="images")
    features = backbone(inputs, training=False)
    logits = keras.layers.Dense(num_classes, kernel_initializer=keras.initializers.RandomNormal(stddev=0.01),
                                bias_initializer="zeros", dtype="float32", name="linear_head")(features)
    return keras.Model(inputs, logits, name="linear_eval")


def _schedule(config: LinearEvalConfig, steps: int):
    boundaries = sorted({max(1, round(fraction * config.epochs)) * steps for fraction in config.lr_decay_epochs})
    values = [config.peak_learning_rate() * config.lr_decay_rate ** index for index in range(len(boundaries) + 1)]
    return keras.optimizers.schedules.PiecewiseConstantDecay(boundaries, values), boundaries


def _verbosity(verbose):
    return (1 if sys.stdout.isatty() else 2) if verbose == "auto" else verbose


def linear_eval(config: LinearEvalConfig) -> dict:
    """Trains the linear classifier, writes ``metrics.json`` and returns it.

    Returns:
        ``{"top1", "top5", "knn_top1", "knn_top5", "epochs", "protocol", ...}``.

    Raises:
        UsageError: a bad setting, a run directory that is not a pre-training
            run, or an output directory in use.
    """
    config.validate()
    keras.utils.set_random_seed(config.seed)
    backbone, base_preprocess, data_args, what = _source(config)
    defaults = dataset_defaults(data_args["name"])
    crop_scale_min = config.crop_scale_min or defaults.get("crop_scale_min", PAPER_CROP_SCALE_MIN)
    hflip = config.hflip if config.hflip is not None else defaults.get("hflip", True)
    preprocess = dataclasses.replace(base_preprocess, scale=(crop_scale_min, 1.0), hflip=bool(hflip))
    loader_args = dict(preprocess=preprocess, batch_size=config.batch_size, data_dir=data_args["data_dir"],
                       tfds_data_dir=data_args["tfds_data_dir"], seed=data_args["seed"])
    data = load_dataset(data_args["name"], **loader_args)
    if data.num_train < config.batch_size:
        raise UsageError(f"--batch_size {config.batch_size} is larger than the {data.num_train} training images; "
                         "lower it")
    tag = data.name.replace("tfds:", "").replace("/", "_").replace(":", "_")
    output_dir = os.path.abspath(config.resolved_output_dir(os.path.basename(tag) or "data"))
    os.makedirs(output_dir, exist_ok=True)
    with RunDirLock(output_dir, "linear_eval"):
        started = time.perf_counter()
        plain = load_eval_dataset(data_args["name"], **loader_args)
        train_features, train_labels = extract_features(backbone, plain.train)
        val_features, val_labels = extract_features(backbone, plain.val)
        knn = knn_accuracy(train_features, train_labels, val_features, val_labels, data.num_classes,
                           k=config.knn_k, temperature=config.knn_temperature)
        _say(f"kNN (k={config.knn_k}, T={config.knn_temperature:g}) of the frozen {what['model']} features "
             f"({train_features.shape[1]}-d): top-1 {knn['knn_top1']:.4f}, top-5 {knn['knn_top5']:.4f}")

        steps = data.num_train // config.batch_size
        schedule, boundaries = _schedule(config, steps)
        model = linear_classifier(backbone, data.num_classes)
        optimizer = keras.optimizers.SGD(schedule, momentum=config.momentum, nesterov=config.nesterov,
                                         weight_decay=config.weight_decay or None)
        model.compile(optimizer=optimizer,
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      metrics=[keras.metrics.SparseCategoricalAccuracy(name="top1"),
                               keras.metrics.SparseTopKCategoricalAccuracy(k=min(5, data.num_classes), name="top5")])
        _say(f"Linear evaluation of {what['model']} ({what['source']}) on {data.name}: {data.num_train} train / "
             f"{data.num_val} val images, {preprocess.image_size}px, batch {config.batch_size}, {config.epochs} "
             f"epochs, SGD lr {config.peak_learning_rate():g} (x{config.lr_decay_rate:g} at steps {boundaries}), "
             f"momentum {config.momentum:g}{' nesterov' if config.nesterov else ''}, weight decay "
             f"{config.weight_decay:g}; crop scale {crop_scale_min:g}-1, flip {'on' if hflip else 'off'}")
        model.fit(data.train, epochs=config.epochs, steps_per_epoch=steps, shuffle=False,
                  verbose=_verbosity(config.verbose))
        results = model.evaluate(data.val, return_dict=True, verbose=0)
        metrics = {
            "tfzoo_version": __version__,
            "model": what["model"],
            "source": what["source"],
            "method": what["method"],
            "dataset": data.name,
            "top1": float(results["top1"]),
            "top5": float(results["top5"]),
            "val_loss": float(results["loss"]),
            **knn,
            "knn_k": config.knn_k,
            "knn_temperature": config.knn_temperature,
            "epochs": config.epochs,
            "image_size": preprocess.image_size,
            "feature_dim": int(train_features.shape[1]),
            "num_train": data.num_train,
            "num_val": data.num_val,
            "seconds": round(time.perf_counter() - started, 2),
            "protocol": {
                "name": "moco_lincls",
                "optimizer": "sgd", "learning_rate": config.peak_learning_rate(),
                "learning_rate_per_256": config.learning_rate, "momentum": config.momentum,
                "nesterov": config.nesterov, "weight_decay": config.weight_decay, "batch_size": config.batch_size,
                "lr_decay_steps": boundaries, "lr_decay_rate": config.lr_decay_rate,
                "train_transform": {"crop_scale": [crop_scale_min, 1.0], "hflip": bool(hflip)},
                "eval_transform": {"crop_pct": preprocess.crop_pct}, "frozen_backbone": True,
                "bn": "inference", "seed": config.seed,
            },
        }
        path = os.path.join(output_dir, "metrics.json")
        write_json(path, metrics)
    _say(f"Done: linear top-1 {metrics['top1']:.4f}, top-5 {metrics['top5']:.4f}; kNN top-1 "
         f"{metrics['knn_top1']:.4f}. Metrics: {path}")
    return metrics
