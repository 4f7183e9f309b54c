"""Errors that the command line turns into one line instead of a traceback.

- `UsageError`: a mistake in how tfzoo was called; the CLI prints it as one
  line on stderr and exits with code 2. Python callers can catch it like any
  `ValueError`.
- `TrainingDiverged`: training stopped because the loss or the weights became
  non-finite; not a usage mistake, so the CLI prints one line and exits with
  code 1. The run directory keeps its last finite epoch.
"""


class UsageError(ValueError):
    """A mistake in how tfzoo was called, with a message that says how to fix it."""


class TrainingDiverged(RuntimeError):
    """Training produced a non-finite loss or weights; the message says where and what to try."""
