"""The trainer: `train(TrainConfig)` and `evaluate_run(run_dir)`.

Training runs `model.fit` inside a tf.distribute strategy scope with a
warmup + cosine schedule, label-smoothed cross-entropy, top-1/top-5
metrics, TensorBoard logs and an atomic checkpoint after every epoch.
Re-running the same command resumes from the last finished epoch: the
weights and the optimizer slots (including its step counter, which drives
the schedule) come back from the newest checkpoint; re-running a finished
run only says so. One process at a time holds a run directory
(`tfzoo.utils.lock.RunDirLock`). A non-finite loss stops training with
`TrainingDiverged` before anything of that epoch is written
(`tfzoo.training.nan`).
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time

import keras
import tensorflow as tf

from tfzoo import __version__
from tfzoo.data import dataset_defaults, load_dataset
from tfzoo.data.loader import load_eval_dataset
from tfzoo.data.preprocessing import PreprocessConfig
from tfzoo.errors import UsageError
from tfzoo.models.registry import create_model, get_spec
from tfzoo.data.augment import mix_batch_fn
from tfzoo.optimizers import AGC, DEFAULT_LEARNING_RATES, create_optimizer
from tfzoo.training import distributed
from tfzoo.training import ema as ema_lib
from tfzoo.training import nan as nan_lib
from tfzoo.training import recipe, tasks
from tfzoo.training.init_from import apply_init_from
from tfzoo.training.callbacks import EpochCheckpoint, Throughput
from tfzoo.training.config import RESUME_KEYS, TrainConfig
from tfzoo.training.strategy import create_strategy
from tfzoo.utils.lock import RunDirLock
from tfzoo.utils.rundir import RunDir


def _say(message: str) -> None:
    print(message, flush=True)


def _check_resume(run: RunDir, config: TrainConfig) -> None:
    """Refuses to resume a run directory that was started with different settings."""
    if not run.has_config():
        return
    previous = run.read_config().get("train", {})
    current = config.to_dict()
    for key in RESUME_KEYS:
        if key in previous and previous[key] != current[key]:
            raise UsageError(
                f"{run.path} holds a run with {key}={previous[key]!r}, not {current[key]!r}; "
                "re-run with the original flags to resume, or pass a new --run_dir"
            )


def _resolve(config: TrainConfig) -> TrainConfig:
    """Fills unset fields from the dataset's recipe, the model's input size and generic defaults."""
    config.validate()
    spec = get_spec(config.model)
    dataset = "folder" if config.data_dir else config.dataset
    defaults = dataset_defaults(dataset)
    defaults.setdefault("image_size", spec.input_size)
    config = dataclasses.replace(config, model=spec.name)  # an alias names the same run
    if config.ssl is not None:  # self-supervised: the method's defaults (tfzoo.training.ssl_config)
        config = dataclasses.replace(config, ssl=config.ssl.resolved())
    return config.resolved(defaults, DEFAULT_LEARNING_RATES[config.optimizer]).validate()


def _preprocess_for(config: TrainConfig) -> PreprocessConfig:
    spec = get_spec(config.model)
    size = config.image_size
    if size < spec.min_input_size:
        raise UsageError(
            f"--image_size {size} is too small for {spec.name}: it needs at least {spec.min_input_size} px"
        )
    return PreprocessConfig(image_size=size, crop_pct=spec.crop_pct, interpolation=spec.interpolation,
                            mean=tuple(spec.mean), std=tuple(spec.std), scale=(config.crop_scale_min, 1.0),
                            hflip=bool(config.hflip))


def _model_overrides(config: TrainConfig) -> dict:
    return recipe.model_overrides(config)


def _one_hot(num_classes: int):
    def fn(images, labels):
        return images, tf.one_hot(labels, num_classes)
    return fn


_compile = tasks.compile_classifier  # evaluation compiles like classification training


def _verbosity(verbose):
    if verbose == "auto":
        return 1 if sys.stdout.isatty() else 2
    return verbose


def _finished_metrics(run: RunDir, config: TrainConfig, task) -> dict | None:
    """The stored metrics of a run that finished all `config.epochs` (and wrote them), else None."""
    latest = run.latest_checkpoint()
    if task is not None or latest is None or latest[0] < config.epochs or run.model_is_behind():
        return None
    metrics = run.read_metrics()
    if not metrics or metrics.get("epochs_run") != latest[0]:
        return None
    _say(f"{run.path} already finished {latest[0]} of {config.epochs} epochs; its metrics are in "
         f"{run.metrics_file} (left as they are)")
    return metrics


def _set_determinism(enabled: bool) -> bool:
    """Turns TensorFlow op determinism on or off; returns the previous state."""
    from tensorflow.python.framework import config as tf_config  # disable_op_determinism is not exported

    previous = tf_config.is_op_determinism_enabled()
    if enabled:
        tf.config.experimental.enable_op_determinism()
    else:
        tf_config.disable_op_determinism()
    return previous


def train(config: TrainConfig) -> dict:
    """Trains (or resumes) a run and returns its final metrics.

    Raises:
        UsageError: for settings a user can fix (unknown model or dataset,
            bad sizes, a run directory started with other settings, or in
            use by another process ...).
        TrainingDiverged: the loss or the weights became non-finite; the run
            directory keeps its last finite epoch.
    """
    config = _resolve(config)
    spec = get_spec(config.model)
    # Multi-worker: this task's place in TF_CONFIG; non-chief workers write
    # only their own backup directory under the run directory.
    task = distributed.cluster_task(config.strategy)
    run = RunDir(distributed.task_run_dir(config.resolved_run_dir(), task))
    preprocess = _preprocess_for(config)
    overrides = _model_overrides(config)
    # --- pretrained weights (issue 11): the checkpoint's preprocessing and weights ---
    if config.pretrained is not None:
        from tfzoo.convert.pretrained import checkpoint_preprocess
        preprocess = dataclasses.replace(preprocess, **checkpoint_preprocess(spec.name, config.pretrained))
        overrides = {**overrides, "pretrained": config.pretrained}
    # ---
    method = tasks.create_task(config, preprocess)  # what is learned: classification, distillation, token labels
    overrides.update(method.model_overrides())

    lock = RunDirLock(run.path, "train").acquire()
    previous_policy = keras.mixed_precision.global_policy().name
    previous_determinism = None
    try:
        _check_resume(run, config)
        if run.remove_orphans():
            _say(f"Removed temporary files that an interrupted run left in {run.path}")
        finished = _finished_metrics(run, config, task)
        if finished is not None:
            return finished
        keras.mixed_precision.set_global_policy(config.precision)
        keras.utils.set_random_seed(config.seed)
        previous_determinism = _set_determinism(config.deterministic)
        strategy = create_strategy(config.strategy)

        def load(input_context=None, batch_size=config.batch_size):
            return load_dataset(
                "folder" if config.data_dir else config.dataset,
                preprocess=preprocess, batch_size=batch_size, data_dir=config.data_dir,
                tfds_data_dir=config.tfds_data_dir, download=config.tfds_download, seed=config.seed,
                input_context=input_context, augment=recipe.augment_config(config),
                token_labels=method.data_config(preprocess.image_size), views_fn=method.views(preprocess),
                train_index=method.train_index,
            )

        data = load()
        if data.num_train < config.batch_size:
            raise UsageError(
                f"--batch_size {config.batch_size} is larger than the {data.num_train} training images; lower it"
            )
        steps = data.num_train // config.batch_size
        if config.steps_per_epoch:
            steps = min(steps, config.steps_per_epoch)
        schedule, peak_lr = recipe.learning_rate_schedule(config, steps)
        context = tasks.RunContext(
            steps_per_epoch=steps, epochs=config.epochs, batch_size=config.batch_size,
            replicas=strategy.num_replicas_in_sync, num_train=data.num_train, num_classes=data.num_classes,
            seed=config.seed, load_eval=lambda batch_size: load_eval_dataset(
                "folder" if config.data_dir else config.dataset, preprocess=preprocess, batch_size=batch_size,
                data_dir=config.data_dir, tfds_data_dir=config.tfds_data_dir, seed=config.seed))

        run_config = {
            "tfzoo_version": __version__,
            "model": spec.name,
            "model_kwargs": overrides,
            "num_classes": data.num_classes,
            "class_names": list(data.class_names),
            "dataset": data.name,
            "preprocess": preprocess.to_dict(),
            "skipped_files": data.skipped_files,
            "train": config.to_dict(),
            **method.run_info(),
        }
        with strategy.scope():
            model = create_model(spec.name, num_classes=data.num_classes,
                                 input_shape=(preprocess.image_size, preprocess.image_size, 3), **overrides,
                                 **method.build_arguments(spec))
            if config.pretrained is not None:  # issue 11: provenance in run.json
                run_config["model_kwargs"] = {k: v for k, v in overrides.items() if k != "pretrained"}
                run_config["pretrained"] = model.zoo_info.get("pretrained")
                run_config["pretrained_cfg"] = model.zoo_info.get("pretrained_cfg")
            run_config.update(apply_init_from(model, config, run, say=_say))  # issue 14: pre-trained backbone
            if task is not None:
                model = distributed.MultiWorkerModel.wrap(model)  # keras-team/keras#20585
            model = method.training_model(model, context)  # e.g. a self-supervised wrapper with its heads
            optimizer = create_optimizer(config.optimizer, model, learning_rate=schedule,
                                         weight_decay=config.weight_decay, momentum=config.momentum,
                                         **recipe.optimizer_kwargs(config),
                                         **method.optimizer_arguments(config.optimizer))
            if config.agc:  # inside the loss scaling, so AGC sees unscaled gradients
                optimizer = AGC(optimizer, clipping=config.agc)
            skipper = None
            if config.nan_policy == "skip_batch":
                optimizer = skipper = nan_lib.SkipNonFinite(optimizer)
            if config.precision == "mixed_float16":
                optimizer = keras.mixed_precision.LossScaleOptimizer(optimizer)
            model = method.compile(model, optimizer, num_classes=data.num_classes,
                                   label_smoothing=config.label_smoothing, xla=config.xla)
            ema = ema_lib.ModelEMA(model, config.ema) if config.ema else None  # before the checkpoint is loaded

            initial_epoch = 0
            latest = run.latest_checkpoint()
            if task is not None:
                latest = distributed.agreed_checkpoint(strategy, run, latest)
            if latest is not None:
                initial_epoch, path = latest
                # The variables the train step optimizes (a self-supervised wrapper leaves its momentum networks out).
                optimized = getattr(model, "optimized_variables", None)
                model.optimizer.build(optimized() if optimized else model.trainable_variables)
                model.load_weights(path)
        os.makedirs(run.path, exist_ok=True)
        run.write_config(run_config)
        run.write_skipped_files(data.skipped_paths)
        hint = nan_lib.advice(config)
        guard = nan_lib.DivergenceGuard(config.nan_policy, steps, skipper, hint)
        checkpoint = EpochCheckpoint(run, inference_model=task is None or task.is_chief, advice=hint)
        if latest is not None and checkpoint.inference_model and run.model_is_behind():
            checkpoint.set_model(model)  # killed between the checkpoint and model.keras: catch model.keras up
            checkpoint.write_inference_model(initial_epoch)

        mixer = mix_batch_fn(recipe.augment_config(config))  # mixup / cutmix on whole (per-worker) batches

        def train_pipeline(bundle):
            targets = method.targets_fn(bundle.num_classes) or _one_hot(bundle.num_classes)
            train_ds = bundle.train.map(targets)
            if mixer is not None:
                train_ds = train_ds.map(mixer, num_parallel_calls=tf.data.AUTOTUNE)
            return train_ds.repeat()

        def val_pipeline(bundle):
            return bundle.val.map(_one_hot(bundle.num_classes))

        val = val_pipeline(data)
        if task is not None:
            # Each worker reads its own shard with its share of the global batch;
            # equal shards, so that every worker runs the same evaluation steps.
            val = distributed.distribute_datasets(
                strategy, lambda ctx, batch: distributed.even_shard(val_pipeline(load(ctx, batch)), data.num_val,
                                                                    ctx, batch), config.batch_size)
        if initial_epoch >= config.epochs:
            _say(f"{run.path} already finished {initial_epoch} of {config.epochs} epochs; evaluating it to "
                 "complete its metrics")
        else:
            if initial_epoch:
                _say(f"Resuming {run.path} from epoch {initial_epoch} of {config.epochs} "
                     f"({os.path.basename(latest[1])})")
            else:
                _say(f"Training {spec.name} on {data.name}: {data.num_train} train / {data.num_val} val images, "
                     f"{data.num_classes} classes, {preprocess.image_size}px, batch {config.batch_size}, "
                     f"{config.epochs} epochs, {strategy.num_replicas_in_sync} replica(s); run dir {run.path}")
            _say(recipe.describe(config, peak_lr))
            if method.describe():
                _say(method.describe())
        throughput = Throughput(config.batch_size)
        started = time.perf_counter()
        if initial_epoch < config.epochs:
            train_ds = train_pipeline(data)
            callbacks = [
                guard,  # before the checkpoint: a diverged epoch is never written
                *method.callbacks(context),  # e.g. a kNN monitor, whose numbers the logs then carry
                checkpoint,
                throughput,
                keras.callbacks.TensorBoard(run.log_dir, write_graph=False, profile_batch=0),
            ]
            if task is not None:
                train_ds = distributed.distribute_datasets(
                    strategy, lambda ctx, batch: train_pipeline(load(ctx, batch)), config.batch_size)
                if not task.is_chief:  # the chief alone writes the model and the summaries
                    callbacks = [guard, checkpoint, throughput]
            if ema:
                callbacks.append(ema)
            if config.tensorboard_images and (task is None or task.is_chief):  # issue 15: heat maps per epoch
                from tfzoo.visualize.callback import cam_images_callback
                callbacks.append(cam_images_callback(os.path.join(run.log_dir, "images"), data.val,
                                                     config.tensorboard_images, preprocess,
                                                     lambda: tasks.inference_model(model), data.class_names))
            model.fit(train_ds, epochs=config.epochs, initial_epoch=initial_epoch, steps_per_epoch=steps,
                      validation_data=val if method.validates else None, callbacks=callbacks, shuffle=False,
                      verbose=_verbosity(config.verbose))
        if ema:
            ema.copy_to_model()
        metrics = {
            "model": spec.name,
            "dataset": data.name,
            **method.evaluate(model, val),
            "epochs_run": int(config.epochs),
            "resumed_from_epoch": int(initial_epoch),
            "train_images_per_sec": round(throughput.images_per_second, 2) if throughput.seconds_total else None,
            "train_seconds_this_session": round(time.perf_counter() - started, 2),
            "global_batch_size": config.batch_size,
            "image_size": preprocess.image_size,
            "num_train": data.num_train,
            "num_val": data.num_val,
            "replicas": strategy.num_replicas_in_sync,
            "precision": config.precision,
            "peak_learning_rate": peak_lr,
            "skipped_files": data.skipped_files,
            "skipped_batches": guard.skipped_total,
        }
        if task is not None and not task.is_chief:
            return metrics
        run.write_metrics(metrics)
        if task is None and method.validates:  # issue 15: report.png and confusion.png (a failure only warns)
            from tfzoo.visualize.callback import write_reports_quietly
            write_reports_quietly(run.path, tasks.inference_model(model), data.val)
        speed = metrics["train_images_per_sec"]
        _say(f"Done: {method.summary(metrics)} after "
             f"{config.epochs} epochs" + (f", {speed:.0f} train images/s" if speed else "") +
             f". Metrics: {run.metrics_file}")
        return metrics
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)
        if previous_determinism is not None:
            _set_determinism(previous_determinism)
        lock.release()


def evaluate_run(run_dir: str, *, dataset: str | None = None, data_dir: str | None = None,
                 tfds_data_dir: str | None = None, batch_size: int = 64) -> dict:
    """Evaluates a run's model on the validation split of its dataset (or another one).

    The losses are defined as in the run's metrics.json: ``val_loss`` with
    the run's label smoothing (the training loss), ``val_loss_plain``
    against the unsmoothed labels. Reading needs no lock: model.keras is
    replaced atomically, so a run in training is read at its last finished epoch.

    Returns:
        ``{"model", "val_top1", "val_top5", "val_loss", "val_loss_plain", "label_smoothing", "num_val",
        "dataset", "zoo_info"}``: ``model`` names what the run's model is (its registry name, family,
        classes and input size, recorded in ``model.keras``), ``zoo_info`` the registry name and builder
        arguments it was built with.
    """
    if batch_size < 1:
        raise UsageError(f"--batch_size must be a positive integer, got {batch_size}")
    run = RunDir(run_dir)
    config = run.read_config()
    model = run.load_model()
    train_cfg = config.get("train", {})
    data_dir = data_dir or (None if dataset else train_cfg.get("data_dir"))
    dataset = dataset or train_cfg.get("dataset", "digits")
    data = load_dataset("folder" if data_dir else dataset,
                        preprocess=PreprocessConfig.from_dict(config["preprocess"]), batch_size=batch_size,
                        data_dir=data_dir, tfds_data_dir=tfds_data_dir or train_cfg.get("tfds_data_dir"),
                        seed=train_cfg.get("seed", 0))
    if data.num_classes != config["num_classes"]:
        raise UsageError(f"dataset {data.name} has {data.num_classes} classes but the model has "
                         f"{config['num_classes']}")
    smoothing = float(train_cfg.get("label_smoothing", 0.0))
    _compile(model, "sgd", data.num_classes, smoothing)
    results = model.evaluate(data.val.map(_one_hot(data.num_classes)), return_dict=True, verbose=0)
    from tfzoo.models.zoo_model import describe

    return {"model": describe(model), "val_top1": float(results["top1"]), "val_top5": float(results["top5"]),
            "val_loss": float(results["loss"]), "val_loss_plain": float(results["loss_plain"]),
            "label_smoothing": smoothing, "num_val": data.num_val, "dataset": data.name,
            "zoo_info": dict(getattr(model, "zoo_info", {}) or {})}
