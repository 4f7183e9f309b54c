"""Pretrained weights (`tfzoo.convert.pretrained`), end to end and offline.

The checkpoints are the deterministic state dicts of the stored timm
reference outputs (``tests/reference_data``; ``reference_data/pretrained``
for timm's byobnet RepVGG and the NF models with timm's default
``std_conv_eps``), written as ``model.safetensors``. A model loaded through
``create_model(..., pretrained=...)`` must reproduce timm's logits to

    max |tfzoo - timm| / max |timm| <= 1e-5

(measured on CPU: 6.3e-7 for SE-ResNeXt-50 ... 3.6e-6 for EfficientNet-B0;
RepVGG-A0 8.5e-7, after `reparameterize` 1.3e-6). DeepMind's weight
standardization instead of timm's ``std_conv_eps`` misses timm's logits by
1.8e-2 (nf_resnet26) and 2.9e-2 (dm_nfnet_f0), see
`test_nf_deepmind_form_differs_from_timm_checkpoint`.
The Hub path runs against a Hub cache built in a temporary ``HF_HOME`` in
huggingface_hub's own layout, with ``HF_HUB_OFFLINE=1``: no network.
"""

from __future__ import annotations

import json
import logging
import os
import pathlib
import pickle
import subprocess

import numpy as np
import pytest

import tfzoo
from tfzoo.convert import deterministic_state_dict
from tfzoo.convert import pretrained as pt
from tfzoo.errors import UsageError

safetensors_numpy = pytest.importorskip("safetensors.numpy")

REFERENCE_DIR = pathlib.Path(__file__).resolve().parents[1] / "reference_data"
PRETRAINED_DIR = REFERENCE_DIR / "pretrained"
TOLERANCE = 1e-5
# One reference per family timm has; the pretrained/ files replace the generic ones where loading differs.
CASES = {p.stem: p for p in sorted(REFERENCE_DIR.glob("*.npz"))}
CASES.update({p.stem: p for p in sorted(PRETRAINED_DIR.glob("*.npz"))})
FAMILIES_WITH_TIMM_WEIGHTS = {"resnet", "resnext", "seresnext", "densenet", "efficientnet", "mobilenet_v1",
                              "mobilenet_v2", "mobilenet_v3", "inception_v3", "xception", "regnet", "nfnet",
                              "vgg", "repvgg", "vit", "deit", "mlp_mixer"}
SNAPSHOT = "0123456789abcdef0123456789abcdef01234567"
# The CLI hides TensorFlow's start-up chatter unless TF_CPP_MIN_LOG_LEVEL is set (conftest sets it).
CLI_ENV = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}


def load_case(name: str):
    with np.load(CASES[name], allow_pickle=False) as data:
        reference = {key: data[key] for key in data.files}
    manifest = json.loads(str(reference["manifest"]))
    state_dict = deterministic_state_dict({k: tuple(s) for k, s in manifest["state_dict"]},
                                          weight_scale=manifest["weight_scale"])
    return reference, manifest, state_dict


def relative_error(output, reference) -> float:
    return float(np.max(np.abs(np.asarray(output) - reference)) / np.max(np.abs(reference)))


def timm_config(timm_name: str, tag: str, classifier: str, num_classes: int = 1000) -> dict:
    """A config.json as timm writes it for the Hub (the fields tfzoo reads, and a few it ignores)."""
    return {"architecture": timm_name, "num_classes": num_classes, "num_features": 512,
            "pretrained_cfg": {"tag": tag, "custom_load": False, "input_size": [3, 224, 224],
                               "test_input_size": [3, 288, 288], "fixed_input_size": False,
                               "interpolation": "bicubic", "crop_pct": 0.95, "crop_mode": "center",
                               "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225],
                               "num_classes": num_classes, "pool_size": [7, 7], "first_conv": "conv1",
                               "classifier": classifier}}


def write_hub_entry(hf_home: pathlib.Path, repo_id: str, state_dict, config: dict | None) -> pathlib.Path:
    """``model.safetensors`` (+ ``config.json``) in huggingface_hub's cache layout under ``HF_HOME/hub``."""
    repo = hf_home / "hub" / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo / "snapshots" / SNAPSHOT
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(SNAPSHOT)
    safetensors_numpy.save_file(dict(state_dict), str(snapshot / "model.safetensors"))
    if config is not None:
        (snapshot / "config.json").write_text(json.dumps(config))
    return snapshot


