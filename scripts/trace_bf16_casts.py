"""Where the Cast ops sit in the bfloat16 export form: one traced graph per model, grouped by layer type.

Builds each model (random weights), converts it as ``tfzoo export
--precision bfloat16`` does (`tfzoo.export.saved_model.inference_form`:
BatchNorms folded, then `tfzoo.export.precision.to_bfloat16`), traces one
inference call and lists every ``Cast`` op: the Keras layer it belongs to
(from the op's name scope), that layer's class, the cast's direction
(float32 -> bfloat16 or back) and the op types that produce its input and
consume its output. Casts are grouped by (layer class, direction); the
count of casts TensorFlow still runs after Grappler (constant folding removes
casts of constants) comes from the run metadata of one call.

    python scripts/trace_bf16_casts.py --models mobilenet_v3_large,efficientnet_b0
    python scripts/trace_bf16_casts.py --models efficientnet_b0 --list   # every cast, one per line
"""

from __future__ import annotations

import argparse
import collections
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import tensorflow as tf  # noqa: E402

from tfzoo.export.saved_model import inference_form  # noqa: E402
from tfzoo.models.registry import create_model  # noqa: E402
from tfzoo.training.benchmark import executed_op_counts  # noqa: E402


def _layer_of(op_name: str, layers: dict) -> str:
    """The deepest name-scope component of `op_name` that is a layer of the model (or ``"(model)"``)."""
    found = "(model)"
    for part in op_name.split("/")[:-1]:
        base = part.rsplit("_", 1)[0] if part.rsplit("_", 1)[-1].isdigit() else part
        if part in layers:
            found = part
        elif base in layers:
            found = base
    return found


def executed_casts(forward, images) -> int:
    """Cast ops TensorFlow actually runs for one call, after Grappler (constant folding removes some)."""
    forward(images)  # traced first: the counted call is a warm one
    return executed_op_counts(forward, images).get("Cast", 0)


def trace_casts(name: str, size: int) -> dict:
    model = create_model(name, input_shape=(size, size, 3))
    folded, form = inference_form(model, reparameterize=True, fuse_bn=True, precision="bfloat16")
    layers = {layer.name: type(layer).__name__ for layer in folded._flatten_layers(include_self=False)}
    forward = tf.function(lambda x: folded(x, training=False))
    graph = forward.get_concrete_function(tf.TensorSpec([1, size, size, 3], tf.float32)).graph
    executed = executed_casts(forward, tf.zeros([1, size, size, 3]))
    consumers = collections.defaultdict(list)
    for op in graph.get_operations():
        for tensor in op.inputs:
            consumers[tensor.op.name].append(op.type)
    casts = []
    for op in graph.get_operations():
        if op.type != "Cast":
            continue
        layer = _layer_of(op.name, layers)
        casts.append({"op": op.name, "layer": layer, "layer_class": layers.get(layer, "-"),
                      "direction": f"{op.inputs[0].dtype.name} -> {op.outputs[0].dtype.name}",
                      "input_from": op.inputs[0].op.type, "feeds": sorted(set(consumers[op.name]))})
    groups = collections.Counter((c["layer_class"], c["direction"], c["input_from"], ",".join(c["feeds"]))
                                 for c in casts)
    return {"model": name, "image_size": size, "ops": len(graph.get_operations()), "casts": casts,
            "executed_casts": executed,
            "fused_batchnorms": form["fused_batchnorms"], "unfused_batchnorms": form["unfused_batchnorms"],
            "groups": [{"layer_class": k[0], "direction": k[1], "input_from": k[2], "feeds": k[3], "count": n}
                       for k, n in groups.most_common()]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="mobilenet_v3_large,efficientnet_b0")
    parser.add_argument("--image_size", type=int, default=32)
    parser.add_argument("--list", action="store_true", help="print every cast")
    parser.add_argument("--json", help="also write the result to this file")
    args = parser.parse_args()
    results = []
    for name in args.models.split(","):
        result = trace_casts(name, args.image_size)
        results.append(result)
        print(f"\n{name} ({args.image_size} px): {len(result['casts'])} Cast ops of {result['ops']}; "
              f"{result['executed_casts']} run after Grappler; BatchNorms folded {result['fused_batchnorms']}, "
              f"left {result['unfused_batchnorms']}")
        print("| layer type | cast | input from | feeds | count |\n|---|---|---|---|---|")
        for group in result["groups"]:
            print(f"| {group['layer_class']} | {group['direction']} | {group['input_from']} | {group['feeds']} | "
                  f"{group['count']} |")
        if args.list:
            for cast in result["casts"]:
                print(f"  {cast['op']}  [{cast['layer_class']}] {cast['direction']} from {cast['input_from']} "
                      f"to {','.join(cast['feeds'])}")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=2)


if __name__ == "__main__":
    main()
