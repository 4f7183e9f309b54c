"""`import tfzoo` loads no TensorFlow, yet every subpackage is an attribute (imported on first access)."""

import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

CHECK = """
import sys
import tfzoo
assert "tensorflow" not in sys.modules and "keras" not in sys.modules, "import tfzoo loaded TensorFlow"
assert tfzoo.recipes.list_recipes() and "tensorflow" not in sys.modules
from tfzoo.training import TrainConfig  # the configuration needs no TensorFlow either
assert "tensorflow" not in sys.modules
assert tfzoo.optimizers.LAMB.__name__ == "LAMB"
for name in ("layers", "losses", "convert", "data", "training", "export", "models", "visualize"):
    assert getattr(tfzoo, name).__name__ == "tfzoo." + name
assert callable(tfzoo.training.train) and callable(tfzoo.export.predict_files) and callable(tfzoo.visualize.cam)
try:
    tfzoo.no_such_thing
except AttributeError as error:
    assert "no_such_thing" in str(error)
else:
    raise AssertionError("tfzoo.no_such_thing did not raise")
print("ok")
"""


def test_subpackages_are_lazy_attributes():
    env = dict(os.environ, PYTHONPATH=REPO, CUDA_VISIBLE_DEVICES="")
    result = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_output_into_a_closed_pipe_is_no_traceback():
    """``tfzoo list | head -1``: the reader leaves early; tfzoo stops quietly (exit 141, like SIGPIPE)."""
    env = dict(os.environ, PYTHONPATH=REPO)
    process = subprocess.Popen([sys.executable, "-m", "tfzoo.cli.main", "list"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env=env)
    process.stdout.close()  # the reader is gone before tfzoo writes a line
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 141 and b"Traceback" not in stderr, stderr.decode()


ONEDNN = """
import os, sys
from absl import flags
from tfzoo.cli import _runtime
from tfzoo.cli.flags import define_onednn_flag
define_onednn_flag()
flags.FLAGS(["tfzoo"] + sys.argv[1:])
os.environ["TF_ENABLE_ONEDNN_OPTS"] = "unchanged"
_runtime._apply_onednn_flag()
print(os.environ["TF_ENABLE_ONEDNN_OPTS"])
"""


def test_onednn_flag_sets_the_variable_tensorflow_reads_at_import():
    """``--onednn`` / ``--noonednn`` win over the environment; unset, TensorFlow's own choice stays."""
    env = dict(os.environ, PYTHONPATH=REPO)
    outputs = [subprocess.run([sys.executable, "-c", ONEDNN, *args], capture_output=True, text=True, env=env,
                              timeout=120).stdout.strip() for args in (["--onednn"], ["--noonednn"], [])]
    assert outputs == ["1", "0", "unchanged"]
