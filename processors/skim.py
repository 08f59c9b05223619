"""Chunked, resumable skim of a fileset: pre-flight checks, chunk plan, execution, merged outputs.

:func:`run_skim` is what ``run_skim.py`` calls. It checks every input file before slow work starts
(missing / empty / corrupt files, missing tree or branches), splits files into chunks aligned to
basket boundaries, skips chunks an earlier run already finished in ``output_dir``, runs the rest on
the chosen executor, writes each chunk's parquet part and partial as soon as it arrives, and
finally merges the partials in plan order — so the merged histograms, cutflow and skim are the
same for every executor and for interrupted-then-resumed runs.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from tqdm import tqdm

from processors.chunks import TREES, Chunk, ChunkTask, run_chunk
from processors.config import SkimConfig
from processors.executors import execute
from processors.fileset import Dataset
from processors.inputs import BadFileError, FileInfo, entry_ranges, inspect_file
from processors.lumimask import LumiMask
from processors.outputs import (
    atomic_write_json,
    is_finished,
    merge_partials,
    remove_stale,
    remove_temporaries,
    save_chunk,
    write_histograms,
)

log = logging.getLogger(__name__)

#: errors that make a file "bad" (skippable with skip_bad_files); anything else is a real error
BAD_FILE_ERRORS = (FileNotFoundError, BadFileError)


def _missing_synthetic(dataset: Dataset, path: str) -> FileNotFoundError:
    return FileNotFoundError(
        f"synthetic sample {path} of dataset '{dataset.name}' not found; generate it with "
        f"`python -m toymc --output {path}`"
    )


def load_lumi_masks(datasets: Sequence[Dataset], config: SkimConfig, override: str | None) -> dict:
    """Golden-JSON mask per data dataset (``override`` path/URL wins over metadata)."""
    masks: dict[str, LumiMask] = {}
    cache: dict[str, LumiMask] = {}
    for ds in datasets:
        if not (ds.is_data and config.lumi_mask):
            continue
        source = override or ds.metadata.get("golden_json")
        if not source:
            log.warning("data dataset %s has no golden JSON: no lumi mask applied", ds.name)
            continue
        if source not in cache:
            cache[source] = LumiMask.from_source(source)
        masks[ds.name] = cache[source]
    return masks


def preflight(
    datasets: Sequence[Dataset],
    config: SkimConfig,
    *,
    max_files: int | None = None,
    skip_bad_files: bool = False,
    threads: int = 8,
) -> tuple[dict[str, list[FileInfo]], list[dict]]:
    """Inspect every input file; returns good files per dataset and the bad ones (when skipping)."""
    jobs = []
    for ds in datasets:
        files = list(ds.files.items())[: max_files if max_files else None]
        jobs.extend((ds, path, tree) for path, tree in files)

    def check(job):
        ds, path, tree = job
        try:
            return inspect_file(path, tree, config), None
        except FileNotFoundError as exc:
            if ds.metadata.get("synthetic"):
                return None, _missing_synthetic(ds, path)
            return None, exc
        except BadFileError as exc:
            return None, exc

    good: dict[str, list[FileInfo]] = {ds.name: [] for ds in datasets}
    bad: list[dict] = []
    with concurrent.futures.ThreadPoolExecutor(
        max_workers=max(1, min(threads, len(jobs) or 1))
    ) as pool:
        for (ds, path, _), (info, error) in zip(jobs, pool.map(check, jobs), strict=True):
            if error is None:
                good[ds.name].append(info)
                if info.num_entries == 0:
                    log.warning("file %s has no events", path)
            elif skip_bad_files:
                log.warning("skipping bad file: %s", error)
                bad.append({"dataset": ds.name, "path": path, "reason": str(error)})
            else:
                raise error
    return good, bad


def plan_chunks(
    datasets: Sequence[Dataset],
    files: dict[str, list[FileInfo]],
    chunk_size: int,
    max_chunks: int | None = None,
) -> list[Chunk]:
    """Chunks of every good file, in dataset / file / entry order (``max_chunks`` per dataset)."""
    plan = []
    for ds in datasets:
        chunks = []
        for index, info in enumerate(files[ds.name]):
            for start, stop in entry_ranges(info.num_entries, chunk_size, info.boundaries):
                chunks.append(
                    Chunk(
                        ds.name,
                        info.path,
                        info.treename,
                        info.uuid,
                        start,
                        stop,
                        index,
                        info.branches,
                    )
                )
        plan.extend(chunks[: max_chunks if max_chunks else None])
    return plan


def _dataset_digest(config: SkimConfig, mask: LumiMask | None) -> str:
    text = config.digest() + "|" + (mask.digest if mask is not None else "no-lumi-mask")
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def run_skim(
    datasets: Sequence[Dataset],
    config: SkimConfig,
    output_dir: str | Path,
    *,
    executor: str = "iterative",
    workers: int = 1,
    scheduler: str | None = None,
    chunk_size: int = 250_000,
    max_files: int | None = None,
    max_chunks: int | None = None,
    skip_bad_files: bool = False,
    lumi_mask: str | None = None,
    progress: bool = True,
) -> dict:
    """Skim ``datasets`` into ``output_dir`` (layout: :mod:`processors.outputs`); resumable.

    Parameters
    ----------
    datasets : sequence of Dataset
        From :func:`processors.fileset.load_fileset`.
    config : SkimConfig
        Physics settings.
    output_dir : path-like
        Output directory; re-running into it reuses finished chunks of the same settings and
        removes outputs of chunks no longer in the plan.
    executor, workers, scheduler
        See :func:`processors.executors.execute`.
    chunk_size : int
        Target events per chunk (chunks follow basket boundaries when possible).
    max_files, max_chunks : int, optional
        Limit files / chunks per dataset (quick looks).
    skip_bad_files : bool
        Record unreadable files in the summary and go on, instead of stopping at the first.
    lumi_mask : str, optional
        Golden JSON (path or URL) for data, overriding the datasets' ``golden_json`` metadata.
    progress : bool
        Show a progress bar on stderr.

    Returns
    -------
    dict
        The summary also written to ``summary.json``.
    """
    started = time.perf_counter()
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    if n := remove_temporaries(output_dir):
        log.info("removed %d temporary files of an interrupted run", n)
    masks = load_lumi_masks(datasets, config, lumi_mask)
    files, bad_files = preflight(
        datasets, config, max_files=max_files, skip_bad_files=skip_bad_files
    )
    plan = plan_chunks(datasets, files, chunk_size, max_chunks)
    metadata = {ds.name: dict(ds.metadata) for ds in datasets}
    digests = {ds.name: _dataset_digest(config, masks.get(ds.name)) for ds in datasets}
    tasks = [
        ChunkTask(
            c, c.chunk_id(digests[c.dataset]), config, metadata[c.dataset], masks.get(c.dataset)
        )
        for c in plan
    ]
    if n := remove_stale(output_dir, {t.chunk_id: t.chunk.dataset for t in tasks}):
        log.warning("removed %d outputs of chunks not in this run (other settings or inputs)", n)
    done = {t.chunk_id for t in tasks if is_finished(output_dir, t.chunk.dataset, t.chunk_id)}
    pending = [t for t in tasks if t.chunk_id not in done]
    log.info(
        "%d chunks in %d files: %d already finished, %d to process with the %s executor",
        len(tasks),
        sum(len(v) for v in files.values()),
        len(done),
        len(pending),
        executor,
    )
    failed: dict[str, dict] = {}
    bar = tqdm(
        total=sum(t.chunk.n_events for t in tasks),
        unit="ev",
        unit_scale=True,
        file=sys.stderr,
        disable=not progress,
        desc="skim",
        dynamic_ncols=True,
    )
    bar.update(sum(t.chunk.n_events for t in tasks if t.chunk_id in done))
    outcomes = execute(pending, run_chunk, executor=executor, workers=workers, scheduler=scheduler)
    try:
        for task, result, error in outcomes:
            if error is not None:
                if not (skip_bad_files and isinstance(error, BAD_FILE_ERRORS)):
                    raise error
                log.warning("skipping chunk of bad file: %s", error)
                failed[task.chunk_id] = {
                    "dataset": task.chunk.dataset,
                    "path": task.chunk.path,
                    "reason": str(error),
                }
                continue
            save_chunk(
                output_dir, task.chunk.dataset, task.chunk_id, result.parquet, result.partial
            )
            bar.update(task.chunk.n_events)
    finally:
        if hasattr(outcomes, "close"):
            outcomes.close()
        TREES.clear()  # files the iterative executor opened in this process
        bar.close()
    finished = [t for t in tasks if t.chunk_id not in failed]
    merged = merge_partials(output_dir, [t.chunk_id for t in finished])
    paths = write_histograms(output_dir, merged["hists"])
    atomic_write_json(output_dir / "cutflow.json", merged["cutflow"])
    elapsed = time.perf_counter() - started
    summary = _summary(datasets, config, files, bad_files, failed, finished, merged, tasks, done)
    summary.update(
        executor=executor,
        workers=workers,
        chunk_size=chunk_size,
        elapsed_s=round(elapsed, 3),
        outputs={
            "skim": str(output_dir / "skim"),
            "cutflow": str(output_dir / "cutflow.json"),
            **paths,
        },
    )
    n_in = sum(d["events_in"] for d in summary["datasets"].values())
    summary["events_per_s"] = round(n_in / elapsed, 1) if elapsed > 0 else None
    atomic_write_json(output_dir / "summary.json", summary)
    return summary


def _summary(datasets, config, files, bad_files, failed, finished, merged, tasks, done) -> dict:
    per_dataset = {}
    for ds in datasets:
        mine = [t for t in finished if t.chunk.dataset == ds.name]
        cutflow = merged["cutflow"].get(ds.name, {})
        failed_files = {f["path"]: f for f in failed.values() if f["dataset"] == ds.name}
        per_dataset[ds.name] = {
            "events_in": sum(t.chunk.n_events for t in mine),
            "events_out": int(list(cutflow.values())[-1]) if cutflow else 0,
            "files": [info.path for info in files[ds.name]],
            "bad_files": [b for b in bad_files if b["dataset"] == ds.name]
            + list(failed_files.values()),
            "chunks": {
                "total": sum(1 for t in tasks if t.chunk.dataset == ds.name),
                "reused": sum(1 for t in mine if t.chunk_id in done),
                "processed": sum(1 for t in mine if t.chunk_id not in done),
                "failed": sum(1 for f in failed.values() if f["dataset"] == ds.name),
            },
            "metadata": dict(ds.metadata),
        }
    return {"preset": config.preset, "config": config.to_dict(), "datasets": per_dataset}