@pytest.fixture
def offline_hub(tmp_path, monkeypatch):
    """An empty Hub cache in a temporary HF_HOME, with HF_HUB_OFFLINE=1 (env and the client's constants)."""
    constants = pytest.importorskip("huggingface_hub.constants")
    hf_home = tmp_path / "hf_home"
    (hf_home / "hub").mkdir(parents=True)
    monkeypatch.setenv("HF_HOME", str(hf_home))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HOME", str(hf_home))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(hf_home / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    return hf_home


def tiny_png() -> bytes:
    """A valid 2x2 RGB PNG, made without an imaging library."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + bytes([200, 30, 30] * 2) for _ in range(2))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


@pytest.fixture(scope="module")
def resnet18_case():
    return load_case("resnet18")


def _images(reference):
    return reference["images"].astype(np.float32)


# ---- every family timm has: a safetensors file through create_model(pretrained=PATH) ----

def test_every_family_with_timm_weights_has_a_case():
    families = {tfzoo.model_info(name)["family"] for name in CASES}
    assert FAMILIES_WITH_TIMM_WEIGHTS <= families


@pytest.mark.parametrize("name", sorted(CASES))
def test_safetensors_file_reproduces_timm_logits(name, tmp_path):
    reference, manifest, state_dict = load_case(name)
    path = tmp_path / "model.safetensors"
    safetensors_numpy.save_file(state_dict, str(path))
    size = manifest["input_size"]
    # tfzoo_kwargs: e.g. a ViT whose reference was made with timm's img_size=64 stores that grid.
    model = tfzoo.create_model(name, pretrained=str(path), input_shape=(size, size, 3), classifier_activation=None,
                               **manifest.get("tfzoo_kwargs", {}))
    error = relative_error(model(_images(reference), training=False), reference["logits"])
    assert error <= TOLERANCE, f"{name}: max |diff| / max |ref| = {error:.2e}"
    assert model.zoo_info["pretrained"] == str(path)
    if name == "repvgg_a0":  # the deploy form after re-parameterization matches timm too
        deployed = tfzoo.reparameterize(model)
        error = relative_error(deployed(_images(reference), training=False), reference["logits"])
        assert error <= TOLERANCE, f"repvgg_a0 deploy form: {error:.2e}"


def test_nf_deepmind_form_differs_from_timm_checkpoint():
    """Without timm's std_conv_eps (the default for models trained here) timm's logits are missed by 1.8e-2."""
    reference, manifest, state_dict = load_case("nf_resnet26")
    assert CASES["nf_resnet26"].parent == PRETRAINED_DIR
    model = tfzoo.create_model("nf_resnet26", input_shape=(64, 64, 3), classifier_activation=None)
    pt.load_timm_checkpoint(model, state_dict)
    assert relative_error(model(_images(reference), training=False), reference["logits"]) > 1e-3
    loaded = tfzoo.create_model("nf_resnet26", input_shape=(64, 64, 3), classifier_activation=None,
                                pretrained=_saved(state_dict, manifest))
    conv = loaded.get_layer("stem_conv")
    assert conv.get_config()["std_conv_eps"] == 1e-5
    assert loaded.zoo_info["builder_args"]["std_conv_eps"] == 1e-5


_SAVED = {}


def _saved(state_dict, manifest) -> str:
    import tempfile

    key = manifest["tfzoo_model"]
    if key not in _SAVED:
        path = os.path.join(tempfile.mkdtemp(prefix="tfzoo-pretrained-"), "model.safetensors")
        safetensors_numpy.save_file(state_dict, path)
        _SAVED[key] = path
    return _SAVED[key]


# ---- the Hub path, offline ----

def test_hub_cache_offline_reproduces_timm_logits(offline_hub, resnet18_case):
    reference, _, state_dict = resnet18_case
    write_hub_entry(offline_hub, "timm/resnet18.a1_in1k", state_dict, timm_config("resnet18", "a1_in1k", "fc"))
    model = tfzoo.create_model("resnet18", pretrained=True, input_shape=(64, 64, 3), classifier_activation=None)
    assert relative_error(model(_images(reference), training=False), reference["logits"]) <= TOLERANCE
    info = model.zoo_info
    assert info["pretrained"] == "hf-hub:timm/resnet18.a1_in1k"
    cfg = info["pretrained_cfg"]
    assert cfg["interpolation"] == "bicubic" and cfg["crop_pct"] == 0.95 and cfg["input_size"] == 224
    assert cfg["num_classes"] == 1000 and cfg["tag"] == "a1_in1k"
    assert pt.preprocess_overrides(info) == {"crop_pct": 0.95, "interpolation": "bicubic",
                                             "mean": (0.485, 0.456, 0.406), "std": (0.229, 0.224, 0.225)}
    # zoo_info (and so the pretrained config) survives the model's config
    assert type(model).from_config(model.get_config()).zoo_info["pretrained_cfg"] == cfg


def test_hub_repvgg_tag_and_hf_hub_forms(offline_hub):
    reference, _, state_dict = load_case("repvgg_a0")
    write_hub_entry(offline_hub, "timm/repvgg_a0.rvgg_in1k", state_dict, None)
    for pretrained in ("repvgg_a0.rvgg_in1k", "rvgg_in1k", "hf-hub:timm/repvgg_a0.rvgg_in1k"):
        model = tfzoo.create_model("repvgg_a0", pretrained=pretrained, input_shape=(64, 64, 3),
                                   classifier_activation=None)
        assert relative_error(model(_images(reference), training=False), reference["logits"]) <= TOLERANCE


def test_offline_without_cache_is_one_clear_error(offline_hub):
    with pytest.raises(UsageError) as caught:
        tfzoo.create_model("resnet50", pretrained=True)
    message = str(caught.value)
    assert "\n" not in message
    assert "timm/resnet50.a1_in1k" in message and "HF_HUB_OFFLINE" in message and "pretrained=/path" in message


def test_unreachable_hub_without_cache_is_one_clear_error(offline_hub, monkeypatch, capfd):
    """Network on but the Hub unreachable (a closed local port; retries not waited for): one line, no warnings."""
    import huggingface_hub.constants as constants

    endpoint = "http://127.0.0.1:9"
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "ENDPOINT", endpoint)
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", endpoint + "/{repo_id}/resolve/{revision}/{filename}")
    monkeypatch.setattr("time.sleep", lambda seconds: None)
    with pytest.raises(UsageError) as caught:
        pt.fetch_from_hub("timm/resnet18.a1_in1k")
    message = str(caught.value)
    assert "\n" not in message and "unreachable" in message and "HF_HUB_OFFLINE=1" in message
    assert "thrown while requesting" not in capfd.readouterr().err


def test_cli_offline_without_cache_prints_one_line(tmp_path, tfzoo_cmd):
    env = dict(CLI_ENV, HF_HOME=str(tmp_path / "empty"), HF_HUB_OFFLINE="1")
    image = tmp_path / "x.png"
    image.write_bytes(tiny_png())
    result = subprocess.run(tfzoo_cmd + ["predict", "--model", "resnet18", "--pretrained", str(image)],
                            capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "HF_HUB_OFFLINE" in lines[0] and "Traceback" not in result.stderr, result.stderr


# ---- head replacement, headless models ----

def test_other_num_classes_keeps_fresh_classifier(resnet18_case, tmp_path, caplog):
    _, manifest, state_dict = resnet18_case
    path = _saved(state_dict, manifest)
    with caplog.at_level(logging.WARNING, logger="tfzoo"):
        model = tfzoo.create_model("resnet18", pretrained=path, num_classes=10, input_shape=(64, 64, 3))
    assert [r for r in caplog.records if "freshly initialized" in r.getMessage()], caplog.text
    np.testing.assert_array_equal(model.get_layer("conv1").kernel,
                                  np.transpose(state_dict["conv1.weight"], (2, 3, 1, 0)))
    assert tuple(model.get_layer("fc").kernel.shape) == (512, 10)
    assert "label_names" not in model.zoo_info["pretrained_cfg"]
    assert pt.class_names_for(model) is None


def test_features_only_and_include_top_false_load_the_backbone(resnet18_case):
    _, manifest, state_dict = resnet18_case
    path = _saved(state_dict, manifest)
    expected = np.transpose(state_dict["layer4.1.conv2.weight"], (2, 3, 1, 0))
    features = tfzoo.create_model("resnet18", pretrained=path, features_only=True, input_shape=(64, 64, 3))
    assert "stride_32" in features.output
    np.testing.assert_array_equal(features.get_layer("layer4_1_conv2").kernel, expected)
    headless = tfzoo.create_model("resnet18", pretrained=path, include_top=False, pooling="avg",
                                  input_shape=(64, 64, 3))
    np.testing.assert_array_equal(headless.get_layer("layer4_1_conv2").kernel, expected)


def test_num_classes_defaults_to_the_checkpoints(resnet18_case, tmp_path):
    _, _, state_dict = resnet18_case
    small = dict(state_dict, **{"fc.weight": state_dict["fc.weight"][:7], "fc.bias": state_dict["fc.bias"][:7]})
    path = tmp_path / "model.safetensors"
    safetensors_numpy.save_file(small, str(path))
    model = tfzoo.create_model("resnet18", pretrained=str(path), input_shape=(64, 64, 3))
    assert model.output.shape[-1] == 7
    np.testing.assert_array_equal(model.get_layer("fc").kernel, small["fc.weight"].T)


# ---- strict loading, refusing pickles ----

@pytest.mark.parametrize("change, words", [
    (lambda sd: sd.pop("layer2.0.bn1.running_var"), ["missing keys", "layer2.0.bn1.running_var"]),
    (lambda sd: sd.update({"layer9.conv.weight": np.zeros((2, 2, 1, 1), np.float32)}),
     ["unexpected keys", "layer9.conv.weight"]),
])
def test_strict_errors_name_the_keys(resnet18_case, tmp_path, change, words):
    _, _, state_dict = resnet18_case
    state_dict = dict(state_dict)
    change(state_dict)
    path = tmp_path / "model.safetensors"
    safetensors_numpy.save_file(state_dict, str(path))
    with pytest.raises(UsageError) as caught:
        tfzoo.create_model("resnet18", pretrained=str(path), input_shape=(64, 64, 3))
    assert "\n" not in str(caught.value)
    for word in words:
        assert word in str(caught.value)


class _Trap:
    """Unpickling this would flip `TRIPPED`: a checkpoint loader must never get that far."""

    def __reduce__(self):
        return (_trip, ())


TRIPPED = []


def _trip():
    TRIPPED.append(True)
    return {}


@pytest.mark.parametrize("filename", ["model.pth", "model.bin", "model.pt", "disguised.safetensors"])
def test_pickle_checkpoints_are_refused_unopened(tmp_path, filename):
    path = tmp_path / filename
    payload = pickle.dumps(_Trap())
    path.write_bytes(payload)
    with pytest.raises(UsageError) as caught:
        tfzoo.create_model("resnet18", pretrained=str(path))
    assert not TRIPPED
    message = str(caught.value)
    assert "\n" not in message and ("pickle" in message or "not a safetensors" in message)
    if not filename.endswith(".safetensors"):
        assert "pth_to_safetensors.py" in message  # says how to convert


# ---- registry views and resolution ----

def test_list_models_and_model_info_show_tags():
    names = tfzoo.list_models(pretrained=True)
    assert "resnet50" in names and "repvgg_a0" in names and "dm_nfnet_f0" in names
    assert "vgg11_gap" not in names and "nf_resnet26" not in names and "xception" not in names
    info = tfzoo.model_info("resnet50")
    assert info["pretrained_tags"][0] == "resnet50.a1_in1k" and info["default_pretrained"] == "timm/resnet50.a1_in1k"
    assert tfzoo.model_info("mobilenet_v3_large")["pretrained_tags"][0] == "mobilenetv3_large_100.ra_in1k"


@pytest.mark.parametrize("value, message", [
    ("resnet50.nope", "unknown pretrained tag"),
    ("resnet34.a1_in1k", "another model"),
    ("hf-hub:not a repo", "hf-hub:ORG/REPO"),
    (3, "pretrained must be"),
])
def test_bad_pretrained_values(value, message):
    with pytest.raises(UsageError, match=message):
        pt.resolve_pretrained("resnet50", value)


def test_names_without_weights_say_why():
    with pytest.raises(UsageError, match="no twin"):
        pt.resolve_pretrained("vgg11_gap", True)
    with pytest.raises(UsageError, match="pickle"):
        pt.resolve_pretrained("xception", True)


def test_repvgg_module_map():
    assert pt.repvgg_module_path("stage0_rbr_dense_conv") == "stem.conv_kxk.conv"
    assert pt.repvgg_module_path("stage2_3_rbr_1x1_bn") == "stages.1.3.conv_1x1.bn"
    assert pt.repvgg_module_path("stage4_0_rbr_identity") == "stages.3.0.identity"
    assert pt.repvgg_module_path("linear") == "head.fc"
    assert pt.repvgg_module_path("stage0_1_rbr_dense_bn") is None


def test_imagenet_class_names():
    names = pt.imagenet_class_names()
    assert len(names) == 1000 and names[0] == "tench" and names[1] == "goldfish" and names[-1] == "toilet tissue"


# ---- tfzoo convert ----

@pytest.mark.slow
def test_convert_cli_equals_in_memory_conversion(resnet18_case, tmp_path, tfzoo_cmd):
    import keras

    _, manifest, state_dict = resnet18_case
    path = _saved(state_dict, manifest)
    output = tmp_path / "resnet18.keras"
    result = subprocess.run(tfzoo_cmd + ["convert", "--model", "resnet18", "--checkpoint", path, "--output",
                                         str(output), "--image_size", "64"],
                            capture_output=True, text=True, timeout=600, env=CLI_ENV)
    assert result.returncode == 0, result.stderr
    loaded = keras.saving.load_model(str(output))
    expected = tfzoo.create_model("resnet18", pretrained=path, input_shape=(64, 64, 3))
    assert len(loaded.weights) == len(expected.weights)
    for a, b in zip(loaded.weights, expected.weights):
        np.testing.assert_array_equal(a, b, err_msg=a.path)
    assert loaded.zoo_info["pretrained_cfg"]["num_classes"] == 1000

    bad = dict(state_dict)
    bad.pop("fc.bias")
    bad_path = tmp_path / "bad.safetensors"
    safetensors_numpy.save_file(bad, str(bad_path))
    result = subprocess.run(tfzoo_cmd + ["convert", "--model", "resnet18", "--checkpoint", str(bad_path),
                                         "--output", str(tmp_path / "bad.keras")],
                            capture_output=True, text=True, timeout=600, env=CLI_ENV)
    assert result.returncode == 2 and "fc.bias" in result.stderr and "missing keys" in result.stderr
    assert not (tmp_path / "bad.keras").exists()


# ---- fine-tuning and prediction from a checkpoint ----

@pytest.fixture(scope="module")
def mobilenet_checkpoint(tmp_path_factory):
    """mobilenet_v3_small's reference weights as model.safetensors + a timm config.json (bicubic, crop 0.9)."""
    _, manifest, state_dict = load_case("mobilenet_v3_small")
    folder = tmp_path_factory.mktemp("mnv3s")
    safetensors_numpy.save_file(state_dict, str(folder / "model.safetensors"))
    config = timm_config("mobilenetv3_small_100", "lamb_in1k", "classifier")
    config["pretrained_cfg"].update(crop_pct=0.9, mean=[0.5, 0.5, 0.5], std=[0.25, 0.25, 0.25])
    (folder / "config.json").write_text(json.dumps(config))
    return folder, state_dict


