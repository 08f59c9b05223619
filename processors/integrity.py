"""Is a skim output complete and intact? Checks for resuming and for whoever reads the skim.

``summary.json`` records completeness: ``complete`` (bool), ``chunks`` (``planned`` / ``done``),
the command line that made it (``command``), the parquet parts with their row counts
(``datasets.<name>.parts``), and with ``--skip-bad-files`` what was left out
(``skipped_files``). A run writes ``complete: false`` as soon as it holds the directory and
``complete: true`` only at its end, so a killed or failed run leaves an incomplete marker.

- :func:`check_skim_complete` is what the analysis calls before reading a skim: it returns the
  summary of a complete, uncontaminated skim and otherwise raises :class:`IncompleteSkimError`
  with one line saying what is wrong and how to finish it.
- :func:`reusable_chunks` / :func:`verified_rows` validate finished chunks on resume (partial
  unpickles, parquet footer readable, row count as recorded), so truncated or corrupt files are
  recomputed, not reused.
"""

from __future__ import annotations

import json
import logging
import shlex
from pathlib import Path

import pyarrow.parquet as pq

from dimuon_ad.errors import InputError, InputOSError
from processors.outputs import (
    SKIM_DIR,
    CorruptPartialError,
    is_finished,
    load_partial,
    part_path,
    partial_path,
    remove_chunk,
)

log = logging.getLogger(__name__)

SUMMARY_NAME = "summary.json"


class IncompleteSkimError(InputError):
    """A skim output directory is incomplete, unfinished or holds parts of another run."""


def format_command(command) -> str:
    """Shell-quoted command line from a list of arguments (or ``None``)."""
    if not command:
        return "python run_skim.py --output-dir <dir> (same options as before)"
    return shlex.join(str(c) for c in command)


def _fix(summary: dict | None, output_dir: Path) -> str:
    command = (summary or {}).get("command")
    if not command:
        command = ["python", "run_skim.py", "--output-dir", str(output_dir)]
    return (
        f"re-run `{format_command(command)}` to finish it, or pass --allow-incomplete to "
        "analyse it anyway"
    )


def parquet_rows(path: str | Path) -> int:
    """Row count from a parquet file's footer (raises on a truncated or corrupt file)."""
    return pq.ParquetFile(path).metadata.num_rows


class CorruptChunkError(OSError):
    """A finished-looking chunk whose part or partial is truncated, corrupt or inconsistent."""


def verified_rows(output_dir: Path, dataset: str, chunk_id: str) -> int:
    """Row count of a finished chunk after checking it can be reused.

    The partial must unpickle and record its part's row count; the parquet part's footer must be
    readable and hold that many rows.

    Raises
    ------
    CorruptChunkError
        Naming the file and what is wrong with it.
    """
    partial_file = partial_path(output_dir, chunk_id)
    part = part_path(output_dir, dataset, chunk_id)
    try:
        partial = load_partial(partial_file)
    except (CorruptPartialError, FileNotFoundError) as exc:
        raise CorruptChunkError(str(exc).split("; delete")[0]) from None
    rows = partial.get("rows")
    if not isinstance(rows, int):
        raise CorruptChunkError(f"chunk partial {partial_file} records no row count")
    try:
        found = parquet_rows(part)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for bad files
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CorruptChunkError(f"parquet part {part} cannot be read ({reason})") from None
    if found != rows:
        raise CorruptChunkError(
            f"parquet part {part} has {found} rows, its partial recorded {rows}"
        )
    return rows


def reusable_chunks(output_dir: Path, tasks) -> dict[str, int]:
    """Row counts of the chunks an earlier run finished and that pass the integrity checks;
    truncated or corrupt ones are deleted (with a warning naming the file) to be recomputed."""
    reusable = {}
    for task in tasks:
        if not is_finished(output_dir, task.chunk.dataset, task.chunk_id):
            continue
        try:
            reusable[task.chunk_id] = verified_rows(output_dir, task.chunk.dataset, task.chunk_id)
        except CorruptChunkError as exc:
            log.warning("%s; recomputing that chunk", exc)
            try:
                remove_chunk(output_dir, task.chunk.dataset, task.chunk_id)
            except OSError as err:
                raise InputOSError(
                    f"{exc}, and it cannot be deleted to recompute it ({err.strerror}); delete "
                    f"it by hand and re-run"
                ) from None
    return reusable


