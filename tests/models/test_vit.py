"""ViT, DeiT and MLP-Mixer: counts, heads, resampling against timm, mixed precision, XLA and saving.

Cost: ViT-B/L, DeiT-B and Mixer-B/L (60M-304M parameters) take seconds to
minutes to build here, so `test_all_models.py` builds only the Ti/S models
(`HEAVY_MODELS` lists the rest). Their counts are still checked exactly here,
by a closed formula (`vit.num_params`, `mixer.num_params`) that must
reproduce timm's figure for every registered name and must equal the
trainable count of shallow builds of the same blocks.

The resampling position embedding is checked end to end against timm
(``tests/reference_data/transformers/vit_tiny_resample.npz``, written by
``scripts/make_layer_references.py``): ``vit_tiny_patch16_224`` with 224-px
weights run at 64 px must equal timm's ``dynamic_img_size=True`` model, and a
model built for 64 px must load the 224-px state dict (``pos_embed``
resampled by the converter) and equal timm's ``checkpoint_filter_fn`` path.
"""

import json
import os
import pathlib

import keras
import numpy as np
import pytest

import tfzoo
from tests.conftest import REFERENCE_DATA
from tfzoo.convert import checksums, deterministic_state_dict, load_timm_state_dict
from tfzoo.errors import UsageError
from tfzoo.models import deit, mixer, vit
from tfzoo.models.deit import distillation_heads

FAMILIES = {"vit": vit, "deit": deit, "mlp_mixer": mixer}
TRANSFORMER_NAMES = [name for name in tfzoo.list_models() if tfzoo.model_info(name)["family"] in FAMILIES]
HEAVY_MODELS = sorted(name for name in TRANSFORMER_NAMES if tfzoo.model_info(name)["num_params"] > 50_000_000)
RESAMPLE = pathlib.Path(REFERENCE_DATA) / "transformers" / "vit_tiny_resample.npz"
TOLERANCE = 1e-5  # max |diff| / max |reference|


def _trainable(model):
    return sum(int(np.prod(v.shape)) for v in model.trainable_weights)


def _config(name):
    spec = tfzoo.models.registry.get_spec(name)
    return FAMILIES[spec.family].VARIANTS[spec.kwargs["variant"]], spec.family


def _relative(output, reference):
    return float(np.max(np.abs(np.asarray(output) - reference)) / np.max(np.abs(reference)))


def test_every_name_is_registered():
    expected = {f"{prefix}_{v}" for prefix, module in (("vit", vit), ("deit", deit), ("mixer", mixer))
                for v in module.VARIANTS if v != SHALLOW}
    assert set(TRANSFORMER_NAMES) == expected
    assert len(expected) == 6 + 8 + 6


@pytest.mark.parametrize("name", TRANSFORMER_NAMES)
def test_count_formula_reproduces_timm(name):
    config, family = _config(name)
    count = mixer.num_params(config) if family == "mlp_mixer" else vit.num_params(config)
    assert count == tfzoo.model_info(name)["num_params"]
    with open(os.path.join(REFERENCE_DATA, "param_counts.json")) as handle:
        reference = json.load(handle)
    if name in reference:
        assert count == reference[name]


@pytest.mark.parametrize("distilled", [False, True])
def test_count_formula_matches_a_shallow_build(monkeypatch, distilled):
    config = vit.ViTConfig(patch_size=8, embed_dim=24, depth=2, num_heads=2, img_size=32, distilled=distilled)
    monkeypatch.setitem(deit.VARIANTS, "test", config)
    model = deit.DeiT("test", num_classes=7, input_shape=(16, 16, 3))  # another input: same count
    assert _trainable(model) == vit.num_params(config, num_classes=7)


def test_mixer_count_formula_matches_a_shallow_build(monkeypatch):
    config = mixer.MixerConfig(patch_size=8, num_blocks=2, embed_dim=24)
    monkeypatch.setitem(mixer.VARIANTS, "test", config)
    model = mixer.MLPMixer("test", num_classes=7, input_shape=(32, 32, 3))
    assert _trainable(model) == mixer.num_params(config, image_size=32, num_classes=7)


