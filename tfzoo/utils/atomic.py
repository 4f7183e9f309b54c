"""Atomic file and directory writes.

A writer produces its output under a temporary name in the destination's
directory, flushes it to disk, then renames it into place. A crash or kill at
any moment leaves either the previous file or the new one, never a torn one.
"""

from __future__ import annotations

import contextlib
import json
import math
import numbers
import os
import shutil
import tempfile

# Temporary names of atomic writes in progress: `atomic_path` files and
# `atomic_directory` folders; `.old-` is a replaced folder about to be deleted.
TMP_PREFIX = ".tmp-"
OLD_PREFIX = ".old-"


def _fsync_dir(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(final_path: str, suffix: str = ""):
    """Yields a temporary file path; on success it is renamed to `final_path`.

    `suffix` keeps an extension that the writer checks (``.weights.h5``, ``.keras``).
    """
    directory = os.path.dirname(os.path.abspath(final_path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=TMP_PREFIX, suffix=suffix, dir=directory)
    os.close(fd)
    os.unlink(tmp)  # writers such as h5py want to create the file themselves
    try:
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, final_path)
        _fsync_dir(directory)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def strict_json_value(data):
    """`data` with every non-finite float (NaN, +-Infinity) replaced by None.

    Python's json writes such floats as bare ``NaN``/``Infinity``, which
    strict JSON parsers reject; None is written as ``null``.
    """
    if isinstance(data, numbers.Real) and not isinstance(data, numbers.Integral):  # float, np.float32 ...
        data = float(data)
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {key: strict_json_value(value) for key, value in data.items()}
    if isinstance(data, (list, tuple)):
        return [strict_json_value(value) for value in data]
    return data


def write_json(path: str, data) -> None:
    """Writes strict JSON atomically (pretty-printed, sorted keys, non-finite floats as null)."""
    with atomic_path(path, suffix=".json") as tmp:
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(strict_json_value(data), handle, indent=2, sort_keys=True, allow_nan=False)
            handle.write("\n")


def read_json(path: str):
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


@contextlib.contextmanager
def atomic_directory(final_dir: str, overwrite: bool = False):
    """Yields a temporary directory next to `final_dir`; on success it becomes `final_dir`.

    With `overwrite`, an existing `final_dir` is replaced only after the new
    one is complete (moved aside, swapped in, then deleted).

    Raises:
        FileExistsError: if `final_dir` exists and `overwrite` is False.
    """
    final_dir = os.path.abspath(final_dir)
    parent = os.path.dirname(final_dir)
    os.makedirs(parent, exist_ok=True)
    if os.path.exists(final_dir) and not overwrite:
        raise FileExistsError(final_dir)
    tmp = tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{os.path.basename(final_dir)}-", dir=parent)
    try:
        yield tmp
        old = None
        if os.path.exists(final_dir):
            if not overwrite:
                raise FileExistsError(final_dir)
            old = tempfile.mkdtemp(prefix=f"{OLD_PREFIX}{os.path.basename(final_dir)}-", dir=parent)
            os.rmdir(old)
            os.replace(final_dir, old)
        os.replace(tmp, final_dir)
        _fsync_dir(parent)
        if old:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if os.path.exists(tmp):
            shutil.rmtree(tmp, ignore_errors=True)


def remove_orphans(directory: str) -> list[str]:
    """Deletes what killed atomic writes left in `directory` (``.tmp-*`` / ``.old-*`` files and folders).

    Call it only while no other process writes there (e.g. under
    `tfzoo.utils.lock.RunDirLock`): a write in progress looks the same.

    Returns:
        The paths removed.
    """
    removed = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    for entry in entries:
        if not entry.name.startswith((TMP_PREFIX, OLD_PREFIX)):
            continue
        try:
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
            removed.append(entry.path)
        except OSError:
            pass
    return removed
