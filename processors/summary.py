"""``summary.json`` of a skim run: plan, progress, completeness and what was left out.

Keys (see also :mod:`processors.integrity`, which checks them):

- ``complete`` (bool), ``chunks`` (``planned``, ``done``, ``skipped``), ``command`` (argv that
  made it), ``error`` (first line of what stopped an incomplete run);
- ``skipped_files`` (``dataset``, ``path``, ``reason``, ``events`` or null) and ``inputs``
  (``files``, ``events``, ``files_skipped``, ``events_skipped``);
- ``datasets.<name>``: ``events_in``, ``events_out``, ``files``, ``bad_files``, ``inputs``
  (per file: ``events``, ``chunks_planned``, ``chunks_done``, ``events_done``), ``chunks``
  (``total``, ``reused``, ``processed``, ``failed``), ``parts`` (parquet part → rows), metadata;
- the run settings (``executor``, ``workers``, ``chunk_size``, ``max_files``, ``max_chunks``,
  ``skip_bad_files``), and at the end ``elapsed_s``, ``events_per_s``, ``outputs``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from dimuon_ad.io import atomic_write_json
from processors.config import SkimConfig
from processors.fileset import Dataset

#: seconds between updates of the incomplete summary while chunks are processed
PROGRESS_WRITE_S = 2.0


@dataclass
class RunState:
    """What a run knows about its plan and progress; :meth:`summary` becomes ``summary.json``.

    ``tasks`` are the planned :class:`~processors.chunks.ChunkTask` objects, ``files`` the good
    :class:`~processors.inputs.FileInfo` per dataset, ``bad_files`` the files the pre-flight left
    out (``skip_bad_files``); ``rows``, ``reused`` and ``failed_files`` fill in as the run goes.
    """

    datasets: Sequence[Dataset]
    config: SkimConfig
    files: dict
    bad_files: list
    tasks: list
    command: list | None
    settings: dict
    reused: dict = field(default_factory=dict)  # chunk id -> rows, validated on resume
    rows: dict = field(default_factory=dict)  # chunk id -> rows of every finished chunk
    failed_files: dict = field(default_factory=dict)  # (dataset, path) -> reason
    error: str | None = None

    def dropped_tasks(self) -> list:
        """Chunks of files that failed part-way (skipped with ``skip_bad_files``)."""
        return [t for t in self.tasks if (t.chunk.dataset, t.chunk.path) in self.failed_files]

    def kept_tasks(self) -> list:
        """Finished chunks of good files, in plan order."""
        return [
            t
            for t in self.tasks
            if t.chunk_id in self.rows and (t.chunk.dataset, t.chunk.path) not in self.failed_files
        ]

    def skipped_files(self) -> list[dict]:
        """Input files left out (pre-flight or part-way), with their events when known."""
        entries = {i.path: i.num_entries for infos in self.files.values() for i in infos}
        late = [
            {"dataset": ds, "path": path, "reason": reason, "events": entries.get(path)}
            for (ds, path), reason in self.failed_files.items()
        ]
        return list(self.bad_files) + late

    def summary(self, cutflow: dict | None = None) -> dict:
        """The summary dict (``complete`` false until the caller says otherwise)."""
        kept = self.kept_tasks()
        kept_ids = {t.chunk_id for t in kept}
        skipped = self.skipped_files()
        per_dataset = {}
        for ds in self.datasets:
            mine = [t for t in self.tasks if t.chunk.dataset == ds.name]
            flow = (cutflow or {}).get(ds.name, {})
            inputs = {}
            for info in self.files[ds.name]:
                chunks = [t for t in mine if t.chunk.path == info.path]
                done = [t for t in chunks if t.chunk_id in kept_ids]
                inputs[info.path] = {
                    "events": info.num_entries,
                    "chunks_planned": len(chunks),
                    "chunks_done": len(done),
                    "events_done": sum(t.chunk.n_events for t in done),
                }
            ds_kept = [t for t in mine if t.chunk_id in kept_ids]
            per_dataset[ds.name] = {
                "events_in": sum(t.chunk.n_events for t in ds_kept),
                "events_out": (int(list(flow.values())[-1]) if flow else 0)
                if cutflow is not None
                else sum(self.rows[t.chunk_id] for t in ds_kept),
                "files": [
                    info.path
                    for info in self.files[ds.name]
                    if (ds.name, info.path) not in self.failed_files
                ],
                "bad_files": [b for b in skipped if b["dataset"] == ds.name],
                "inputs": inputs,
                "chunks": {
                    "total": len(mine),
                    "reused": sum(1 for t in ds_kept if t.chunk_id in self.reused),
                    "processed": sum(1 for t in ds_kept if t.chunk_id not in self.reused),
                    "failed": sum(1 for t in mine if (ds.name, t.chunk.path) in self.failed_files),
                },
                "parts": {f"part-{t.chunk_id}.parquet": self.rows[t.chunk_id] for t in ds_kept},
                "metadata": dict(ds.metadata),
            }
        dropped = len(self.dropped_tasks())
        out = {
            "complete": False,
            "chunks": {"planned": len(self.tasks), "done": len(kept), "skipped": dropped},
            "command": self.command,
            "preset": self.config.preset,
            "config": self.config.to_dict(),
            "skipped_files": skipped,
            "inputs": {
                "files": sum(len(v["files"]) for v in per_dataset.values()),
                "events": sum(v["events_in"] for v in per_dataset.values()),
                "files_skipped": len(skipped),
                "events_skipped": sum(b["events"] or 0 for b in skipped),
            },
            "datasets": per_dataset,
            **self.settings,
        }
        if self.error is not None:
            out["error"] = self.error
        return out

    def write(self, output_dir: Path) -> None:
        """Write the (incomplete) summary: what is planned and done so far."""
        atomic_write_json(Path(output_dir) / "summary.json", self.summary(), default=str)