def test_registered_configs_match_timm():
    """timm's default pretrained configs (timm 1.0.31, the default tag of each name)."""
    for name in TRANSFORMER_NAMES:
        info = tfzoo.model_info(name)
        assert info["interpolation"] == "bicubic"
        assert info["input_size"] == (384 if name.endswith("_384") else 224)
        if info["family"] == "mlp_mixer":
            assert (info["crop_pct"], info["mean"], info["std"]) == (0.875, (0.5,) * 3, (0.5,) * 3)
        else:
            assert info["crop_pct"] == (1.0 if name.endswith("_384") else 0.9)
            mean = (0.485, 0.456, 0.406) if info["family"] == "deit" else (0.5,) * 3
            assert info["mean"] == mean


def test_entry_points():
    model = tfzoo.models.ViT(variant="tiny_patch16_224", input_shape=(32, 32, 3), num_classes=3)
    assert model.output_shape == (None, 3)
    with pytest.raises(UsageError, match="unknown ViT variant 'huge'; choose one of tiny_patch16_224"):
        tfzoo.models.ViT(variant="huge")
    with pytest.raises(UsageError, match="pooling"):
        tfzoo.models.MLPMixer(variant="s32_224", include_top=False, pooling="token")
    with pytest.raises(UsageError, match="fixed input size"):
        tfzoo.models.MLPMixer(variant="s32_224", input_shape=(None, None, 3))


# ---- resampling against timm ----

@pytest.fixture(scope="module")
def resample_reference():
    with np.load(RESAMPLE, allow_pickle=False) as data:
        arrays = {key: data[key] for key in data.files}
    manifest = json.loads(str(arrays["manifest"]))
    state_dict = deterministic_state_dict({k: tuple(s) for k, s in manifest["state_dict"]},
                                          weight_scale=manifest["weight_scale"])
    np.testing.assert_allclose(checksums(state_dict), arrays["checksums"], rtol=1e-6)
    return arrays, state_dict


def test_runs_at_another_size_like_timm_dynamic_img_size(resample_reference):
    arrays, state_dict = resample_reference
    model = tfzoo.create_model("vit_tiny_patch16_224", input_shape=(64, 64, 3), classifier_activation=None)
    load_timm_state_dict(model, state_dict)  # a 14x14 grid, resampled to 4x4 at run time
    logits = model(arrays["images"].astype(np.float32))
    assert _relative(logits, arrays["logits_dynamic"]) <= TOLERANCE


def test_loads_a_224_checkpoint_at_another_size_like_timm(resample_reference):
    arrays, state_dict = resample_reference
    model = tfzoo.create_model("vit_tiny_patch16_224", input_shape=(64, 64, 3), img_size=64,
                               classifier_activation=None)
    load_timm_state_dict(model, state_dict)  # resampled to 4x4 by the converter
    np.testing.assert_allclose(model.get_layer("pos_embed").pos_embed.numpy(), arrays["pos_embed_64"],
                               rtol=0, atol=1e-5)
    assert _relative(model(arrays["images"].astype(np.float32)), arrays["logits_converted"]) <= TOLERANCE


# ---- heads, pooling, features ----
# These build the registered names with a two-block variant of the same layers (``variant=SHALLOW``): what
# they check (token order, heads, pooling, dtypes, XLA, saving) does not depend on depth or width, and the
# full Ti models would cost minutes of the suite's budget (the Ti/S models are built in test_all_models.py).

SHALLOW = "shallow"
SHALLOW_CONFIGS = {
    vit: vit.ViTConfig(patch_size=16, embed_dim=48, depth=2, num_heads=2),
    deit: vit.ViTConfig(patch_size=16, embed_dim=48, depth=2, num_heads=2, distilled=True),
    mixer: mixer.MixerConfig(patch_size=32, num_blocks=2, embed_dim=64),
}


@pytest.fixture(autouse=True)
def shallow_variants(monkeypatch):
    for module, config in SHALLOW_CONFIGS.items():
        monkeypatch.setitem(module.VARIANTS, SHALLOW, config)


def _shallow(name, **kwargs):
    return tfzoo.create_model(name, variant=SHALLOW, **kwargs)


def _images(size=32, batch=2, seed=0):
    return np.random.default_rng(seed).standard_normal((batch, size, size, 3)).astype(np.float32)


