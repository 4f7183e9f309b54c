"""Session fixtures for the export tests: one exported model, shared by every test that only reads it."""

from __future__ import annotations

import pytest
import tensorflow as tf

from tests.export.export_testlib import CLASS_NAMES, PREPROCESS, make_image, mobilenet
from tfzoo.export.saved_model import export_saved_model


@pytest.fixture(scope="session")
def prob_model():
    return mobilenet("softmax", seed=0)


@pytest.fixture(scope="session")
def export_base(tmp_path_factory):
    return str(tmp_path_factory.mktemp("exports") / "mobilenet")


@pytest.fixture(scope="session")
def exported(prob_model, export_base):
    """Version 1 of the softmax model, with class names and top-3."""
    return export_saved_model(prob_model, export_base, preprocess=PREPROCESS, class_names=CLASS_NAMES, top_k=3)


@pytest.fixture(scope="session")
def loaded(exported):
    return tf.saved_model.load(exported)


@pytest.fixture(scope="session")
def encoded_images():
    """{"jpeg": bytes, "png": bytes} of non-square images larger than the model input."""
    return {
        "jpeg": tf.io.encode_jpeg(make_image(50, 40, seed=1), quality=95).numpy(),
        "png": tf.io.encode_png(make_image(40, 50, seed=2)).numpy(),
    }
