"""scripts/serving_client.py: the REST request body and the reply parsing, against local stub servers.

TF Serving itself is not needed: one stub answers canned replies, the other
emulates TF Serving's REST -> tensor mapping (``{"b64": ...}`` -> bytes,
row-format instances -> a batch) and runs a real export's ``predict_images``.
"""

from __future__ import annotations

import base64
import contextlib
import http.server
import importlib.util
import json
import os
import threading

import numpy as np
import pytest

_PATH = os.path.join(os.path.dirname(__file__), "..", "..", "scripts", "serving_client.py")
_spec = importlib.util.spec_from_file_location("serving_client", _PATH)
client = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(client)


@contextlib.contextmanager
def stub_server(handle):
    """Serves POSTs on a free localhost port; ``handle(path, body) -> (status, reply dict)``."""
    seen = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's naming)
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen.append((self.path, self.headers["Content-Type"], body))
            status, reply = handle(self.path, body)
            payload = json.dumps(reply).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("localhost", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://localhost:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_request_body_is_the_documented_row_format():
    images = [b"\xff\xd8\xff jpeg bytes", b"\x89PNG png bytes"]
    body = client.request_body(images)
    # https://www.tensorflow.org/tfx/serving/api_rest: {"signature_name": ..., "instances": [...]}, binary
    # values as {"b64": ...}; one object per instance keyed by the signature's input name.
    assert set(body) == {"signature_name", "instances"}
    assert body["signature_name"] == "predict_images"
    assert [list(instance) for instance in body["instances"]] == [["image_bytes"], ["image_bytes"]]
    assert [base64.b64decode(instance["image_bytes"]["b64"]) for instance in body["instances"]] == images
    json.dumps(body)  # JSON-serializable as is

    columnar = client.request_body(images, columnar=True)
    assert set(columnar) == {"signature_name", "inputs"}
    assert [base64.b64decode(value["b64"]) for value in columnar["inputs"]["image_bytes"]] == images


def test_predict_url():
    assert client.predict_url("http://host:8501/", "digits") == "http://host:8501/v1/models/digits:predict"
    assert client.predict_url("http://h:1", "m", 3) == "http://h:1/v1/models/m/versions/3:predict"


def test_parse_both_reply_formats_and_errors():
    row = {"predictions": [{"top_k_scores": [0.7, 0.2, 0.1], "top_k_classes": [3, 1, 0],
                            "top_k_names": ["three", "one", "zero"], "probabilities": [0.1, 0.2, 0, 0.7]}]}
    assert client.parse_response(row, 1) == [[("three", 0.7), ("one", 0.2), ("zero", 0.1)]]
    assert client.parse_response(row, 1, top=2) == [[("three", 0.7), ("one", 0.2)]]
    columns = {"outputs": {"top_k_scores": [[0.6, 0.4], [0.9, 0.1]], "top_k_classes": [[1, 0], [0, 1]]}}
    assert client.parse_response(columns, 2) == [[("1", 0.6), ("0", 0.4)], [("0", 0.9), ("1", 0.1)]]
    with pytest.raises(client.ServingError, match="Servable not found"):
        client.parse_response({"error": "Servable not found for request"}, 1)
    with pytest.raises(client.ServingError, match="sent 2 images but got 1"):
        client.parse_response(row, 2)


def test_main_against_a_canned_server(tmp_path, capsys):
    images = []
    for name in ("a.jpg", "b.png"):
        (tmp_path / name).write_bytes(name.encode() * 3)
        images.append(str(tmp_path / name))
    reply = {"predictions": [
        {"top_k_scores": [0.5, 0.3, 0.1, 0.05, 0.03, 0.02], "top_k_classes": [0, 1, 2, 3, 4, 5],
         "top_k_names": ["cat", "dog", "fox", "owl", "bee", "eel"]},
        {"top_k_scores": [0.9, 0.1], "top_k_classes": [7, 2]},
    ]}
    with stub_server(lambda path, body: (200, reply)) as (url, seen):
        assert client.main(["--url", url, "--model", "zoo", "--version", "2", *images]) == 0
    [(path, content_type, body)] = seen
    assert path == "/v1/models/zoo/versions/2:predict" and content_type == "application/json"
    assert base64.b64decode(body["instances"][1]["image_bytes"]["b64"]) == b"b.png" * 3
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == images[0] and len(lines) == 1 + 5 + 1 + 2  # top 5 of 6, then both of 2
    assert lines[1].split() == ["1.", "cat", "0.5000"] and lines[5].split() == ["5.", "bee", "0.0300"]
    assert lines[7].split() == ["1.", "7", "0.9000"]


def test_server_errors_exit_1(tmp_path, capsys):
    image = tmp_path / "x.jpg"
    image.write_bytes(b"x")
    with stub_server(lambda path, body: (404, {"error": "Servable not found for request: Latest(zoo)"})) as (url, _):
        assert client.main(["--url", url, "--model", "zoo", str(image)]) == 1
    assert "Servable not found" in capsys.readouterr().err
    with stub_server(lambda path, body: (200, {})) as (url, _):
        port = url.rsplit(":", 1)[1]
    assert client.main(["--url", f"http://localhost:{port}", "--model", "zoo", "--timeout", "5", str(image)]) == 1
    assert "cannot reach" in capsys.readouterr().err
    assert client.main(["--model", "zoo", str(tmp_path / "missing.jpg")]) == 2


def _emulate_tf_serving(signature):
    """TF Serving's REST mapping for a single-input signature, in both formats, running `signature`."""
    import tensorflow as tf

    def decode(value):
        return base64.b64decode(value["b64"]) if isinstance(value, dict) and set(value) == {"b64"} else value

    def handle(path, body):
        if "instances" in body:
            values = [decode(instance["image_bytes"]) for instance in body["instances"]]
        else:
            values = [decode(value) for value in body["inputs"]["image_bytes"]]
        outputs = {name: tensor.numpy() for name, tensor in signature(image_bytes=tf.constant(values)).items()}
        as_json = {name: np.char.decode(v.astype(bytes)).tolist() if v.dtype.kind in "SO" else v.tolist()
                   for name, v in outputs.items()}
        if "instances" in body:
            return 200, {"predictions": [{name: values[i] for name, values in as_json.items()}
                                         for i in range(len(values))]}
        return 200, {"outputs": as_json}

    return handle


@pytest.fixture(scope="module")
def tiny_export(tmp_path_factory):
    """A real tfzoo export of a few-parameter model (the architecture does not matter to the client)."""
    import tensorflow as tf

    from tests.export.export_testlib import CLASS_NAMES, PREPROCESS, make_image, tiny_model
    from tfzoo.export.saved_model import export_saved_model

    path = export_saved_model(tiny_model(), str(tmp_path_factory.mktemp("serving") / "tiny"),
                              preprocess=PREPROCESS, class_names=CLASS_NAMES, top_k=3)
    images = [tf.io.encode_jpeg(make_image(50, 40, seed=1), quality=95).numpy(),
              tf.io.encode_png(make_image(40, 50, seed=2)).numpy()]
    return tf.saved_model.load(path), images


@pytest.mark.parametrize("columnar", [False, True])
def test_client_against_a_real_export(tiny_export, columnar):
    loaded, images = tiny_export
    signature = loaded.signatures["predict_images"]
    # The export's input is named image_bytes, the name the client sends.
    assert list(signature.structured_input_signature[1]) == [client.INPUT_NAME]
    expected = signature(image_bytes=__import__("tensorflow").constant(images))
    with stub_server(_emulate_tf_serving(signature)) as (url, _):
        results = client.predict(images, url=client.predict_url(url, "tiny"), columnar=columnar)
    assert len(results) == 2 and all(len(top) == 3 for top in results)
    for index, top in enumerate(results):
        names = [name.decode() for name in expected["top_k_names"][index].numpy()]
        assert [label for label, _ in top] == names
        np.testing.assert_allclose([score for _, score in top], expected["top_k_scores"][index].numpy(), rtol=1e-6)
