"""LV-ViT: official parameter counts (reduced builds for M/L), checkpoint loading, the training view."""

import json
import os

import numpy as np
import pytest

import tfzoo
from tests.conftest import REFERENCE_DATA
from tfzoo.convert import deterministic_state_dict
from tfzoo.models.lvvit import REGISTERED, VARIANTS, token_labeling_view

# Too slow to build whole in the suite (56M-151M parameters): their counts come from depth-1/2 builds below.
HEAVY_MODELS = [name for name, size in REGISTERED.items() if size.variant in ("m", "l")]
OFFICIAL_COUNTS = json.load(open(os.path.join(REFERENCE_DATA, "lvvit_counts.json")))


def _trainable(model):
    return sum(int(np.prod(v.shape)) for v in model.trainable_weights)


def test_registered_counts_are_the_official_ones():
    assert set(REGISTERED) == {k for k in OFFICIAL_COUNTS if not k.startswith("_")}
    for name, size in REGISTERED.items():
        assert size.num_params == OFFICIAL_COUNTS[name]
        assert tfzoo.model_info(name)["num_params"] == OFFICIAL_COUNTS[name]


@pytest.mark.parametrize("name", HEAVY_MODELS)
def test_heavy_counts_from_shallow_builds(name):
    """Blocks are identical, so count(depth) is linear: build depth 1 and 2 and extrapolate to the full depth."""
    size = REGISTERED[name]
    shape = (size.input_size, size.input_size, 3)
    one, two = (_trainable(tfzoo.create_model(name, input_shape=shape, depth=d)) for d in (1, 2))
    assert one + (two - one) * (VARIANTS[size.variant].depth - 1) == OFFICIAL_COUNTS[name]


def _official_state_dict():
    with np.load(os.path.join(REFERENCE_DATA, "lvvit_t.npz")) as data:
        manifest = json.loads(str(data["manifest"]))
        images, logits = data["images"].astype("float32"), data["logits"]
    shapes = {key: tuple(shape) for key, shape in manifest["state_dict"]}
    return deterministic_state_dict(shapes, weight_scale=manifest["weight_scale"]), images, logits


def test_official_checkpoint_as_safetensors_gives_the_official_outputs(tmp_path):
    from safetensors.numpy import save_file

    state_dict, images, logits = _official_state_dict()
    path = str(tmp_path / "lvvit_t.safetensors")
    # As saved from a DistributedDataParallel run: every key under "module.".
    save_file({f"module.{k}": v for k, v in state_dict.items() if not k.endswith("num_batches_tracked")}, path)
    model = tfzoo.create_model("lvvit_t", input_shape=(64, 64, 3), img_size=64, classifier_activation=None,
                               weights=path)
    output = np.asarray(model(images))
    assert np.max(np.abs(output - logits)) / np.max(np.abs(logits)) <= 1e-5
    # At the default img_size (224) the 4x4 pos_embed is resampled to 14x14 on load, as timm does.
    headless = tfzoo.create_model("lvvit_t", input_shape=(64, 64, 3), include_top=False, pooling="token",
                                  weights=path)
    assert headless.output_shape == (None, 240)
    # The pretrained-weights path (`create_model(..., pretrained=PATH)`) reads the same file.
    pretrained = tfzoo.create_model("lvvit_t", input_shape=(64, 64, 3), img_size=64, classifier_activation=None,
                                    pretrained=path)
    np.testing.assert_allclose(np.asarray(pretrained(images)), output, rtol=0, atol=1e-6)
    assert pretrained.zoo_info["pretrained"] == path


def test_token_labeling_view_shares_weights_and_unmixes():
    model = tfzoo.create_model("lvvit_t", input_shape=(64, 64, 3), num_classes=5, depth=2, mix_token=True,
                               classifier_activation=None)
    view = token_labeling_view(model)
    x = np.random.default_rng(0).normal(size=(4, 64, 64, 3)).astype("float32")
    out = view(x, training=False)
    assert out["aux"].shape == (4, 16, 5) and out["cls"].shape == (4, 5)
    np.testing.assert_allclose(out["lam"], 1.0)
    # Inference output = cls + 0.5 * max over tokens of aux.
    np.testing.assert_allclose(np.asarray(model(x)), out["cls"] + 0.5 * np.max(out["aux"], axis=1), atol=1e-5)
    assert len(view.trainable_weights) == len(model.trainable_weights)
    mixed = view(x, training=True)
    lam = float(np.asarray(mixed["lam"])[0, 0])
    assert 0.0 <= lam <= 1.0 and np.all(np.asarray(mixed["lam"]) == lam)
