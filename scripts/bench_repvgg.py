"""RepVGG inference speed: deploy form against training form, side by side in one process.

For each variant the training-form model is built (random weights, random
BatchNorm statistics, 1000 classes), `tfzoo.reparameterize` converts it, the
two are checked for equal outputs, and `tfzoo.training.benchmark.compare_inference`
times them in turns (after warm-up, one measurement of each per round, the
order reversing every round; compiled `tf.function`, ``training=False``, one
fixed batch). The table gives each form's median images/s, the ratio of the
medians (deploy / training) and the median and interquartile range of the
per-round ratios as a noise gauge, plus parameters and FLOPs of each form.

    python scripts/bench_repvgg.py                                # a0 and b1g4, batch 16, 224 px
    python scripts/bench_repvgg.py --variants a0 --rounds 9 --markdown
    python scripts/bench_repvgg.py --json results.json
    python scripts/bench_repvgg.py --variants a0 --breakdown   # + the two halfway forms below
    python scripts/bench_repvgg.py --variants a0 --per_block --markdown   # + each block of both forms alone

``--breakdown`` also times two halfway forms built from the same block plan
with plain Keras layers (random weights; only their speed matters), which
split the deploy form's gain into its two sources: ``branches_no_bn`` keeps
the three branches but with each BatchNorm folded into its convolution (the
cost of the branches alone), ``conv3x3_bn`` has the deploy form's single 3x3
convolution per block followed by an unfolded BatchNorm (the cost of the
BatchNorms alone).
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

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import tfzoo  # noqa: E402
from tfzoo.training.benchmark import (compare_inference, count_flops, count_params, random_images,  # noqa: E402
                                      randomize_batch_norms)


def halfway_form(variant: str, kind: str, size: int) -> keras.Model:
    """``branches_no_bn`` or ``conv3x3_bn`` (see the module docstring) for `variant`."""
    from tfzoo.models import repvgg

    inputs = keras.Input((size, size, 3))
    x, in_channels = inputs, 3
    for _, filters, strides, groups in repvgg.block_plan(repvgg.ARCHITECTURES[variant]):
        padded = keras.layers.ZeroPadding2D(1)(x) if strides > 1 else x
        padding = "valid" if strides > 1 else "same"
        y = keras.layers.Conv2D(filters, 3, strides, padding, groups=groups, use_bias=kind == "branches_no_bn")(padded)
        if kind == "branches_no_bn":
            branches = [y, keras.layers.Conv2D(filters, 1, strides, groups=groups)(x)]
            if in_channels == filters and strides == 1:
                branches.append(x)
            y = keras.layers.Add()(branches)
        else:
            y = keras.layers.BatchNormalization(epsilon=1e-5)(y)
        x, in_channels = keras.layers.ReLU()(y), filters
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(1000)(x), name=kind)


def per_block_timings(training: keras.Model, deploy: keras.Model, args) -> list:
    """Milliseconds per batch of each RepVGG block of both forms, each on a random input of its real shape.

    Every block of each form is one compiled function (``training=False``);
    all of them are timed in turns in the same rounds (`compare_forwards`),
    so the per-block ratios are side by side. Also the classifier head
    (pooling and the linear layer, the same in both forms).
    """
    from tfzoo.layers.rep_block import RepVGGBlock
    from tfzoo.training.timing import compare_forwards

    forwards, inputs, rows = {}, {}, []
    for layer in training.layers:
        if not isinstance(layer, RepVGGBlock):
            continue
        shape = [args.batch_size] + list(layer.input.shape[1:])
        inputs[f"{layer.name}/training"] = inputs[f"{layer.name}/deploy"] = tf.random.stateless_uniform(
            shape, seed=(len(rows), 0))
        for form, model in (("training", training), ("deploy", deploy)):
            block = model.get_layer(layer.name)
            forwards[f"{layer.name}/{form}"] = tf.function(lambda x, block=block: block(x, training=False))
        rows.append({"block": layer.name, "input_shape": shape[1:], "filters": layer.filters,
                     "strides": layer.strides, "groups": layer.groups})
    timings = compare_forwards(forwards, inputs, rounds=args.rounds, seconds=args.block_seconds)
    for row in rows:
        for form in ("training", "deploy"):
            rates = timings[f"{row['block']}/{form}"]["images_per_sec"]
            row[f"{form}_ms"] = 1000 * args.batch_size / statistics.median(rates)
        row["round_ratio"] = statistics.median(
            d / t for d, t in zip(timings[f"{row['block']}/deploy"]["images_per_sec"],
                                  timings[f"{row['block']}/training"]["images_per_sec"]))
    return rows


def bench_variant(variant: str, args) -> dict:
    size = args.image_size
    training = tfzoo.create_model(f"repvgg_{variant}", input_shape=(size, size, 3), classifier_activation=None)
    randomize_batch_norms(training)
    deploy = tfzoo.reparameterize(training)
    images = random_images(training, 2, size)
    expected = training(images, training=False).numpy()
    error = float(np.abs(deploy(images, training=False).numpy() - expected).max() / np.abs(expected).max())
    result = {"variant": variant, "max_relative_error": error}
    for name, model in (("training", training), ("deploy", deploy)):
        result[name] = {**count_params(model), "gflops": round(count_flops(model, size) / 1e9, 3)}
    models = {"training": training, "deploy": deploy}
    if args.breakdown:
        models.update((kind, halfway_form(variant, kind, size)) for kind in ("branches_no_bn", "conv3x3_bn"))
    timings = compare_inference(models, args.batch_size, size, rounds=args.rounds, seconds=args.seconds, xla=args.xla)
    for kind in list(models)[2:]:
        rates = timings[kind]["images_per_sec"]
        result[kind] = {"images_per_sec": rates, "median": statistics.median(rates),
                        "round_ratio_to_training": statistics.median(
                            r / t for r, t in zip(rates, timings["training"]["images_per_sec"]))}
    for name in ("training", "deploy"):
        rates = timings[name]["images_per_sec"]
        result[name].update(images_per_sec=rates, median=statistics.median(rates),
                            iterations=timings[name]["iterations"])
    per_round = [d / t for d, t in zip(timings["deploy"]["images_per_sec"], timings["training"]["images_per_sec"])]
    quartiles = statistics.quantiles(per_round, n=4) if len(per_round) > 1 else per_round * 3
    result.update(speedup=result["deploy"]["median"] / result["training"]["median"],
                  round_ratio_median=statistics.median(per_round), round_ratio_iqr=(quartiles[0], quartiles[2]))
    if args.per_block:
        result["per_block"] = per_block_timings(training, deploy, args)
    del training, deploy
    gc.collect()
    return result


def markdown(results: list, args) -> str:
    lines = [
        f"batch {args.batch_size}, {args.image_size} px, {args.rounds} rounds, float32, "
        f"{'XLA' if args.xla else 'no XLA'}, {platform.machine()} CPU ({os.cpu_count()} cores), "
        f"TF {tf.__version__}, {datetime.date.today().isoformat()}",
        "",
        "| model | training form img/s | deploy form img/s | deploy / training | per-round ratio (IQR) "
        "| params train -> deploy | GFLOPs train -> deploy | max rel. error |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        low, high = r["round_ratio_iqr"]
        lines.append(
            f"| repvgg_{r['variant']} | {r['training']['median']:.1f} | {r['deploy']['median']:.1f} | "
            f"**{r['speedup']:.2f}x** | {r['round_ratio_median']:.2f} ({low:.2f}-{high:.2f}) | "
            f"{r['training']['trainable_params'] / 1e6:.2f}M -> {r['deploy']['trainable_params'] / 1e6:.2f}M | "
            f"{r['training']['gflops']:.2f} -> {r['deploy']['gflops']:.2f} | {r['max_relative_error']:.1e} |")
    for r in results:
        if "branches_no_bn" not in r:
            continue
        lines += ["", f"Breakdown, repvgg_{r['variant']} (same rounds):", "",
                  "| form | img/s | / training (medians) | per-round ratio |", "|---|---|---|---|",
                  f"| training (3 branches + 3 BN) | {r['training']['median']:.1f} | 1.00x | 1.00 |"]
        for kind, label in (("branches_no_bn", "3 branches, BN folded"), ("conv3x3_bn", "one 3x3 conv + BN")):
            lines.append(f"| {label} | {r[kind]['median']:.1f} | {r[kind]['median'] / r['training']['median']:.2f}x"
                         f" | {r[kind]['round_ratio_to_training']:.2f} |")
        lines.append(f"| deploy (one 3x3 conv + bias) | {r['deploy']['median']:.1f} | {r['speedup']:.2f}x | "
                     f"{r['round_ratio_median']:.2f} |")
    for r in results:
        if "per_block" not in r:
            continue
        lines += ["", f"Per block, repvgg_{r['variant']} (each block alone on its input shape, batch "
                      f"{args.batch_size}, same rounds):", "",
                  "| block | input (HxWxC) | out channels, stride | training ms | deploy ms | training / deploy "
                  "(medians) | per-round |", "|---|---|---|---|---|---|---|"]
        for row in r["per_block"]:
            h, w, c = row["input_shape"]
            lines.append(f"| {row['block']} | {h}x{w}x{c} | {row['filters']}, {row['strides']} | "
                         f"{row['training_ms']:.2f} | {row['deploy_ms']:.2f} | "
                         f"{row['training_ms'] / row['deploy_ms']:.2f}x | {row['round_ratio']:.2f} |")
        total_t = sum(row["training_ms"] for row in r["per_block"])
        total_d = sum(row["deploy_ms"] for row in r["per_block"])
        lines.append(f"| all blocks | | | {total_t:.1f} | {total_d:.1f} | **{total_t / total_d:.2f}x** | |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", default="a0,b1g4", help="comma-separated RepVGG variants (a0, b1g4 ...)")
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--image_size", type=int, default=224)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--seconds", type=float, default=3.0, help="target length of one measurement")
    parser.add_argument("--xla", action="store_true", help="compile both forward passes with XLA")
    parser.add_argument("--breakdown", action="store_true", help="also time the two halfway forms")
    parser.add_argument("--per_block", action="store_true",
                        help="also time every block of both forms alone on its real input shape")
    parser.add_argument("--block_seconds", type=float, default=0.3, help="target length of one block measurement")
    parser.add_argument("--markdown", action="store_true", help="print the BENCHMARKS.md table")
    parser.add_argument("--json", help="also write every measurement to this file")
    args = parser.parse_args(argv)
    results = []
    for variant in args.variants.split(","):
        result = bench_variant(variant.strip(), args)
        results.append(result)
        if not args.markdown:
            print(f"repvgg_{result['variant']}: training {result['training']['median']:.1f} img/s, deploy "
                  f"{result['deploy']['median']:.1f} img/s, speedup {result['speedup']:.2f}x "
                  f"(per-round {result['round_ratio_median']:.2f}), max rel. error "
                  f"{result['max_relative_error']:.1e}", flush=True)
    if args.markdown:
        print(markdown(results, args))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"args": vars(args), "results": results}, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
