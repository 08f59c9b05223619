"""One skim at a time per output directory: an exclusive lock file naming its holder.

Two skims writing into one ``--output-dir`` delete and mix each other's chunks, so
:class:`OutputLock` makes the second fail at once with one line naming the holder (pid, host, start
time, command line). The lock is ``<output-dir>/.run_skim.lock``: an ``fcntl.flock`` on it is held
for the whole run (the kernel drops it on any exit, even ``kill -9``), and its content names the
holder. A lock file left by a dead process on this host is taken over with a warning; one left by
a process on another host is never guessed dead: the message says which file to delete.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from dimuon_ad.errors import InputError, InputOSError

log = logging.getLogger(__name__)

LOCK_NAME = ".run_skim.lock"


class OutputLockedError(InputError, RuntimeError):
    """Another skim holds the output directory (the message names it)."""


def pid_alive(pid: int) -> bool:
    """True when a process with this id exists on this host."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def describe_holder(holder: dict) -> str:
    """``pid 123 on host h since 2026-01-01T10:00:00Z (python run_skim.py ...)``."""
    command = " ".join(map(str, holder.get("command") or [])) or "unknown command"
    return (
        f"pid {holder.get('pid', '?')} on host {holder.get('host', '?')} since "
        f"{holder.get('started', '?')} ({command})"
    )


def _read_holder(handle) -> dict:
    handle.seek(0)
    text = handle.read()
    if not text.strip():
        return {}
    try:
        holder = json.loads(text)
    except json.JSONDecodeError:
        return {"unreadable": text[:80]}
    return holder if isinstance(holder, dict) else {"unreadable": text[:80]}


class OutputLock:
    """Exclusive lock on a skim output directory (a context manager; released on any exit).

    Parameters
    ----------
    output_dir : path-like
        The directory (must exist).
    command : sequence of str, optional
        Command line recorded for whoever finds the directory locked (default ``sys.argv``).

    Raises
    ------
    OutputLockedError
        On ``acquire`` when another live skim holds the directory.
    """

    def __init__(self, output_dir: str | Path, command: Sequence[str] | None = None) -> None:
        self.path = Path(output_dir) / LOCK_NAME
        self.command = list(command) if command is not None else list(sys.argv)
        self._handle = None

    def acquire(self) -> OutputLock:
        """Take the lock or raise :class:`OutputLockedError` naming the holder."""
        for _ in range(10):  # retried only when the lock file was replaced under us
            handle = open(self.path, "a+")  # noqa: SIM115 - kept open while the lock is held
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _read_holder(handle)
                handle.close()
                raise OutputLockedError(self._busy_message(holder)) from None
            except OSError as exc:  # a filesystem without locks (some network mounts)
                handle.close()
                raise InputOSError(
                    f"--output-dir {self.path.parent} cannot be locked ({exc.strerror}); choose "
                    "an --output-dir on a local disk"
                ) from None
            if not self._same_file(handle):
                handle.close()
                continue
            holder = _read_holder(handle)
            if holder:
                self._check_stale(holder, handle)
            handle.seek(0)
            handle.truncate()
            handle.write(json.dumps(self._me()) + "\n")
            handle.flush()
            self._handle = handle
            return self
        raise OutputLockedError(f"could not lock {self.path}: it keeps being replaced")

    def release(self) -> None:
        """Delete the lock file and drop the lock (no-op when not held)."""
        if self._handle is None:
            return
        try:
            if self._same_file(self._handle):
                self.path.unlink(missing_ok=True)
        finally:
            self._handle.close()  # closing drops the flock
            self._handle = None

    def __enter__(self) -> OutputLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()

    def _same_file(self, handle) -> bool:
        try:
            return os.fstat(handle.fileno()).st_ino == os.stat(self.path).st_ino
        except FileNotFoundError:
            return False

    def _me(self) -> dict:
        return {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "command": self.command,
        }

    def _busy_message(self, holder: dict) -> str:
        who = describe_holder(holder) if holder else "another process"
        return (
            f"--output-dir {self.path.parent} is in use by another skim: {who}; wait for it to "
            "finish or choose another --output-dir"
        )

    def _check_stale(self, holder: dict, handle) -> None:
        """The previous holder left its lock file: take it over if it is dead, else refuse."""
        host, pid = holder.get("host"), holder.get("pid")
        if "unreadable" not in holder and host == socket.gethostname():
            # no flock on it, so its holder is not running (its pid may have been reused)
            state = "dead" if not (isinstance(pid, int) and pid_alive(pid)) else "lock-less"
            log.warning(
                "taking over the stale lock of a %s skim in %s: %s",
                state,
                self.path.parent,
                describe_holder(holder),
            )
            return
        handle.close()
        who = describe_holder(holder) if "unreadable" not in holder else "an unreadable holder"
        raise OutputLockedError(
            f"--output-dir {self.path.parent} has a lock file of {who}, which cannot be checked "
            f"from this host; if that run is dead, delete {self.path} and re-run"
        )
