"""Errors that describe a user mistake rather than a bug.

The command line prints a `UsageError` as one line on stderr and exits with
code 2; Python callers can catch it like any `ValueError`.
"""


class UsageError(ValueError):
    """A mistake in how tfzoo was called, with a message that says how to fix it."""
