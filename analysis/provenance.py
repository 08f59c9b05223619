"""Where a result came from: toolkit version and git commit, command line, configuration hash,
input file hashes and the date — in ``results.json`` (``provenance``) and the report."""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import platform
import shlex
import sys
from pathlib import Path
from typing import Any

__all__ = ["file_sha256", "input_hashes", "provenance"]

_CHUNK = 1 << 20


def file_sha256(path: str | Path) -> str:
    """SHA-256 hex digest of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(_CHUNK):
            h.update(block)
    return h.hexdigest()


def input_hashes(source: str | Path, run_dir: str | Path | None = None) -> dict[str, Any]:
    """SHA-256 of every parquet part of the analysed skim (``files``: path relative to
    ``source`` → digest), one digest over all of them (``combined``: of the sorted
    ``path digest`` lines) and of the skim's ``cutflow.json`` and ``summary.json``."""
    src = Path(source)
    parts = [src] if src.is_file() else sorted(
        p for p in src.rglob("*.parquet") if not p.name.startswith("."))
    files = {(p.name if src.is_file() else p.relative_to(src).as_posix()): file_sha256(p)
             for p in parts}
    combined = hashlib.sha256("\n".join(f"{k} {v}" for k, v in sorted(files.items()))
                              .encode()).hexdigest()
    out: dict[str, Any] = {"source": str(src), "n_files": len(files), "combined": combined,
                           "files": files}
    if run_dir is not None:
        for name in ("cutflow.json", "summary.json"):
            if (Path(run_dir) / name).is_file():
                out[name] = file_sha256(Path(run_dir) / name)
    return out


def provenance(config: dict[str, Any], *, command: str | None = None,
               source: str | Path | None = None,
               run_dir: str | Path | None = None) -> dict[str, Any]:
    """The provenance block of a run.

    Parameters
    ----------
    config : dict
        The analysis configuration (``AnalysisConfig.to_dict()``); hashed as sorted JSON.
    command : str, optional
        The command line; default: this process's ``sys.argv``.
    source, run_dir : path, optional
        The analysed parquet skim and the ``run_skim.py`` directory holding it (hashed).
    """
    from dimuon_ad._version import git_commit, version

    cfg = json.dumps(config, sort_keys=True, default=str).encode()
    return {
        "toolkit": "dimuon-ad",
        "version": version(),
        "git_commit": git_commit(),
        "command": command if command is not None else shlex.join(sys.argv),
        "config_sha256": hashlib.sha256(cfg).hexdigest(),
        "inputs": input_hashes(source, run_dir) if source is not None else None,
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
    }
