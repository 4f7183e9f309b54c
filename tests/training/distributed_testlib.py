"""Subprocess helpers for the distribution tests.

TensorFlow fixes its device list (logical CPU devices) and its collective
runtime (TF_CONFIG) when it first initializes, so each scenario runs in a
fresh Python process started by the test: ``python -m
tests.training.distributed_testlib SCENARIO ...``. The parent keeps the
process tree on a leash (`run_processes`): a timeout, and every child killed
with its process group if anything goes wrong, so a broken cluster fails the
test instead of hanging the suite.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY_MODEL = "test_tiny_cnn"


# --------------------------------------------------------------------------- parent side
def free_ports(count: int) -> list[int]:
    """Ports the OS reports free on localhost (all held open together, so they differ)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("localhost", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def child_env(**extra) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([REPO_ROOT] + [p for p in [env.get("PYTHONPATH")] if p])
    env["CUDA_VISIBLE_DEVICES"] = ""  # CPU only, whatever the host has
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.update(extra)
    return env


def run_processes(commands: list[tuple[list[str], dict]], timeout: float) -> list[tuple[int, str]]:
    """Runs commands concurrently; returns ``(returncode, output)`` of each.

    Every child leads its own process group; on timeout or any error all
    groups are killed before this returns or raises.

    Raises:
        TimeoutError: with the children's output so far, if they overran.
    """
    import tempfile
    import time

    procs, logs = [], []
    try:
        for argv, env in commands:
            log = tempfile.TemporaryFile()
            logs.append(log)
            procs.append(subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT,
                                          start_new_session=True, cwd=REPO_ROOT))
        deadline = time.monotonic() + timeout
        for proc in procs:
            remaining = deadline - time.monotonic()
            try:
                proc.wait(timeout=max(remaining, 0.1))
            except subprocess.TimeoutExpired:
                raise TimeoutError(f"distributed children ran past {timeout:.0f}s:\n" + _outputs(logs)) from None
        return [(proc.returncode, _read(log)) for proc, log in zip(procs, logs)]
    finally:
        for proc in procs:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait()
        for log in logs:
            log.close()


def _read(log) -> str:
    log.seek(0)
    return log.read().decode(errors="replace")


def _outputs(logs) -> str:
    return "\n".join(f"--- child {i} ---\n{_read(log)[-4000:]}" for i, log in enumerate(logs))


# --------------------------------------------------------------------------- child side
def _limit_threads():
    import tensorflow as tf

    # The suite runs other tests in parallel on two cores; one intra-op thread
    # per process keeps the children from oversubscribing them.
    tf.config.threading.set_intra_op_parallelism_threads(1)


def register_tiny_model():
    """Registers `TINY_MODEL`: two strided convs, no BatchNorm, no dropout (~1.5k parameters).

    Only ever called in a child process, so the suite's model list
    (tests/models/test_all_models.py) never sees it.
    """
    import keras

    from tfzoo.models.registry import ModelSpec, register_model

    def tiny_cnn(num_classes=10, input_shape=(16, 16, 3), include_top=True, pooling=None, weights=None,
                 name=TINY_MODEL, **_):
        inputs = keras.Input(input_shape)
        x = keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu", name="conv1")(inputs)
        x = keras.layers.Conv2D(16, 3, strides=2, padding="same", activation="relu", name="conv2")(x)
        x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
        outputs = keras.layers.Dense(num_classes, activation="softmax", name="head_fc")(x)
        return keras.Model(inputs, outputs, name=name)

    register_model(ModelSpec(name=TINY_MODEL, family="test", builder=tiny_cnn, kwargs={}, paper="-",
                             reference="-", input_size=16, min_input_size=8))


def child_train(run_dir: str, out_file: str, **config) -> None:
    """Trains `TINY_MODEL` with the tfzoo trainer; saves the metrics `train` returned to `out_file` (.npz)."""
    _limit_threads()
    register_tiny_model()
    import numpy as np

    from tfzoo.training import TrainConfig, train

    metrics = train(TrainConfig(model=TINY_MODEL, run_dir=run_dir, verbose=0, **config))
    np.savez(out_file, metrics=json.dumps(metrics))


def _two_logical_cpus() -> None:
    """Splits the CPU into two logical devices (two replicas for MirroredStrategy), threads limited."""
    import tensorflow as tf

    tf.config.set_logical_device_configuration(
        tf.config.list_physical_devices("CPU")[0],
        [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()])
    _limit_threads()


def _random_batches(count: int):
    """``count`` seeded 8x8x3 images and one-hot labels over 4 classes."""
    import keras
    import numpy as np

    rng = np.random.default_rng(0)
    images = rng.normal(size=(count, 8, 8, 3)).astype("float32")
    return images, keras.utils.to_categorical(rng.integers(0, 4, size=count), 4)


