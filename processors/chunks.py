"""Units of work of the skim: one chunk = (dataset, file, entry range) under one configuration.

A chunk's id hashes the file UUID (or path), the entry range, the dataset, the settings and the lumi
mask, so a re-run with the same inputs and settings recognises the chunks it already finished, and
a run with other settings never mixes with them. :func:`run_chunk` is the function the executors
ship to workers: it reads only the needed branches, runs
:class:`~processors.dimuon.DimuonProcessor`,
and returns the skim as parquet bytes plus the histogram/cutflow partial. Workers never write
files, so remote Dask workers need no shared filesystem.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
from dataclasses import dataclass, field

import awkward as ak
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from processors.config import SkimConfig
from processors.dimuon import DimuonProcessor
from processors.inputs import BadFileError, TreeCache, read_events
from processors.lumimask import LumiMask

#: open files of this worker process, reused by consecutive chunks of the same file
TREES = TreeCache(capacity=2)

#: bump when the skim columns or histogram definitions change (invalidates finished chunks)
SKIM_FORMAT_VERSION = 3  # 2: partials record row counts; kinematics_only keeps ids
# 3: mass_upsilon_fit histogram; parquet key-value metadata (dataset, preset, lumi, units)


@dataclass(frozen=True)
class Chunk:
    """One entry range of one file of one dataset."""

    dataset: str
    path: str
    treename: str
    file_uuid: str
    entry_start: int
    entry_stop: int
    file_index: int
    branches: tuple[str, ...]

    @property
    def n_events(self) -> int:
        """Number of entries in the chunk."""
        return self.entry_stop - self.entry_start

    def chunk_id(self, config_digest: str) -> str:
        """Stable 16-hex-digit id of this chunk under settings ``config_digest``."""
        key = "|".join(
            map(
                str,
                (
                    SKIM_FORMAT_VERSION,
                    self.dataset,
                    self.file_uuid or self.path,
                    self.treename,
                    self.entry_start,
                    self.entry_stop,
                    config_digest,
                ),
            )
        )
        return hashlib.sha1(key.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class ChunkTask:
    """Everything a worker needs to process one chunk."""

    chunk: Chunk
    chunk_id: str
    config: SkimConfig
    metadata: dict = field(default_factory=dict)
    lumi_mask: LumiMask | None = None


@dataclass
class ChunkResult:
    """What a worker sends back: parquet bytes of the skim part and the histogram partial."""

    chunk_id: str
    parquet: bytes
    partial: dict
    n_in: int
    n_out: int
    seconds: float


def columns_to_table(columns: dict) -> pa.Table:
    """Arrow table of skim columns (types kept: float32, int32, bool, uint32/64 ids); awkward
    list columns (:mod:`processors.objects`) become arrow ``list<item>`` columns; a text column
    is dictionary-encoded, read back by pandas as a categorical."""
    return pa.table({name: _arrow(values) for name, values in columns.items()})


def _arrow(values) -> pa.Array:
    if isinstance(values, ak.Array):
        return ak.to_arrow(values, extensionarray=False, list_to32=True)
    values = np.asarray(values)
    if values.dtype.kind in "US":  # e.g. the diphoton skim's ``sample`` label
        labels, codes = np.unique(values, return_inverse=True)
        return pa.DictionaryArray.from_arrays(pa.array(codes.astype(np.int32)),
                                              pa.array(labels.tolist()))
    return pa.array(values)


def parquet_metadata(dataset: str, config: SkimConfig, metadata: dict) -> dict[str, str]:
    """Key-value metadata of a skim part (``b"dimuon_ad"`` in the parquet schema, JSON):
    dataset, preset, luminosity (fb⁻¹, null when unknown), data or simulation, the units of the
    columns and the toolkit version. Read it with
    ``json.loads(pyarrow.parquet.read_schema(path).metadata[b"dimuon_ad"])``."""
    from dimuon_ad._version import version

    return {
        "dimuon_ad": json.dumps(
            {
                "dataset": dataset,
                "preset": config.preset,
                "lumi_fb": metadata.get("lumi_fb"),
                "is_data": metadata.get("is_data"),
                "synthetic": bool(metadata.get("synthetic", False)),
                "units": {"momentum": "GeV", "mass": "GeV", "length": "cm"},
                "toolkit_version": version(),
            },
            sort_keys=True,
        )
    }


def table_to_parquet_bytes(table: pa.Table, metadata: dict[str, str] | None = None) -> bytes:
    """Serialize a table as one parquet file (zstd) in memory, with optional key-value
    ``metadata`` in its schema."""
    if metadata:
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), **metadata})
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


def make_processor(task: ChunkTask):
    """The processor of a task's settings: diphoton for a
    :class:`~processors.diphoton_config.DiphotonConfig`, else the dimuon one (with its lumi
    mask)."""
    if getattr(task.config, "analysis", "dimuon") == "diphoton":
        from processors.diphoton import DiphotonProcessor

        return DiphotonProcessor(task.config)
    masks = {task.chunk.dataset: task.lumi_mask} if task.lumi_mask is not None else {}
    return DimuonProcessor(task.config, lumi_masks=masks)


def run_chunk(task: ChunkTask) -> ChunkResult:
    """Process one chunk: read, select, compute columns and histograms (runs on a worker).

    Raises
    ------
    Exception
        Whatever reading the file raises (:class:`~processors.inputs.BadFileError`, OSError, ...);
        the driver decides whether to skip the file.
    """
    start = time.perf_counter()
    chunk = task.chunk
    tree = TREES.get(chunk.path, chunk.treename)
    try:
        events = read_events(tree, chunk.branches, chunk.entry_start, chunk.entry_stop)
    except Exception as exc:  # decompression / network failures make the file bad
        TREES.clear()
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise BadFileError(
            f"reading entries {chunk.entry_start}-{chunk.entry_stop} of {chunk.path} failed "
            f"({reason}); pass --skip-bad-files to go on without it"
        ) from None  # (the reader's exception may not unpickle in the process that submitted)
    metadata = dict(task.metadata)
    metadata.update(
        dataset=chunk.dataset,
        filename=chunk.path,
        entrystart=chunk.entry_start,
        entrystop=chunk.entry_stop,
        fileuuid=chunk.file_uuid,
    )
    events = ak.with_parameter(events, "metadata", metadata)
    output = make_processor(task).process(events)
    columns = {k: v.value for k, v in output["skim"][chunk.dataset].items()}
    table = columns_to_table(columns)
    partial = {"hists": output["hists"], "cutflow": output["cutflow"]}
    return ChunkResult(
        chunk_id=task.chunk_id,
        parquet=table_to_parquet_bytes(
            table, parquet_metadata(chunk.dataset, task.config, task.metadata)
        ),
        partial=partial,
        n_in=chunk.n_events,
        n_out=table.num_rows,
        seconds=time.perf_counter() - start,
    )
