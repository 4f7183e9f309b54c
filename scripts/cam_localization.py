"""Measures how well CAM and Grad-CAM localize: digits pasted at random places, peak inside the digit's box.

Trains a zoo model from scratch on `tfzoo.visualize.localization.pasted_digits`
(class labels only, no boxes), then reports, on held-out images, the top-1
accuracy and the fraction of images whose CAM / Grad-CAM peak lies inside
the digit's box. tests/visualize/test_localization.py runs the short version.

    PYTHONPATH=. python scripts/cam_localization.py --model regnetx_002 --epochs 8
"""

from __future__ import annotations

import argparse
import json


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="regnetx_002")
    parser.add_argument("--canvas", type=int, default=96)
    parser.add_argument("--digit_size", type=int, default=48)
    parser.add_argument("--num_train", type=int, default=2000)
    parser.add_argument("--num_val", type=int, default=200)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--learning_rate", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--width_multiplier", type=float, default=None, help="For families that take one.")
    parser.add_argument("--classes", default=None, help="Comma-separated digits to use (default all ten).")
    parser.add_argument("--examples_dir", default=None, help="Also write overlay PNGs of 4 validation images here.")
    parser.add_argument("--feature_layer", default=None, help="With --examples_dir: a feature grid of this layer.")
    args = parser.parse_args()
    options = {k: v for k, v in vars(args).items() if k not in ("model", "width_multiplier", "classes")}
    options["classes"] = [int(c) for c in args.classes.split(",")] if args.classes else None
    extra = {} if args.width_multiplier is None else {"width_multiplier": args.width_multiplier}
    from tfzoo.visualize.localization import train_and_measure

    print(json.dumps(train_and_measure(args.model, model_kwargs=extra, **options)))


if __name__ == "__main__":
    main()
