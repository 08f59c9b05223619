"""Integrity checks of input files, run in the pre-flight before any slow work.

- truncated files: a local file shorter than the ``fEND`` its ROOT header records
  (:func:`check_not_truncated`), or a basket of a needed branch ending past the end of the file
  (:func:`check_baskets_inside`) — otherwise found only when a late chunk fails to read;
- branch types: a branch the skim reads as a float (``Muon_pt``, isolation, impact parameters)
  stored as an integer, or a flag / id stored as a float (:func:`check_branch_types`) — otherwise
  read silently (an integer ``Muon_pt`` moves masses by GeV).
"""

from __future__ import annotations

import os
import struct
from collections.abc import Sequence

import numpy as np

from dimuon_ad.errors import InputError

#: NanoAOD muon ID flags (booleans)
MUON_ID_FLAGS = ("tightId", "mediumId", "looseId", "softId")
#: branches that must hold integers (event ids, charges, counts)
INTEGER_BRANCHES = (
    "run",
    "luminosityBlock",
    "event",
    "Muon_charge",
    "PV_npvsGood",
    "Truth_process",
)


class BadFileError(InputError, OSError):
    """An input file is missing its tree, empty, truncated, or not a readable ROOT file."""


class BranchTypeError(InputError, TypeError):
    """A branch of an input file has the wrong type (an integer ``Muon_pt``, ...)."""


def expected_type(branch: str) -> tuple[str, str]:
    """``(numpy kinds, description)`` a skim branch must have: floats, integers or flags."""
    if branch in INTEGER_BRANCHES:
        return "iu", "an integer type (int32/uint32/uint64 in NanoAOD)"
    if branch.startswith("HLT_") or (
        branch.startswith("Muon_") and branch[len("Muon_") :] in MUON_ID_FLAGS
    ):
        return "biu", "a boolean flag (bool in NanoAOD)"
    return "f", "a floating-point type (float32 in NanoAOD)"


def _branch_dtype(branch):
    interpretation = branch.interpretation
    interpretation = getattr(interpretation, "content", interpretation)  # jagged -> its items
    return getattr(interpretation, "to_dtype", None)


def check_branch_types(tree, branches: Sequence[str], path: str) -> None:
    """Raise ``TypeError`` naming the branch, its type, the expected type and the file.

    A ``Muon_pt`` stored as an integer would be read and silently move every mass; this check
    runs in the pre-flight on the branches the preset reads.
    """
    for name in branches:
        kinds, expected = expected_type(name)
        branch = tree[name]
        dtype = _branch_dtype(branch)
        if dtype is None or dtype.kind not in kinds:
            found = f"{branch.typename}" + (f" ({dtype})" if dtype is not None else "")
            raise BranchTypeError(
                f"branch {name} of file {path} has type {found}; the skim expects {expected}; "
                "fix the file (or its producer), or remove it from the fileset"
            )


def root_header_end(path: str) -> int | None:
    """``fEND`` (bytes ROOT wrote) from a local file's header; ``None`` when not a ROOT file."""
    with open(path, "rb") as handle:
        head = handle.read(32)
    if len(head) < 20 or head[:4] != b"root":
        return None
    version, _begin = struct.unpack(">ii", head[4:12])
    fmt, size = (">q", 8) if version >= 1_000_000 else (">i", 4)
    return int(struct.unpack(fmt, head[12 : 12 + size])[0])


def _truncated(path: str, on_disk: int, expected: int, what: str) -> BadFileError:
    return BadFileError(
        f"input file {path} is truncated: {on_disk:,} bytes, but {what} {expected:,}; copy or "
        "download it again, or pass --skip-bad-files to go on without it"
    )


def check_not_truncated(path: str) -> None:
    """Raise :class:`BadFileError` when a local ROOT file is shorter than its header's fEND."""
    end = root_header_end(path)
    size = os.path.getsize(path)
    if end is not None and end > size:
        raise _truncated(path, size, end, "its ROOT header (fEND) says it has")


def check_source_size(handle, path: str) -> int | None:
    """Bytes of an open file as its source reports them (remote files: a stat), checked against
    the header's ``fEND``; ``None`` when the source cannot tell.

    Raises
    ------
    BadFileError
        The file is shorter than its header says (truncated).
    """
    try:
        size = int(handle.file.source.num_bytes)
    except Exception:  # noqa: BLE001 - not every source can tell its size
        return None
    end = int(handle.file.fEND)
    if end > size:
        raise _truncated(path, size, end, "its ROOT header (fEND) says it has")
    return size


def check_baskets_inside(tree, branches: Sequence[str], path: str, size: int) -> None:
    """Raise :class:`BadFileError` when a basket of ``branches`` ends beyond ``size`` bytes."""
    for name in branches:
        branch = tree[name]
        n = branch.num_baskets
        if n == 0:
            continue
        seeks = np.asarray(branch.member("fBasketSeek")[:n], dtype=np.int64)
        nbytes = np.asarray(branch.member("fBasketBytes")[:n], dtype=np.int64)
        end = int((seeks + nbytes).max())
        if end > size:
            raise _truncated(path, size, end, f"the baskets of branch {name} end at byte")
