"""Records timm reference outputs for tests/models/test_reference_outputs.py.

For each (tfzoo model, timm model) pair in `PAIRS`: build the timm model
(random init, 1000 classes), overwrite every parameter and buffer with
`tfzoo.convert.deterministic.deterministic_state_dict`, run it in eval mode on
a seeded batch and write ``tests/reference_data/<tfzoo name>.npz`` with

- ``images``: the input, NHWC float16 (the values both frameworks see; they
  are rounded to float16 first, so storing them as float16 is exact),
- ``logits``: timm's output before softmax, float32 ``[batch, 1000]``,
- ``checksums``: ``sum(|value|)`` per state-dict entry, to tell a changed
  weight generator from a changed model,
- ``manifest``: JSON with the model names, the input size, the tool versions
  and the state-dict keys and shapes the test regenerates the weights from.

No weights are stored; each file is a few tens of KB.

This is a developer tool; torch and timm are not tfzoo dependencies::

    python -m venv /tmp/tvenv
    /tmp/tvenv/bin/pip install torch --index-url https://download.pytorch.org/whl/cpu
    /tmp/tvenv/bin/pip install --no-deps timm && /tmp/tvenv/bin/pip install pyyaml huggingface_hub safetensors pillow
    /tmp/tvenv/bin/python scripts/make_reference_outputs.py [tfzoo_name ...]

timm imports torchvision only for FrozenBatchNorm2d, data transforms and FX
helpers, none of which these models use; when torchvision is missing a stub
stands in for it.
"""

from __future__ import annotations

import argparse
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import pathlib
import platform
import sys
import types
import zlib
from typing import NamedTuple

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
OUTPUT_DIR = ROOT / "tests" / "reference_data"


class Pair(NamedTuple):
    """One tfzoo model and the timm model it must equal."""

    timm_name: str
    # 64 is the smallest side at which every stride-2 layer sees an even size
    # (64, 32, 16, 8, 4), where PyTorch's symmetric padding and Keras "same"
    # padding differ, and the last feature map is still 2x2, so global pooling
    # averages more than one position.
    input_size: int = 64
    # Variance scale of the deterministic conv / linear weights; pick it so the
    # printed logit RMS is O(1) and the input dependence is well above 0.05
    # (see tfzoo/convert/deterministic.py).
    weight_scale: float = 1.5
    # Extra timm.create_model arguments (timm overlays them on the model's config).
    timm_kwargs: tuple = ()
    # Extra tfzoo.create_model arguments (the test passes them on), e.g. a transformer's img_size, so the
    # position embedding is stored on the same grid as timm's.
    tfzoo_kwargs: tuple = ()
    # The test's bound on max |tfzoo - timm| / max |timm| (None: the test's default, 1e-4).
    tolerance: float | None = None


PAIRS = {
    "mobilenet_v3_large": Pair("mobilenetv3_large_100", weight_scale=1.4),
    "mobilenet_v3_small": Pair("mobilenetv3_small_100", weight_scale=1.7),
    "densenet121": Pair("densenet121", weight_scale=2.2),
    # Inception v3 needs >= 75 px; 80 px ends at 1x1 (2x2 needs 107 px, too large a file).
    "inception_v3": Pair("inception_v3", input_size=80, weight_scale=2.0),
    "xception": Pair("legacy_xception", weight_scale=1.0),
    "mobilenet_v1_100": Pair("mobilenetv1_100", weight_scale=2.0),
    "mobilenet_v2_100": Pair("mobilenetv2_100", weight_scale=1.2),
    "efficientnet_b0": Pair("efficientnet_b0", weight_scale=1.85),
    "efficientnet_b2": Pair("efficientnet_b2", weight_scale=1.75),
    "resnet18": Pair("resnet18", weight_scale=1.0),
    "resnext50_32x4d": Pair("resnext50_32x4d", weight_scale=0.9),
    "seresnext50_32x4d": Pair("seresnext50_32x4d", weight_scale=1.0),
    "regnetx_002": Pair("regnetx_002", weight_scale=1.0),
    "regnety_002": Pair("regnety_002", weight_scale=1.25),
    # 64 px leaves VGG a 2x2 map, which the pre-logits resize to 7x7 (timm ConvMlp's adaptive pooling).
    "vgg11_bn": Pair("vgg11_bn", weight_scale=1.3),
    # timm adds its std-conv eps to the kernel variance before scaling by 1/sqrt(fan_in) (sqrt(N var + N eps));
    # tfzoo follows DeepMind (sqrt(max(N var, 1e-4))). With eps 1e-10 both compute gain * (w - mean) / sqrt(N var)
    # to float32 precision (the measured cost of timm's default eps is in tests/models/test_nfnet.py).
    "nf_resnet26": Pair("nf_resnet26", weight_scale=1.0, timm_kwargs=(("std_conv_eps", 1e-10),)),
    "dm_nfnet_f0": Pair("dm_nfnet_f0", weight_scale=1.0, timm_kwargs=(("std_conv_eps", 1e-10),)),
    # Transformers at 64 px (a 4x4 patch grid): timm builds them with img_size=64, tfzoo with the same
    # img_size so both store a 4x4 position embedding. DeiT distilled in eval mode averages its two heads.
    "vit_tiny_patch16_224": Pair("vit_tiny_patch16_224", weight_scale=1.0, timm_kwargs=(("img_size", 64),),
                                 tfzoo_kwargs=(("img_size", 64),), tolerance=1e-5),
    "deit_tiny_distilled_patch16_224": Pair("deit_tiny_distilled_patch16_224", weight_scale=1.0,
                                            timm_kwargs=(("img_size", 64),), tfzoo_kwargs=(("img_size", 64),),
                                            tolerance=1e-5),
    "mixer_s16_224": Pair("mixer_s16_224", weight_scale=1.0, timm_kwargs=(("img_size", 64),), tolerance=1e-5),
}
MIN_INPUT_DEPENDENCE = 0.05
BATCH = 2
NUM_CLASSES = 1000


