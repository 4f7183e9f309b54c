"""Records timm reference outputs for the pretrained-weights tests (tests/convert/test_pretrained.py).

Same machinery and file format as ``scripts/make_reference_outputs.py``
(deterministic weights, a seeded input, timm's logits; no weights stored),
for the models whose pretrained loading differs from a plain
`load_timm_state_dict`. Files go to ``tests/reference_data/pretrained/``:

- ``repvgg_a0``: timm's ``byobnet`` RepVGG (``stem``, ``stages.i.j.conv_kxk``
  ..., ``head.fc``), which `tfzoo.convert.pretrained` maps onto tfzoo's
  reference-named RepVGG blocks;
- ``nf_resnet26``, ``dm_nfnet_f0``: timm's default ``std_conv_eps`` (1e-5,
  epsilon inside the square root), which models loaded from timm checkpoints
  compute (the files in ``tests/reference_data`` use 1e-10, where timm's
  form and DeepMind's agree).

Usage (torch and timm are not tfzoo dependencies; see make_reference_outputs.py)::

    /tmp/tvenv/bin/python scripts/make_pretrained_references.py [name ...]
"""

from __future__ import annotations

import argparse
import pathlib
import sys

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import make_reference_outputs as base  # noqa: E402

OUTPUT_DIR = base.ROOT / "tests" / "reference_data" / "pretrained"
PAIRS = {
    "repvgg_a0": base.Pair("repvgg_a0", weight_scale=0.35),
    "nf_resnet26": base.Pair("nf_resnet26", weight_scale=1.0),  # timm's std_conv_eps (1e-5)
    "dm_nfnet_f0": base.Pair("dm_nfnet_f0", weight_scale=1.0),
}


def main(argv=None) -> None:
    base.main(argv, pairs=PAIRS, output_dir=OUTPUT_DIR)


if __name__ == "__main__":
    main()
