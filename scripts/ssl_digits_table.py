"""Runs every `digits_<method>` self-supervised recipe, its linear evaluation and the random-init baseline.

Prints one markdown table: kNN top-1 (the pre-training run's last kNN monitor)
and linear top-1 (`tfzoo linear_eval`) per method, the random-init ResNet-18
baseline, and each run's wall time. What issue 14 asks for: every method's kNN
at least 8 points above the baseline's, and its linear top-1 above the
baseline's.

    python scripts/ssl_digits_table.py --output_dir runs/ssl-table            # all six, about 1.5-2 hours on 2 cores
    python scripts/ssl_digits_table.py --methods simclr,moco_v2 --epochs 4    # a shorter look

Runs that already finished in `--output_dir` are read, not repeated (the
trainer resumes or reports a finished run), so the script can be stopped and
started again.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

METHODS = ("simclr", "moco_v1", "moco_v2", "moco_v3", "swav", "instdisc")


def _tfzoo(*args: str) -> float:
    start = time.time()
    subprocess.run([sys.executable, "-m", "tfzoo.cli.main", *args], check=True)
    return time.time() - start


def _read(path: str) -> dict:
    with open(path) as handle:
        return json.load(handle)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output_dir", default="runs/ssl-table")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--epochs", type=int, default=None, help="Override every recipe's epochs.")
    args = parser.parse_args()
    os.makedirs(args.output_dir, exist_ok=True)

    rows = []
    baseline_dir = os.path.join(args.output_dir, "random-init")
    seconds = _tfzoo("linear_eval", "--random_init", "--model", "resnet18", "--image_size", "32", "--onednn",
                     "--output_dir", baseline_dir)
    baseline = _read(os.path.join(baseline_dir, "metrics.json"))
    rows.append(("random init (no pre-training)", baseline["knn_top1"], baseline["top1"], 0.0, seconds))
    for method in args.methods.split(","):
        run_dir = os.path.join(args.output_dir, method)
        extra = ["--epochs", str(args.epochs)] if args.epochs else []
        pretrain_s = _tfzoo("pretrain", "--recipe", f"digits_{method}", "--run_dir", run_dir, *extra)
        linear_s = _tfzoo("linear_eval", "--run_dir", run_dir, "--onednn")
        knn = _read(os.path.join(run_dir, "metrics.json"))["knn_top1"]
        linear = _read(os.path.join(run_dir, "linear_eval", "metrics.json"))["top1"]
        rows.append((method, knn, linear, pretrain_s, linear_s))

    print("| method | kNN top-1 | vs random (points) | linear top-1 | vs random (points) | pretrain s | linear_eval s |")
    print("|---|---|---|---|---|---|---|")
    for name, knn, linear, pretrain_s, linear_s in rows:
        print(f"| {name} | {knn:.4f} | {100 * (knn - baseline['knn_top1']):+.1f} | {linear:.4f} | "
              f"{100 * (linear - baseline['top1']):+.1f} | {pretrain_s:.0f} | {linear_s:.0f} |")


if __name__ == "__main__":
    main()
