"""Output layout of a skim run, atomic writes, and merging of per-chunk partials.

::

    <output-dir>/
      skim/dataset=<name>/part-<chunk id>.parquet   one row per selected event (hive partitioning)
      histograms.coffea                             dict of hist.Hist (coffea.util.load)
      histograms.root                               1D projections <dataset>/<hist>_<OS|SS>[_<iso>]
      cutflow.json                                  {dataset: {cut: events passing up to it}}
      summary.json                                  events in/out, files, bad files, timing
      _partials/<chunk id>.pkl                      per-chunk histograms + cutflow (for resuming)

Every file is written under a hidden temporary name in its final directory and renamed with
``os.replace``, so readers never see a half-written file. A chunk counts as finished once its
partial exists; the partial is written after the chunk's parquet part.
"""

from __future__ import annotations

import json
import os
import pickle
from collections.abc import Iterable, Mapping
from pathlib import Path

from coffea.processor import accumulate

PARTIALS_DIR = "_partials"
SKIM_DIR = "skim"


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` via a hidden temporary file in the same directory + rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    return path


def atomic_write_json(path: str | Path, data) -> Path:
    """Write JSON (indented, sorted as given) atomically."""
    return atomic_write_bytes(path, (json.dumps(data, indent=2, default=str) + "\n").encode())


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
    output_dir: Path, dataset: str, chunk_id: str, parquet: bytes, partial: dict
) -> None:
    """Write a chunk's parquet part, then its partial (the completion marker)."""
    atomic_write_bytes(part_path(output_dir, dataset, chunk_id), parquet)
    atomic_write_bytes(partial_path(output_dir, chunk_id), pickle.dumps(partial, protocol=5))


def remove_temporaries(output_dir: Path) -> int:
    """Delete leftover temporary files of an interrupted run; returns how many."""
    count = 0
    for tmp in Path(output_dir).rglob(".*.tmp"):
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
        with open(partial_path(output_dir, chunk_id), "rb") as handle:
            partial = pickle.load(handle)
        merged = partial if merged is None else accumulate([partial], merged)
    return merged if merged is not None else {"hists": {}, "cutflow": {}}


def write_histograms(output_dir: Path, hists: Mapping) -> dict[str, str]:
    """Save histograms as ``histograms.coffea`` and ``histograms.root``; returns the paths."""
    import coffea.util

    from processors.histograms import write_root

    output_dir = Path(output_dir)
    coffea_path = output_dir / "histograms.coffea"
    tmp = output_dir / f".histograms.coffea.{os.getpid()}.tmp"
    coffea.util.save(dict(hists), str(tmp))
    os.replace(tmp, coffea_path)
    root_path = output_dir / "histograms.root"
    tmp = output_dir / f".histograms.root.{os.getpid()}.tmp"
    write_root(hists, str(tmp))
    os.replace(tmp, root_path)
    return {"histograms": str(coffea_path), "histograms_root": str(root_path)}
