"""A picture of a training run: ``report.png`` (curves per epoch) and ``confusion.png`` (validation confusion).

``report.png``: loss, top-1 and learning rate per epoch, train and
validation, read from the run's TensorBoard event files (``logs/train`` and
``logs/validation``, what `keras.callbacks.TensorBoard` writes each epoch:
``epoch_loss``, ``epoch_top1``, ``epoch_learning_rate``); a resumed run has
several event files, and the later file wins for an epoch both hold.

``confusion.png``: the validation confusion matrix (rows: true class,
columns: predicted; colour: the row's fraction) and the most confused pairs.

`tfzoo.training.train` writes both at the end of every run; ``tfzoo report
--run_dir RUN`` writes them for any run.
"""

from __future__ import annotations

import glob
import os
import re

import numpy as np

from tfzoo.visualize.plots import pyplot, save_figure

REPORT_FILE = "report.png"
CONFUSION_FILE = "confusion.png"
CURVES = (("loss", "loss"), ("top1", "top-1 accuracy"), ("learning_rate", "learning rate"))
_STAMP = re.compile(r"tfevents\.(\d+(?:\.\d+)?)")


def _event_files(directory: str) -> list[str]:
    """Event files oldest first (by the time stamp in the name, then the name)."""
    files = glob.glob(os.path.join(directory, "events.out.tfevents.*"))

    def key(path):
        match = _STAMP.search(os.path.basename(path))
        return (float(match.group(1)) if match else 0.0, path)

    return sorted(files, key=key)


def read_history(log_dir: str) -> dict:
    """Per-epoch scalars from a run's TensorBoard logs.

    Returns:
        ``{"train": {tag: {epoch: value}}, "validation": {...}}`` with tags
        without the ``epoch_`` prefix (``loss``, ``top1``, ``learning_rate`` ...).
    """
    import tensorflow as tf

    history = {}
    for split in ("train", "validation"):
        scalars: dict = {}
        for path in _event_files(os.path.join(log_dir, split)):
            try:
                for event in tf.compat.v1.train.summary_iterator(path):
                    for value in event.summary.value:
                        if not value.tag.startswith("epoch_"):
                            continue
                        if value.HasField("tensor"):
                            number = float(tf.make_ndarray(value.tensor).reshape(-1)[0])
                        else:
                            number = float(value.simple_value)
                        scalars.setdefault(value.tag[len("epoch_"):], {})[int(event.step)] = number
            except tf.errors.DataLossError:  # a run killed mid-write leaves a truncated last record
                continue
        history[split] = scalars
    return history


def plot_history(history: dict, path: str, title: str = "") -> str:
    """Writes ``report.png``: one panel per curve of `CURVES`, train and validation, per epoch (1-based)."""
    plt = pyplot()
    figure, axes = plt.subplots(1, len(CURVES), figsize=(4.2 * len(CURVES), 3.4))
    for axis, (tag, label) in zip(axes, CURVES):
        drawn = False
        for split, style in (("train", "-o"), ("validation", "-s")):
            values = history.get(split, {}).get(tag)
            if values:
                epochs = sorted(values)
                axis.plot([epoch + 1 for epoch in epochs], [values[e] for e in epochs], style, markersize=3,
                          label=split)
                drawn = True
        axis.set_title(label, fontsize=10)
        axis.set_xlabel("epoch")
        axis.grid(alpha=0.3)
        if drawn:
            axis.legend(fontsize=8)
            axis.xaxis.get_major_locator().set_params(integer=True)
        else:
            axis.text(0.5, 0.5, "not logged", ha="center", va="center", transform=axis.transAxes, color="gray")
    if title:
        figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    return save_figure(figure, path)


def confusion_matrix(labels, predictions, num_classes: int) -> np.ndarray:
    """int64 ``[K, K]``: entry ``(i, j)`` counts images of class i predicted as j."""
    matrix = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(matrix, (np.asarray(labels, np.int64), np.asarray(predictions, np.int64)), 1)
    return matrix


def most_confused(matrix: np.ndarray, top: int = 5) -> list[tuple[int, int, int]]:
    """The `top` off-diagonal entries ``(true, predicted, count)``, largest first (count > 0)."""
    off = matrix.copy()
    np.fill_diagonal(off, 0)
    order = np.argsort(-off, axis=None, kind="stable")[:top]
    pairs = [(int(i), int(j), int(off[i, j])) for i, j in zip(*np.unravel_index(order, off.shape))]
    return [pair for pair in pairs if pair[2] > 0]


