"""Inference speed of tfzoo against keras.applications (and keras-hub), side by side in one process.

For every architecture both libraries build, the two models are created
with random weights (``weights=None``, 1000 classes) and timed in turns
(`tfzoo.training.benchmark.compare_inference`): after warm-up, one
measurement of each per round, the order reversing every round, each a
compiled `tf.function` forward pass (``training=False``) on one fixed batch.
The table gives each model's median images/s and the ratio of the medians
(tfzoo / keras; above 1 means tfzoo is faster), with the median and
interquartile range of the per-round ratios (each tfzoo measurement over the
keras one next to it) as a noise gauge. Only ratios are meaningful across
runs: absolute speeds move with whatever else the machine is doing.

    python scripts/bench_vs_keras.py                       # every pair, plain table
    python scripts/bench_vs_keras.py --models resnet50,vgg16 --rounds 9
    python scripts/bench_vs_keras.py --markdown > table.md # the table of BENCHMARKS.md
    python scripts/bench_vs_keras.py --json results.json

keras.applications is not always the architecture tfzoo (timm) builds; the
``notes`` of each pair say where they differ and what that costs.

Transformers come from keras-hub (``keras_hub.models.ViTBackbone`` under a
``ViTImageClassifier`` head, no preprocessor), a benchmark-only dependency
(``pip install keras-hub``, or the ``bench`` extra): the pair
``vit_base_patch16_224`` runs when keras-hub is importable.

``--patch NAME`` also times a third model per pair: tfzoo built with a
candidate model-side change applied by monkeypatching (see `PATCHES`), given
the tfzoo model's weights and checked for equal outputs, so a proposed fix is
measured side by side before anyone edits the models:

    python scripts/bench_vs_keras.py --models densenet121 --patch max_pool2d
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import gc
import json
import os
import platform
import statistics
import sys
from typing import Callable, NamedTuple

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from keras import ops  # noqa: E402

from tfzoo.models.registry import create_model  # noqa: E402
from tfzoo.training.benchmark import compare_inference, count_flops, count_params, random_images  # noqa: E402


class Pair(NamedTuple):
    """One architecture in both libraries."""

    tfzoo_name: str
    keras_name: str  # attribute of keras.applications (or, with `factory`, the name of what it builds)
    image_size: int
    keras_kwargs: dict
    notes: str  # how the two networks differ (parameters, structure)
    factory: Callable | None = None  # (image_size, num_classes) -> the reference model, when not keras.applications


def keras_hub_vit(patch_size: int, num_layers: int, num_heads: int, hidden_dim: int, mlp_dim: int) -> Callable:
    """A keras-hub ViT classifier factory: `ViTBackbone` + `ViTImageClassifier` (class token head, no preprocessor)."""
    def build(image_size: int, num_classes: int) -> keras.Model:
        import keras_hub

        backbone = keras_hub.models.ViTBackbone(
            image_shape=(image_size, image_size, 3), patch_size=patch_size, num_layers=num_layers,
            num_heads=num_heads, hidden_dim=hidden_dim, mlp_dim=mlp_dim, dropout_rate=0.0, attention_dropout=0.0,
            layer_norm_epsilon=1e-6, use_mha_bias=True, use_mlp_bias=True, use_class_token=True,
            use_patch_bias=True)
        return keras_hub.models.ViTImageClassifier(backbone=backbone, num_classes=num_classes, preprocessor=None,
                                                   pooling="token")
    return build


def has_keras_hub() -> bool:
    import importlib.util

    return importlib.util.find_spec("keras_hub") is not None


PAIRS = {
    "mobilenet_v1": Pair("mobilenet_v1_100", "MobileNet", 224, {},
                         "same network and parameters (keras' classifier is a 1x1 conv)"),
    "mobilenet_v2": Pair("mobilenet_v2_100", "MobileNetV2", 224, {},
                         "same network and parameters"),
    "mobilenet_v3_large": Pair("mobilenet_v3_large", "MobileNetV3Large", 224, {"include_preprocessing": False},
                               "same network and parameters (keras' hard-swish layers optimize to the same ops)"),
    "mobilenet_v3_small": Pair("mobilenet_v3_small", "MobileNetV3Small", 224, {"include_preprocessing": False},
                               "same network and parameters (keras' hard-swish layers optimize to the same ops)"),
    "resnet50": Pair("resnet50", "ResNet50", 224, {},
                     "keras is ResNet v1 (stride on the first 1x1 conv), tfzoo/timm v1.5 (stride on the 3x3: "
                     "+0.45 GFLOPs/img); keras convs have biases (+26,560 params)"),
    "resnet101": Pair("resnet101", "ResNet101", 224, {},
                      "keras v1 vs tfzoo v1.5 as for resnet50; keras conv biases (+52,672 params)"),
    "resnet152": Pair("resnet152", "ResNet152", 224, {},
                      "keras v1 vs tfzoo v1.5 as for resnet50; keras conv biases (+75,712 params)"),
    "densenet121": Pair("densenet121", "DenseNet121", 224, {}, "same network and parameters"),
    "densenet169": Pair("densenet169", "DenseNet169", 224, {}, "same network and parameters"),
    "densenet201": Pair("densenet201", "DenseNet201", 224, {}, "same network and parameters"),
    "efficientnet_b0": Pair("efficientnet_b0", "EfficientNetB0", 224, {},
                            "same trainable parameters; keras adds input Rescaling + Normalization (+7 "
                            "non-trainable)"),
    "vgg16": Pair("vgg16", "VGG16", 224, {},
                  "same parameters; tfzoo (timm) writes fc6/fc7 as 7x7 and 1x1 convs, keras as Flatten + Dense"),
    "vgg19": Pair("vgg19", "VGG19", 224, {}, "as vgg16"),
    "inception_v3": Pair("inception_v3", "InceptionV3", 299, {},
                         "keras BatchNorm has no scale (gamma): -17,216 params; tfzoo's pool branches zero-pad "
                         "(PyTorch count_include_pad), keras pools 'same'"),
    "xception": Pair("xception", "Xception", 299, {},
                     "same parameters; keras uses SeparableConv2D layers and 'same' max pools (asymmetric on even "
                     "maps), tfzoo PyTorch's symmetric -inf-padded pools"),
    "vit_base_patch16_224": Pair("vit_base_patch16_224", "keras_hub.ViTBackbone+ViTImageClassifier", 224, {},
                                 "ViT-B/16 both (86.57M / 86.57M trainable, exact GELU, LayerNorm eps 1e-6); "
                                 "tfzoo: one fused qkv Dense + explicit matmul-softmax-matmul attention (float32 "
                                 "softmax), keras-hub: keras.layers.MultiHeadAttention (separate q/k/v einsums)",
                                 factory=keras_hub_vit(16, 12, 12, 768, 3072)),
}

# VGG-19 repeats VGG-16's findings at 1.3x its cost; run it with --models vgg19. Pairs whose reference
# comes from keras-hub run when it is installed.
DEFAULT_PAIRS = tuple(key for key in PAIRS
                      if key != "vgg19" and (PAIRS[key].factory is None or has_keras_hub()))


def reference_model(pair: Pair, size: tuple, num_classes: int) -> keras.Model:
    """The pair's keras.applications (or factory-built) model with random weights."""
    if pair.factory is not None:
        return pair.factory(size[0], num_classes)
    return getattr(keras.applications, pair.keras_name)(weights=None, input_shape=size, classes=num_classes,
                                                        **pair.keras_kwargs)


