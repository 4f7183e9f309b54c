"""One process at a time per run directory: `RunDirLock`.

The lock is an advisory ``fcntl.flock`` on ``RUN_DIR/.lock``, held for as
long as the process trains (or otherwise writes) the run. The holder writes
its PID and what it does into the file, so that a second process can say who
holds it. The kernel releases a flock when its holder dies, however it dies
(kill -9 included), so a lock left by a dead process is taken over by the next
one without any stale-lock guessing; the PID in the file is then simply
overwritten. The file itself stays (deleting a lock file that another process
may have opened would break the exclusion).

Locks are per process and re-entrant: a process that holds a run directory's
lock may enter `RunDirLock` for it again (e.g. train, then evaluate into it).
Locks work on local file systems; on NFS, flock is emulated with POSIX locks
by Linux clients and still excludes processes on other machines.
"""

from __future__ import annotations

import errno
import os
import threading

from tfzoo.errors import UsageError

LOCK_FILE = ".lock"

_HELD: dict[str, list] = {}  # real path -> [fd, depth]
_GUARD = threading.Lock()


class RunDirBusy(UsageError):
    """Another process holds the run directory's lock."""


def lock_holder(path: str) -> str:
    """What the lock file of run directory `path` says about its holder ("process 123 (train)"), or ""."""
    try:
        with open(os.path.join(path, LOCK_FILE), encoding="utf-8") as handle:
            fields = handle.read().split()
    except OSError:
        return ""
    if not fields:
        return ""
    return f"process {fields[0]}" + (f" ({' '.join(fields[1:])})" if len(fields) > 1 else "")


class RunDirLock:
    """Context manager that holds a run directory exclusively.

    Creates the directory if needed. Use as ``with RunDirLock(path, "train"):``
    or call `acquire` / `release`.

    Args:
        path: The run directory.
        action: A word for the message another process gets (train, relabel ...).

    Raises:
        RunDirBusy: (a `UsageError`, exit code 2 on the command line) when
            another live process holds the lock; the message names its PID.
        UsageError: when `path` exists and is not a directory.
    """

    def __init__(self, path: str, action: str = "train"):
        self.path = os.path.abspath(os.path.expanduser(path))
        self.action = action
        self._key = None
        self._created = False

    def acquire(self) -> "RunDirLock":
        import fcntl

        if os.path.exists(self.path) and not os.path.isdir(self.path):
            raise UsageError(f"--run_dir {self.path} is a file, not a directory; pass a directory path")
        self._created = not os.path.isdir(self.path)
        try:
            os.makedirs(self.path, exist_ok=True)
        except OSError as error:
            raise UsageError(f"cannot create run directory {self.path}: {error.strerror}") from None
        key = os.path.realpath(self.path)
        with _GUARD:
            if key in _HELD:
                _HELD[key][1] += 1
                self._key = key
                return self
            fd = os.open(os.path.join(key, LOCK_FILE), os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as error:
                os.close(fd)
                if error.errno not in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES):
                    raise
                holder = lock_holder(key) or "another process"
                raise RunDirBusy(f"run directory {self.path} is in use by {holder}; wait for it to finish, "
                                 "stop it, or pass another --run_dir") from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()} {self.action}\n".encode(), 0)
            _HELD[key] = [fd, 1]
            self._key = key
        return self

    def release(self) -> None:
        if self._key is None:
            return
        with _GUARD:
            key, self._key = self._key, None
            held = _HELD.get(key)
            if held is None:
                return
            held[1] -= 1
            if held[1] > 0:
                return
            del _HELD[key]
            fd = held[0]
            try:
                os.ftruncate(fd, 0)  # no stale PID for the next reader
                if self._created and os.listdir(key) == [LOCK_FILE]:
                    # A run that failed before writing anything leaves no empty folder behind.
                    os.unlink(os.path.join(key, LOCK_FILE))
                    os.rmdir(key)
            except OSError:
                pass
            finally:
                os.close(fd)  # closing the last descriptor releases the flock

    def __enter__(self) -> "RunDirLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
