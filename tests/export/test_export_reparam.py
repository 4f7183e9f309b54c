"""Export in inference form: RepVGG blocks in deploy form and conv -> BN pairs folded, both by default.

The exported SavedModel's probabilities must equal the trained (training-form) Keras model's, and the
metadata must say which form was written.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from tests.export.export_testlib import PREPROCESS, checkpoint_values, make_image
from tfzoo.training.benchmark import randomize_batch_norms
from tfzoo.data.preprocessing import normalize
from tfzoo.export.saved_model import export_saved_model, inference_form, read_export_metadata
from tfzoo.layers import RepVGGBlock, classifier

ATOL = 1e-5


def tiny_repvgg(seed=0) -> keras.Model:
    """A few RepVGG blocks (plain, grouped with identity, strided) and the tfzoo head, with random BN stats."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((32, 32, 3), name="images")
    x = RepVGGBlock(8, strides=2, name="stage0")(inputs)
    x = RepVGGBlock(8, groups=2, name="stage1_0")(x)
    x = RepVGGBlock(16, strides=2, groups=4, name="stage2_0")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = classifier(x, 4, name="linear")
    return randomize_batch_norms(keras.Model(inputs, outputs, name="tiny_repvgg"), seed=seed)


def tiny_conv_bn(seed=0) -> keras.Model:
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((32, 32, 3), name="images")
    x = keras.layers.Conv2D(8, 3, strides=2, use_bias=False, name="conv")(inputs)
    x = keras.layers.ReLU()(keras.layers.BatchNormalization(name="bn")(x))
    x = keras.layers.DepthwiseConv2D(3, use_bias=False, name="dw")(x)
    x = keras.layers.BatchNormalization(name="dw_bn")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    return randomize_batch_norms(keras.Model(inputs, classifier(x, 4, name="fc"), name="tiny_conv_bn"), seed=seed)


def _images():
    return np.stack([make_image(32, 32, seed=s) for s in (11, 12, 13)]).astype("float32")


def _check_export_matches(model, version_dir):
    images = _images()
    expected = model(normalize(images, PREPROCESS), training=False).numpy()
    outputs = tf.saved_model.load(version_dir).signatures["serving_default"](images=tf.constant(images))
    np.testing.assert_allclose(outputs["probabilities"].numpy(), expected, atol=ATOL, rtol=0)
    assert np.ptp(expected, axis=0).max() > 1e-3  # distinct predictions, so a wrong export would show


def test_repvgg_exports_in_deploy_form_with_equal_predictions(tmp_path):
    model = tiny_repvgg()
    version_dir = export_saved_model(model, str(tmp_path / "repvgg"), preprocess=PREPROCESS)
    assert read_export_metadata(version_dir)["form"] == {"form": "deploy", "reparameterized_layers": 3,
                                                         "fused_batchnorms": 0, "unfused_batchnorms": 0,
                                                         "precision": "float32"}
    # Only the deploy form's variables were saved: one kernel and bias per block, no BN statistics.
    saved = tf.saved_model.load(version_dir)
    names = sorted(v.name.split(":")[0] for v in saved.variables)
    assert names == ["linear/bias", "linear/kernel"] + [f"{block}/rbr_reparam/{weight}" for block in
                                                        ("stage0", "stage1_0", "stage2_0") for weight in
                                                        ("bias", "kernel")]
    deploy_params = sum(int(np.prod(v.shape)) for v in saved.variables)
    assert checkpoint_values(version_dir) == deploy_params == inference_form(
        model, reparameterize=True, fuse_bn=False)[0].count_params()  # each deploy weight stored once
    _check_export_matches(model, version_dir)


def test_fuse_bn_export_matches_and_training_form_can_be_kept(tmp_path):
    model = tiny_conv_bn()
    version_dir = export_saved_model(model, str(tmp_path / "convbn"), preprocess=PREPROCESS)  # fused by default
    assert read_export_metadata(version_dir)["form"] == {"form": "plain", "reparameterized_layers": 0,
                                                         "fused_batchnorms": 2, "unfused_batchnorms": 0,
                                                         "precision": "float32"}
    _check_export_matches(model, version_dir)

    kept, form = inference_form(tiny_repvgg(), reparameterize=False, fuse_bn=False)
    assert form == {"form": "training", "reparameterized_layers": 0, "fused_batchnorms": 0,
                    "unfused_batchnorms": 7, "precision": "float32"}  # 2 per block, 3 with an identity branch
    assert not kept.get_layer("stage0").deploy
    kept, form = inference_form(model, reparameterize=True, fuse_bn=False)  # --nofuse_bn
    assert kept is model and form["fused_batchnorms"] == 0 and form["unfused_batchnorms"] == 2


def test_bfloat16_export_stores_bfloat16_weights_and_serves_float32_probabilities(tmp_path):
    """``precision="bfloat16"``: folded first, weights rounded to bfloat16 once, probabilities still float32."""
    model = tiny_conv_bn()
    version_dir = export_saved_model(model, str(tmp_path / "bf16"), preprocess=PREPROCESS, precision="bfloat16")
    form = read_export_metadata(version_dir)["form"]
    assert (form["precision"], form["fused_batchnorms"], form["unfused_batchnorms"]) == ("bfloat16", 2, 0)
    saved = tf.saved_model.load(version_dir)
    assert {v.name.split(":")[0]: v.dtype for v in saved.variables} == {
        name: tf.bfloat16 for name in ("conv/kernel", "conv/bias", "dw/kernel", "dw/bias", "fc/kernel", "fc/bias")}
    images = _images()
    served = saved.signatures["serving_default"](images=tf.constant(images))["probabilities"]
    expected = model(normalize(images, PREPROCESS), training=False).numpy()
    assert served.dtype == tf.float32
    error = np.abs(served.numpy() - expected).max()
    assert 1e-6 < error < 2e-2  # rounded (so really bfloat16), but close: 8 mantissa bits, a few layers


def test_bfloat16_note_reads_the_cpu_flags():
    """``--precision bfloat16`` warns in one line on a CPU without AVX512-BF16 / AMX-BF16, and only there."""
    from tfzoo.export.precision import bfloat16_cpu_note, cpu_bfloat16_units

    zen3 = "processor\t: 0\nflags\t\t: fpu sse2 avx avx2 fma\n\nprocessor\t: 1\nflags\t\t: fpu sse2 avx avx2 fma\n"
    sapphire_rapids = "processor\t: 0\nflags\t\t: avx2 avx512f avx512_bf16 amx_bf16 amx_tile\n"
    assert cpu_bfloat16_units(zen3) is False
    assert cpu_bfloat16_units(sapphire_rapids) is True
    assert cpu_bfloat16_units("processor\t: 0\nFeatures\t: fp asimd bf16\n") is None  # no x86 flags line: unknown
    note = bfloat16_cpu_note("bfloat16", zen3)
    assert note.startswith("note: this CPU has no bfloat16 units") and "\n" not in note
    assert bfloat16_cpu_note("bfloat16", sapphire_rapids) is None
    assert bfloat16_cpu_note("float32", zen3) is None
