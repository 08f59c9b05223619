"""Output layout of a skim run, atomic writes, and merging of per-chunk partials.

::

    <output-dir>/
      skim/dataset=<name>/part-<chunk id>.parquet   one row per selected event (hive partitioning)
      histograms.coffea                             dict of hist.Hist (coffea.util.load)
      histograms.root                               1D projections <dataset>/<hist>_<OS|SS>[_<iso>]
      cutflow.json                                  {dataset: {cut: events passing up to it}}
      summary.json                                  completeness, events, files, parts, timing
      _partials/<chunk id>.pkl                      per-chunk histograms, cutflow, row count
      .run_skim.lock                                held while a skim runs (processors.lock)

Every file is written under a hidden temporary name in its final directory and renamed with
``os.replace`` (:mod:`dimuon_ad.io`), so readers never see a half-written file. A chunk counts
as finished once its partial exists; the partial is written after the chunk's parquet part.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Iterable, Mapping
from pathlib import Path

from coffea.processor import accumulate

from dimuon_ad.errors import InputOSError
from dimuon_ad.io import TMP_SUFFIX, atomic_path, atomic_write_bytes

PARTIALS_DIR = "_partials"
SKIM_DIR = "skim"


class CorruptPartialError(OSError):
    """A chunk partial (``_partials/<id>.pkl``) cannot be read (the message names the file)."""


def load_partial(path: str | Path) -> dict:
    """Unpickle a chunk partial; raise :class:`CorruptPartialError` naming the file."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            partial = pickle.load(handle)
    except FileNotFoundError:
        raise
    except Exception as exc:  # noqa: BLE001 - truncated / garbage pickles raise many types
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CorruptPartialError(
            f"chunk partial {path} cannot be read ({reason}); delete it and re-run to recompute "
            "its chunk"
        ) from None
    if not isinstance(partial, dict) or not {"hists", "cutflow"} <= set(partial):
        raise CorruptPartialError(
            f"chunk partial {path} is not a skim partial (no hists/cutflow); delete it and re-run"
        )
    return partial


def check_output_dir(path: str | Path, flag: str = "--output-dir") -> Path:
    """``path`` as a Path once it is, or can be made, a writable directory (else one line).

    Raises
    ------
    dimuon_ad.errors.InputOSError
        ``path`` or one of its parents is a file, or the directory (or its nearest existing
        parent) is not writable.
    """
    path = Path(path)
    for folder in (path, *path.parents):
        if not folder.exists() and not folder.is_symlink():
            continue
        if not folder.is_dir():
            what = "is a file" if folder == path else f"lies under {folder}, which is a file"
            raise InputOSError(
                f"{flag} {path} {what}, not a directory; choose another {flag}"
            )
        if not os.access(folder, os.W_OK | os.X_OK):
            raise InputOSError(f"{flag} {path}: {folder} is not writable; choose another {flag}")
        break
    return path


def part_path(output_dir: Path, dataset: str, chunk_id: str) -> Path:
    """Parquet part of one chunk."""
    return Path(output_dir) / SKIM_DIR / f"dataset={dataset}" / f"part-{chunk_id}.parquet"


def partial_path(output_dir: Path, chunk_id: str) -> Path:
    """Histogram/cutflow partial of one chunk."""
    return Path(output_dir) / PARTIALS_DIR / f"{chunk_id}.pkl"


def is_finished(output_dir: Path, dataset: str, chunk_id: str) -> bool:
    """True when both the chunk's parquet part and its partial exist."""
    return (
        partial_path(output_dir, chunk_id).is_file()
        and part_path(output_dir, dataset, chunk_id).is_file()
    )


def save_chunk(
    output_dir: Path, dataset: str, chunk_id: str, parquet: bytes, partial: dict, rows: int
) -> None:
    """Write a chunk's parquet part, then its partial (the completion marker).

    The partial records the part's row count (``rows``), so a resumed run can tell a truncated
    part from a good one (:func:`processors.integrity.chunk_problem`).
    """
    atomic_write_bytes(part_path(output_dir, dataset, chunk_id), parquet)
    record = {"hists": partial["hists"], "cutflow": partial["cutflow"], "rows": int(rows)}
    atomic_write_bytes(partial_path(output_dir, chunk_id), pickle.dumps(record, protocol=5))


def remove_chunk(output_dir: Path, dataset: str, chunk_id: str) -> None:
    """Delete a chunk's partial (first: it marks the chunk finished), then its parquet part."""
    partial_path(output_dir, chunk_id).unlink(missing_ok=True)
    part_path(output_dir, dataset, chunk_id).unlink(missing_ok=True)


def remove_temporaries(output_dir: Path) -> int:
    """Delete leftover temporary files of an interrupted run; returns how many."""
    count = 0
    for tmp in Path(output_dir).rglob(f".*{TMP_SUFFIX}"):
        tmp.unlink(missing_ok=True)
        count += 1
    return count


def remove_stale(output_dir: Path, keep: Mapping[str, str]) -> int:
    """Delete parts and partials whose chunk id is not in ``keep`` (chunk id → dataset)."""
    output_dir = Path(output_dir)
    removed = 0
    for part in output_dir.glob(f"{SKIM_DIR}/dataset=*/part-*.parquet"):
        chunk_id = part.stem[len("part-") :]
        dataset = part.parent.name[len("dataset=") :]
        if keep.get(chunk_id) != dataset:
            part.unlink(missing_ok=True)
            removed += 1
    for partial in output_dir.glob(f"{PARTIALS_DIR}/*.pkl"):
        if partial.stem not in keep:
            partial.unlink(missing_ok=True)
            removed += 1
    for folder in output_dir.glob(f"{SKIM_DIR}/dataset=*"):
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
    return removed


def merge_partials(output_dir: Path, chunk_ids: Iterable[str]) -> dict:
    """Sum the partials of ``chunk_ids`` in the given order: ``{"hists": ..., "cutflow": ...}``."""
    merged = None
    for chunk_id in chunk_ids:
        record = load_partial(partial_path(output_dir, chunk_id))
        partial = {"hists": record["hists"], "cutflow": record["cutflow"]}
        merged = partial if merged is None else accumulate([partial], merged)
    return merged if merged is not None else {"hists": {}, "cutflow": {}}


def write_histograms(output_dir: Path, hists: Mapping, metadata: Mapping | None = None
                     ) -> dict[str, str]:
    """Save histograms as ``histograms.coffea`` and ``histograms.root``; returns the paths.
    ``metadata`` (preset, datasets with luminosity, toolkit version) goes into every
    histogram's ``.metadata`` with the unit of its observable."""
    import coffea.util

    from processors.histograms import set_metadata, write_root

    if metadata is not None:
        set_metadata(hists, **metadata)
    output_dir = Path(output_dir)
    coffea_path = output_dir / "histograms.coffea"
    with atomic_path(coffea_path) as tmp:
        coffea.util.save(dict(hists), str(tmp))
    root_path = output_dir / "histograms.root"
    with atomic_path(root_path) as tmp:
        write_root(hists, str(tmp))
    return {"histograms": str(coffea_path), "histograms_root": str(root_path)}
