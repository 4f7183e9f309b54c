"""Records LV-ViT reference outputs and parameter counts from the official TokenLabeling code.

LV-ViT (Jiang et al. 2021, "All Tokens Matter: Token Labeling for Training
Better Vision Transformers", arXiv 2104.10858) is not in timm; its reference
is the authors' repository, github.com/zihangJiang/TokenLabeling
(``tlt/models/lvvit.py`` and ``tlt/models/layers.py``). That code targets
timm 0.4.5; this script does not import timm at all: it gives the two files
stand-ins for the five timm names they import (``register_model``,
``load_pretrained``, ``trunc_normal_``, ``DropPath``, ``to_2tuple`` and the
unused ResNet constructors), which are either unused in evaluation mode
(DropPath with rate 0 is never built) or only initialize weights that are
overwritten here.

For every official variant it counts the trainable parameters at 1000
classes (``aux_head`` included) and, for ``lvvit_t``, builds the model,
overwrites every parameter and buffer with
`tfzoo.convert.deterministic.deterministic_state_dict`, runs it in eval mode
(``cls + 0.5 * max_tokens(aux)``) on a seeded 64 px batch and writes
``tests/reference_data/lvvit_t.npz`` in the format of
``scripts/make_reference_outputs.py`` (input, logits, checksums, manifest
with the state-dict keys and shapes), plus ``tests/reference_data/lvvit_counts.json``.

The official code is never copied into tfzoo; point the script at a checkout::

    git clone https://github.com/zihangJiang/TokenLabeling /tmp/TokenLabeling
    /tmp/tvenv/bin/python scripts/make_lvvit_reference.py --official_dir /tmp/TokenLabeling
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import pathlib
import platform
import sys
import types
import zlib

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from make_reference_outputs import reference_arrays  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
OUTPUT_DIR = ROOT / "tests" / "reference_data"
BATCH = 2
NUM_CLASSES = 1000
# The official constructors and the image sizes the README publishes checkpoints for.
VARIANTS = {
    "lvvit_t": ("lvvit_t", 224),
    "lvvit_s": ("lvvit_s", 224),
    "lvvit_s_384": ("lvvit_s", 384),
    "lvvit_m": ("lvvit_m", 224),
    "lvvit_m_384": ("lvvit_m", 384),
    "lvvit_m_448": ("lvvit_m", 448),
    "lvvit_l": ("lvvit_l", 224),  # no published 224 checkpoint; the name exists for training
    "lvvit_l_448": ("lvvit_l", 448),
    "lvvit_l_512": ("lvvit_l", 512),
}
REFERENCE_MODELS = {"lvvit_t": {"input_size": 64, "weight_scale": 1.0}}
MIN_INPUT_DEPENDENCE = 0.05


def _load_by_path(name: str, path: pathlib.Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _install_timm_stand_ins(torch) -> None:
    """Minimal `timm` modules with the names tlt/models imports (timm 0.4.5 layout)."""
    class DropPath(torch.nn.Module):  # only built with rate > 0, i.e. never here
        def __init__(self, drop_prob=0.0):
            super().__init__()
            self.drop_prob = drop_prob

        def forward(self, x):
            if not self.training or self.drop_prob == 0.0:
                return x
            raise NotImplementedError("training is not needed for reference outputs")

    def to_2tuple(x):
        return tuple(x) if isinstance(x, (tuple, list)) else (x, x)

    def trunc_normal_(tensor, mean=0.0, std=1.0, a=-2.0, b=2.0):
        return torch.nn.init.trunc_normal_(tensor, mean, std, a, b)

    modules = {name: types.ModuleType(name) for name in (
        "timm", "timm.models", "timm.models.helpers", "timm.models.registry", "timm.models.layers",
        "timm.models.resnet")}
    modules["timm.models.helpers"].load_pretrained = None
    modules["timm.models.registry"].register_model = lambda fn: fn
    layers = modules["timm.models.layers"]
    layers.trunc_normal_, layers.DropPath, layers.to_2tuple = trunc_normal_, DropPath, to_2tuple
    for name in ("resnet26d", "resnet50d", "resnet101d"):
        setattr(modules["timm.models.resnet"], name, None)
    sys.modules.update(modules)


def load_official(official_dir: pathlib.Path, torch):
    """Imports tlt/models/lvvit.py (and its layers.py) from a checkout, as package `_tlt_models`."""
    _install_timm_stand_ins(torch)
    models_dir = official_dir / "tlt" / "models"
    package = types.ModuleType("_tlt_models")
    package.__path__ = [str(models_dir)]
    sys.modules["_tlt_models"] = package
    _load_by_path("_tlt_models.layers", models_dir / "layers.py")
    return _load_by_path("_tlt_models.lvvit", models_dir / "lvvit.py")


def trainable_count(model) -> int:
    return int(sum(p.numel() for p in model.parameters() if p.requires_grad))


def input_dependence(logits: np.ndarray) -> float:
    return float(np.sqrt(np.mean((logits[0] - logits[1]) ** 2)) / np.sqrt(np.mean(logits ** 2)))


def make_reference(name: str, lvvit, torch, deterministic, input_size: int, weight_scale: float) -> dict:
    constructor, _ = VARIANTS[name]
    model = getattr(lvvit, constructor)(img_size=input_size, num_classes=NUM_CLASSES).eval()
    state_dict = model.state_dict()
    shapes = {key: tuple(value.shape) for key, value in state_dict.items()}
    values = deterministic.deterministic_state_dict(shapes, weight_scale=weight_scale)
    model.load_state_dict({k: torch.from_numpy(v).to(state_dict[k].dtype) for k, v in values.items()}, strict=True)

    rng = np.random.default_rng(zlib.crc32(name.encode()))
    images = rng.standard_normal((BATCH, input_size, input_size, 3)).astype(np.float16)
    with torch.no_grad():
        logits = model(torch.from_numpy(images.astype(np.float32).transpose(0, 3, 1, 2))).numpy()
    if logits.shape != (BATCH, NUM_CLASSES) or not np.isfinite(logits).all():
        raise RuntimeError(f"{name}: unexpected output {logits.shape}")
    if input_dependence(logits) < MIN_INPUT_DEPENDENCE:
        raise RuntimeError(f"{name}: logits barely depend on the input ({input_dependence(logits):.3g})")
    manifest = {
        "tfzoo_model": name,
        "official_model": f"TokenLabeling tlt/models/lvvit.py:{constructor}",
        "num_classes": NUM_CLASSES,
        "input_size": input_size,
        "weight_scale": weight_scale,
        "timm_kwargs": {},
        # The official model stores pos_embed for img_size=input_size; build tfzoo's the same way.
        "tfzoo_kwargs": {"img_size": input_size},
        "versions": {"torch": torch.__version__, "numpy": np.__version__, "python": platform.python_version()},
        "state_dict": [[key, list(shape)] for key, shape in shapes.items()],
    }
    return reference_arrays(images, logits, deterministic.checksums(values), manifest)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--official_dir", required=True, type=pathlib.Path,
                        help="checkout of github.com/zihangJiang/TokenLabeling")
    args = parser.parse_args(argv)
    import torch

    torch.manual_seed(0)
    lvvit = load_official(args.official_dir, torch)
    spec = importlib.util.spec_from_file_location("_tfzoo_deterministic",
                                                  ROOT / "tfzoo" / "convert" / "deterministic.py")
    deterministic = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(deterministic)

    counts = {}
    for name, (constructor, size) in VARIANTS.items():
        model = getattr(lvvit, constructor)(img_size=size, num_classes=NUM_CLASSES)
        counts[name] = trainable_count(model)
        print(f"{name}: {counts[name]:,} trainable parameters ({constructor}, img_size={size})")
        del model
    counts_path = OUTPUT_DIR / "lvvit_counts.json"
    counts_path.write_text(json.dumps({
        "_about": "Trainable parameters of the official TokenLabeling LV-ViT definitions (tlt/models/lvvit.py) at "
                  "1000 classes, aux_head included; written by scripts/make_lvvit_reference.py.",
        **counts}, indent=2) + "\n")

    for name, options in REFERENCE_MODELS.items():
        arrays = make_reference(name, lvvit, torch, deterministic, **options)
        path = OUTPUT_DIR / f"{name}.npz"
        np.savez_compressed(path, **arrays)
        logits = arrays["logits"]
        print(f"{path.relative_to(ROOT)}: {path.stat().st_size / 1024:.1f} KB, logit RMS "
              f"{np.sqrt(np.mean(logits ** 2)):.3f}, input dependence {input_dependence(logits):.3f}")


if __name__ == "__main__":
    main()
