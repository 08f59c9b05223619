"""Content-addressed stage cache: each stage's output is stored under a hash of its inputs.

A stage key is the SHA-256 of everything the stage depends on (input arrays, upstream keys,
settings), so a re-run that changes only downstream settings (FPR grid, binning) finds the trained
flows and classifiers already there, and an interrupted run resumes from the last finished stage.
Entries are written to a temporary name in the same directory and renamed into place
(:func:`os.replace`; modes from :mod:`dimuon_ad.io`), so a half-written entry is never mistaken
for a finished one.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
import os
import pickle
import shutil
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from dimuon_ad.io import DIR_MODE

__all__ = [
    "StageCache",
    "code_version",
    "fingerprint",
]

log = logging.getLogger(__name__)


def _feed(h: Any, obj: Any) -> None:
    """Feed a canonical, type-tagged encoding of ``obj`` into the hash ``h``."""
    if isinstance(obj, np.ndarray):
        arr = np.ascontiguousarray(obj)
        h.update(b"nd" + str(arr.dtype).encode() + str(arr.shape).encode())
        if arr.dtype == object:
            h.update(repr(arr.tolist()).encode())
        else:
            h.update(arr.tobytes())
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        h.update(b"dc" + type(obj).__name__.encode())
        _feed(h, dataclasses.asdict(obj))
    elif isinstance(obj, Mapping):
        h.update(b"map%d" % len(obj))
        for k in sorted(obj, key=str):
            _feed(h, str(k))
            _feed(h, obj[k])
    elif isinstance(obj, (list, tuple)):
        h.update(b"seq%d" % len(obj))
        for v in obj:
            _feed(h, v)
    elif isinstance(obj, (bool, type(None))):
        h.update(b"c" + repr(obj).encode())
    elif isinstance(obj, (int, np.integer)):
        h.update(b"i" + str(int(obj)).encode())
    elif isinstance(obj, (float, np.floating)):
        h.update(b"f" + float(obj).hex().encode())
    elif isinstance(obj, str):
        h.update(b"s%d:" % len(obj) + obj.encode())
    elif isinstance(obj, bytes):
        h.update(b"b%d:" % len(obj) + obj)
    elif hasattr(obj, "get_params") and not isinstance(obj, type):
        # an (unfitted) estimator: its class and hyper-parameters (nested estimators included)
        h.update(b"est" + f"{type(obj).__module__}.{type(obj).__qualname__}".encode())
        _feed(h, obj.get_params(deep=False))
    else:
        raise TypeError(f"cannot fingerprint {type(obj).__name__}; pass arrays, numbers, strings")


def fingerprint(*parts: Any) -> str:
    """Stable hex SHA-256 of numbers, strings, arrays, mappings, sequences, dataclasses and
    estimators (class and ``get_params()``).

    Equal content gives equal fingerprints across processes and runs (floats are hashed
    bit-exactly, mappings by sorted key).
    """
    h = hashlib.sha256()
    _feed(h, list(parts))
    return h.hexdigest()


#: the code an analysis result depends on: these packages (and the run_analysis.py CLI)
CODE_PACKAGES = ("analysis", "ml", "stats")


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """SHA-256 of the toolkit's analysis code: every ``.py`` file of :data:`CODE_PACKAGES`.

    Hashing the source rather than a version string means an edited checkout, a different release
    or a missed version bump can never reuse stage results computed by other code.
    """
    root = Path(__file__).resolve().parents[1]
    h = hashlib.sha256()
    files = sorted(f for pkg in CODE_PACKAGES for f in (root / pkg).rglob("*.py"))
    for f in files:
        h.update(str(f.relative_to(root)).encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()


class StageCache:
    """Store of stage outputs under ``root/<stage>/<key>``.

    Parameters
    ----------
    root : str or Path
        Cache directory (created on first write), e.g. ``<output-dir>/cache``.
    enabled : bool
        If False every stage is recomputed and nothing is written (``--no-cache``).
    version : str, optional
        Code version mixed into every entry's location (default :func:`code_version`).

    Attributes
    ----------
    hits, misses : dict
        Per-stage counts of cache hits and of computations, for logs and tests.
    seconds : dict
        Per-stage wall time spent computing (misses) or loading (hits), in seconds.
    """

    def __init__(
        self, root: str | Path, *, enabled: bool = True, version: str | None = None
    ) -> None:
        self.root = Path(root)
        self.enabled = enabled
        self.version = code_version() if version is None else str(version)
        self.hits: dict[str, int] = defaultdict(int)
        self.misses: dict[str, int] = defaultdict(int)
        self.seconds: dict[str, float] = defaultdict(float)

    def path(self, stage: str, key: str) -> Path:
        """Location of one entry (a directory): the key hashed with the code version."""
        return self.root / stage / fingerprint(self.version, key)[:32]

    def has(self, stage: str, key: str) -> bool:
        """True when a finished entry exists."""
        return self.enabled and (self.path(stage, key) / "DONE").is_file()

    def get_or_compute(
        self,
        stage: str,
        key: str,
        compute: Callable[[], Any],
        *,
        save: Callable[[Any, Path], None] | None = None,
        load: Callable[[Path], Any] | None = None,
        describe: Mapping[str, Any] | None = None,
    ) -> Any:
        """Return the cached output of ``stage`` for ``key``, computing and storing it if absent.

        Parameters
        ----------
        stage : str
            Stage name (a sub-directory of the cache).
        key : str
            Fingerprint of everything the stage depends on (see :func:`fingerprint`).
        compute : callable
            Produces the output when there is no entry.
        save, load : callable, optional
            ``save(value, directory)`` / ``load(directory)`` for outputs that are not pickled
            (default: one pickle file).
        describe : mapping, optional
            JSON-able summary of the settings, stored next to the entry for inspection.
        """
        t0 = time.perf_counter()
        found, value = self.load(stage, key, load)
        if found:
            return value
        log.info("computing stage %s (key %s)", stage, key[:12])
        value = compute()
        self.store(stage, key, value, save=save, describe=describe, t0=t0)
        return value

    def load(
        self, stage: str, key: str, load: Callable[[Path], Any] | None = None
    ) -> tuple[bool, Any]:
        """``(True, value)`` of a finished, readable entry, else ``(False, None)``.

        An entry that cannot be read (truncated or corrupt files) is deleted with a warning, so
        the caller recomputes and stores it again.
        """
        if not self.has(stage, key):
            return False, None
        entry = self.path(stage, key)
        t0 = time.perf_counter()
        try:
            value = load(entry) if load else _load_pickle(entry)
        except Exception as err:  # a corrupt entry is recomputed, not fatal
            reason = str(err).splitlines()[0] if str(err) else type(err).__name__
            log.warning("cache entry %s unreadable (%s); recomputing it", entry, reason)
            shutil.rmtree(entry, ignore_errors=True)
            return False, None
        self.hits[stage] += 1
        self.seconds[stage] += time.perf_counter() - t0
        log.info("cache hit: %s %s", stage, key[:12])
        return True, value

    def store(
        self,
        stage: str,
        key: str,
        value: Any,
        *,
        save: Callable[[Any, Path], None] | None = None,
        describe: Mapping[str, Any] | None = None,
        t0: float | None = None,
    ) -> None:
        """Record a computed ``value`` (counted as a computation) and store it when enabled."""
        self.misses[stage] += 1
        if t0 is not None:
            self.seconds[stage] += time.perf_counter() - t0
        if self.enabled:
            self._store(stage, key, value, save, describe)

    def _store(self, stage, key, value, save, describe) -> None:
        entry = self.path(stage, key)
        entry.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{entry.name}.", dir=entry.parent))
        os.chmod(tmp, DIR_MODE)
        try:
            if save:
                save(value, tmp)
            else:
                with open(tmp / "value.pkl", "wb") as fh:
                    pickle.dump(value, fh, protocol=pickle.HIGHEST_PROTOCOL)
            meta = {"stage": stage, "key": key, "code_version": self.version,
                    "settings": describe or {}}
            (tmp / "meta.json").write_text(json.dumps(meta, indent=1, default=str))
            (tmp / "DONE").write_text("")
            if entry.exists():  # written meanwhile by a concurrent run: keep the existing one
                shutil.rmtree(tmp, ignore_errors=True)
                return
            os.replace(tmp, entry)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def summary(self) -> dict[str, dict[str, float]]:
        """Per-stage hits, misses and seconds."""
        stages = sorted(set(self.hits) | set(self.misses))
        return {
            s: {
                "hits": self.hits[s],
                "computed": self.misses[s],
                "seconds": round(self.seconds[s], 3),
            }
            for s in stages
        }


def _load_pickle(entry: Path) -> Any:
    with open(entry / "value.pkl", "rb") as fh:
        return pickle.load(fh)
