"""Converts a PyTorch checkpoint (``.pth`` / ``.pth.tar``) to ``.safetensors``, for tfzoo to load.

tfzoo itself never unpickles a file (unpickling can run code); it reads
safetensors, ``.keras`` and ``.weights.h5`` only. Run this once, where
PyTorch is installed, on a checkpoint you trust:

    python scripts/pth_to_safetensors.py lvvit_s-26M-224-83.3.pth.tar lvvit_s.safetensors

The state dict is taken from the first of ``state_dict_ema``, ``state_dict``
and ``model`` that the file holds (the layouts timm and TokenLabeling
release), else the file itself; ``weights_only=True`` refuses anything but
tensors and plain containers.
"""

from __future__ import annotations

import argparse


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", help="IN.pth or IN.pth.tar")
    parser.add_argument("output", help="OUT.safetensors")
    args = parser.parse_args(argv)
    import torch
    from safetensors.torch import save_file

    state = torch.load(args.checkpoint, map_location="cpu", weights_only=True)
    for key in ("state_dict_ema", "state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
            break
    tensors = {name: value.contiguous() for name, value in state.items() if torch.is_tensor(value)}
    save_file(tensors, args.output)
    print(f"wrote {len(tensors)} tensors to {args.output}")


if __name__ == "__main__":
    main()
