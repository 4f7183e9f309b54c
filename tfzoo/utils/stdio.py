"""Native (file-descriptor level) stderr capture.

C libraries linked into TensorFlow write straight to file descriptor 2:
libjpeg prints "Input file read error" or "Improper call to JPEG library in
state ..." while TensorFlow turns the same failure into an exception we
report as one line. `native_stderr_captured` redirects descriptor 2 to a
temporary file for the duration of a block, so only our own message reaches
the user.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile


@contextlib.contextmanager
def native_stderr_captured(replay_on: tuple[type[BaseException], ...] = (Exception,)):
    """Redirects file descriptor 2 to a temporary file inside the block.

    What the block wrote is dropped, except when it raises an exception of a
    type in `replay_on` (an unexpected failure): then the capture is written
    back to stderr before the exception propagates, so nothing that explains
    a bug is lost. Exceptions not in `replay_on` (expected ones, e.g. a decode
    error turned into a one-line message) propagate with the capture dropped.

    Args:
        replay_on: Exception types that bring the captured text back.
    """
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no descriptor 2 (e.g. a daemon): nothing to capture
        yield
        return
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        except replay_on:
            os.dup2(saved, 2)
            capture.seek(0)
            sys.stderr.write(capture.read().decode(errors="replace"))
            sys.stderr.flush()
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
