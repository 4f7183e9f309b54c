"""TensorFlow's oneDNN CPU ops on and off: training steps and inference, in alternating subprocesses.

TensorFlow reads ``TF_ENABLE_ONEDNN_OPTS`` once, while it loads, and turns
its oneDNN ops on by default only on CPUs with AVX-512 neural-network
features; on AVX2-only CPUs (AMD Zen 2/3, many cloud VMs) it runs Eigen's
kernels unless the variable is 1 (``tfzoo train --onednn``). A setting
therefore needs its own process: every measurement here is one subprocess
that sets the variable, loads TensorFlow, builds one model (random weights),
warms up and times one workload. The rounds alternate the order of the two
settings (on, off; then off, on; ...) so that a machine whose speed drifts
does not favour either; the table gives each setting's median and the ratio
of the medians, with the median of the per-round ratios in brackets.

Workloads (``--workloads``, comma-separated):
``MODEL:train:SIZE:BATCH`` times a training step (forward, cross-entropy,
gradients, SGD with momentum; a compiled `tf.function`, no XLA) on one fixed
random batch; ``MODEL:infer:SIZE:BATCH`` times a forward pass
(``training=False``). Images/s and seconds per step are reported.

    python scripts/bench_onednn.py                        # the default workloads, 3 rounds
    python scripts/bench_onednn.py --workloads resnet18:train:32:128 --rounds 5
    python scripts/bench_onednn.py --json results.json
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import time

DEFAULT_WORKLOADS = ("resnet18:train:32:128,resnet50:infer:224:16,mobilenet_v3_large:train:32:128,"
                     "mobilenet_v3_large:infer:224:16,repvgg_a0:infer:224:16")
SETTINGS = {"on": "1", "off": "0"}


def run_worker(workload: str, seconds: float) -> dict:
    """Times `workload` in this process (TF_ENABLE_ONEDNN_OPTS already set); returns its measurement."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    import numpy as np
    import tensorflow as tf

    from tfzoo.models.registry import create_model

    name, mode, size, batch = workload.split(":")
    size, batch = int(size), int(batch)
    classes = 10 if mode == "train" else 1000
    model = create_model(name, input_shape=(size, size, 3), num_classes=classes, classifier_activation=None)
    images = tf.random.stateless_uniform([batch, size, size, 3], seed=(0, 0))
    labels = tf.random.stateless_uniform([batch], seed=(0, 1), maxval=classes, dtype=tf.int32)
    if mode == "train":
        optimizer = keras.optimizers.SGD(0.01, momentum=0.9)
        loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

        @tf.function
        def step():
            with tf.GradientTape() as tape:
                loss = loss_fn(labels, model(images, training=True))
            optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables),
                                          model.trainable_variables))
            return loss
    elif mode == "infer":
        @tf.function
        def step():
            return model(images, training=False)
    else:
        raise ValueError(f"workload mode must be train or infer, got {mode!r}")
    start = time.perf_counter()
    np.asarray(step())  # trace and first run
    first_step = time.perf_counter() - start
    np.asarray(step())
    steps, start = 0, time.perf_counter()
    while steps < 2 or time.perf_counter() - start < seconds:
        out = step()
        steps += 1
    np.asarray(out)
    elapsed = time.perf_counter() - start
    from tensorflow.python.util import _pywrap_util_port

    return {"workload": workload, "seconds_per_step": elapsed / steps, "images_per_sec": batch * steps / elapsed,
            "steps": steps, "first_step_seconds": first_step,
            "TF_ENABLE_ONEDNN_OPTS": os.environ.get("TF_ENABLE_ONEDNN_OPTS"),
            "onednn_enabled": bool(_pywrap_util_port.IsMklEnabled())}


def measure(workload: str, setting: str, seconds: float, nice: int) -> dict:
    """One subprocess of this script timing `workload` with oneDNN `setting` ("on" / "off")."""
    env = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": SETTINGS[setting], "TF_CPP_MIN_LOG_LEVEL": "3"}
    command = [sys.executable, os.path.abspath(__file__), "--worker", workload, "--seconds", str(seconds)]
    if nice:
        command = ["nice", "-n", str(nice)] + command
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{workload} with oneDNN {setting} failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if result["onednn_enabled"] != (setting == "on"):
        raise RuntimeError(f"TF_ENABLE_ONEDNN_OPTS={SETTINGS[setting]} but TensorFlow reports oneDNN "
                           f"{'on' if result['onednn_enabled'] else 'off'}")
    return result


def summarize(runs: dict) -> dict:
    on = [r["images_per_sec"] for r in runs["on"]]
    off = [r["images_per_sec"] for r in runs["off"]]
    return {"on_images_per_sec": statistics.median(on), "off_images_per_sec": statistics.median(off),
            "on_seconds_per_step": statistics.median(r["seconds_per_step"] for r in runs["on"]),
            "off_seconds_per_step": statistics.median(r["seconds_per_step"] for r in runs["off"]),
            "speedup": statistics.median(on) / statistics.median(off),
            "paired_median": statistics.median(a / b for a, b in zip(on, off)), "runs": runs}


def markdown(results: dict) -> str:
    lines = ["| workload | oneDNN off: s/step (img/s) | oneDNN on: s/step (img/s) | on / off speed |",
             "|---|---|---|---|"]
    for workload, r in results.items():
        name, mode, size, batch = workload.split(":")
        label = f"{name} {'training step' if mode == 'train' else 'inference'}, {size} px, batch {batch}"
        lines.append(f"| {label} | {r['off_seconds_per_step']:.3f} ({r['off_images_per_sec']:.1f}) | "
                     f"{r['on_seconds_per_step']:.3f} ({r['on_images_per_sec']:.1f}) | "
                     f"**{r['speedup']:.2f}x** ({r['paired_median']:.2f}) |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", default=DEFAULT_WORKLOADS, help="comma-separated MODEL:train|infer:SIZE:BATCH")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=4.0, help="target length of one measurement")
    parser.add_argument("--nice", type=int, default=0, help="run the subprocesses under nice -n NICE")
    parser.add_argument("--json", help="also write every measurement to this file")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(run_worker(args.worker, args.seconds)))
        return 0
    results, loads = {}, [os.getloadavg()]
    for workload in args.workloads.split(","):
        runs = {"on": [], "off": []}
        for round_index in range(args.rounds):
            for setting in ("on", "off") if round_index % 2 == 0 else ("off", "on"):
                runs[setting].append(measure(workload, setting, args.seconds, args.nice))
            loads.append(os.getloadavg())
        results[workload] = summarize(runs)
        print(markdown({workload: results[workload]}).splitlines()[-1], flush=True)
    print(markdown(results))
    machine = {"date": datetime.date.today().isoformat(), "cpu_count": os.cpu_count(),
               "load_average_1min": [load[0] for load in loads]}
    print(json.dumps(machine))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"machine": machine, "args": vars(args), "results": results}, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