def test_predict_pretrained_names_imagenet_classes(mobilenet_checkpoint, tmp_path):
    from tfzoo.export.pretrained import predict_pretrained

    folder, _ = mobilenet_checkpoint
    image = tmp_path / "x.png"
    image.write_bytes(tiny_png())
    [result] = predict_pretrained("mobilenet_v3_small", str(folder), [str(image)], top_k=5)
    names = pt.imagenet_class_names()
    assert len(result["top_k"]) == 5
    for entry in result["top_k"]:
        assert entry["name"] == names[entry["class"]]


@pytest.mark.slow
def test_train_fine_tunes_from_checkpoint(mobilenet_checkpoint, tmp_path):
    from tfzoo.training import TrainConfig, train
    from tfzoo.utils.rundir import RunDir

    folder, state_dict = mobilenet_checkpoint
    path = str(folder / "model.safetensors")
    train(TrainConfig(model="mobilenet_v3_small", epochs=1, steps_per_epoch=1, batch_size=16, image_size=32,
                      run_dir=str(tmp_path / "run"), pretrained=path, verbose=0))
    config = RunDir(str(tmp_path / "run")).read_config()
    assert config["pretrained"] == path and config["train"]["pretrained"] == path
    assert config["pretrained_cfg"]["crop_pct"] == 0.9
    assert config["preprocess"]["mean"] == [0.5, 0.5, 0.5] and config["preprocess"]["interpolation"] == "bicubic"
    assert config["num_classes"] == 10  # digits: a fresh 10-class head on the pretrained backbone


def test_scaled_ws_conv_timm_epsilon_matches_numpy():
    """std_conv_eps: timm's ScaledStdConv2d, gamma * gain * (w - mean) / sqrt(N (var + eps)); config round trip."""
    from tfzoo.layers.ws_conv import ScaledWSConv2D

    layer = ScaledWSConv2D(3, 3, gamma=1.7, std_conv_eps=1e-2)
    layer.build((None, 5, 5, 2))
    rng = np.random.default_rng(0)
    kernel = rng.standard_normal((3, 3, 2, 3)).astype(np.float32) * 0.05  # small var: eps matters
    gain = rng.uniform(0.5, 1.5, 3).astype(np.float32)
    layer.kernel.assign(kernel)
    layer.gain.assign(gain)
    flat = kernel.reshape(-1, 3).astype(np.float64)
    expected = 1.7 * gain * (flat - flat.mean(0)) / np.sqrt(18 * (flat.var(0) + 1e-2))
    np.testing.assert_allclose(np.asarray(layer.standardized_kernel()).reshape(-1, 3), expected, rtol=1e-5)
    deepmind = (flat - flat.mean(0)) / np.sqrt(np.maximum(18 * flat.var(0), 1e-4)) * 1.7 * gain
    assert np.max(np.abs(deepmind - expected)) > 0.1  # the two forms differ visibly at this epsilon
    clone = ScaledWSConv2D.from_config(layer.get_config())
    assert clone.std_conv_eps == 1e-2
    assert "std_conv_eps" not in ScaledWSConv2D(3, 3).get_config()  # DeepMind's form stays the default


@pytest.mark.parametrize("args, needles", [
    (["predict", "--pretrained", "x.png"], ["--pretrained needs --model"]),
    (["convert", "--model", "resnet18", "--checkpoint", "model.pth", "--output", "out.keras"],
     ["pickle", "pth_to_safetensors.py"]),
    (["export", "--output", "models/x"], ["--run_dir", "--pretrained"]),
])
def test_cli_mistakes_give_one_line(args, needles, tmp_path, tfzoo_cmd):
    (tmp_path / "model.pth").write_bytes(pickle.dumps(_Trap()))
    result = subprocess.run(tfzoo_cmd + args, capture_output=True, text=True, env=CLI_ENV, cwd=tmp_path, timeout=300)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    for needle in needles:
        assert needle in lines[0]


def test_bfloat16_checkpoints_read_exactly(tmp_path):
    """NumPy has no bfloat16; BF16 entries become the float32 values they encode, other dtypes stay."""
    import struct

    values = np.array([[1.5, -2.0], [0.15625, -384.0]], np.float32)  # exactly representable in bfloat16
    bf16 = (values.view(np.uint32) >> 16).astype("<u2").tobytes()
    f32 = np.arange(3, dtype="<f4").tobytes()
    header = json.dumps({"__metadata__": {"format": "pt"},
                         "w": {"dtype": "BF16", "shape": [2, 2], "data_offsets": [0, 8]},
                         "b": {"dtype": "F32", "shape": [3], "data_offsets": [8, 20]}}).encode()
    header += b" " * (-len(header) % 8)
    path = tmp_path / "bf16.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header + bf16 + f32)
    for state_dict in (pt.read_safetensors(str(path)), pt._read_with_bfloat16(str(path))):
        np.testing.assert_array_equal(state_dict["w"], values)
        assert state_dict["w"].dtype == np.float32
        np.testing.assert_array_equal(state_dict["b"], np.arange(3, dtype=np.float32))
