"""`tfzoo train --init_from PRETRAIN_RUN`: fine-tune a pre-trained backbone with a fresh head.

A `tfzoo pretrain` run keeps its backbone in ``RUN/model.keras``: the model
built with ``include_top=False`` and pooled features, whose layers carry the
same names as a classifier build of the same model (names are deterministic,
see `tfzoo.models._builder`). Fine-tuning builds the classifier as usual and
copies every weight of the backbone into the layer of the same name (batch
norm statistics included); the layers the backbone lacks (the classifier
head) keep their fresh initialization, as in MoCo's and SimCLR's fine-tuning.

The copy happens once, on a fresh start: a resumed run takes its weights
from its own checkpoint, and its run.json keeps the first start's
``init_from`` record.
"""

from __future__ import annotations

from tfzoo.errors import UsageError
from tfzoo.training.linear_eval_config import check_pretrain_run
from tfzoo.utils.rundir import RunDir


def copy_backbone_weights(source, target) -> tuple[int, list[str]]:
    """Copies every weight of `source`'s layers into `target`'s layers of the same name.

    Args:
        source: The pre-trained backbone (a functional model).
        target: The freshly built model; it must hold every layer of
            `source` that has weights, with the same weight shapes.

    Returns:
        ``(tensors_copied, fresh_layers)``: the number of weight tensors
        copied, and the names of `target`'s layers with weights that
        `source` lacks (the head).

    Raises:
        UsageError: a layer missing from `target`, or weights of another shape.
    """
    layers = {layer.name: layer for layer in target.layers}
    copied, seen = 0, set()
    for layer in source.layers:
        weights = layer.get_weights()
        if not weights:
            continue
        seen.add(layer.name)
        twin = layers.get(layer.name)
        if twin is None:
            raise UsageError(f"the pre-trained backbone has a layer {layer.name!r} that {target.name} lacks; "
                             "--init_from needs a backbone of the same model")
        shapes = [tuple(weight.shape) for weight in weights]
        wanted = [tuple(weight.shape) for weight in twin.get_weights()]
        if shapes != wanted:
            raise UsageError(f"layer {layer.name!r}: the pre-trained weights have shapes {shapes} but {target.name} "
                             f"needs {wanted} (another variant, or another --image_size for a position embedding)")
        twin.set_weights(weights)
        copied += len(weights)
    fresh = [layer.name for layer in target.layers if layer.weights and layer.name not in seen]
    return copied, fresh


def init_from_run(model, run_dir: str, model_name: str) -> dict:
    """Loads the backbone of pre-training run `run_dir` into `model` (a fresh build of `model_name`).

    Returns:
        The record run.json keeps: ``{"run_dir", "model", "method",
        "tensors_copied", "fresh_layers"}``.

    Raises:
        UsageError: not a pre-training run, another model, or weights that do not fit.
    """
    config = check_pretrain_run(run_dir, "train --init_from")
    if config.get("model") != model_name:
        raise UsageError(f"{run_dir} pre-trained {config.get('model')}, not {model_name}; pass "
                         f"--model {config.get('model')} (or leave --model out) to fine-tune it")
    run = RunDir(run_dir)
    copied, fresh = copy_backbone_weights(run.load_model(), model)
    return {"run_dir": run.path, "model": config.get("model"), "method": config.get("method"),
            "tensors_copied": copied, "fresh_layers": fresh}


def apply_init_from(model, config, run: RunDir, say=print) -> dict:
    """The trainer's hook: run.json entries for ``--init_from`` (copying the weights on a fresh start).

    Args:
        model: The freshly built model, inside the strategy scope.
        config: The resolved `TrainConfig`.
        run: The run directory being trained.
        say: Where the one-line report goes.

    Returns:
        ``{}`` without ``--init_from``; else ``{"init_from": record}``: the
        new record on a fresh start, the stored one when resuming (the
        checkpoint then holds the weights, and nothing is copied).
    """
    if not config.init_from:
        return {}
    if run.latest_checkpoint() is not None:
        previous = run.read_config().get("init_from") if run.has_config() else None
        return {"init_from": previous}
    record = init_from_run(model, config.init_from, config.model)
    say(f"Initialized {config.model} from {record['run_dir']} ({record['method'] or 'pre-training'}): "
        f"{record['tensors_copied']} weight tensors copied; fresh: {', '.join(record['fresh_layers']) or 'none'}")
    return {"init_from": record}
