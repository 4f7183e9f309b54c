"""The layout of a training run directory, shared by train, eval, export and predict.

::

    RUN_DIR/
      run.json                     model name, classes, preprocessing, training flags
      model.keras                  inference model of the last finished epoch (no optimizer)
      checkpoints/epoch-0007.weights.h5   model + optimizer state, for resume
      metrics.json                 final validation metrics and throughput (strict JSON)
      skipped_files.txt            unreadable data files that were left out (if any)
      logs/                        TensorBoard event files
      .lock                        PID of the process training the run (`tfzoo.utils.lock`)

Every file is written atomically, so a killed run leaves the last good epoch;
the next start (under the lock) deletes the temporary files a kill left.
"""

from __future__ import annotations

import os
import re
import zipfile

from tfzoo.errors import UsageError
from tfzoo.utils.atomic import atomic_path, read_json, remove_orphans, write_json

_CKPT = re.compile(r"^epoch-(\d{4,})\.weights\.h5$")


class RunDir:
    """Paths and small read/write helpers for one run directory."""

    def __init__(self, path: str):
        self.path = os.path.abspath(os.path.expanduser(path))

    config_file = property(lambda self: os.path.join(self.path, "run.json"))
    model_file = property(lambda self: os.path.join(self.path, "model.keras"))
    metrics_file = property(lambda self: os.path.join(self.path, "metrics.json"))
    checkpoint_dir = property(lambda self: os.path.join(self.path, "checkpoints"))
    log_dir = property(lambda self: os.path.join(self.path, "logs"))
    skipped_files_file = property(lambda self: os.path.join(self.path, "skipped_files.txt"))

    def has_config(self) -> bool:
        return os.path.isfile(self.config_file)

    def read_config(self) -> dict:
        """Reads run.json.

        Raises:
            UsageError: if the directory holds no tfzoo run.
        """
        if os.path.isfile(self.path):
            raise UsageError(f"{self.path} is a file, not a run directory; pass the --run_dir of a `tfzoo train` run")
        if not os.path.isdir(self.path):
            raise UsageError(f"run directory not found: {self.path}")
        if not self.has_config():
            raise UsageError(f"{self.path} is not a tfzoo run directory (no run.json); pass the --run_dir of a `tfzoo train` run")
        return read_json(self.config_file)

    def write_config(self, config: dict) -> None:
        write_json(self.config_file, config)

    def write_metrics(self, metrics: dict) -> None:
        write_json(self.metrics_file, metrics)

    def read_metrics(self) -> dict | None:
        """metrics.json, or None when it is missing or unreadable."""
        try:
            return read_json(self.metrics_file)
        except (OSError, ValueError):
            return None

    def write_skipped_files(self, paths) -> None:
        """Lists the data files that were left out, one per line (removes the list when there are none)."""
        if not paths:
            if os.path.exists(self.skipped_files_file):
                os.unlink(self.skipped_files_file)
            return
        with atomic_path(self.skipped_files_file, suffix=".txt") as tmp:
            with open(tmp, "w", encoding="utf-8", errors="surrogateescape") as handle:
                handle.writelines(f"{path}\n" for path in paths)

    def remove_orphans(self) -> list[str]:
        """Deletes temporary files left by killed atomic writes; call it only under the run's lock."""
        return remove_orphans(self.path) + remove_orphans(self.checkpoint_dir)

    def model_is_behind(self) -> bool:
        """True when model.keras is missing or older than the newest checkpoint (a kill between the two writes)."""
        latest = self.latest_checkpoint()
        if latest is None:
            return False
        try:
            return os.stat(self.model_file).st_mtime_ns < os.stat(latest[1]).st_mtime_ns
        except OSError:
            return True

    def checkpoint_file(self, epoch: int) -> str:
        return os.path.join(self.checkpoint_dir, f"epoch-{epoch:04d}.weights.h5")

    def checkpoints(self) -> list[tuple[int, str]]:
        """(epoch, path) of every complete checkpoint, oldest first."""
        if not os.path.isdir(self.checkpoint_dir):
            return []
        found = []
        for entry in os.listdir(self.checkpoint_dir):
            match = _CKPT.match(entry)
            if match:
                found.append((int(match.group(1)), os.path.join(self.checkpoint_dir, entry)))
        return sorted(found)

    def latest_checkpoint(self) -> tuple[int, str] | None:
        found = self.checkpoints()
        return found[-1] if found else None

    def prune_checkpoints(self, keep: int = 2) -> None:
        """Deletes all but the newest `keep` checkpoints."""
        for _, path in self.checkpoints()[:-keep]:
            try:
                os.unlink(path)
            except OSError:
                pass

    def load_model(self):
        """Loads the inference model (`model.keras`) of the last finished epoch.

        Raises:
            UsageError: if no epoch has finished yet, or model.keras is not
                a valid ``.keras`` file (truncated, corrupt) or is refused by
                Keras safe mode (it would run Python code, e.g. a Lambda).
        """
        self.read_config()
        if not os.path.isfile(self.model_file):
            raise UsageError(f"{self.path} has no finished epoch yet (no model.keras); train it first")
        return load_keras_file(self.model_file)


def load_keras_file(path: str):
    """`keras.saving.load_model` (safe mode, no compile) whose failures are one-line `UsageError`s.

    Keras says "File not found" for a truncated file that exists and raises
    a 60-line traceback for a file safe mode refuses; both are the file's
    fault, not a bug, so they become one line naming the file.
    """
    import keras

    import tfzoo.layers  # noqa: F401  (registers custom layers for deserialization)
    import tfzoo.models.zoo_model  # noqa: F401  (registers ZooModel, the class of every tfzoo model)

    if not zipfile.is_zipfile(path):
        raise UsageError(f"{path} is not a valid .keras file (not a zip archive: truncated or corrupt); "
                         "train into a new --run_dir, or restore the file")
    try:
        return keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as error:  # noqa: BLE001 (any failure here is about the file)
        text = " ".join(str(error).split())
        if "safe_mode" in text or "arbitrary code" in text:
            raise UsageError(f"{path} was refused by Keras safe mode: it would run Python code "
                             f"({text.split('.')[0]}); tfzoo loads only models made of registered layers") from None
        raise UsageError(f"{path} is not a valid .keras model ({type(error).__name__}: {text[:200]})") from None
