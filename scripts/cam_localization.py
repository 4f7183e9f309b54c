"""Measures how well CAM and Grad-CAM localize: digits pasted at random places, peak inside the digit's box.

Trains a zoo model from scratch on `tfzoo.visualize.localization.pasted_digits`
(class labels only, no boxes), then reports, on held-out images, the top-1
accuracy and the fraction of images whose CAM / Grad-CAM peak lies inside
the digit's box. tests/visualize/test_localization.py runs the short version.

    PYTHONPATH=. python scripts/cam_localization.py --model resnet18 --epochs 8
"""

from __future__ import annotations

import argparse
import json
import time


def train_and_measure(model_name: str = "resnet18", *, canvas: int = 96, digit_size: int = 32, num_train: int = 2000,
                      num_val: int = 200, epochs: int = 4, batch_size: int = 32, learning_rate: float = 2e-3,
                      seed: int = 0, model_kwargs: dict | None = None) -> dict:
    """Trains `model_name` on pasted digits and measures its CAM / Grad-CAM localization; returns the figures."""
    import keras
    import numpy as np

    import tfzoo
    from tfzoo.visualize import cam
    from tfzoo.visualize.localization import pasted_digits, peak_in_box_rate

    keras.utils.set_random_seed(seed)
    spec = tfzoo.models.registry.get_spec(model_name)
    mean = np.asarray(spec.mean, np.float32) * 255.0
    std = np.asarray(spec.std, np.float32) * 255.0
    train_x, train_y, _ = pasted_digits(num_train, canvas=canvas, digit_size=digit_size, seed=seed)
    val_x, val_y, val_boxes = pasted_digits(num_val, canvas=canvas, digit_size=digit_size, seed=seed + 1)
    model = tfzoo.create_model(model_name, input_shape=(canvas, canvas, 3), num_classes=10,
                               classifier_activation=None, **(model_kwargs or {}))
    model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    started = time.perf_counter()
    model.fit((train_x - mean) / std, train_y, batch_size=batch_size, epochs=epochs, verbose=0, shuffle=True)
    seconds = time.perf_counter() - started
    val = (val_x - mean) / std
    accuracy = float(np.mean(np.argmax(np.asarray(model.predict(val, verbose=0)), -1) == val_y))
    figures = {"model": model_name, "model_kwargs": model_kwargs or {}, "canvas": canvas, "digit_size": digit_size, "num_train": num_train,
               "num_val": num_val, "epochs": epochs, "train_seconds": round(seconds, 1), "val_top1": accuracy}
    for method in ("cam", "gradcam"):
        maps = np.concatenate([cam(model, val[start:start + 50], method=method) for start in range(0, num_val, 50)])
        figures[f"{method}_peak_in_box"] = peak_in_box_rate(maps, val_boxes)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet18")
    parser.add_argument("--canvas", type=int, default=96)
    parser.add_argument("--digit_size", type=int, default=32)
    parser.add_argument("--num_train", type=int, default=2000)
    parser.add_argument("--num_val", type=int, default=200)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--learning_rate", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--width_multiplier", type=float, default=None, help="For families that take one.")
    args = parser.parse_args()
    options = {k: v for k, v in vars(args).items() if k not in ("model", "width_multiplier")}
    extra = {} if args.width_multiplier is None else {"width_multiplier": args.width_multiplier}
    print(json.dumps(train_and_measure(args.model, model_kwargs=extra, **options)))


if __name__ == "__main__":
    main()
