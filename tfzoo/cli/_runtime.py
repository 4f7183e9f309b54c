"""What every verb shares: the one-line error exit and the quiet, lazy TensorFlow import.

Verb modules must not import TensorFlow at module level: ``tfzoo VERB
--help`` and flag errors are answered before it loads. A verb whose module
sets ``LOADS_TENSORFLOW_ITSELF = True`` calls `load_tensorflow` when it needs
it (e.g. `tfzoo train` after validating its flags); for every other verb
`tfzoo.cli.main` loads it before calling the verb's ``main``.
"""

from __future__ import annotations

import os
import sys

from tfzoo.utils.stdio import native_stderr_captured

# The recipe `tfzoo.cli.main.expand_recipe` turned into a --flagfile (None: no --recipe on the command line).
expanded_recipe: str | None = None


def fail(message: str, prog: str = "tfzoo", code: int = 2) -> None:
    """Prints one line on stderr and exits with `code` (2: a usage mistake)."""
    message = " ".join(str(message).split())
    print(f"{prog}: error: {message}", file=sys.stderr, flush=True)
    sys.exit(code)


def load_tensorflow() -> None:
    """Imports TensorFlow without its C++ start-up chatter on stderr (idempotent).

    TensorFlow 2.21 logs oneDNN and CUDA probing lines while it loads, before
    its logging honours TF_CPP_MIN_LOG_LEVEL, and they would bury a one-line
    error. Unless the user set TF_CPP_MIN_LOG_LEVEL (e.g. 0 to debug), the
    import runs with stderr captured; the capture is replayed if it fails.
    """
    if "tensorflow" in sys.modules:
        return
    _apply_onednn_flag()
    if "TF_CPP_MIN_LOG_LEVEL" in os.environ:
        import tensorflow  # noqa: F401
        return
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    with native_stderr_captured(replay_on=(BaseException,)):
        import tensorflow
    tensorflow.get_logger().setLevel("ERROR")


def _apply_onednn_flag() -> None:
    """``--onednn`` / ``--noonednn`` (`tfzoo.cli.flags.define_onednn_flag`) as TF_ENABLE_ONEDNN_OPTS.

    TensorFlow reads the variable once, while it loads; unset, it turns
    oneDNN on only for CPUs with AVX-512 (so not for AVX2-only ones such as
    AMD Zen 3, where ResNet-18's training step at 32 px is 5x faster with
    it: BENCHMARKS.md). The flag, when given, wins over the environment.
    """
    from absl import flags

    if "onednn" not in flags.FLAGS or not flags.FLAGS.is_parsed() or flags.FLAGS.onednn is None:
        return
    os.environ["TF_ENABLE_ONEDNN_OPTS"] = "1" if flags.FLAGS.onednn else "0"
