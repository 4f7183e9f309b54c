"""Shared pytest setup: quiet TensorFlow, small thread pools, common fixtures."""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import pytest  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REFERENCE_DATA = os.path.join(REPO, "tests", "reference_data")


@pytest.fixture(scope="session")
def tfzoo_cmd():
    """The command prefix that runs the installed CLI with this interpreter."""
    return [sys.executable, "-m", "tfzoo.cli.main"]