def test_distilled_output_is_the_mean_of_both_heads():
    model = _shallow("deit_tiny_distilled_patch16_224", input_shape=(32, 32, 3), num_classes=5,
                     classifier_activation=None)
    heads = distillation_heads(model)
    x = _images()
    cls_logits, dist_logits = (t.numpy() for t in heads(x))
    assert not np.allclose(cls_logits, dist_logits)
    np.testing.assert_allclose(model(x).numpy(), (cls_logits + dist_logits) / 2, rtol=1e-5, atol=1e-6)
    # The view shares the model's layers: changing the model's head changes the view.
    assert heads.get_layer("head_dist") is model.get_layer("head_dist")
    bias = model.get_layer("head_dist").bias
    old_bias = bias.numpy()
    bias.assign(old_bias + 3.0)
    np.testing.assert_allclose(heads(x)[1].numpy(), dist_logits + 3.0, rtol=1e-5, atol=1e-5)
    bias.assign(old_bias)
    probabilities = _shallow("deit_tiny_distilled_patch16_224", input_shape=(32, 32, 3), num_classes=5)
    probabilities.set_weights(model.get_weights())
    np.testing.assert_allclose(probabilities(x).numpy(), keras.ops.softmax(model(x)).numpy(), rtol=1e-5, atol=1e-6)


def test_distillation_heads_rejects_other_models():
    model = _shallow("vit_tiny_patch16_224", input_shape=(32, 32, 3))
    with pytest.raises(ValueError, match="not a distilled DeiT"):
        distillation_heads(model)


@pytest.mark.parametrize("name, prefix", [("vit_tiny_patch16_224", 1), ("deit_tiny_distilled_patch16_224", 2),
                                          ("mixer_s32_224", 0)])
