"""Model-name matching and natural sort, shared by the registry and the TensorFlow-free catalog."""

from __future__ import annotations

import fnmatch
import re

_DIGITS = re.compile(r"(\d+)")


def natural_key(name: str) -> tuple:
    """Sort key that orders digit runs by value: resnet18 < resnet34 < resnet50 < resnet101 < resnet152."""
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part) for part in _DIGITS.split(name) if part)


def match_names(names, pattern: str = "*") -> list[str]:
    """The names matching a shell-style pattern, in natural order.

    Args:
        names: Candidate names.
        pattern: fnmatch pattern, e.g. ``"resnet*"``; a plain word without
            wildcards matches names that contain it.
    """
    if not any(ch in pattern for ch in "*?["):
        pattern = f"*{pattern}*"
    return sorted((n for n in names if fnmatch.fnmatchcase(n, pattern)), key=natural_key)
