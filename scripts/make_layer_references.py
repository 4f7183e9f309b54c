"""Records timm's position-embedding resampling for the transformer tests.

Writes two files under ``tests/reference_data/transformers/``:

- ``pos_embed_resample.npz`` (tests/layers/test_transformer_layers.py): for
  each case in `CASES` (old grid, new grid, prefix tokens, antialias) a seeded
  embedding ``in_<i>`` and timm's ``resample_abs_pos_embed`` of it,
  ``out_<i>``, plus the case table as JSON.
- ``vit_tiny_resample.npz`` (tests/models/test_vit.py): ``vit_tiny_patch16_224``
  with the deterministic weights of `tfzoo.convert.deterministic` at 224 px
  (14x14 position grid), run at 64 px two ways: ``logits_dynamic``, timm with
  ``dynamic_img_size=True`` (resampling at run time), and
  ``logits_converted``, a timm model built with ``img_size=64`` whose weights
  went through timm's ``checkpoint_filter_fn`` (resampling at load), with the
  resampled ``pos_embed_64``. No weights are stored (only keys and shapes).

A developer tool (torch and timm are not tfzoo dependencies); run it with the
venv described in make_reference_outputs.py::

    /tmp/tvenv/bin/python scripts/make_layer_references.py
"""

from __future__ import annotations

import json
import pathlib
import sys

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

# (old grid, new grid, num_prefix_tokens, antialias): up, down, non-square, two prefix tokens, both kernels.
CASES = [
    ((4, 4), (6, 6), 1, True),
    ((4, 4), (6, 6), 1, False),
    ((6, 6), (4, 4), 1, True),
    ((6, 6), (4, 4), 1, False),
    ((4, 4), (3, 7), 2, True),
    ((4, 4), (3, 7), 2, False),
    ((14, 14), (4, 4), 1, True),
    ((14, 14), (24, 24), 1, True),
    ((5, 3), (2, 9), 0, False),
]
CHANNELS = 5


def vit_resample_reference(timm, torch) -> dict:
    """The ``vit_tiny_resample.npz`` arrays (see the module docstring)."""
    from make_reference_outputs import _load_deterministic
    from timm.models.vision_transformer import checkpoint_filter_fn

    deterministic = _load_deterministic()
    name, weight_scale, size = "vit_tiny_patch16_224", 1.0, 64
    model = timm.create_model(name, pretrained=False, dynamic_img_size=True).eval()
    shapes = {key: tuple(value.shape) for key, value in model.state_dict().items()}
    values = deterministic.deterministic_state_dict(shapes, weight_scale=weight_scale)
    model.load_state_dict({k: torch.from_numpy(v) for k, v in values.items()}, strict=True)
    small = timm.create_model(name, pretrained=False, img_size=size).eval()
    filtered = checkpoint_filter_fn({k: torch.from_numpy(v) for k, v in values.items()}, small)
    small.load_state_dict(filtered, strict=True)
    images = np.random.default_rng(64).standard_normal((2, size, size, 3)).astype(np.float16)
    batch = torch.from_numpy(images.astype(np.float32).transpose(0, 3, 1, 2))
    with torch.no_grad():
        dynamic, converted = model(batch).numpy(), small(batch).numpy()
    manifest = {"timm_model": name, "weight_scale": weight_scale, "input_size": size,
                "versions": {"timm": timm.__version__, "torch": torch.__version__},
                "state_dict": [[key, list(shape)] for key, shape in shapes.items()]}
    return {"images": images, "logits_dynamic": dynamic.astype(np.float32),
            "logits_converted": converted.astype(np.float32), "pos_embed_64": filtered["pos_embed"].numpy(),
            "checksums": deterministic.checksums(values), "manifest": np.array(json.dumps(manifest))}


def main() -> None:
    from make_reference_outputs import _import_timm

    timm, torch = _import_timm()
    from timm.layers import resample_abs_pos_embed

    directory = ROOT / "tests" / "reference_data" / "transformers"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "vit_tiny_resample.npz"
    np.savez_compressed(path, **vit_resample_reference(timm, torch))
    print(f"{path.relative_to(ROOT)}: {path.stat().st_size / 1024:.1f} KB")

    rng = np.random.default_rng(12)
    arrays = {}
    for i, (old, new, prefix, antialias) in enumerate(CASES):
        pos_embed = rng.standard_normal((1, prefix + old[0] * old[1], CHANNELS)).astype(np.float32)
        out = resample_abs_pos_embed(torch.from_numpy(pos_embed), new_size=list(new), old_size=list(old),
                                     num_prefix_tokens=prefix, antialias=antialias)
        arrays[f"in_{i}"] = pos_embed
        arrays[f"out_{i}"] = out.numpy().astype(np.float32)
    arrays["cases"] = np.array(json.dumps({"cases": CASES, "timm": timm.__version__, "torch": torch.__version__}))
    path = directory / "pos_embed_resample.npz"
    np.savez_compressed(path, **arrays)
    print(f"{path.relative_to(ROOT)}: {path.stat().st_size / 1024:.1f} KB, {len(CASES)} cases")


if __name__ == "__main__":
    main()