def test_headless_poolings(name, prefix):
    size = 64
    tokens_model = _shallow(name, include_top=False, input_shape=(size, size, 3))
    patch = tfzoo.model_info(name)["feature_strides"][0]  # the shallow variants keep the patch size
    assert tokens_model.output_shape == (None, prefix + (size // patch) ** 2, tokens_model.output_shape[-1])
    x = _images(size)
    tokens = tokens_model(x).numpy()
    poolings = {"avg": tokens[:, prefix:].mean(1), "max": tokens[:, prefix:].max(1)}
    if prefix:
        poolings["token"] = tokens[:, :prefix].mean(1)  # the class token; DeiT distilled: mean with the dist token
    for pooling, expected in poolings.items():
        pooled = _shallow(name, include_top=False, pooling=pooling, input_shape=(size, size, 3))
        pooled.set_weights(tokens_model.get_weights())
        np.testing.assert_allclose(pooled(x).numpy(), expected, rtol=1e-5, atol=1e-5)
    features = _shallow(name, features_only=True, input_shape=(size, size, 3))
    features.set_weights(tokens_model.get_weights())
    grid = size // patch
    np.testing.assert_allclose(features(x)[f"stride_{patch}"].numpy(),
                               tokens[:, prefix:].reshape(2, grid, grid, -1), rtol=1e-6, atol=1e-6)


def test_features_at_run_time_size():
    features = _shallow("deit_tiny_distilled_patch16_224", features_only=True, input_shape=(None, None, 3))
    out = features(np.zeros((1, 96, 48, 3), np.float32))["stride_16"]
    assert out.shape == (1, 6, 3, 48)


# ---- mixed precision, XLA, saving ----

SMALL = ["vit_tiny_patch16_224", "deit_tiny_distilled_patch16_224"]


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
@pytest.mark.parametrize("name", SMALL)
def test_mixed_precision_forward_and_step(name, policy):
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        model = _shallow(name, input_shape=(32, 32, 3), num_classes=4)
        x = _images()
        y = model(x, training=False)
        assert keras.backend.standardize_dtype(y.dtype) == "float32"
        assert np.all(np.isfinite(y.numpy()))
        np.testing.assert_allclose(y.numpy().sum(1), 1.0, rtol=1e-3)
        if name.startswith("deit"):  # one training step (the more complex model; ~13 s of tracing each)
            model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
            loss = model.train_on_batch(x, np.array([0, 3]))
            assert np.isfinite(loss)
            heads = distillation_heads(model)
            assert all(keras.backend.standardize_dtype(t.dtype) == "float32" for t in heads(x))
    finally:
        keras.config.set_dtype_policy(previous)


@pytest.mark.parametrize("name", SMALL + ["mixer_s32_224"])
def test_xla_forward_matches_eager(name):
    model = _shallow(name, input_shape=(64, 64, 3), num_classes=4, classifier_activation=None)
    x = _images(64)
    model.compile(jit_compile=True)
    np.testing.assert_allclose(model.predict(x, verbose=0), model(x).numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", SMALL)
def test_keras_file_round_trip_safe_mode(name, tmp_path):
    model = _shallow(name, input_shape=(32, 32, 3), num_classes=4, drop_path_rate=0.1)
    x = _images()
    y = model(x).numpy()
    path = str(tmp_path / f"{name}.keras")
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(loaded(x).numpy(), y, rtol=1e-6, atol=1e-7)
    # A 32-px model's file runs at 64 px (the position embedding resamples) once rebuilt at that size.
    bigger = _shallow(name, input_shape=(64, 64, 3), num_classes=4, drop_path_rate=0.1)
    bigger.load_weights(path)
    assert np.all(np.isfinite(bigger(_images(64)).numpy()))
    if name.startswith("deit"):
        cls_logits, dist_logits = distillation_heads(loaded)(x)
        assert cls_logits.shape == dist_logits.shape == (2, 4)


def _numpy_sincos(grid_h, grid_w, dim, temperature=10000.0):
    """MoCo v3's table by loops: patch m gets (sin, cos)(a w_d), (sin, cos)(b w_d), a = m // gh, b = m % gh."""
    quarter = dim // 4
    table = np.zeros((1 + grid_h * grid_w, dim))  # row 0: the class token's zeros
    for m in range(grid_h * grid_w):
        a, b = m // grid_h, m % grid_h
        for d in range(quarter):
            omega = temperature ** (-d / quarter)
            table[1 + m, [d, quarter + d, 2 * quarter + d, 3 * quarter + d]] = [
                np.sin(a * omega), np.cos(a * omega), np.sin(b * omega), np.cos(b * omega)]
    return table[None]


def test_moco_v3_sincos_position_embedding_and_frozen_patch_embed(monkeypatch, tmp_path):
    from tfzoo.layers.pos_embed import AbsolutePositionEmbedding, sincos_2d_position_embedding

    np.testing.assert_allclose(sincos_2d_position_embedding((3, 3), 8), _numpy_sincos(3, 3, 8), atol=1e-6)
    np.testing.assert_allclose(sincos_2d_position_embedding((2, 3), 12), _numpy_sincos(2, 3, 12), atol=1e-6)
    with pytest.raises(ValueError, match="divisible by 4"):
        sincos_2d_position_embedding((2, 2), 6)
    with pytest.raises(ValueError, match="embedding"):
        AbsolutePositionEmbedding(embedding="rope")

    config = vit.ViTConfig(patch_size=8, embed_dim=24, depth=1, num_heads=2, img_size=32)
    monkeypatch.setitem(vit.VARIANTS, "test", config)
    default = vit.ViT("test", num_classes=3)
    moco = vit.ViT("test", num_classes=3, pos_embed="sincos", freeze_patch_embed=True)
    assert default.count_params() == moco.count_params() == vit.num_params(config, num_classes=3)
    frozen = (1 + 16) * 24 + (8 * 8 * 3 * 24 + 24)  # the table and the patch conv's kernel and bias
    assert _trainable(moco) == _trainable(default) - frozen
    np.testing.assert_allclose(moco.get_layer("pos_embed").pos_embed.numpy(), _numpy_sincos(4, 4, 24), atol=1e-6)
    assert "embedding" not in default.get_layer("pos_embed").get_config()  # default configs unchanged
    path = str(tmp_path / "moco_vit.keras")
    moco.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert _trainable(loaded) == _trainable(moco) and not loaded.get_layer("patch_embed_proj").trainable
    x = _images()
    np.testing.assert_allclose(loaded(x).numpy(), moco(x).numpy(), rtol=1e-6, atol=1e-6)
