"""The shipped model catalog (tfzoo/models/catalog.json) and the TensorFlow-free `tfzoo list`."""

import subprocess
import sys

import pytest

from tfzoo import catalog
from tfzoo.errors import UsageError
from tfzoo.models import registry


def test_shipped_catalog_equals_the_live_registry():
    # On failure: run `python -m tfzoo.catalog --write` and commit tfzoo/models/catalog.json.
    reason = catalog.stale_reason()
    assert reason is None, reason


def test_catalog_answers_like_the_registry():
    for pattern in ("*", "resnet*", "small", "mobilenet_v3*"):
        assert catalog.list_models(pattern) == registry.list_models(pattern)
    assert catalog.list_models(include_aliases=True) == registry.list_models(include_aliases=True)
    for name in ("resnet50", "mobilenet_v3", "efficientnet_b3", "vgg11_gap"):
        assert catalog.model_info(name) == registry.model_info(name)
    with pytest.raises(UsageError, match="unknown model"):
        catalog.model_info("resnet9000")


def test_natural_order():
    assert catalog.list_models("resnet*") == ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152"]
    assert registry.list_models("resnet*") == catalog.list_models("resnet*")


def test_list_runs_without_tensorflow():
    script = "\n".join([
        "import sys; from tfzoo.cli import main",
        "try:\n    main.main(['tfzoo', 'list', 'resnet*'])\nexcept SystemExit as exit:\n    assert not exit.code",
        "heavy = sorted(m for m in ('tensorflow', 'keras', 'tfzoo.models') if m in sys.modules)",
        "print('IMPORTED', heavy)",
    ])
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[-1] == "IMPORTED []"
    assert lines[0].split() == ["name", "params", "input", "family"]
    assert [line.split()[0] for line in lines[1:-1]] == ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152"]
    assert lines[3].split()[1:] == ["25.56M", "224", "resnet"]