def read_summary(output_dir: str | Path) -> dict:
    """``summary.json`` of a skim, or :class:`IncompleteSkimError` when absent or unreadable."""
    output_dir = Path(output_dir)
    path = output_dir / SUMMARY_NAME
    if not output_dir.is_dir():
        raise IncompleteSkimError(
            f"skim {output_dir} does not exist; run `python run_skim.py --output-dir "
            f"{output_dir}` first"
        )
    if not path.is_file():
        raise IncompleteSkimError(
            f"skim {output_dir} has no {SUMMARY_NAME} (its skim never got as far as planning, "
            f"or was made by an older version); {_fix(None, output_dir)}"
        )
    try:
        summary = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IncompleteSkimError(
            f"skim {output_dir} has an unreadable {SUMMARY_NAME} ({exc}); {_fix(None, output_dir)}"
        ) from None
    if not isinstance(summary, dict) or "complete" not in summary:
        raise IncompleteSkimError(
            f"skim {output_dir} has a {SUMMARY_NAME} without completeness record (an older "
            f"version made it); {_fix(summary if isinstance(summary, dict) else None, output_dir)}"
        )
    return summary


def check_skim_complete(output_dir: str | Path, *, check_parts: bool = True) -> dict:
    """The summary of a complete skim in ``output_dir``; raise if it is incomplete or mixed.

    Parameters
    ----------
    output_dir : path-like
        A ``run_skim.py --output-dir``.
    check_parts : bool
        Also check that the parquet parts are exactly those the summary records, with the
        recorded row counts (reads only parquet footers).

    Returns
    -------
    dict
        The summary (``summary["skipped_files"]`` lists input files left out with
        ``--skip-bad-files``: dataset, path, reason, events).

    Raises
    ------
    IncompleteSkimError
        One line: what is incomplete (``skim output/skim is incomplete: 73 of 100 chunks done``)
        and how to finish it (re-run the stored command, or ``--allow-incomplete``).
    """
    output_dir = Path(output_dir)
    summary = read_summary(output_dir)
    chunks = summary.get("chunks") or {}
    if not summary.get("complete"):
        stopped = f" (stopped by: {summary['error']})" if summary.get("error") else ""
        if chunks.get("planned") is None:
            progress = "its last run stopped before planning its chunks"
        else:
            progress = f"{chunks.get('done', '?')} of {chunks['planned']} chunks done"
        raise IncompleteSkimError(
            f"skim {output_dir} is incomplete: {progress}{stopped}; {_fix(summary, output_dir)}"
        )
    if check_parts:
        problem = _parts_problem(output_dir, summary)
        if problem:
            raise IncompleteSkimError(f"skim {output_dir} {problem}; {_fix(summary, output_dir)}")
    return summary


def _parts_problem(output_dir: Path, summary: dict) -> str | None:
    expected: dict[Path, int] = {}
    for name, ds in (summary.get("datasets") or {}).items():
        for part, rows in (ds.get("parts") or {}).items():
            expected[output_dir / SKIM_DIR / f"dataset={name}" / part] = rows
    found = set((output_dir / SKIM_DIR).glob("dataset=*/*.parquet"))
    extra = sorted(found - set(expected))
    if extra:
        return (
            f"holds {len(extra)} parquet part(s) its summary does not list (e.g. "
            f"{extra[0].relative_to(output_dir)}): written by another run"
        )
    missing = sorted(set(expected) - found)
    if missing:
        return (
            f"lacks {len(missing)} parquet part(s) its summary lists (e.g. "
            f"{missing[0].relative_to(output_dir)})"
        )
    for path, rows in expected.items():
        try:
            found_rows = parquet_rows(path)
        except Exception as exc:  # noqa: BLE001
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            return f"has an unreadable parquet part {path.relative_to(output_dir)} ({reason})"
        if found_rows != rows:
            return (
                f"has parquet part {path.relative_to(output_dir)} with {found_rows} rows, "
                f"its summary recorded {rows}"
            )
    return None
