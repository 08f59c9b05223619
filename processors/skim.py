"""Chunked, resumable skim of a fileset: pre-flight checks, chunk plan, execution, merged outputs.

:func:`run_skim` is what ``run_skim.py`` calls. It locks ``output_dir`` (one skim at a time,
:mod:`processors.lock`), checks every input file before slow work starts (missing / empty /
truncated / corrupt files, missing tree or branches, branch types, the same file listed twice),
splits files into chunks aligned to basket boundaries, writes an incomplete ``summary.json``
(:mod:`processors.summary`), reuses the chunks an earlier run finished in ``output_dir`` once they
pass the integrity checks (:mod:`processors.integrity`), runs the rest on the chosen executor,
writes each chunk's parquet part and partial as soon as it arrives, and finally merges the
partials in plan order — so the merged histograms, cutflow and skim are the same for every
executor and for interrupted-then-resumed runs — and marks the summary complete.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import logging
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import uproot
from tqdm import tqdm

from dimuon_ad.errors import DimuonADError, InputError, InputNotFoundError
from dimuon_ad.io import atomic_write_json
from dimuon_ad.workers import task_failure
from processors.chunks import TREES, Chunk, ChunkTask, run_chunk
from processors.config import SkimConfig
from processors.executors import execute
from processors.fileset import Dataset, check_duplicate_files, duplicate_message
from processors.inputs import BadFileError, FileInfo, entry_ranges, inspect_file
from processors.integrity import reusable_chunks
from processors.lock import OutputLock
from processors.lumimask import LumiMask
from processors.outputs import (
    check_output_dir,
    merge_partials,
    remove_chunk,
    remove_stale,
    remove_temporaries,
    save_chunk,
    write_histograms,
)
from processors.remote import RemoteError
from processors.summary import PROGRESS_WRITE_S, RunState

log = logging.getLogger(__name__)

#: where the skim appends the traceback of a chunk that failed on a worker
ERROR_LOG = "errors.log"

#: errors that make a file "bad" (skippable with skip_bad_files); anything else is a real error
BAD_FILE_ERRORS = (FileNotFoundError, BadFileError, RemoteError)


def _missing_synthetic(dataset: Dataset, path: str) -> InputNotFoundError:
    if path.endswith(".GamGam.root"):  # the synthetic ATLAS diphoton samples
        how = f"`python -m toymc.gamgam --output-dir {Path(path).parent}`"
    else:
        how = f"`python -m toymc --output {path}`"
    return InputNotFoundError(
        f"synthetic sample {path} of dataset '{dataset.name}' not found; generate it with {how}"
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
            try:
                cache[source] = LumiMask.from_source(source)
            except (OSError, ValueError) as exc:
                if override is None:
                    raise
                raise type(exc)(f"--lumi-mask: {exc}") from None
        masks[ds.name] = cache[source]
    return masks


def _count_entries(path: str, tree: str) -> int | None:
    """Entries of a bad file when its tree can still be read (for the summary), else None."""
    try:
        with uproot.open(path) as handle:
            return int(handle[tree].num_entries)
    except Exception:  # noqa: BLE001 - best effort on a file already known to be bad
        return None


def preflight(
    datasets: Sequence[Dataset],
    config: SkimConfig,
    *,
    max_files: int | None = None,
    skip_bad_files: bool = False,
    threads: int = 8,
) -> tuple[dict[str, list[FileInfo]], list[dict]]:
    """Inspect every input file; returns good files per dataset and the bad ones (when skipping).

    Raises
    ------
    ValueError
        One file listed twice (same real path, or same ROOT file UUID), naming both entries.
    FileNotFoundError, BadFileError, MissingBranchError, TypeError
        A bad file (unless ``skip_bad_files``: missing, unreadable, truncated files are listed in
        the returned bad files instead), a missing branch or a branch of the wrong type.
    """
    limit = max_files if max_files else None
    limited = [
        Dataset(ds.name, dict(list(ds.files.items())[:limit]), ds.metadata) for ds in datasets
    ]
    check_duplicate_files(limited)
    jobs = [(ds, path, tree) for ds in limited for path, tree in ds.files.items()]

    def check(job):
        ds, path, tree = job
        try:
            return inspect_file(path, tree, config), None
        except FileNotFoundError as exc:
            if ds.metadata.get("synthetic"):
                return None, _missing_synthetic(ds, path)
            return None, exc
        except (BadFileError, RemoteError) as exc:
            return None, exc

    good: dict[str, list[FileInfo]] = {ds.name: [] for ds in datasets}
    bad: list[dict] = []
    uuids: dict[str, tuple[str, str]] = {}
    with concurrent.futures.ThreadPoolExecutor(
        max_workers=max(1, min(threads, len(jobs) or 1))
    ) as pool:
        for (ds, path, tree), (info, error) in zip(jobs, pool.map(check, jobs), strict=True):
            if error is None:
                if info.uuid and info.uuid in uuids:
                    why = f"same ROOT file UUID {info.uuid}"
                    raise InputError(duplicate_message(uuids[info.uuid], (ds.name, path), why))
                uuids[info.uuid] = (ds.name, path)
                good[ds.name].append(info)
                if info.num_entries == 0:
                    log.warning("file %s has no events", path)
            elif skip_bad_files:
                log.warning("skipping bad file: %s", error)
                bad.append(
                    {
                        "dataset": ds.name,
                        "path": path,
                        "reason": str(error),
                        "events": _count_entries(path, tree),
                    }
                )
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


@dataclass(frozen=True)
class SkimOptions:
    """How a skim runs (see :func:`run_skim` for each option); not physics settings."""

    executor: str = "iterative"
    workers: int = 1
    scheduler: str | None = None
    chunk_size: int = 250_000
    max_files: int | None = None
    max_chunks: int | None = None
    skip_bad_files: bool = False
    lumi_mask: str | None = None
    progress: bool = True

    #: the options recorded in ``summary.json``
    RECORDED: ClassVar[tuple[str, ...]] = (
        "executor", "workers", "chunk_size", "max_files", "max_chunks", "skip_bad_files",
    )

    def settings(self) -> dict:
        """The recorded options as a dict (``summary.json``)."""
        return {name: getattr(self, name) for name in self.RECORDED}


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
    command: Sequence[str] | None = None,
) -> dict:
    """Skim ``datasets`` into ``output_dir`` (layout: :mod:`processors.outputs`); resumable.

    Parameters
    ----------
    datasets : sequence of Dataset
        From :func:`processors.fileset.load_fileset`.
    config : SkimConfig
        Physics settings.
    output_dir : path-like
        Output directory; re-running into it reuses finished chunks of the same settings (after
        checking them: truncated or corrupt ones are recomputed) and removes outputs of chunks no
        longer in the plan. One skim at a time: it is locked while the run lasts.
    executor, workers, scheduler
        See :func:`processors.executors.execute`.
    chunk_size : int
        Target events per chunk (chunks follow basket boundaries when possible).
    max_files, max_chunks : int, optional
        Limit files / chunks per dataset (quick looks).
    skip_bad_files : bool
        Leave out unreadable or truncated files (all of their chunks) and list them in the
        summary (``skipped_files``), instead of stopping at the first.
    lumi_mask : str, optional
        Golden JSON (path or URL) for data, overriding the datasets' ``golden_json`` metadata.
    progress : bool
        Show a progress bar on stderr.
    command : sequence of str, optional
        The command line that started the run (stored in the summary and the lock, so a message
        can say how to finish an incomplete skim).

    Returns
    -------
    dict
        The summary also written to ``summary.json`` (``complete``, ``chunks``, ``command``,
        ``skipped_files``, per-dataset ``inputs`` and ``parts``; see
        :mod:`processors.integrity`).

    Raises
    ------
    processors.lock.OutputLockedError
        Another skim is writing into ``output_dir``.
    """
    output_dir = check_output_dir(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    command = list(command) if command is not None else None
    options = SkimOptions(
        executor=executor, workers=workers, scheduler=scheduler, chunk_size=chunk_size,
        max_files=max_files, max_chunks=max_chunks, skip_bad_files=skip_bad_files,
        lumi_mask=lumi_mask, progress=progress,
    )
    with OutputLock(output_dir, command if command is not None else sys.argv):
        return _run_locked(datasets, config, output_dir, options, command=command)


def _run_locked(datasets, config, output_dir, options: SkimOptions, *, command) -> dict:
    """The run, once ``output_dir`` is locked: any failure is recorded in ``summary.json``."""
    # from here on the directory no longer holds a finished skim: an older complete summary must
    # not outlive a run that stops, even in its pre-flight
    marker = {
        "complete": False,
        "chunks": {"planned": None, "done": None},
        "command": command,
        "preset": config.preset,
        "config": config.to_dict(),
    }
    atomic_write_json(output_dir / "summary.json", marker, default=str)
    holder: list[RunState] = []
    try:
        summary = _plan_and_run(datasets, config, output_dir, holder, options, command=command)
    except BaseException as exc:
        error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if holder:
            holder[0].error = error
            holder[0].write(output_dir)
        else:
            atomic_write_json(output_dir / "summary.json", {**marker, "error": error}, default=str)
        raise
    atomic_write_json(output_dir / "summary.json", summary, default=str)  # the one complete summary
    return summary


def _plan_and_run(datasets, config, output_dir, holder, opt: SkimOptions, *, command) -> dict:
    """Pre-flight, plan, resume checks, processing and merge; returns the complete summary
    (``holder`` gets the :class:`RunState` as soon as the plan exists)."""
    started = time.perf_counter()
    if n := remove_temporaries(output_dir):
        log.info("removed %d temporary files of an interrupted run", n)
    masks = load_lumi_masks(datasets, config, opt.lumi_mask)
    files, bad_files = preflight(
        datasets, config, max_files=opt.max_files, skip_bad_files=opt.skip_bad_files
    )
    plan = plan_chunks(datasets, files, opt.chunk_size, opt.max_chunks)
    metadata = {ds.name: dict(ds.metadata) for ds in datasets}
    digests = {ds.name: _dataset_digest(config, masks.get(ds.name)) for ds in datasets}
    tasks = [
        ChunkTask(
            c, c.chunk_id(digests[c.dataset]), config, metadata[c.dataset], masks.get(c.dataset)
        )
        for c in plan
    ]
    state = RunState(
        datasets=datasets,
        config=config,
        files=files,
        bad_files=bad_files,
        tasks=tasks,
        command=command,
        settings=opt.settings(),
    )
    holder.append(state)
    state.write(output_dir)  # planned, before anything of an older run is touched
    if n := remove_stale(output_dir, {t.chunk_id: t.chunk.dataset for t in tasks}):
        log.warning("removed %d outputs of chunks not in this run (other settings or inputs)", n)
    state.reused = reusable_chunks(output_dir, tasks)
    state.rows.update(state.reused)
    pending = [t for t in tasks if t.chunk_id not in state.reused]
    log.info(
        "%d chunks in %d files: %d already finished, %d to process with the %s executor",
        len(tasks),
        sum(len(v) for v in files.values()),
        len(state.reused),
        len(pending),
        opt.executor,
    )
    state.write(output_dir)
    _process(pending, state, output_dir, opt)
    for task in state.dropped_tasks():  # nothing of a file that failed part-way is kept
        remove_chunk(output_dir, task.chunk.dataset, task.chunk_id)
    merged = merge_partials(output_dir, [t.chunk_id for t in state.kept_tasks()])
    paths = write_histograms(output_dir, merged["hists"], _histogram_metadata(config, metadata))
    atomic_write_json(output_dir / "cutflow.json", merged["cutflow"], default=str)
    if "cutflow_weighted" in merged["hists"]:  # the diphoton skim's weighted cutflow
        paths["cutflow_weighted"] = str(output_dir / "cutflow_weighted.json")
        atomic_write_json(output_dir / "cutflow_weighted.json",
                          weighted_cutflow(merged["hists"]["cutflow_weighted"]), default=str)
    elapsed = time.perf_counter() - started
    summary = state.summary(merged["cutflow"])
    summary.update(
        complete=True,
        elapsed_s=round(elapsed, 3),
        outputs={
            "skim": str(output_dir / "skim"),
            "cutflow": str(output_dir / "cutflow.json"),
            **paths,
        },
    )
    n_in = sum(d["events_in"] for d in summary["datasets"].values())
    summary["events_per_s"] = round(n_in / elapsed, 1) if elapsed > 0 else None
    return summary


def _process(pending, state, output_dir, opt: SkimOptions):
    """Run the pending chunks, saving each as it arrives; a bad file's chunks are dropped."""
    tasks = state.tasks
    bar = tqdm(
        total=sum(t.chunk.n_events for t in tasks),
        unit="ev",
        unit_scale=True,
        file=sys.stderr,
        disable=not opt.progress,
        desc="skim",
        dynamic_ncols=True,
    )
    bar.update(sum(t.chunk.n_events for t in tasks if t.chunk_id in state.reused))
    outcomes = execute(pending, run_chunk, executor=opt.executor, workers=opt.workers,
                       scheduler=opt.scheduler)
    last_write = time.monotonic()
    try:
        for task, result, error in outcomes:
            key = (task.chunk.dataset, task.chunk.path)
            if error is not None:
                if not (opt.skip_bad_files and isinstance(error, BAD_FILE_ERRORS)):
                    if opt.executor == "iterative" or isinstance(error, DimuonADError):
                        raise error
                    # a chunk that failed in another process: one line, its traceback in a file
                    c = task.chunk
                    entries = f"entries {c.entry_start}-{c.entry_stop}"
                    what = f"chunk {task.chunk_id} of {c.path} ({entries})"
                    raise task_failure(what, error, output_dir / ERROR_LOG) from None
                if key not in state.failed_files:
                    log.warning("skipping bad file and every chunk of it: %s", error)
                    state.failed_files[key] = str(error)
                continue
            if key in state.failed_files:
                continue
            save_chunk(
                output_dir,
                task.chunk.dataset,
                task.chunk_id,
                result.parquet,
                result.partial,
                result.n_out,
            )
            state.rows[task.chunk_id] = result.n_out
            bar.update(task.chunk.n_events)
            if time.monotonic() - last_write > PROGRESS_WRITE_S:
                state.write(output_dir)
                last_write = time.monotonic()
    finally:
        if hasattr(outcomes, "close"):
            outcomes.close()
        TREES.clear()  # files the iterative executor opened in this process
        bar.close()


def weighted_cutflow(h) -> dict:
    """``{dataset: {cut: {"sum": Σw, "error": √Σw²}}}`` of a weighted cutflow histogram
    (axes ``dataset``, ``cut``), cuts in fill order."""
    out: dict = {}
    for dataset in h.axes["dataset"]:
        out[dataset] = {}
        for cut in h.axes["cut"]:
            cell = h[{"dataset": dataset, "cut": cut}]
            out[dataset][cut] = {"sum": float(cell.value), "error": float(cell.variance) ** 0.5}
    return out


def _histogram_metadata(config: SkimConfig, metadata: dict[str, dict]) -> dict:
    """What every merged histogram records: preset, datasets (luminosity in fb⁻¹ or None, data
    or simulation), toolkit version."""
    from dimuon_ad._version import version

    return {
        "preset": config.preset,
        "datasets": {name: {"lumi_fb": m.get("lumi_fb"), "is_data": m.get("is_data"),
                            "synthetic": bool(m.get("synthetic", False))}
                     for name, m in metadata.items()},
        "toolkit_version": version(),
    }
