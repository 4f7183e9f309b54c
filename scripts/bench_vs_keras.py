"""Inference speed of tfzoo against keras.applications, side by side in one process.

For every architecture both libraries build, the two models are created
with random weights (``weights=None``, 1000 classes) and timed in turns
(`tfzoo.training.benchmark.compare_inference`): after warm-up, one
measurement of each per round, the order reversing every round, each a
compiled `tf.function` forward pass (``training=False``) on one fixed batch.
The table gives each model's median images/s and the ratio of the medians
(tfzoo / keras; above 1 means tfzoo is faster), with the range of the
per-round ratios as a noise gauge. Only ratios are meaningful across runs:
absolute speeds move with whatever else the machine is doing.

    python scripts/bench_vs_keras.py                       # every pair, plain table
    python scripts/bench_vs_keras.py --models resnet50,vgg16 --rounds 9
    python scripts/bench_vs_keras.py --markdown > table.md # the table of BENCHMARKS.md
    python scripts/bench_vs_keras.py --json results.json

keras.applications is not always the architecture tfzoo (timm) builds; the
``notes`` of each pair say where they differ and what that costs.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import os
import platform
import statistics
import sys
from typing import NamedTuple

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from tfzoo.models.registry import create_model  # noqa: E402
from tfzoo.training.benchmark import compare_inference, count_flops, count_params  # noqa: E402


class Pair(NamedTuple):
    """One architecture in both libraries."""

    tfzoo_name: str
    keras_name: str  # attribute of keras.applications
    image_size: int
    keras_kwargs: dict
    notes: str  # how the two networks differ (parameters, structure)


PAIRS = {
    "mobilenet_v2": Pair("mobilenet_v2_100", "MobileNetV2", 224, {},
                         "same network and parameters"),
    "mobilenet_v3_large": Pair("mobilenet_v3_large", "MobileNetV3Large", 224, {"include_preprocessing": False},
                               "same network and parameters; keras builds hard-swish from ReLU6/Add/Multiply layers"),
    "mobilenet_v3_small": Pair("mobilenet_v3_small", "MobileNetV3Small", 224, {"include_preprocessing": False},
                               "same network and parameters; keras builds hard-swish from ReLU6/Add/Multiply layers"),
    "resnet50": Pair("resnet50", "ResNet50", 224, {},
                     "keras is ResNet v1 (stride on the first 1x1 conv), tfzoo v1.5 (stride on the 3x3, "
                     "+0.3 GFLOPs/img); keras convs have biases (+26,560 params)"),
    "resnet101": Pair("resnet101", "ResNet101", 224, {},
                      "keras v1 vs tfzoo v1.5 as for resnet50; keras conv biases (+52,672 params)"),
    "resnet152": Pair("resnet152", "ResNet152", 224, {},
                      "keras v1 vs tfzoo v1.5 as for resnet50; keras conv biases (+75,712 params)"),
    "densenet121": Pair("densenet121", "DenseNet121", 224, {}, "same network and parameters"),
    "densenet169": Pair("densenet169", "DenseNet169", 224, {}, "same network and parameters"),
    "densenet201": Pair("densenet201", "DenseNet201", 224, {}, "same network and parameters"),
    "efficientnet_b0": Pair("efficientnet_b0", "EfficientNetB0", 224, {},
                            "same trainable parameters; keras adds input Rescaling + Normalization (+7 "
                            "non-trainable) and pads strided convs TF-'same'-style"),
    "vgg16": Pair("vgg16", "VGG16", 224, {}, "same network and parameters"),
    "inception_v3": Pair("inception_v3", "InceptionV3", 299, {},
                         "keras BatchNorm has no scale (gamma): -17,216 params; same convolutions"),
    "xception": Pair("xception", "Xception", 299, {},
                     "same parameters; keras uses fused SeparableConv2D layers and 'same' max pools"),
}


def build_pair(pair: Pair, num_classes: int) -> dict:
    size = (pair.image_size, pair.image_size, 3)
    return {
        "tfzoo": create_model(pair.tfzoo_name, input_shape=size, num_classes=num_classes),
        "keras": getattr(keras.applications, pair.keras_name)(weights=None, input_shape=size, classes=num_classes,
                                                              **pair.keras_kwargs),
    }


def benchmark_pair(key: str, pair: Pair, args) -> dict:
    models = build_pair(pair, args.num_classes)
    runs = compare_inference(models, args.batch_size, pair.image_size, rounds=args.rounds,
                             iterations=args.iterations, seconds=args.seconds, warmup=args.warmup, xla=args.xla)
    result = {"pair": key, "image_size": pair.image_size, "batch_size": args.batch_size, "notes": pair.notes}
    for lib, model in models.items():
        rates = runs[lib]["images_per_sec"]
        result[lib] = {
            "model": pair.tfzoo_name if lib == "tfzoo" else f"keras.applications.{pair.keras_name}",
            "images_per_sec": rates,
            "median_images_per_sec": statistics.median(rates),
            "iterations": runs[lib]["iterations"],
            **count_params(model),
        }
        if args.flops:
            result[lib]["gflops"] = count_flops(model, pair.image_size) / 1e9
    per_round = [t / k for t, k in zip(result["tfzoo"]["images_per_sec"], result["keras"]["images_per_sec"])]
    result["ratio"] = result["tfzoo"]["median_images_per_sec"] / result["keras"]["median_images_per_sec"]
    result["per_round_ratio_min"], result["per_round_ratio_max"] = min(per_round), max(per_round)
    del models
    keras.backend.clear_session()
    gc.collect()
    return result


def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    gpus = tf.config.list_physical_devices("GPU")
    return {"date": datetime.date.today().isoformat(), "cpu": cpu, "cpu_count": os.cpu_count(),
            "gpus": len(gpus), "python": platform.python_version(), "tensorflow": tf.__version__,
            "keras": keras.__version__}


def _params(n: int) -> str:
    return f"{n / 1e6:.2f}M"


def markdown(results: list, args) -> str:
    flops = args.flops
    head = "| model | tfzoo img/s | keras img/s | ratio | per-round ratios | params tfzoo / keras |"
    rule = "|---|---:|---:|---:|---:|---|"
    if flops:
        head += " GFLOPs tfzoo / keras |"
        rule += "---|"
    lines = [head + " notes |", rule + "---|"]
    for r in results:
        t, k = r["tfzoo"], r["keras"]
        row = (f"| {r['pair']} ({r['image_size']} px) | {t['median_images_per_sec']:.1f} | "
               f"{k['median_images_per_sec']:.1f} | **{r['ratio']:.2f}** | "
               f"{r['per_round_ratio_min']:.2f}-{r['per_round_ratio_max']:.2f} | "
               f"{_params(t['trainable_params'])} / {_params(k['trainable_params'])} |")
        if flops:
            row += f" {t['gflops']:.2f} / {k['gflops']:.2f} |"
        lines.append(row + f" {r['notes']} |")
    return "\n".join(lines)


def plain(result: dict) -> str:
    t, k = result["tfzoo"], result["keras"]
    return (f"{result['pair']:<20} tfzoo {t['median_images_per_sec']:8.1f} img/s  keras "
            f"{k['median_images_per_sec']:8.1f} img/s  ratio {result['ratio']:.3f} "
            f"[{result['per_round_ratio_min']:.2f}-{result['per_round_ratio_max']:.2f}]  "
            f"params {t['trainable_params']:,} / {k['trainable_params']:,}")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default=",".join(PAIRS),
                        help=f"comma-separated subset of: {', '.join(PAIRS)} (default: all)")
    parser.add_argument("--rounds", type=int, default=7, help="measurements per model (default 7)")
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--iterations", type=int, default=None,
                        help="batches per measurement (default: as many as take about --seconds)")
    parser.add_argument("--seconds", type=float, default=2.0,
                        help="target length of one measurement when --iterations is not given")
    parser.add_argument("--warmup", type=int, default=2, help="untimed batches per model before timing")
    parser.add_argument("--num_classes", type=int, default=1000)
    parser.add_argument("--xla", action="store_true", help="compile both forward passes with XLA")
    parser.add_argument("--no_flops", dest="flops", action="store_false", help="skip the GFLOPs count")
    parser.add_argument("--markdown", action="store_true", help="print the BENCHMARKS.md table at the end")
    parser.add_argument("--json", metavar="PATH", help="write every measurement as JSON ('-' for stdout)")
    args = parser.parse_args(argv)
    args.models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in args.models if m not in PAIRS]
    if unknown:
        parser.error(f"unknown model(s) {', '.join(unknown)}; choose from {', '.join(PAIRS)}")
    for key in ("rounds", "batch_size", "warmup", "num_classes"):
        if getattr(args, key) < (0 if key == "warmup" else 1):
            parser.error(f"--{key} must be positive")
    if args.iterations is not None and args.iterations < 1:
        parser.error("--iterations must be positive")
    return args


def main(argv=None):
    args = parse_args(argv)
    tf.get_logger().setLevel("ERROR")  # the v1 FLOPs profiler's deprecation notice
    info = machine()
    log = sys.stderr if args.json == "-" else sys.stdout
    print(f"# {info['cpu']} x{info['cpu_count']}, {info['gpus']} GPU, TF {info['tensorflow']}, "
          f"Keras {info['keras']}, batch {args.batch_size}, {args.rounds} rounds", file=log, flush=True)
    results = []
    for key in args.models:
        results.append(benchmark_pair(key, PAIRS[key], args))
        print(plain(results[-1]), file=log, flush=True)
    if args.markdown:
        print(markdown(results, args), file=log)
    if args.json:
        text = json.dumps({"machine": info, "settings": {k: v for k, v in vars(args).items() if k != "json"},
                           "results": results}, indent=2)
        if args.json == "-":
            print(text)
        else:
            with open(args.json, "w") as f:
                f.write(text + "\n")


if __name__ == "__main__":
    main()
