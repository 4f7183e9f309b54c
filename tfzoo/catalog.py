"""The model catalog: the registry's metadata, readable without TensorFlow.

Importing the model families imports Keras and TensorFlow (about 10 s), far
too slow for ``tfzoo list``. The registry's public metadata (`model_info` of
every registered name, and the aliases) is therefore shipped as package data,
``tfzoo/models/catalog.json``, generated from the live registry. After adding
or changing a registered model, regenerate it with one command:

    python -m tfzoo.catalog --write

``python -m tfzoo.catalog --check`` (and tests/models/test_catalog.py) fail
while the shipped file differs from the live registry, so it cannot go stale
unnoticed. The file has one line per model, so a merge conflict in it is
resolved by regenerating it.

`list_models` and `model_info` here answer like `tfzoo.models.registry`'s,
without importing a family; models registered at run time (by a user or a
test) are only in the live registry.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys

from tfzoo.errors import UsageError
from tfzoo.utils.names import match_names, natural_key

CATALOG_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "models", "catalog.json")
REGENERATE = "python -m tfzoo.catalog --write"
_TUPLE_FIELDS = ("mean", "std", "aliases", "feature_strides", "pretrained_tags")


def build() -> dict:
    """The catalog of the live registry (imports every family, so Keras and TensorFlow)."""
    import tfzoo.models  # noqa: F401  (registers every family)
    from tfzoo.models.registry import list_models, model_info

    names = list_models()
    models = {}
    for name in names:
        info = model_info(name)
        models[name] = {key: list(value) if isinstance(value, tuple) else value
                        for key, value in info.items() if key != "name"}
    aliases = {alias: model_info(alias)["name"] for alias in list_models(include_aliases=True) if alias not in names}
    return {"models": models, "aliases": dict(sorted(aliases.items(), key=lambda item: natural_key(item[0])))}


def render(catalog: dict) -> str:
    """The catalog as the shipped file's text: one line per model and alias, in natural order."""
    def block(entries: dict) -> str:
        lines = [f"  {json.dumps(key)}: {json.dumps(value, sort_keys=True)}" for key, value in entries.items()]
        return "{\n" + ",\n".join(lines) + ("\n " if lines else "") + "}"

    return f'{{\n "aliases": {block(catalog["aliases"])},\n "models": {block(catalog["models"])}\n}}\n'


def write(path: str = CATALOG_PATH) -> str:
    """Regenerates the catalog file from the live registry (atomically); returns its path."""
    from tfzoo.utils.atomic import atomic_path

    with atomic_path(path, suffix=".json") as tmp:
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(render(build()))
    load.cache_clear()
    return path


def stale_reason(path: str = CATALOG_PATH) -> str | None:
    """None when the file equals the live registry's catalog, else a one-line reason and the fix."""
    try:
        with open(path, encoding="utf-8") as handle:
            shipped = handle.read()
    except OSError:
        return f"{path} is missing; run `{REGENERATE}`"
    if shipped == render(build()):
        return None
    live, old = build(), json.loads(shipped)
    added = sorted(set(live["models"]) - set(old["models"]), key=natural_key)
    removed = sorted(set(old["models"]) - set(live["models"]), key=natural_key)
    changed = sorted((n for n in set(live["models"]) & set(old["models"]) if live["models"][n] != old["models"][n]),
                     key=natural_key)
    detail = "; ".join(f"{what}: {', '.join(names[:8])}{' ...' if len(names) > 8 else ''}"
                       for what, names in (("not in the file", added), ("no longer registered", removed),
                                           ("changed", changed)) if names) or "aliases or layout differ"
    return f"{path} differs from the live registry ({detail}); run `{REGENERATE}` and commit it"


@functools.lru_cache(maxsize=1)
def load(path: str = CATALOG_PATH) -> dict:
    """The shipped catalog: ``{"models": {name: info}, "aliases": {alias: name}}``."""
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError) as error:
        raise UsageError(f"cannot read the model catalog {path} ({error}); reinstall tfzoo or run "
                         f"`{REGENERATE}`") from None


def list_models(pattern: str = "*", include_aliases: bool = False) -> list[str]:
    """Catalog names matching a shell-style pattern, in natural order (as `tfzoo.models.registry.list_models`)."""
    catalog = load()
    names = list(catalog["models"]) + (list(catalog["aliases"]) if include_aliases else [])
    return match_names(names, pattern)


def model_info(name: str) -> dict:
    """The catalog's metadata of a name or alias (as `tfzoo.models.registry.model_info`).

    Raises:
        UsageError: for a name the catalog does not hold.
    """
    catalog = load()
    key = catalog["aliases"].get(name, name)
    if key not in catalog["models"]:
        raise UsageError(f"unknown model {name!r} (`tfzoo list` shows every model)")
    info = {"name": key, **catalog["models"][key]}
    return {k: tuple(v) if k in _TUPLE_FIELDS else v for k, v in info.items()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tfzoo.catalog", description=__doc__.split("\n\n")[0])
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--write", action="store_true", help="regenerate the catalog from the live registry")
    action.add_argument("--check", action="store_true", help="exit 1 if the catalog differs from the registry")
    args = parser.parse_args(argv)
    if args.write:
        print(f"wrote {write()} ({len(load()['models'])} models)")
        return 0
    reason = stale_reason()
    print(reason or f"{CATALOG_PATH} is up to date", file=sys.stderr if reason else sys.stdout)
    return 1 if reason else 0


if __name__ == "__main__":
    sys.exit(main())
