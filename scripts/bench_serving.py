"""Served throughput: tfzoo's exported SavedModels against keras.applications' own export, in one process.

For each architecture the script builds the tfzoo model (random weights and
random BatchNorm statistics, 1000 classes) and exports it with
`tfzoo.export.export_saved_model` in several forms: ``fused`` (the default:
conv -> BN folded), ``unfused`` (``--nofuse_bn``) and, with ``--bfloat16``,
``fused_bf16`` (``--precision bfloat16``). keras.applications' model of the
same architecture (random weights) is exported with its own
``model.export()``. Every SavedModel is loaded back and its
``serving_default`` signature is timed on the same batch of 0..255 pixels at
the model's input size (so tfzoo's in-graph resize is the identity; its
normalization, softmax and top-k run, as served), in turns
(`tfzoo.training.benchmark.compare_forwards`: one measurement of each per
round, the order reversing every round). The table gives median images/s and
ratios of the medians, with the median per-round ratio in brackets.

    python scripts/bench_serving.py                              # resnet50, mobilenet_v3_large; batch 16
    python scripts/bench_serving.py --models resnet50 --bfloat16 --rounds 7
    python scripts/bench_serving.py --json results.json
    python scripts/bench_serving.py --models resnet50 --wrapper_check   # + the folded network via model.export()
    TF_ENABLE_ONEDNN_OPTS=1 python scripts/bench_serving.py      # with TensorFlow's oneDNN ops (see BENCHMARKS.md)

``--wrapper_check`` also exports the folded network bare (Keras'
``model.export()``) and bare inside a ``tf.cond`` (the empty-batch guard
tfzoo's serving graph used to have), and counts the op types each executed.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import os
import platform
import statistics
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from tfzoo.data.preprocessing import PreprocessConfig  # noqa: E402
from tfzoo.export.saved_model import export_saved_model, inference_form  # noqa: E402
from tfzoo.models.registry import create_model, get_spec  # noqa: E402
from tfzoo.training.benchmark import compare_forwards, executed_op_counts, randomize_batch_norms  # noqa: E402

# tfzoo name -> (keras.applications attribute, its keyword arguments)
KERAS_MODELS = {
    "resnet50": ("ResNet50", {}),
    "mobilenet_v3_large": ("MobileNetV3Large", {}),
    "efficientnet_b0": ("EfficientNetB0", {}),
    "densenet121": ("DenseNet121", {}),
}


def served(version_dir: str):
    """The loaded SavedModel's ``serving_default`` as a function of one batch (keeps the SavedModel alive)."""
    loaded = tf.saved_model.load(version_dir)
    signature = loaded.signatures["serving_default"]
    (input_name,) = signature.structured_input_signature[1]
    output_name = "probabilities" if "probabilities" in signature.structured_outputs else next(
        iter(signature.structured_outputs))

    def forward(images):
        return signature(**{input_name: images})[output_name]

    forward.loaded = loaded
    return forward


def executed_ops(forward, images) -> dict:
    """Counts of the op types TensorFlow executed for one call, after Grappler (from eager run metadata).

    The SavedModel's endpoint function (``serving_default`` for tfzoo's
    exports, ``serve`` for Keras') is called inside a fresh `tf.function`, so
    that it is instantiated, and its graphs recorded, while the run metadata
    is on (Grappler inlines the endpoint into it, as it does for a signature).
    """
    endpoint = getattr(forward.loaded, "serving_default", None) or forward.loaded.serve
    return executed_op_counts(tf.function(lambda x: endpoint(x)), images)


def export_forms(name: str, size: int, workdir: str, bfloat16: bool, wrapper_check: bool) -> dict:
    spec = get_spec(name)
    model = randomize_batch_norms(create_model(name, input_shape=(size, size, 3)))
    preprocess = PreprocessConfig(image_size=size, mean=tuple(spec.mean), std=tuple(spec.std))
    forms = {"fused": {}, "unfused": {"fuse_bn": False}}
    if bfloat16:
        forms["fused_bf16"] = {"precision": "bfloat16"}
    paths = {form: export_saved_model(model, os.path.join(workdir, name, form), preprocess=preprocess, **kwargs)
             for form, kwargs in forms.items()}
    if wrapper_check:
        # The same folded network through Keras' own exporter: no resize, normalize, softmax, top-k or empty-batch
        # tf.cond around it. Its ratio to "fused" is the cost of tfzoo's serving graph; to "keras", the network's.
        paths["fused_keras_export"] = os.path.join(workdir, name, "fused_keras_export", "1")
        folded = inference_form(model, reparameterize=True, fuse_bn=True)[0]
        folded.export(paths["fused_keras_export"], verbose=False)
        # The same bare network inside a tf.cond (tfzoo's empty-batch guard before it became a pad): its ratio to
        # "fused_keras_export" is the cost of running the network in a cond branch.
        paths["fused_in_cond"] = os.path.join(workdir, name, "fused_in_cond", "1")
        archive = keras.export.ExportArchive()
        archive.track(folded)
        archive.add_endpoint("serve", lambda x: tf.cond(tf.shape(x)[0] > 0, lambda: folded(x, training=False),
                                                        lambda: tf.zeros([0, folded.output_shape[-1]])),
                             input_signature=[tf.TensorSpec([None, size, size, 3], tf.float32)])
        archive.write_out(paths["fused_in_cond"], verbose=False)
    attribute, kwargs = KERAS_MODELS[name]
    reference = getattr(keras.applications, attribute)(weights=None, input_shape=(size, size, 3), **kwargs)
    paths["keras"] = os.path.join(workdir, name, "keras", "1")
    reference.export(paths["keras"], verbose=False)
    del model, reference
    keras.backend.clear_session()
    gc.collect()
    return paths