def child_mirrored_vs_single(out_file: str, steps: int) -> None:
    """Fits the same model on the same global batches with one device and mirrored over 2 CPUs.

    Writes the weights of both runs, for a model without BatchNorm and one with.
    """
    import tensorflow as tf

    _two_logical_cpus()
    import keras
    import numpy as np

    from tfzoo.training.strategy import create_strategy

    global_batch = 16
    images, labels = _random_batches(global_batch * steps)

    def build(batch_norm: bool):
        keras.utils.set_random_seed(1)
        inputs = keras.Input((8, 8, 3))
        x = keras.layers.Conv2D(8, 3, padding="same", name="conv")(inputs)
        if batch_norm:
            x = keras.layers.BatchNormalization(momentum=0.5, name="bn")(x)
        x = keras.layers.Activation("relu")(x)
        x = keras.layers.GlobalAveragePooling2D()(x)
        outputs = keras.layers.Dense(4, activation="softmax", name="fc")(x)
        model = keras.Model(inputs, outputs)
        model.compile(optimizer=keras.optimizers.SGD(0.5, momentum=0.9),
                      loss=keras.losses.CategoricalCrossentropy())
        return model

    # One strategy object per kind for the whole process: two MirroredStrategy
    # instances over the same devices would reuse collective instance keys.
    strategies = {name: create_strategy(name) for name in ("one_device", "mirrored")}
    results = {}
    for batch_norm in (False, True):
        for name, strategy in strategies.items():
            with strategy.scope():
                model = build(batch_norm)
            # Unshuffled, so both runs see the same global batches in the same order;
            # mirrored splits each into two per-replica halves of 8.
            dataset = tf.data.Dataset.from_tensor_slices((images, labels)).batch(global_batch)
            model.fit(dataset, epochs=1, verbose=0, shuffle=False)
            key = f"{'bn' if batch_norm else 'plain'}_{name}"
            results[key + "_replicas"] = np.array(strategy.num_replicas_in_sync)
            for i, weight in enumerate(model.get_weights()):
                results[f"{key}_{i}"] = weight
    np.savez(out_file, **results)


def child_distill_mirrored_vs_single(out_file: str, steps: int) -> None:
    """Distills a two-head student (DeiT's head / head_dist) with one device and mirrored over 2 CPUs.

    Writes the student's and the teacher's weights after both runs.
    """
    import tensorflow as tf

    _two_logical_cpus()
    import keras
    import numpy as np

    from tfzoo.losses import DistillationLoss, SoftTargetCrossEntropy
    from tfzoo.training.strategy import create_strategy
    from tfzoo.training.tasks import Distiller

    global_batch = 16
    images, labels = _random_batches(global_batch * steps)

    def build():
        keras.utils.set_random_seed(1)
        inputs = keras.Input((8, 8, 3))
        x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv")(inputs)
        x = keras.layers.GlobalAveragePooling2D()(x)
        heads = [keras.layers.Dense(4, name=name)(x) for name in ("head", "head_dist")]
        outputs = keras.layers.Activation("softmax", name="predictions")(keras.layers.Average()(heads))
        student = keras.Model(inputs, outputs)
        teacher_inputs = keras.Input((8, 8, 3))
        teacher_logits = keras.layers.GlobalAveragePooling2D()(
            keras.layers.Conv2D(4, 3, padding="same", name="teacher_conv")(teacher_inputs))
        teacher = keras.Model(teacher_inputs, teacher_logits)
        distiller = Distiller(student, teacher, DistillationLoss("soft", temperature=2.0, mean_over_classes=True),
                              alpha=0.5)
        distiller.compile(optimizer=keras.optimizers.SGD(0.5, momentum=0.9),
                          loss=SoftTargetCrossEntropy(label_smoothing=0.1, from_logits=True))
        return distiller, student, teacher

    strategies = {name: create_strategy(name) for name in ("one_device", "mirrored")}
    results = {}
    for name, strategy in strategies.items():
        with strategy.scope():
            distiller, student, teacher = build()
        results[f"{name}_teacher_before"] = teacher.get_weights()[0]
        dataset = tf.data.Dataset.from_tensor_slices((images, labels)).batch(global_batch)
        distiller.fit(dataset, epochs=1, verbose=0, shuffle=False)
        results[f"{name}_replicas"] = np.array(strategy.num_replicas_in_sync)
        results[f"{name}_teacher_after"] = teacher.get_weights()[0]
        for i, weight in enumerate(student.get_weights()):
            results[f"{name}_{i}"] = weight
    np.savez(out_file, **results)


def main(argv):
    scenario = argv[1]
    if scenario == "train":
        run_dir, out_file, config = argv[2], argv[3], json.loads(argv[4])
        child_train(run_dir, out_file, **config)
    elif scenario == "mirrored":
        child_mirrored_vs_single(argv[2], int(argv[3]))
    elif scenario == "distill_mirrored":
        child_distill_mirrored_vs_single(argv[2], int(argv[3]))
    else:
        raise SystemExit(f"unknown scenario {scenario}")


if __name__ == "__main__":
    main(sys.argv)
