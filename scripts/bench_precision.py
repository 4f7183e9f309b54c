"""Accuracy of the export forms on a run's validation split: trained, folded float32, folded bfloat16.

Loads a run's ``model.keras``, builds the inference forms `tfzoo export`
writes (`tfzoo.export.saved_model.inference_form`: folded BatchNorms in
float32, and with ``precision="bfloat16"``), and evaluates each on the run's
validation split (the embedded digits by default): top-1, and the largest
change of any probability against the trained model.

    python scripts/bench_precision.py --run_dir runs/mobilenet_v3_large-digits
"""

from __future__ import annotations

import argparse
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from tfzoo.data.loader import load_dataset  # noqa: E402
from tfzoo.data.preprocessing import PreprocessConfig  # noqa: E402
from tfzoo.export.saved_model import inference_form  # noqa: E402
from tfzoo.utils.rundir import RunDir  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run_dir", required=True)
    parser.add_argument("--batch_size", type=int, default=128)
    args = parser.parse_args()
    run = RunDir(args.run_dir)
    config = run.read_config()
    model = run.load_model()
    data = load_dataset(config.get("train", {}).get("dataset", "digits"),
                        preprocess=PreprocessConfig.from_dict(config["preprocess"]), batch_size=args.batch_size,
                        seed=config.get("train", {}).get("seed", 0))
    forms = {"trained": model}
    for precision in ("float32", "bfloat16"):
        forms[f"folded_{precision}"] = inference_form(model, reparameterize=True, fuse_bn=True,
                                                      precision=precision)[0]
    probabilities = {name: [] for name in forms}
    labels = []
    for images, batch_labels in data.val:
        labels.append(np.asarray(batch_labels))
        for name, form in forms.items():
            probabilities[name].append(np.asarray(form(images, training=False), np.float32))
    labels = np.concatenate(labels)
    labels = labels.argmax(-1) if labels.ndim > 1 else labels
    reference = np.concatenate(probabilities["trained"])
    report = {"run_dir": args.run_dir, "model": config["model"], "num_val": int(labels.size)}
    for name in forms:
        values = np.concatenate(probabilities[name])
        report[name] = {"top1": float((values.argmax(-1) == labels).mean()),
                        "max_probability_change": float(np.abs(values - reference).max()),
                        "changed_predictions": int((values.argmax(-1) != reference.argmax(-1)).sum())}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