def _ratio(runs: dict, a: str, b: str) -> dict:
    rates_a, rates_b = runs[a]["images_per_sec"], runs[b]["images_per_sec"]
    return {"ratio": statistics.median(rates_a) / statistics.median(rates_b),
            "paired_median": statistics.median(x / y for x, y in zip(rates_a, rates_b))}


def bench(name: str, args, workdir: str) -> dict:
    size = args.image_size or get_spec(name).input_size
    paths = export_forms(name, size, workdir, args.bfloat16, args.wrapper_check)
    forwards = {form: served(path) for form, path in paths.items()}
    pixels = tf.random.stateless_uniform([args.batch_size, size, size, 3], seed=(0, 0), maxval=255.0)
    runs = compare_forwards(forwards, {form: pixels for form in forwards}, rounds=args.rounds, seconds=args.seconds)
    result = {"model": name, "image_size": size, "batch_size": args.batch_size, "runs": runs,
              "median_images_per_sec": {form: statistics.median(run["images_per_sec"]) for form, run in runs.items()},
              "fused_vs_unfused": _ratio(runs, "fused", "unfused"), "fused_vs_keras": _ratio(runs, "fused", "keras"),
              "unfused_vs_keras": _ratio(runs, "unfused", "keras")}
    if args.bfloat16:
        result["bf16_vs_fused"] = _ratio(runs, "fused_bf16", "fused")
    if args.wrapper_check:
        result["fused_vs_fused_keras_export"] = _ratio(runs, "fused", "fused_keras_export")
        result["fused_keras_export_vs_keras"] = _ratio(runs, "fused_keras_export", "keras")
        result["fused_keras_export_vs_fused_in_cond"] = _ratio(runs, "fused_keras_export", "fused_in_cond")
        counted = ("BiasAdd", "Switch", "Merge", "If", "StatelessIf", "Pad", "TopKV2")
        result["executed_ops"] = {}
        for form in ("fused", "fused_keras_export", "fused_in_cond"):
            counts = executed_ops(forwards[form], pixels)
            result["executed_ops"][form] = {"total": sum(counts.values()),
                                            **{op: n for op, n in sorted(counts.items())
                                               if op in counted or "Conv" in op or "MatMul" in op}}
        print(json.dumps(result["executed_ops"]))
        print({key: round(value["ratio"], 3) for key, value in result.items() if key.startswith("fused_")})
    return result


def machine() -> dict:
    cpu = platform.machine()
    with open("/proc/cpuinfo") as handle:
        cpu = next((line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")), cpu)
    return {"date": datetime.date.today().isoformat(), "cpu": cpu, "cpu_count": os.cpu_count(),
            "tensorflow": tf.__version__, "keras": keras.__version__, "load_average": os.getloadavg(),
            "TF_ENABLE_ONEDNN_OPTS": os.environ.get("TF_ENABLE_ONEDNN_OPTS")}


def markdown(results: list) -> str:
    def cell(ratio):
        return f"**{ratio['ratio']:.2f}x** ({ratio['paired_median']:.2f})"

    bf16 = "bf16_vs_fused" in results[0]
    header = ["model", "tfzoo fused img/s", "tfzoo unfused img/s", "keras img/s"] + (["tfzoo bf16 img/s"] if bf16
                                                                                      else [])
    header += ["fused / unfused", "fused / keras", "unfused / keras"] + (["bf16 / fused fp32"] if bf16 else [])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in results:
        speeds = r["median_images_per_sec"]
        row = [f"{r['model']} ({r['image_size']} px, batch {r['batch_size']})"]
        row += [f"{speeds[form]:.1f}" for form in ("fused", "unfused", "keras") + (("fused_bf16",) if bf16 else ())]
        row += [cell(r["fused_vs_unfused"]), cell(r["fused_vs_keras"]), cell(r["unfused_vs_keras"])]
        if bf16:
            row.append(cell(r["bf16_vs_fused"]))
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="resnet50,mobilenet_v3_large",
                        help=f"comma-separated, from {', '.join(KERAS_MODELS)}")
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--image_size", type=int, default=None, help="default: each model's input size")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=3.0, help="target length of one measurement")
    parser.add_argument("--bfloat16", action="store_true", help="also time the --precision bfloat16 export")
    parser.add_argument("--wrapper_check", action="store_true",
                        help="also time the folded network exported by Keras' own model.export()")
    parser.add_argument("--json", help="also write every measurement to this file")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as workdir:
        for name in args.models.split(","):
            results.append(bench(name, args, workdir))
            print(markdown(results[-1:]), flush=True)
    print(json.dumps(machine()))
    print(markdown(results))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"machine": machine(), "results": results}, handle, indent=2)


if __name__ == "__main__":
    main()