def _load_deterministic():
    """Imports tfzoo/convert/deterministic.py by path: importing the tfzoo package would need Keras."""
    path = ROOT / "tfzoo" / "convert" / "deterministic.py"
    spec = importlib.util.spec_from_file_location("_tfzoo_deterministic", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _StubMeta(type):
    """Any attribute of a stub class is another stub class (enum members, functions ...)."""

    def __getattr__(cls, name):
        if name.startswith("__"):
            raise AttributeError(name)
        stub = _StubMeta(name, (), {})
        setattr(cls, name, stub)
        return stub


class _StubModule(types.ModuleType):
    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        stub = _StubMeta(name, (), {})
        setattr(self, name, stub)
        return stub


class _TorchvisionStub(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname, path, target=None):
        if fullname.split(".")[0] == "torchvision":
            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        return None

    def create_module(self, spec):
        return _StubModule(spec.name)

    def exec_module(self, module):
        module.__path__ = []


def _import_timm():
    if importlib.util.find_spec("torchvision") is None:
        sys.meta_path.append(_TorchvisionStub())
    import timm
    import torch
    return timm, torch


def input_dependence(logits: np.ndarray) -> float:
    """RMS difference between the samples' logits over the RMS logit: near 0 when biases dominate."""
    return float(np.sqrt(np.mean((logits[0] - logits[1]) ** 2)) / np.sqrt(np.mean(logits ** 2)))


def make_reference(tfzoo_name: str, timm, torch, deterministic) -> dict:
    """Runs one timm model on deterministic weights and a seeded input; returns the npz arrays."""
    timm_name, size, weight_scale, timm_kwargs, tfzoo_kwargs, tolerance = PAIRS[tfzoo_name]
    model = timm.create_model(timm_name, pretrained=False, num_classes=NUM_CLASSES, **dict(timm_kwargs)).eval()
    state_dict = model.state_dict()
    shapes = {key: tuple(value.shape) for key, value in state_dict.items()}
    values = deterministic.deterministic_state_dict(shapes, weight_scale=weight_scale)
    model.load_state_dict({k: torch.from_numpy(v).to(state_dict[k].dtype) for k, v in values.items()}, strict=True)
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value.numpy(), values[key], err_msg=f"{key} was not overwritten")

    rng = np.random.default_rng(zlib.crc32(tfzoo_name.encode()))
    images = rng.standard_normal((BATCH, size, size, 3)).astype(np.float16)
    with torch.no_grad():
        logits = model(torch.from_numpy(images.astype(np.float32).transpose(0, 3, 1, 2))).numpy()
    if logits.shape != (BATCH, NUM_CLASSES) or not np.isfinite(logits).all():
        raise RuntimeError(f"{timm_name}: unexpected output {logits.shape}, finite={np.isfinite(logits).all()}")
    if input_dependence(logits) < MIN_INPUT_DEPENDENCE:
        raise RuntimeError(f"{timm_name}: the logits barely depend on the input ({input_dependence(logits):.3g}); "
                           "raise its weight_scale in PAIRS")

    manifest = {
        "tfzoo_model": tfzoo_name,
        "timm_model": timm_name,
        "num_classes": NUM_CLASSES,
        "input_size": size,
        "weight_scale": weight_scale,
        "timm_kwargs": dict(timm_kwargs),
        "tfzoo_kwargs": dict(tfzoo_kwargs),
        "tolerance": tolerance,
        "versions": {"timm": timm.__version__, "torch": torch.__version__, "numpy": np.__version__,
                     "python": platform.python_version()},
        "state_dict": [[key, list(shape)] for key, shape in shapes.items()],
    }
    return reference_arrays(images, logits, deterministic.checksums(values), manifest)


def reference_arrays(images: np.ndarray, logits: np.ndarray, checksums, manifest: dict) -> dict:
    """The arrays of one ``tests/reference_data/*.npz`` file (the layout the tests read)."""
    return {
        "images": images,
        "logits": logits.astype(np.float32),
        "checksums": checksums,
        "manifest": np.array(json.dumps(manifest)),
    }


def main(argv=None, pairs=None, output_dir=None) -> None:
    """Writes the reference files of `pairs` (default `PAIRS`) to `output_dir` (default `OUTPUT_DIR`)."""
    global PAIRS
    pairs = PAIRS if pairs is None else pairs
    output_dir = OUTPUT_DIR if output_dir is None else output_dir
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", help=f"tfzoo names (default: all of {sorted(pairs)})")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.models) - set(pairs))
    if unknown:
        parser.error(f"no timm pair for {unknown}; known: {sorted(pairs)}")
    PAIRS = {**PAIRS, **pairs}  # make_reference reads the module's table

    timm, torch = _import_timm()
    torch.manual_seed(0)
    deterministic = _load_deterministic()
    output_dir.mkdir(parents=True, exist_ok=True)
    for name in args.models or sorted(pairs):
        arrays = make_reference(name, timm, torch, deterministic)
        path = output_dir / f"{name}.npz"
        np.savez_compressed(path, **arrays)
        logits = arrays["logits"]
        print(f"{os.path.relpath(path, ROOT)}: {path.stat().st_size / 1024:.1f} KB, logit RMS "
              f"{np.sqrt(np.mean(logits ** 2)):.3f}, max |logit| {np.abs(logits).max():.3f}, "
              f"input dependence {input_dependence(logits):.3f}")


if __name__ == "__main__":
    main()
