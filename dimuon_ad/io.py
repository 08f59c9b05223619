"""Atomic file writes: the one implementation every package uses.

A file is written under a hidden temporary name in its final directory
(``.<name>.<random>.tmp``), flushed to disk (``fsync``), given the usual file mode (``0666`` less
the umask, not :func:`tempfile.mkstemp`'s ``0600``) and renamed into place with
:func:`os.replace`; on any failure the temporary file is removed and the error re-raised. Readers
therefore see either the old file or the complete new one, never a half-written file, and
``processors.outputs.remove_temporaries`` finds leftovers of a killed process by the pattern
``.*.tmp``.

Writers that produce the bytes themselves call :func:`atomic_write_bytes`,
:func:`atomic_write_text` or :func:`atomic_write_json`; writers that need a path or a file handle
(``uproot.recreate``, ``coffea.util.save``, ``torch.save``, ``pickle.dump``) use
:func:`atomic_path` or :func:`atomic_open`. :func:`to_jsonable` makes results JSON-safe.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import numpy as np

__all__ = [
    "DIR_MODE",
    "FILE_MODE",
    "TMP_SUFFIX",
    "atomic_open",
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "to_jsonable",
]

#: suffix of every temporary file written here (leftovers match ``.*.tmp``)
TMP_SUFFIX = ".tmp"

_UMASK = os.umask(0)  # read once at import: os.umask can only be read by setting it
os.umask(_UMASK)
#: the usual mode of a new file (0666 less the umask), given to every atomically written file
FILE_MODE = 0o666 & ~_UMASK
#: the usual mode of a new directory (0777 less the umask), for directories made by mkdtemp
DIR_MODE = 0o777 & ~_UMASK


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_path(path: str | os.PathLike[str], *, mkdir: bool = True) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` when the block succeeds.

    Parameters
    ----------
    path : str or path-like
        Final file name.
    mkdir : bool
        Create missing parent directories (default). With False a missing folder raises
        FileNotFoundError naming it.

    Yields
    ------
    pathlib.Path
        An empty temporary file in the same directory; the block writes it (or replaces it).

    Examples
    --------
    >>> with atomic_path("out/histograms.coffea") as tmp:  # doctest: +SKIP
    ...     coffea.util.save(hists, tmp)
    """
    path = Path(path)
    if mkdir:
        path.parent.mkdir(parents=True, exist_ok=True)
    elif not path.parent.is_dir():
        raise FileNotFoundError(
            f"cannot write {path}: folder {path.parent} does not exist; create it first"
        )
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TMP_SUFFIX, dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        _fsync(tmp)
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextmanager
def atomic_open(
    path: str | os.PathLike[str], mode: str = "wb", *, mkdir: bool = True, **kwargs: Any
) -> Iterator[IO[Any]]:
    """Open a temporary file next to ``path`` for writing; rename it onto ``path`` on success.

    ``mode`` is ``"wb"`` or ``"w"`` (text mode defaults to UTF-8); ``kwargs`` go to :func:`open`.
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"atomic_open mode={mode!r}; expected 'wb' or 'w'")
    if "b" not in mode:
        kwargs.setdefault("encoding", "utf-8")
    with atomic_path(path, mkdir=mkdir) as tmp, open(tmp, mode, **kwargs) as handle:
        yield handle


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, *, mkdir: bool = True) -> Path:
    """Write ``data`` to ``path`` atomically; returns ``path`` as a Path."""
    with atomic_open(path, "wb", mkdir=mkdir) as handle:
        handle.write(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike[str], text: str, *, mkdir: bool = True) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; returns ``path`` as a Path."""
    return atomic_write_bytes(path, text.encode("utf-8"), mkdir=mkdir)


def atomic_write_json(
    path: str | os.PathLike[str],
    data: Any,
    *,
    indent: int | None = 2,
    sort_keys: bool = False,
    default: Any = None,
    mkdir: bool = True,
) -> Path:
    """Write ``data`` as JSON (plus a final newline) to ``path`` atomically; returns the Path.

    ``indent``, ``sort_keys`` and ``default`` are passed to :func:`json.dumps`.
    """
    text = json.dumps(data, indent=indent, sort_keys=sort_keys, default=default)
    return atomic_write_text(path, text + "\n", mkdir=mkdir)


def to_jsonable(obj: Any) -> Any:
    """A JSON-safe copy of ``obj``: mappings become dicts with string keys, tuples, lists and
    arrays become lists, numpy scalars Python numbers, and NaN or infinite floats None."""
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj
