"""tfzoo models against timm, through stored tensors (no torch at test time).

Each ``tests/reference_data/<model>.npz`` (written by
``scripts/make_reference_outputs.py``) holds a seeded input, the logits timm
computed for it and the state-dict keys and shapes of the timm model. The
weights are not stored: `deterministic_state_dict` regenerates them from the
keys, `load_timm_state_dict` loads them strictly, and the tfzoo logits must
match timm's to

    max |tfzoo - timm| / max |timm| <= 1e-4

(measured on CPU: 1.6e-6 for MobileNetV3-Large, 1.2e-6 for Small; float32
summation order). The mistakes this guards against land far above it at 64x64
(measured by patching them in): Keras "same" padding on strided convolutions
0.61, hard-swish for ReLU 0.53, sigmoid for the hard-sigmoid SE gate 0.23,
swish for hard-swish 0.21, one BatchNorm's running variance reversed 0.09,
BatchNorm epsilon 1e-3 for 1e-5 0.03 (Large; Small is similar); a wrong SE
width fails the strict load.
`test_comparison_is_sensitive` checks the margin stays there.
"""

from __future__ import annotations

import json
import pathlib

import keras
import numpy as np
import pytest

import tfzoo
from tfzoo.convert import checksums, deterministic_state_dict, load_timm_state_dict

REFERENCE_DIR = pathlib.Path(__file__).resolve().parents[1] / "reference_data"
REFERENCE_FILES = sorted(REFERENCE_DIR.glob("*.npz"))
# Models that must have reference data; a deleted file fails instead of skipping.
REQUIRED = {"mobilenet_v3_large", "mobilenet_v3_small", "mobilenet_v1_100", "mobilenet_v2_100",
            "efficientnet_b0", "efficientnet_b2", "densenet121", "inception_v3", "xception",
            "resnet18", "resnext50_32x4d", "seresnext50_32x4d", "regnetx_002", "regnety_002", "vgg11_bn",
            "nf_resnet26", "dm_nfnet_f0", "vit_tiny_patch16_224", "deit_tiny_distilled_patch16_224",
            "mixer_s16_224", "lvvit_t"}
TOLERANCE = 1e-4  # max abs difference relative to max abs reference logit


def relative_error(output, reference) -> float:
    return float(np.max(np.abs(np.asarray(output) - reference)) / np.max(np.abs(reference)))


def load_reference(path: pathlib.Path) -> dict:
    with np.load(path, allow_pickle=False) as data:
        arrays = {key: data[key] for key in data.files}
    arrays["manifest"] = json.loads(str(arrays["manifest"]))
    return arrays


@pytest.fixture(scope="module", params=REFERENCE_FILES, ids=[p.stem for p in REFERENCE_FILES])
def reference_case(request):
    """(reference arrays, tfzoo model with the deterministic weights loaded)."""
    reference = load_reference(request.param)
    manifest = reference["manifest"]
    name = manifest["tfzoo_model"]
    assert name == request.param.stem
    state_dict = deterministic_state_dict({key: tuple(shape) for key, shape in manifest["state_dict"]},
                                          weight_scale=manifest["weight_scale"])
    np.testing.assert_allclose(
        checksums(state_dict), reference["checksums"], rtol=1e-6,
        err_msg="deterministic_state_dict no longer reproduces the weights the reference was recorded with; "
                "rerun scripts/make_reference_outputs.py")
    size = manifest["input_size"]
    model = tfzoo.create_model(name, input_shape=(size, size, 3), num_classes=manifest["num_classes"],
                               classifier_activation=None, **manifest.get("tfzoo_kwargs", {}))
    load_timm_state_dict(model, state_dict, strict=True)
    return reference, model


def test_required_reference_data_present():
    assert REQUIRED <= {p.stem for p in REFERENCE_FILES}
    for path in REFERENCE_FILES:
        assert path.stat().st_size < 100_000, f"{path.name} is too large; store no weights"


def test_matches_timm(reference_case):
    reference, model = reference_case
    logits = reference["logits"]
    output = model(reference["images"].astype(np.float32), training=False)
    assert output.shape == logits.shape
    error = relative_error(output, logits)
    tolerance = reference["manifest"].get("tolerance") or TOLERANCE
    assert error <= tolerance, (
        f"{model.name} differs from timm {reference['manifest']['timm_model']}: "
        f"max |diff| / max |ref| = {error:.2e} > {tolerance:.0e}")


def test_comparison_is_sensitive(reference_case):
    """The reference is not degenerate: it depends on the input and on the first layer's layout."""
    reference, model = reference_case
    logits = reference["logits"]
    assert relative_error(logits[0], logits[1]) > 100 * TOLERANCE, "both samples give the same logits"
    # A spatially flipped stem kernel is what a layout or padding slip looks like.
    kernel = next(layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)).kernel
    original = np.asarray(kernel)
    try:
        kernel.assign(original[::-1, ::-1])
        flipped = model(reference["images"].astype(np.float32), training=False)
    finally:
        kernel.assign(original)
    assert relative_error(flipped, logits) > 100 * TOLERANCE


# ---- load_timm_state_dict on a tiny model, against NumPy in PyTorch's layouts ----

def tiny_model() -> keras.Model:
    inputs = keras.Input((3, 3, 4))
    x = keras.layers.DepthwiseConv2D(3, depth_multiplier=2, use_bias=True, name="blocks_0_0_conv_dw")(inputs)
    x = keras.layers.BatchNormalization(epsilon=1e-5, name="blocks_0_0_bn1")(x)
    x = keras.layers.Conv2D(5, 1, use_bias=False, name="blocks_0_0_conv_pw")(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(3, name="classifier")(x)
    return keras.Model(inputs, x, name="tiny")


def tiny_state_dict() -> dict:
    return deterministic_state_dict({
        "blocks.0.0.conv_dw.weight": (8, 1, 3, 3),
        "blocks.0.0.conv_dw.bias": (8,),
        "blocks.0.0.bn1.weight": (8,),
        "blocks.0.0.bn1.bias": (8,),
        "blocks.0.0.bn1.running_mean": (8,),
        "blocks.0.0.bn1.running_var": (8,),
        "blocks.0.0.bn1.num_batches_tracked": (),
        "blocks.0.0.conv_pw.weight": (5, 8, 1, 1),
        "classifier.weight": (3, 5),
        "classifier.bias": (3,),
    })


def torch_semantics_forward(x: np.ndarray, sd: dict) -> np.ndarray:
    """The tiny model in NumPy, reading weights in PyTorch layout (one 3x3 input -> one position)."""
    w = sd["blocks.0.0.conv_dw.weight"]  # [c * m, 1, kh, kw]; output c * m + j reads input channel c
    multiplier = w.shape[0] // x.shape[-1]
    y = np.stack([np.sum(x[:, :, :, o // multiplier] * w[o, 0], axis=(1, 2)) for o in range(w.shape[0])], -1)
    y = y + sd["blocks.0.0.conv_dw.bias"]
    y = (y - sd["blocks.0.0.bn1.running_mean"]) / np.sqrt(sd["blocks.0.0.bn1.running_var"] + 1e-5)
    y = y * sd["blocks.0.0.bn1.weight"] + sd["blocks.0.0.bn1.bias"]
    y = y @ sd["blocks.0.0.conv_pw.weight"][:, :, 0, 0].T
    return y @ sd["classifier.weight"].T + sd["classifier.bias"]


def test_layouts_match_pytorch_semantics():
    model, sd = tiny_model(), tiny_state_dict()
    load_timm_state_dict(model, sd)
    x = np.random.default_rng(0).standard_normal((2, 3, 3, 4)).astype(np.float32)
    np.testing.assert_allclose(model(x, training=False), torch_semantics_forward(x, sd), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("change, message", [
    (lambda sd: sd.pop("blocks.0.0.bn1.running_var"), "missing keys"),
    (lambda sd: sd.update({"head.fc.weight": np.zeros((3, 5), np.float32)}), "unexpected keys"),
    (lambda sd: sd.update({"classifier.weight": np.zeros((4, 5), np.float32)}), "shape mismatches"),
    (lambda sd: sd.update({"blocks.0.0.conv_dw.weight": np.zeros((8, 2, 3, 3), np.float32)}), "shape mismatches"),
])
def test_strict_load_rejects_and_leaves_model_untouched(change, message):
    model, sd = tiny_model(), tiny_state_dict()
    before = [np.asarray(w).copy() for w in model.weights]
    change(sd)
    with pytest.raises(ValueError, match=message):
        load_timm_state_dict(model, sd, strict=True)
    for old, new in zip(before, model.weights):
        np.testing.assert_array_equal(old, new)


def test_non_strict_load_skips_mismatched_classifier():
    model, sd = tiny_model(), tiny_state_dict()
    head_before = np.asarray(model.get_layer("classifier").kernel).copy()
    sd["classifier.weight"] = np.ones((10, 5), np.float32)
    sd["classifier.bias"] = np.ones((10,), np.float32)
    with pytest.warns(UserWarning, match="classifier.weight"):
        load_timm_state_dict(model, sd, strict=False)
    np.testing.assert_array_equal(model.get_layer("blocks_0_0_conv_pw").kernel,
                                  np.transpose(sd["blocks.0.0.conv_pw.weight"], (2, 3, 1, 0)))
    np.testing.assert_array_equal(model.get_layer("classifier").kernel, head_before)


def test_module_path_hook_maps_renamed_layers():
    model, sd = tiny_model(), tiny_state_dict()
    sd = {k.replace("classifier.", "head.fc."): v for k, v in sd.items()}
    with pytest.raises(ValueError, match="no timm module"):
        load_timm_state_dict(model, sd)
    load_timm_state_dict(model, sd, module_path=lambda layer: "head.fc" if layer == "classifier" else None)
    np.testing.assert_array_equal(model.get_layer("classifier").kernel, sd["head.fc.weight"].T)