def reference_label(pair: Pair) -> str:
    return pair.keras_name if pair.factory is not None else f"keras.applications.{pair.keras_name}"


# ---------------------------------------------------------------------------
# Candidate model-side changes, measured by monkeypatching tfzoo while it builds.


class NegInfPadMaxPooling2D(keras.layers.Layer):
    """``nn.MaxPool2d(k, s, padding=p)``: pads with -inf, then one "valid" pooling pass."""

    def __init__(self, pool_size: int, strides: int, padding: int, **kwargs):
        super().__init__(**kwargs)
        self.pool_size, self.strides, self.padding = pool_size, strides, padding

    def call(self, inputs):
        p = self.padding
        x = ops.pad(inputs, [[0, 0], [p, p], [p, p], [0, 0]], constant_values=float("-inf"))
        return ops.max_pool(x, self.pool_size, self.strides, padding="valid")

    def compute_output_shape(self, input_shape):
        def side(n):
            return None if n is None else (n + 2 * self.padding - self.pool_size) // self.strides + 1
        return (input_shape[0], side(input_shape[1]), side(input_shape[2]), input_shape[3])


def _same_is_symmetric(size, pool_size: int, strides: int, padding: int) -> bool:
    """Whether TF "same" pooling of a side of `size` pads `padding` before and gives PyTorch's output size."""
    if size is None:
        return False
    out = -(-size // strides)
    total = max((out - 1) * strides + pool_size - size, 0)
    return total // 2 == padding and out == (size + 2 * padding - pool_size) // strides + 1


def fast_max_pool2d(x, pool_size: int, *, strides: int, padding: int = 0, name: str):
    """Drop-in for `tfzoo.layers.padded_pooling.max_pool2d` with one pooling pass instead of two.

    Where Keras "same" pads exactly ``padding`` on every side (odd sides at
    stride 2: 147, 37 and 19 in Xception at 299 px) it is used directly (TF
    pooling ignores the padding, i.e. -inf); otherwise the input is padded
    with -inf and pooled "valid". Both equal ``nn.MaxPool2d`` for any input.
    """
    from tfzoo.layers import padded_pooling

    if padding == 0 or strides == 1:
        return padded_pooling.max_pool2d(x, pool_size, strides=strides, padding=padding, name=name)
    if all(_same_is_symmetric(side, pool_size, strides, padding) for side in x.shape[1:3]):
        return keras.layers.MaxPooling2D(pool_size, strides=strides, padding="same", name=name)(x)
    return NegInfPadMaxPooling2D(pool_size, strides, padding, name=name)(x)


@contextlib.contextmanager
def _patched(*targets):
    """Sets ``(object, attribute, value)`` for the duration of the block."""
    saved = [(obj, attr, getattr(obj, attr)) for obj, attr, _ in targets]
    try:
        for obj, attr, value in targets:
            setattr(obj, attr, value)
        yield
    finally:
        for obj, attr, value in saved:
            setattr(obj, attr, value)


def _patch_max_pool2d():
    import tfzoo.layers.padded_pooling
    import tfzoo.models.densenet
    import tfzoo.models.xception
    return _patched(*((module, "max_pool2d", fast_max_pool2d) for module in
                      (tfzoo.layers.padded_pooling, tfzoo.models.densenet, tfzoo.models.xception)))


def _patch_same_padding():
    import tfzoo.layers.conv
    return _patched((tfzoo.layers.conv, "_padding", lambda x, kernel_size, strides, dilation, name: (x, "same")))


def _v1_bottleneck_block(x, out_channels, mid_channels, *, name, strides=1, groups=1, se_channels=None,
                         se_after="conv3", norm=None, drop_path_rate=0.0, names=None):
    """`tfzoo.layers.bottleneck.bottleneck_block` with the stride on the first 1x1 conv (ResNet v1, keras)."""
    from tfzoo.layers import bottleneck

    names = names or bottleneck.RESNET_NAMES
    norm = norm or bottleneck.NormConfig()
    skip = bottleneck.shortcut(x, out_channels, strides=strides, norm=norm, names=names, name=name)
    y = bottleneck.conv_norm_act(x, mid_channels, 1, strides=strides, act="relu", norm=norm,
                                 conv_name=f"{name}_{names.conv[0]}", norm_name=f"{name}_{names.norm[0]}",
                                 act_name=f"{name}_{names.act[0]}")
    y = bottleneck.conv_norm_act(y, mid_channels, 3, groups=groups, act="relu", norm=norm,
                                 conv_name=f"{name}_{names.conv[1]}", norm_name=f"{name}_{names.norm[1]}",
                                 act_name=f"{name}_{names.act[1]}")
    y = bottleneck.conv_norm_act(y, out_channels, 1, act=None, norm=norm, conv_name=f"{name}_{names.conv[2]}",
                                 norm_name=f"{name}_{names.norm[2]}")
    return bottleneck._merge(y, skip, name=name, final_act=f"{name}_{names.act[2]}", drop_path_rate=drop_path_rate)


def _patch_resnet_v1():
    import tfzoo.models.resnet
    return _patched((tfzoo.models.resnet, "bottleneck_block", _v1_bottleneck_block))


class Patch(NamedTuple):
    """A candidate change: a context manager active while tfzoo builds the extra model."""

    apply: Callable
    pairs: tuple  # pairs it changes
    exact: bool  # same function as tfzoo's (False: a diagnostic that changes the outputs)
    description: str


PATCHES = {
    "max_pool2d": Patch(
        _patch_max_pool2d, ("densenet121", "densenet169", "densenet201", "xception"), True,
        "padded max pool in one pass: Keras 'same' where it pads symmetrically, else -inf pad + 'valid' "
        "(fast_max_pool2d) instead of a stride-1 'same' pool and a 1x1 strided pool"),
    "same_padding": Patch(
        _patch_same_padding, ("mobilenet_v2", "mobilenet_v3_large", "mobilenet_v3_small", "resnet50", "resnet101",
                              "resnet152", "efficientnet_b0"), False,
        "DIAGNOSTIC, changes outputs: Keras 'same' instead of symmetric padding in every strided conv, "
        "to price PyTorch-style padding"),
    "resnet_v1": Patch(
        _patch_resnet_v1, ("resnet50", "resnet101", "resnet152"), False,
        "DIAGNOSTIC, changes outputs: the stride on each first bottleneck's 1x1 conv (ResNet v1, as keras) "
        "instead of its 3x3 conv (v1.5, timm), to price the architecture difference"),
}


def build_pair(key: str, pair: Pair, num_classes: int, patches=(), control: bool = False) -> tuple:
    """``({label: model}, {label: relative output difference})`` for one pair and its applicable patches.

    Labels are ``"tfzoo"``, ``"keras"``, ``"keras_copy"`` (a second keras
    model, with `control`) and ``"tfzoo+PATCH"``; a patched model
    gets the tfzoo model's weights, and its difference is the largest
    ``|patched - tfzoo|`` over the largest ``|tfzoo|`` logit on random images.
    """
    size = (pair.image_size, pair.image_size, 3)
    models = {
        "tfzoo": create_model(pair.tfzoo_name, input_shape=size, num_classes=num_classes),
        "keras": reference_model(pair, size, num_classes),
    }
    if control:
        models["keras_copy"] = reference_model(pair, size, num_classes)
    differences = {}
    for name in patches:
        if key not in PATCHES[name].pairs:
            continue
        with PATCHES[name].apply():
            patched = create_model(pair.tfzoo_name, input_shape=size, num_classes=num_classes)
        patched.set_weights(models["tfzoo"].get_weights())
        images = random_images(patched, 2, pair.image_size, seed=1)
        reference, outputs = _logits(models["tfzoo"], images), _logits(patched, images)
        differences[f"tfzoo+{name}"] = float(np.abs(outputs - reference).max() / np.abs(reference).max())
        models[f"tfzoo+{name}"] = patched
    return models, differences


def _logits(model: keras.Model, images) -> np.ndarray:
    """The classifier's output before the softmax (layer ``predictions``), which random weights saturate."""
    logits = keras.Model(model.inputs, model.get_layer("predictions").input)
    return np.asarray(logits(images, training=False))


def _paired(numerator: list, denominator: list) -> dict:
    ratios = [a / b for a, b in zip(numerator, denominator)]
    quartiles = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else ratios * 3
    return {"ratio": statistics.median(numerator) / statistics.median(denominator),
            "paired_median": statistics.median(ratios), "paired_q1": quartiles[0], "paired_q3": quartiles[2]}


def benchmark_pair(key: str, pair: Pair, args) -> dict:
    models, differences = build_pair(key, pair, args.num_classes, args.patch, args.control)
    runs = compare_inference(models, args.batch_size, pair.image_size, rounds=args.rounds,
                             iterations=args.iterations, seconds=args.seconds, warmup=args.warmup, xla=args.xla)
    result = {"pair": key, "image_size": pair.image_size, "batch_size": args.batch_size, "notes": pair.notes,
              "models": {}}
    for label, model in models.items():
        rates = runs[label]["images_per_sec"]
        entry = {"model": reference_label(pair) if label.startswith("keras") else pair.tfzoo_name,
                 "images_per_sec": rates, "median_images_per_sec": statistics.median(rates),
                 "iterations": runs[label]["iterations"], **count_params(model)}
        if args.flops and label != "keras_copy":
            entry["gflops"] = count_flops(model, pair.image_size) / 1e9
        if label in differences:
            patch = PATCHES[label.split("+", 1)[1]]
            entry.update(patch=patch.description, exact=patch.exact, relative_output_difference=differences[label],
                         vs_tfzoo=_paired(rates, runs["tfzoo"]["images_per_sec"]),
                         vs_keras=_paired(rates, runs["keras"]["images_per_sec"]))
        result["models"][label] = entry
    result.update(_paired(runs["tfzoo"]["images_per_sec"], runs["keras"]["images_per_sec"]))
    if "keras_copy" in runs:
        # An A/A comparison: how far two identical models' ratio strays from 1 in this run.
        result["control"] = _paired(runs["keras_copy"]["images_per_sec"], runs["keras"]["images_per_sec"])
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
    """The comparison table, then one table of patch experiments if any ran."""
    control = any("control" in r for r in results)
    head = "| model | tfzoo img/s | keras img/s | ratio | paired ratios: median [IQR] |"
    rule = "|---|---:|---:|---:|---:|"
    if control:
        head, rule = head + " A/A control: keras copy / keras |", rule + "---:|"
    head, rule = head + " params tfzoo / keras |", rule + "---|"
    if args.flops:
        head, rule = head + " GFLOPs tfzoo / keras |", rule + "---|"
    lines = [head + " notes |", rule + "---|"]
    for r in results:
        t, k = r["models"]["tfzoo"], r["models"]["keras"]
        row = (f"| {r['pair']} ({r['image_size']} px) | {t['median_images_per_sec']:.1f} | "
               f"{k['median_images_per_sec']:.1f} | **{r['ratio']:.2f}** | "
               f"{r['paired_median']:.2f} [{r['paired_q1']:.2f}-{r['paired_q3']:.2f}] |")
        if control:
            c = r.get("control")
            row += f" {c['ratio']:.2f} [{c['paired_q1']:.2f}-{c['paired_q3']:.2f}] |" if c else " |"
        row += f" {_params(t['trainable_params'])} / {_params(k['trainable_params'])} |"
        if args.flops:
            row += f" {t['gflops']:.2f} / {k['gflops']:.2f} |"
        lines.append(row + f" {r['notes']} |")
    patched = [(r, label, e) for r in results for label, e in r["models"].items() if "patch" in e]
    if patched:
        lines += ["", "| model | patch | tfzoo img/s | patched img/s | keras img/s | patched / tfzoo: median "
                      "[paired IQR] | patched / keras | output difference |",
                  "|---|---|---:|---:|---:|---:|---:|---|"]
        for r, label, e in patched:
            t, k = r["models"]["tfzoo"], r["models"]["keras"]
            v = e["vs_tfzoo"]
            exact = "" if e["exact"] else " (diagnostic: not the same function)"
            lines.append(f"| {r['pair']} | {label.split('+', 1)[1]} | {t['median_images_per_sec']:.1f} | "
                         f"{e['median_images_per_sec']:.1f} | {k['median_images_per_sec']:.1f} | "
                         f"**{v['ratio']:.2f}** [{v['paired_q1']:.2f}-{v['paired_q3']:.2f}] | "
                         f"{e['vs_keras']['ratio']:.2f} | {e['relative_output_difference']:.1e}{exact} |")
    return "\n".join(lines)


def plain(result: dict) -> str:
    t, k = result["models"]["tfzoo"], result["models"]["keras"]
    text = (f"{result['pair']:<20} tfzoo {t['median_images_per_sec']:8.1f} img/s  keras "
            f"{k['median_images_per_sec']:8.1f} img/s  ratio {result['ratio']:.3f} "
            f"(paired {result['paired_median']:.2f} [{result['paired_q1']:.2f}-{result['paired_q3']:.2f}])  "
            f"params {t['trainable_params']:,} / {k['trainable_params']:,}")
    if "control" in result:
        c = result["control"]
        text += f"\n  {'A/A control keras_copy':<30} ratio {c['ratio']:.3f} [{c['paired_q1']:.2f}-{c['paired_q3']:.2f}]"
    for label, e in result["models"].items():
        if "patch" in e:
            text += (f"\n  {label:<30} {e['median_images_per_sec']:8.1f} img/s  vs tfzoo {e['vs_tfzoo']['ratio']:.3f} "
                     f"[{e['vs_tfzoo']['paired_q1']:.2f}-{e['vs_tfzoo']['paired_q3']:.2f}]  vs keras "
                     f"{e['vs_keras']['ratio']:.3f}  output difference {e['relative_output_difference']:.1e}")
    return text


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default=",".join(DEFAULT_PAIRS),
                        help=f"comma-separated subset of: {', '.join(PAIRS)} (default: all but "
                             f"{', '.join(sorted(set(PAIRS) - set(DEFAULT_PAIRS)))})")
    parser.add_argument("--rounds", type=int, default=7, help="measurements per model (default 7)")
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--iterations", type=int, default=None,
                        help="batches per measurement (default: as many as take about --seconds)")
    parser.add_argument("--seconds", type=float, default=2.0,
                        help="target length of one measurement when --iterations is not given")
    parser.add_argument("--warmup", type=int, default=2, help="untimed batches per model before timing")
    parser.add_argument("--num_classes", type=int, default=1000)
    parser.add_argument("--xla", action="store_true", help="compile both forward passes with XLA")
    parser.add_argument("--control", action="store_true",
                        help="also time a second keras model: an A/A ratio that shows this run's noise")
    parser.add_argument("--no_flops", dest="flops", action="store_false", help="skip the GFLOPs count")
    parser.add_argument("--patch", default="",
                        help=f"comma-separated candidate changes to time as a third model: {', '.join(PATCHES)}")
    parser.add_argument("--markdown", action="store_true", help="print the BENCHMARKS.md table at the end")
    parser.add_argument("--json", metavar="PATH", help="write every measurement as JSON ('-' for stdout)")
    args = parser.parse_args(argv)
    args.models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in args.models if m not in PAIRS]
    if unknown:
        parser.error(f"unknown model(s) {', '.join(unknown)}; choose from {', '.join(PAIRS)}")
    args.patch = [p.strip() for p in args.patch.split(",") if p.strip()]
    unknown = [p for p in args.patch if p not in PATCHES]
    if unknown:
        parser.error(f"unknown patch(es) {', '.join(unknown)}; choose from {', '.join(PATCHES)}")
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
