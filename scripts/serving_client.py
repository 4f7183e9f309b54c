#!/usr/bin/env python3
"""Query a tfzoo export served by TF Serving over REST and print each image's top classes.

Sends image files (JPEG/PNG) to the export's ``predict_images`` signature
through TF Serving's REST predict API::

    POST http://HOST:8501/v1/models/NAME[/versions/N]:predict
    {"signature_name": "predict_images",
     "instances": [{"image_bytes": {"b64": "<base64 of the file>"}}, ...]}

``image_bytes`` is the signature's input name (tfzoo/export/saved_model.py);
TF Serving's JSON carries binary strings as ``{"b64": ...}`` objects. In this
row ("instances") format the reply is ``{"predictions": [{output: value}, ...]}``,
one object per image with the signature's outputs ``probabilities``,
``top_k_scores``, ``top_k_classes`` and, when the run knew its class names,
``top_k_names``. ``--columnar`` sends ``{"inputs": {"image_bytes": [...]}}``
instead and reads the ``{"outputs": {output: [per-image values]}}`` reply.

Only the Python standard library is needed, so the client runs anywhere:

    python scripts/serving_client.py --model digits digit.png cat.jpg
    python scripts/serving_client.py --url http://serving:8501 --model digits --version 1 *.jpg

Exit status: 0 on success, 1 if the server answers with an error or cannot
be reached, 2 for a bad command line or unreadable image.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import urllib.error
import urllib.request

SIGNATURE = "predict_images"
INPUT_NAME = "image_bytes"


class ServingError(RuntimeError):
    """TF Serving answered with an error, or could not be reached."""


def predict_url(base_url: str, model: str, version: int | None = None) -> str:
    """``BASE/v1/models/MODEL[/versions/N]:predict``."""
    path = f"/v1/models/{model}" + (f"/versions/{version}" if version is not None else "") + ":predict"
    return base_url.rstrip("/") + path


def request_body(images: list[bytes], signature: str = SIGNATURE, columnar: bool = False) -> dict:
    """The JSON body of a predict request for encoded images.

    Args:
        images: Encoded image files (JPEG/PNG bytes).
        signature: Signature to call.
        columnar: Use the ``inputs`` (columnar) format instead of ``instances`` (row).
    """
    encoded = [{"b64": base64.b64encode(image).decode("ascii")} for image in images]
    if columnar:
        return {"signature_name": signature, "inputs": {INPUT_NAME: encoded}}
    return {"signature_name": signature, "instances": [{INPUT_NAME: value} for value in encoded]}


def parse_response(response: dict, count: int, top: int = 5) -> list[list[tuple[str, float]]]:
    """Each image's ``(class, score)`` pairs, best first, from a predict reply of either format.

    Classes are the export's class names when it has them, else class indices.

    Raises:
        ServingError: for an ``{"error": ...}`` reply or one that does not match.
    """
    if "error" in response:
        raise ServingError(str(response["error"]))
    if "predictions" in response:
        rows = response["predictions"]
    elif "outputs" in response:
        columns = response["outputs"]
        if not isinstance(columns, dict):
            raise ServingError("reply 'outputs' is not a dict of named outputs")
        rows = [{name: values[i] for name, values in columns.items()} for i in range(count)]
    else:
        raise ServingError(f"reply has neither 'predictions' nor 'outputs': {sorted(response)}")
    if len(rows) != count:
        raise ServingError(f"sent {count} images but got {len(rows)} predictions")
    results = []
    for row in rows:
        if not isinstance(row, dict) or "top_k_scores" not in row:
            raise ServingError("predictions lack 'top_k_scores'; is this a tfzoo export's predict_images signature?")
        labels = row.get("top_k_names") or [str(index) for index in row["top_k_classes"]]
        results.append([(str(label), float(score)) for label, score in zip(labels, row["top_k_scores"])][:top])
    return results


def predict(images: list[bytes], *, url: str, timeout: float = 60.0, columnar: bool = False,
            top: int = 5) -> list[list[tuple[str, float]]]:
    """Sends `images` to a predict URL and returns each image's top classes.

    Raises:
        ServingError: if the server is unreachable or answers with an error.
    """
    body = json.dumps(request_body(images, columnar=columnar)).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as reply:
            response = json.loads(reply.read())
    except urllib.error.HTTPError as error:  # TF Serving puts {"error": ...} in the body of a 4xx/5xx
        try:
            response = json.loads(error.read())
        except ValueError:
            raise ServingError(f"HTTP {error.code} from {url}") from None
        if "error" not in response:
            raise ServingError(f"HTTP {error.code} from {url}") from None
    except (urllib.error.URLError, OSError) as error:
        raise ServingError(f"cannot reach {url}: {getattr(error, 'reason', error)}") from None
    return parse_response(response, len(images), top)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("images", nargs="+", help="JPEG/PNG files")
    parser.add_argument("--url", default="http://localhost:8501", help="TF Serving REST address")
    parser.add_argument("--model", required=True, help="model name (MODEL_NAME of the server)")
    parser.add_argument("--version", type=int, default=None, help="model version (default: the newest)")
    parser.add_argument("--top", type=int, default=5, help="classes to print per image (at most the export's top_k)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the reply")
    parser.add_argument("--columnar", action="store_true", help="send the columnar 'inputs' format")
    args = parser.parse_args(argv)
    images = []
    for path in args.images:
        try:
            with open(path, "rb") as handle:
                images.append(handle.read())
        except OSError as error:
            print(f"serving_client: error: cannot read {path}: {error.strerror}", file=sys.stderr)
            return 2
    url = predict_url(args.url, args.model, args.version)
    try:
        results = predict(images, url=url, timeout=args.timeout, columnar=args.columnar, top=args.top)
    except ServingError as error:
        print(f"serving_client: error: {error}", file=sys.stderr)
        return 1
    for path, top in zip(args.images, results):
        print(path)
        for rank, (label, score) in enumerate(top, 1):
            print(f"  {rank}. {label:<24} {score:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
