"""Checks made before any training: output directory, skim completeness, and one error for all.

:func:`analysis.data.load_skim` collects every problem it can find in the input — columns the
configuration needs, duplicated events, window coverage, too few events — together with the
ones here, and raises them as one :class:`PreflightError` (one line), so a user fixes them all
at once instead of discovering them one run (or one flow training) at a time.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dimuon_ad.errors import InputError

__all__ = [
    "PreflightError",
    "check_output_dir",
    "skim_run_dir",
    "skim_status",
]

log = logging.getLogger(__name__)


class PreflightError(InputError):
    """Every problem found before training, reported in one line.

    Attributes
    ----------
    problems : list of str
        One sentence per problem (what, where, how to fix).
    """

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        if len(self.problems) == 1:
            message = self.problems[0]
        else:
            message = f"{len(self.problems)} problems found before training: " + "; ".join(
                f"({i}) {p}" for i, p in enumerate(self.problems, 1)
            )
        super().__init__(message)


def check_output_dir(path: str | Path) -> str | None:
    """Why ``path`` cannot hold the analysis outputs, or None when it can (it is created).

    Checks that it is (or can be made) a directory and that a file can be written in it.
    """
    p = Path(path)
    if p.exists() and not p.is_dir():
        return f"--output-dir {p} is a file; give a directory (it is created when missing)"
    try:
        p.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-test.", dir=p)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        return (f"--output-dir {p} cannot be written ({err.strerror or err}); "
                "choose a writable directory")
    return None


def skim_run_dir(located: str | Path) -> Path | None:
    """The ``run_skim.py`` output directory holding a located skim, or None for a bare parquet.

    ``located`` is what :func:`analysis.data.find_skim` returned (a parquet file, a
    ``dataset=<name>`` partition or the ``skim/`` folder); the run directory is the nearest
    ancestor (up to three levels) holding ``summary.json`` or ``_partials/``.
    """
    p = Path(located).resolve()
    for candidate in [p, *list(p.parents)[:3]]:
        if (candidate / "summary.json").is_file() or (candidate / "_partials").is_dir():
            return candidate
    return None


def skim_status(
    located: str | Path, dataset: str | None, *, allow_incomplete: bool = False
) -> dict[str, Any]:
    """Completeness and metadata of a skim.

    Returns
    -------
    dict with ``run_dir`` (or None), ``summary`` (summary.json or None), ``metadata`` (the
    dataset's fileset metadata or None), ``problem`` (why the analysis must not run, or "") and
    ``notes`` (what the report must say: an incomplete skim analysed on request, files left out,
    a bare parquet whose completeness is unknown).
    """
    from processors.integrity import IncompleteSkimError, check_skim_complete

    run_dir = skim_run_dir(located)
    out: dict[str, Any] = {"run_dir": run_dir, "summary": None, "metadata": None,
                           "problem": "", "notes": []}
    if run_dir is None:
        out["notes"].append(
            f"{located} is not the output of run_skim.py (no summary.json): its completeness, "
            "input files and metadata are unknown")
        return out
    try:
        summary = check_skim_complete(run_dir)
    except IncompleteSkimError as err:
        if not allow_incomplete:
            out["problem"] = str(err)
            return out
        out["notes"].append(f"INCOMPLETE SKIM analysed on request (--allow-incomplete): {err}")
        summary = _read_summary(run_dir)
    out["summary"] = summary
    if summary:
        ds = (summary.get("datasets") or {}).get(dataset or "", None)
        if ds is None and len(summary.get("datasets") or {}) == 1:
            ds = next(iter(summary["datasets"].values()))
        if ds is not None:
            out["metadata"] = ds.get("metadata")
        name = dataset or next(iter(summary.get("datasets") or {}), None)
        skipped = [b for b in summary.get("skipped_files") or [] if b.get("dataset") == name]
        if skipped:
            events = sum(int(b.get("events") or 0) for b in skipped)
            out["notes"].append(
                f"the skim left out {len(skipped)} unreadable input file(s) of {name} "
                f"(--skip-bad-files, {events:,} events): "
                + ", ".join(str(b.get("path")) for b in skipped[:3])
                + (" ..." if len(skipped) > 3 else ""))
    return out


def _read_summary(run_dir: Path) -> dict[str, Any] | None:
    try:
        return json.loads((run_dir / "summary.json").read_text())
    except (OSError, ValueError):
        return None
