"""Records timm's position-embedding resampling for tests/layers/test_pos_embed.py.

Writes ``tests/reference_data/pos_embed_resample.npz``: for each case in
`CASES` (old grid, new grid, prefix tokens, antialias) a seeded embedding
``in_<i>`` and timm's ``resample_abs_pos_embed`` of it, ``out_<i>``, plus the
case table as JSON. A developer tool (torch and timm are not tfzoo
dependencies); run it with the venv described in make_reference_outputs.py::

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


def main() -> None:
    from make_reference_outputs import _import_timm

    timm, torch = _import_timm()
    from timm.layers import resample_abs_pos_embed

    rng = np.random.default_rng(12)
    arrays = {}
    for i, (old, new, prefix, antialias) in enumerate(CASES):
        pos_embed = rng.standard_normal((1, prefix + old[0] * old[1], CHANNELS)).astype(np.float32)
        out = resample_abs_pos_embed(torch.from_numpy(pos_embed), new_size=list(new), old_size=list(old),
                                     num_prefix_tokens=prefix, antialias=antialias)
        arrays[f"in_{i}"] = pos_embed
        arrays[f"out_{i}"] = out.numpy().astype(np.float32)
    arrays["cases"] = np.array(json.dumps({"cases": CASES, "timm": timm.__version__, "torch": torch.__version__}))
    path = ROOT / "tests" / "reference_data" / "pos_embed_resample.npz"
    np.savez_compressed(path, **arrays)
    print(f"{path.relative_to(ROOT)}: {path.stat().st_size / 1024:.1f} KB, {len(CASES)} cases")


if __name__ == "__main__":
    main()
