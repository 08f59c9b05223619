"""Loading and validating ``fileset.json`` (coffea's fileset shape).

::

    {"<dataset>": {"files": {"<path or root:// URL>": "Events"}, "metadata": {...}}}

Relative local paths are resolved against the directory of the fileset file. Unknown keys are
errors that name the key and the file (with a suggestion for typos).
"""

from __future__ import annotations

import difflib
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dimuon_ad.errors import InputError, InputNotFoundError

log = logging.getLogger(__name__)

DATASET_KEYS = ("files", "metadata")
#: metadata keys understood by the skim (others are rejected to catch typos such as "is_dat")
METADATA_KEYS = {
    "is_data": bool,
    "synthetic": bool,
    "lumi_fb": (int, float),
    "com_tev": (int, float),
    "experiment": str,
    "year": int,
    "record": int,
    "golden_json": str,
    "description": str,
    "xsec_pb": (int, float),
    "n_events": int,
    "sample": str,
}


@dataclass(frozen=True)
class Dataset:
    """One dataset of a fileset: name, files (path → tree name), metadata."""

    name: str
    files: dict[str, str]
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def is_data(self) -> bool:
        """True for collision data (gets the lumi mask)."""
        return bool(self.metadata.get("is_data", False))


def _suggest(key: str, known) -> str:
    close = difflib.get_close_matches(key, list(known), n=1)
    return f"; did you mean '{close[0]}'?" if close else ""


def _resolve(path: str, base: Path) -> str:
    if "://" in path:
        return path
    p = Path(path).expanduser()
    return str(p if p.is_absolute() else (base / p))


def parse_fileset(
    data: Any, source: str = "fileset", base: Path | None = None
) -> dict[str, Dataset]:
    """Validate a fileset mapping and return :class:`Dataset` objects by name.

    Raises
    ------
    ValueError
        Wrong structure, unknown key, missing ``files``, or a metadata value of the wrong type.
    """
    base = base if base is not None else Path.cwd()
    if not isinstance(data, dict) or not data:
        raise InputError(
            f"{source} must map dataset names to "
            '{"files": {"<path>": "Events"}, "metadata": {...}}'
        )
    out = {}
    for name, entry in data.items():
        if not isinstance(entry, dict):
            raise InputError(
                f'dataset \'{name}\' in {source} must be an object with "files" and "metadata"'
            )
        for key in entry:
            if key not in DATASET_KEYS:
                raise InputError(
                    f"unknown key '{key}' in dataset '{name}' of {source}; expected "
                    f"{' and '.join(DATASET_KEYS)}" + _suggest(key, DATASET_KEYS)
                )
        if "files" not in entry:
            raise InputError(
                f'dataset \'{name}\' in {source} has no "files"; expected {{"<path>": "Events"}}'
            )
        files = entry["files"]
        if isinstance(files, list):
            files = {f: "Events" for f in files}
        if (
            not isinstance(files, dict)
            or not files
            or not all(isinstance(k, str) and isinstance(v, str) for k, v in files.items())
        ):
            raise InputError(
                f"\"files\" of dataset '{name}' in {source} must be a non-empty "
                '{"<path or root:// URL>": "<tree name>"} mapping'
            )
        metadata = entry.get("metadata", {}) or {}
        if not isinstance(metadata, dict):
            raise InputError(f"\"metadata\" of dataset '{name}' in {source} must be an object")
        for key, value in metadata.items():
            if key not in METADATA_KEYS:
                raise InputError(
                    f"unknown metadata key '{key}' in dataset '{name}' of {source}; known: "
                    f"{', '.join(METADATA_KEYS)}" + _suggest(key, METADATA_KEYS)
                )
            expected = METADATA_KEYS[key]
            if not isinstance(value, expected) or (
                expected is not bool and isinstance(value, bool)
            ):
                raise InputError(
                    f"metadata '{key}' of dataset '{name}' in {source} has value {value!r}; "
                    f"expected {getattr(expected, '__name__', 'a number')}"
                )
        out[name] = Dataset(
            name=name,
            files={_resolve(path, base): tree for path, tree in files.items()},
            metadata=dict(metadata),
        )
    return out


def load_fileset(path: str | Path) -> dict[str, Dataset]:
    """Read and validate a fileset JSON file (relative paths resolved against its directory).

    Raises
    ------
    FileNotFoundError
        The fileset file does not exist.
    ValueError
        Invalid JSON or an invalid fileset (the message names the key and the file).
    """
    path = Path(path)
    if not path.is_file():
        raise InputNotFoundError(
            f"--fileset {path} not found; pass --fileset PATH to a JSON file of the shape "
            '{"<dataset>": {"files": {"<path>": "Events"}, "metadata": {}}}'
        )
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise InputError(f"--fileset {path} is not valid JSON: {exc}") from None
    return parse_fileset(data, source=str(path), base=path.resolve().parent)


def _real_path(path: str) -> str:
    if "://" in path and not path.startswith("file://"):
        return path
    return os.path.realpath(path.removeprefix("file://"))


def check_duplicate_files(datasets) -> None:
    """Raise ``ValueError`` when one file is listed twice (same real path) across ``datasets``.

    Two spellings of a path (``a/../x.root``, a symlink) would otherwise be skimmed twice and
    double every histogram and cutflow entry. Files with the same ROOT UUID (copies) are caught
    in the pre-flight, once the files are open (:func:`processors.skim.preflight`).
    """
    seen: dict[str, tuple[str, str]] = {}
    for ds in datasets:
        for path in ds.files:
            real = _real_path(path)
            if real in seen:
                why = f"real path {real}"
                raise InputError(duplicate_message(seen[real], (ds.name, path), why))
            seen[real] = (ds.name, path)


def duplicate_message(first: tuple[str, str], second: tuple[str, str], why: str) -> str:
    """One line naming both fileset entries, their dataset(s) and what makes them the same."""
    where = (
        f"dataset '{first[0]}'"
        if first[0] == second[0]
        else f"datasets '{first[0]}' and '{second[0]}'"
    )
    return (
        f"input file {second[1]} is the same file as {first[1]} ({why}) in the fileset's "
        f"{where}; it would be counted twice: remove one of them from the fileset"
    )


def select_datasets(
    datasets: dict[str, Dataset], names, source: str = "the fileset"
) -> list[Dataset]:
    """The datasets named in ``names`` (in that order), or raise naming the unknown one."""
    out = []
    for name in names:
        if name not in datasets:
            raise InputError(
                f"unknown dataset '{name}' (--dataset) in {source}; known: {', '.join(datasets)}"
                + _suggest(name, datasets)
            )
        out.append(datasets[name])
    return out
