"""Training recipes shipped with the package: absl flag files, one per recipe.

Each ``NAME.flags`` file here holds `tfzoo train` flags, one per line; its
first comment line is the recipe's one-line description. They are package
data (in the wheel and the Docker image), so ``tfzoo train --recipe NAME``
works from any directory; flags given after ``--recipe`` override the
recipe's. ``tfzoo recipes`` lists them.
"""

from __future__ import annotations

import os

from tfzoo.errors import UsageError

SUFFIX = ".flags"


def recipe_dir() -> str:
    """The folder holding the packaged ``*.flags`` files."""
    return os.path.dirname(os.path.abspath(__file__))


def list_recipes() -> list[str]:
    """Names of the packaged recipes, sorted."""
    return sorted(name[: -len(SUFFIX)] for name in os.listdir(recipe_dir()) if name.endswith(SUFFIX))


def recipe_path(name: str) -> str:
    """Path of the flag file of recipe `name`.

    Raises:
        UsageError: if no packaged recipe has that name.
    """
    name = name[: -len(SUFFIX)] if name.endswith(SUFFIX) else name
    path = os.path.join(recipe_dir(), name + SUFFIX)
    if not name or os.sep in name or "/" in name or not os.path.isfile(path):
        raise UsageError(f"unknown recipe {name!r}; choose one of {', '.join(list_recipes())} (`tfzoo recipes` "
                         "describes them; pass a file of your own with --flagfile=PATH)")
    return path


def describe(name: str) -> str:
    """The recipe's one-line description: the first non-empty comment line of its file."""
    with open(recipe_path(name), encoding="utf-8") as handle:
        for line in handle:
            text = line.strip()
            if not text.startswith("#"):
                break
            text = text.lstrip("#").strip()
            if text:
                return text
    return ""
