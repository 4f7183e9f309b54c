"""Backend-neutral inference benchmark: tfzoo on Keras' JAX backend, optionally against timm on PyTorch.

Run it with ``KERAS_BACKEND=jax``: the tfzoo models are built with random
weights (1000 classes) and their inference pass
(``model.stateless_call(..., training=False)``) is compiled once with
``jax.jit``; no TensorFlow is imported, so it runs where only JAX is
installed (a GPU machine: ``pip install "jax[cuda12]" keras numpy`` and this
repository on PYTHONPATH). With ``--timm`` the same architectures from timm
(``pip install torch timm``; imported only then) run in ``torch.inference_mode``
on the same device, channels-last, and each pair is timed in turns
(`tfzoo.training.timing.compare_forwards`: one measurement of each per round,
the order reversing every round; the clock stops after the output is copied
to the host). ``--dtype bfloat16`` runs both in bfloat16 (tfzoo: Keras'
``bfloat16`` policy, weights included; timm: ``model.to(torch.bfloat16)``).

    KERAS_BACKEND=jax python scripts/bench_backends.py                 # CPU or GPU, whatever JAX sees
    KERAS_BACKEND=jax python scripts/bench_backends.py --timm --batch_sizes 64,256 --rounds 7
    KERAS_BACKEND=jax python scripts/bench_backends.py --models vit_base_patch16_224 --dtype bfloat16 --timm

The table gives median images/s per model and batch size, and the ratio
tfzoo / timm (above 1: tfzoo faster) with the median per-round ratio in
brackets. Not a test dependency: nothing in tfzoo imports JAX or PyTorch.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import sys

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import tfzoo  # noqa: E402
from tfzoo.training.timing import compare_forwards  # noqa: E402

DEFAULT_MODELS = "resnet50,mobilenet_v3_large,vit_base_patch16_224"


def tfzoo_forward(name: str, dtype: str):
    """A jitted inference function of one NHWC batch for the tfzoo model `name`, and its input size."""
    import jax

    keras.config.set_dtype_policy("bfloat16" if dtype == "bfloat16" else "float32")
    model = tfzoo.create_model(name)
    keras.config.set_dtype_policy("float32")
    trainable = [v.value for v in model.trainable_variables]
    non_trainable = [v.value for v in model.non_trainable_variables]

    @jax.jit
    def forward(images):
        outputs, _ = model.stateless_call(trainable, non_trainable, images, training=False)
        return outputs

    return forward, int(model.input_shape[1])


def timm_forward(name: str, dtype: str):
    """The timm model of the same name, on the GPU when there is one, in inference mode."""
    import timm
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = timm.create_model(name, pretrained=False).eval().to(device, memory_format=torch.channels_last)
    torch_dtype = torch.bfloat16 if dtype == "bfloat16" else torch.float32
    model = model.to(torch_dtype)

    def forward(images):  # NHWC numpy in, like the JAX side; the transpose is a view
        with torch.inference_mode():
            batch = torch.from_numpy(images).to(device).permute(0, 3, 1, 2).to(torch_dtype)
            return model(batch.contiguous(memory_format=torch.channels_last)).float().cpu().numpy()

    return forward


def bench(name: str, batch_size: int, args) -> dict:
    import jax

    forward, size = tfzoo_forward(name, args.dtype)
    images = np.random.default_rng(0).uniform(-1, 1, (batch_size, size, size, 3)).astype("float32")
    forwards = {"tfzoo": forward}
    inputs = {"tfzoo": jax.device_put(images.astype(args.dtype if args.dtype == "float32" else "float32"))}
    if args.timm:
        forwards["timm"] = timm_forward(name, args.dtype)
        inputs["timm"] = images
    runs = compare_forwards(forwards, inputs, rounds=args.rounds, seconds=args.seconds)
    result = {"model": name, "batch_size": batch_size, "image_size": size, "dtype": args.dtype, "runs": runs,
              "median": {key: statistics.median(run["images_per_sec"]) for key, run in runs.items()}}
    if args.timm:
        a, b = runs["tfzoo"]["images_per_sec"], runs["timm"]["images_per_sec"]
        result["ratio"] = statistics.median(a) / statistics.median(b)
        result["paired_median"] = statistics.median(x / y for x, y in zip(a, b))
    return result


def machine() -> dict:
    import jax

    devices = jax.devices()
    return {"date": datetime.date.today().isoformat(), "platform": platform.machine(),
            "jax_devices": [str(d.device_kind) for d in devices], "jax": jax.__version__,
            "keras": keras.__version__, "backend": keras.backend.backend(),
            "tensorflow_imported": "tensorflow" in sys.modules}


def markdown(results: list) -> str:
    timm = "ratio" in results[0]
    lines = ["| model | batch | dtype | tfzoo (JAX) img/s" + (" | timm (PyTorch) img/s | tfzoo / timm" if timm else "")
             + " |", "|---|---|---|---|" + ("---|---|" if timm else "")]
    for r in results:
        row = f"| {r['model']} ({r['image_size']} px) | {r['batch_size']} | {r['dtype']} | {r['median']['tfzoo']:.1f}"
        if timm:
            row += f" | {r['median']['timm']:.1f} | **{r['ratio']:.2f}x** ({r['paired_median']:.2f})"
        lines.append(row + " |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=DEFAULT_MODELS, help="comma-separated tfzoo (= timm) names")
    parser.add_argument("--batch_sizes", default="64,256")
    parser.add_argument("--dtype", choices=("float32", "bfloat16"), default="float32")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=2.0, help="target length of one measurement")
    parser.add_argument("--timm", action="store_true", help="also time timm on PyTorch (imports torch and timm)")
    parser.add_argument("--json", help="also write every measurement to this file")
    args = parser.parse_args()
    if keras.backend.backend() != "jax":
        raise SystemExit(f"run with KERAS_BACKEND=jax (Keras is using {keras.backend.backend()})")
    results = []
    for name in args.models.split(","):
        for batch_size in (int(b) for b in args.batch_sizes.split(",")):
            results.append(bench(name, batch_size, args))
            print(markdown(results[-1:]), flush=True)
    print(json.dumps(machine()))
    print(markdown(results))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"machine": machine(), "results": results}, handle, indent=2)


if __name__ == "__main__":
    main()