def plot_confusion(matrix: np.ndarray, path: str, class_names=None, title: str = "") -> str:
    """Writes ``confusion.png``: the matrix (colour: fraction of the true class) and the most confused pairs."""
    plt = pyplot()
    count = matrix.shape[0]
    names = [str(name) for name in class_names] if class_names is not None else [str(i) for i in range(count)]
    totals = matrix.sum(axis=1, keepdims=True)
    fractions = matrix / np.maximum(totals, 1)
    side = min(max(4.0, 0.45 * count), 14.0)
    figure, axis = plt.subplots(figsize=(side + 1.5, side + 1.6))
    shown = axis.imshow(fractions, cmap="Blues", vmin=0.0, vmax=1.0, interpolation="nearest")
    figure.colorbar(shown, ax=axis, fraction=0.046, pad=0.03, label="fraction of the true class")
    if count <= 30:
        axis.set_xticks(range(count), names, rotation=90, fontsize=7)
        axis.set_yticks(range(count), names, fontsize=7)
        for i in range(count):
            for j in range(count):
                if matrix[i, j]:
                    axis.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=6,
                              color="white" if fractions[i, j] > 0.5 else "black")
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    correct, total = int(np.trace(matrix)), int(matrix.sum())
    header = f"{title + ': ' if title else ''}top-1 {correct / max(total, 1):.4f} ({correct}/{total})"
    pairs = most_confused(matrix)
    lines = [f"{names[i]} -> {names[j]}: {n}" for i, j, n in pairs] or ["no confusions"]
    axis.set_title(header + "\nmost confused (true -> predicted): " + "; ".join(lines), fontsize=8)
    return save_figure(figure, path)


def predict_classes(model, dataset) -> tuple[np.ndarray, np.ndarray]:
    """``(labels, predictions)`` over a dataset of ``(images, labels)`` batches (labels int or one-hot)."""
    labels, predictions = [], []
    for batch in dataset:
        images, targets = batch[0], batch[1]
        outputs = np.asarray(model(images, training=False))
        targets = np.asarray(targets)
        labels.append(targets.argmax(-1) if targets.ndim > 1 else targets)
        predictions.append(outputs.argmax(-1))
    if not labels:
        return np.zeros([0], np.int64), np.zeros([0], np.int64)
    return np.concatenate(labels).astype(np.int64), np.concatenate(predictions).astype(np.int64)


def _run_validation(run_dir, config: dict, batch_size: int = 64):
    from tfzoo.data import load_dataset
    from tfzoo.data.preprocessing import PreprocessConfig

    train = config.get("train", {})
    data_dir = train.get("data_dir")
    return load_dataset("folder" if data_dir else train.get("dataset", "digits"),
                        preprocess=PreprocessConfig.from_dict(config["preprocess"]), batch_size=batch_size,
                        data_dir=data_dir, tfds_data_dir=train.get("tfds_data_dir"), seed=train.get("seed", 0)).val


def write_run_report(run_dir: str, model=None, val=None) -> list[str]:
    """Writes ``RUN_DIR/report.png`` and ``RUN_DIR/confusion.png``; returns the paths written.

    Args:
        run_dir: A tfzoo run directory.
        model: The inference model (default: the run's ``model.keras``).
        val: The validation batches ``(images, labels)`` (default: the run's
            dataset, loaded as ``tfzoo eval`` does).
    """
    from tfzoo.utils.rundir import RunDir

    run = RunDir(run_dir)
    config = run.read_config()
    title = f"{config.get('model', '')} on {config.get('dataset', '')}".strip()
    written = [plot_history(read_history(run.log_dir), os.path.join(run.path, REPORT_FILE), title)]
    model = model if model is not None else run.load_model()
    val = val if val is not None else _run_validation(run.path, config)
    labels, predictions = predict_classes(model, val)
    num_classes = int(config.get("num_classes") or model.output_shape[-1])
    matrix = confusion_matrix(labels, predictions, num_classes)
    written.append(plot_confusion(matrix, os.path.join(run.path, CONFUSION_FILE), config.get("class_names"),
                                  title))
    return written
