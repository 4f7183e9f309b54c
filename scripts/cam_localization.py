"""Measures how well CAM and Grad-CAM localize: digits pasted at random places, peak inside the digit's box.

Trains a zoo model from scratch on `tfzoo.visualize.localization.pasted_digits`
(class labels only, no boxes), then reports, on held-out images, the top-1
accuracy and the fraction of images whose CAM / Grad-CAM peak lies inside
the digit's box. tests/visualize/test_localization.py runs the short version.

The defaults are the measured setting: MobileNetV1-0.25 cut at its stride-8
feature map (GAP + linear head there, 8x8 cells on the 64 px canvas), 32 px
digits, all ten classes, 3,000 training images x 8 epochs, 300 held out:

    PYTHONPATH=. python scripts/cam_localization.py

(`--feature_stride 0` keeps the registered model's stride-32 head.)
"""

from __future__ import annotations

import argparse
import json


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="mobilenet_v1_100")
    parser.add_argument("--feature_stride", type=int, default=8,
                        help="Put the GAP + linear head on the backbone's feature map of this stride (0: the "
                             "registered model as it is).")
    parser.add_argument("--canvas", type=int, default=64)
    parser.add_argument("--digit_size", type=int, default=32)
    parser.add_argument("--num_train", type=int, default=3000)
    parser.add_argument("--num_val", type=int, default=300)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--learning_rate", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--width_multiplier", type=float, default=0.25, help="For families that take one (0: none).")
    parser.add_argument("--classes", default=None, help="Comma-separated digits to use (default all ten).")
    parser.add_argument("--examples_dir", default=None,
                        help="Also write overlay PNGs of 6 validation images here (cams.png: all in a row).")
    parser.add_argument("--feature_layer", default=None, help="With --examples_dir: a feature grid of this layer.")
    args = parser.parse_args()
    options = {k: v for k, v in vars(args).items() if k not in ("model", "width_multiplier", "classes")}
    options["classes"] = [int(c) for c in args.classes.split(",")] if args.classes else None
    options["feature_stride"] = args.feature_stride or None
    extra = {"width_multiplier": args.width_multiplier} if args.width_multiplier else {}
    from tfzoo.visualize.localization import train_and_measure

    print(json.dumps(train_and_measure(args.model, model_kwargs=extra, **options)))


if __name__ == "__main__":
    main()
