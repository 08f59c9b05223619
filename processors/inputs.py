"""Reading NanoAOD for the skim: which branches a preset needs, file checks, chunked reads.

Only the branches the selection and the skim columns need are read (for LZMA-compressed CMS files
decompression dominates the cost). Events are returned as an awkward record array laid out like
coffea's ``NanoAODSchema`` (``events.Muon.pt``, ``events.HLT.<path>``, ``events.MET.pt``), so the
processor runs unchanged on NanoEvents from ``coffea.processor.Runner``.
"""

from __future__ import annotations

import dataclasses
import difflib
import logging
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import awkward as ak
import numpy as np
import uproot

from dimuon_ad.errors import ConfigError, InputError, InputNotFoundError
from processors.checks import (
    BadFileError,
    check_baskets_inside,
    check_branch_types,
    check_not_truncated,
    check_source_size,
)
from processors.config import SkimConfig

log = logging.getLogger(__name__)

EVENT_ID_BRANCHES = ("run", "luminosityBlock", "event")
MUON_KINEMATICS = ("Muon_pt", "Muon_eta", "Muon_phi", "Muon_charge")
#: per-muon branches written as mu0_*/mu1_* columns: branch field -> column suffix
MUON_EXTRA = {
    "pfRelIso03_all": "iso03",
    "pfRelIso04_all": "iso04",
    "jetRelIso": "jetRelIso",
    "ip3d": "ip3d",
    "sip3d": "sip3d",
    "dxy": "dxy",
    "dz": "dz",
}
JET_BRANCHES = ("Jet_pt", "Jet_eta", "Jet_phi", "Jet_mass", "Jet_btagDeepFlavB")
EVENT_BRANCHES = ("MET_pt", "MET_sumEt", "PV_npvsGood")
TRUTH_BRANCH = "Truth_process"


class MissingBranchError(InputError, KeyError):
    """A file lacks a branch that the chosen preset needs (message names branch, file, preset)."""


class XRootDMissingError(InputError, ImportError):
    """A ``root://`` input without the XRootD client bindings and fsspec-xrootd installed."""


def required_branches(config: SkimConfig) -> list[str]:
    """Branches a configuration needs in every input file (``Truth_process`` is optional)."""
    names = list(MUON_KINEMATICS)
    if config.columns == "full":
        names = list(EVENT_ID_BRANCHES) + names
        names += [f"Muon_{field}" for field in MUON_EXTRA]
        names += list(JET_BRANCHES) + list(EVENT_BRANCHES)
    if config.muon_id is not None:
        names.append(f"Muon_{config.muon_id}")
    if config.isolation != "none" and "Muon_pfRelIso04_all" not in names:
        names.append("Muon_pfRelIso04_all")
    names += list(config.triggers)
    if config.objects:
        from processors.objects import required_object_branches  # (imports this module)

        names += required_object_branches(config.columns)
    return list(dict.fromkeys(names))


def optional_branches(config: SkimConfig) -> list[str]:
    """Branches read when a file has them (never required).

    ``Truth_process`` always; with the kinematics column set also the event ids and every
    per-muon branch of the full skim (isolation, impact parameters), so reduced files keep what
    they carry, and with ``objects`` the object branches beyond the muon kinematics.
    """
    names = []
    if config.columns == "kinematics":
        names += list(EVENT_ID_BRANCHES) + [f"Muon_{field}" for field in MUON_EXTRA]
    if config.objects:
        from processors.objects import optional_object_branches  # (imports this module)

        names += optional_object_branches(config.columns)
    names = [n for n in dict.fromkeys(names) if n not in required_branches(config)]
    return names + [TRUTH_BRANCH]


def missing_branch_message(missing: Sequence[str], path: str, config: SkimConfig, keys) -> str:
    """One line naming the missing branches, the file, the preset, and how to fix it."""
    first = {
        "Muon_tightId": 0,
        "Muon_pfRelIso04_all": 1,
        "run": 2,
        "luminosityBlock": 3,
        "event": 4,
    }
    missing = sorted(missing, key=lambda b: first.get(b, 5 if b.startswith("HLT_") else 6))
    shown = ", ".join(missing[:6]) + (f" (+{len(missing) - 6} more)" if len(missing) > 6 else "")
    msg = f"file {path} lacks branch(es) {shown} needed by preset '{config.preset}'"
    keys = list(keys)
    triggers = [m for m in missing if m.startswith("HLT_")]
    without_objects = set(required_branches(dataclasses.replace(config, objects=False)))
    if config.objects and not without_objects.intersection(missing):
        msg = (
            f"file {path} lacks branch(es) {shown} needed by the object lists (objects=true, "
            f"preset '{config.preset}'); skim without --objects, or with --preset "
            "kinematics_only to keep the object fields the file has"
        )
    elif "Muon_pt" in keys and ("Muon_tightId" in missing or "run" in missing):
        msg += (
            "; it looks like a reduced NanoAOD without muon ID, isolation or event ids: "
            "run it with --preset kinematics_only"
        )
    elif triggers:
        hlt = [k for k in keys if k.startswith("HLT_")]
        close = difflib.get_close_matches(triggers[0], hlt, n=3, cutoff=0.6)
        hint = f" (closest in the file: {', '.join(close)})" if close else ""
        msg += (
            f"; trigger {triggers[0]} is not in this file{hint}: choose another with "
            "--set triggers=HLT_... or drop it with --set triggers=null (or --preset inclusive)"
        )
    return msg


@dataclass(frozen=True)
class FileInfo:
    """What the pre-flight check learned about one input file."""

    path: str
    treename: str
    num_entries: int
    uuid: str
    branches: tuple[str, ...]
    boundaries: tuple[int, ...]


def _is_remote(path: str) -> bool:
    return "://" in path and not path.startswith("file://")


def open_tree(path: str, treename: str):
    """Open ``path`` and return ``(file, tree)`` or raise one clear error.

    Raises
    ------
    FileNotFoundError
        The local file does not exist.
    BadFileError
        Empty (0 bytes), not a ROOT file, corrupt, or without ``treename``.
    ImportError
        A ``root://`` URL without fsspec-xrootd installed.
    processors.remote.RemoteError
        The server of a ``root://`` URL is unknown, refuses or does not answer within
        :func:`processors.remote.remote_timeout` seconds.
    """
    fix = "fix or remove it in the fileset, or pass --skip-bad-files"
    if not _is_remote(path):
        if not os.path.exists(path):
            raise InputNotFoundError(f"input file {path} not found; {fix}")
        if os.path.getsize(path) == 0:
            raise BadFileError(f"input file {path} is empty (0 bytes); {fix}")
        check_not_truncated(path)
    options = {}
    if path.startswith(("root://", "xroot://")):
        from processors.remote import check_xrootd_server, remote_timeout

        check_xrootd_server(path)  # one line for a host that is unknown, refuses or is silent
        options["timeout"] = max(1, math.ceil(remote_timeout()))  # XRootD takes whole seconds
    try:
        handle = uproot.open(path, array_cache=None, **options)  # each chunk read once: no cache
    except (ImportError, ModuleNotFoundError) as exc:
        raise XRootDMissingError(
            f"reading {path} needs XRootD support ({exc}); install it with "
            "`pip install fsspec-xrootd` plus the XRootD client "
            "(`conda install -c conda-forge xrootd`)"
        ) from None
    except FileNotFoundError:
        raise InputNotFoundError(f"input file {path} not found; {fix}") from None
    except Exception as exc:  # uproot raises many types for garbage input
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        what = "cannot be opened" if _is_remote(path) else "is not a readable ROOT file"
        raise BadFileError(f"input file {path} {what} ({reason}); {fix}") from None
    if _is_remote(path):
        try:
            check_source_size(handle, path)
        except BadFileError:
            handle.close()
            raise
    try:
        tree = handle[treename]
    except Exception:
        keys = ", ".join(handle.keys(cycle=False)[:8]) or "none"
        handle.close()
        raise BadFileError(
            f"input file {path} has no TTree '{treename}' (keys: {keys}); {fix}"
        ) from None
    if not isinstance(tree, uproot.TTree):
        handle.close()
        raise BadFileError(f"input file {path}: '{treename}' is not a TTree; {fix}")
    return handle, tree


class TreeCache:
    """The most recently opened files of this process, so consecutive chunks of one file skip
    re-reading its (large) TTree metadata; ``capacity`` files stay open at most."""

    def __init__(self, capacity: int = 2) -> None:
        self.capacity = capacity
        self._open: dict[tuple[str, str], tuple] = {}

    def get(self, path: str, treename: str):
        """The TTree ``treename`` of ``path`` (opened with :func:`open_tree` on first use)."""
        key = (path, treename)
        if key in self._open:
            self._open[key] = self._open.pop(key)  # most recent last
            return self._open[key][1]
        while len(self._open) >= self.capacity:
            handle, _ = self._open.pop(next(iter(self._open)))
            handle.close()
        self._open[key] = open_tree(path, treename)
        return self._open[key][1]

    def clear(self) -> None:
        """Close every cached file."""
        for handle, _ in self._open.values():
            handle.close()
        self._open.clear()


def inspect_file(path: str, treename: str, config: SkimConfig) -> FileInfo:
    """Pre-flight check of one file: readable, has the tree and every branch the preset needs.

    A :class:`~processors.diphoton_config.DiphotonConfig` checks the ATLAS ``mini`` schema
    instead (:func:`processors.diphoton.inspect_diphoton_tree`: branches, types, MeV units).

    Returns
    -------
    FileInfo
        Entry count, file UUID and the basket boundaries common to the needed branches
        (chunks aligned to them decompress every basket exactly once).

    Raises
    ------
    FileNotFoundError, BadFileError, MissingBranchError
        Unreadable, truncated (shorter than its header says, or baskets beyond its end) or
        missing branches.
    TypeError
        A branch the preset reads has the wrong type (e.g. an integer ``Muon_pt``).
    """
    handle, tree = open_tree(path, treename)
    try:
        if getattr(config, "analysis", "dimuon") == "diphoton":  # ATLAS mini ntuples
            from processors.diphoton import inspect_diphoton_tree

            branches = inspect_diphoton_tree(tree, path, config)
        else:
            keys = set(tree.keys())
            needed = required_branches(config)
            missing = [b for b in needed if b not in keys]
            if missing:
                raise MissingBranchError(
                    missing_branch_message(missing, path, config, sorted(keys))
                )
            branches = tuple(needed + [b for b in optional_branches(config) if b in keys])
            check_branch_types(tree, branches, path)
        size = os.path.getsize(path) if not _is_remote(path) else check_source_size(handle, path)
        if size is not None:
            check_baskets_inside(tree, branches, path, size)
        num_entries = int(tree.num_entries)
        try:
            boundaries = tuple(
                int(x) for x in tree.common_entry_offsets(filter_name=list(branches))
            )
        except Exception:  # noqa: BLE001 - alignment is an optimisation only
            boundaries = (0, num_entries)
        return FileInfo(
            path=path,
            treename=treename,
            num_entries=num_entries,
            uuid=str(handle.file.uuid),
            branches=branches,
            boundaries=boundaries,
        )
    finally:
        handle.close()


def entry_ranges(
    num_entries: int, chunk_size: int, boundaries: Iterable[int] = ()
) -> list[tuple[int, int]]:
    """Split ``[0, num_entries)`` into ranges of about ``chunk_size`` entries.

    Each range ends on the basket boundary (or the end of the file) closest to ``chunk_size``
    entries when one lies between 0.5 and 1.5 × ``chunk_size`` entries away (every basket is then
    decompressed once); otherwise it ends after exactly ``chunk_size`` entries.
    """
    if chunk_size <= 0:
        raise ConfigError(f"chunk size must be a positive number of events, got {chunk_size}")
    if num_entries <= 0:
        return []
    edges = sorted({0, num_entries, *(b for b in boundaries if 0 < b < num_entries)})
    out, start = [], 0
    while start < num_entries:
        target = start + chunk_size
        if target >= num_entries:
            out.append((start, num_entries))
            break
        allowed = [
            e for e in edges if start + chunk_size // 2 <= e <= start + (3 * chunk_size) // 2
        ]
        if allowed:
            stop = min(allowed, key=lambda e: abs(e - target))
        else:
            stop = target
        out.append((start, stop))
        start = stop
    return out


def read_events(tree, branches: Sequence[str], entry_start: int, entry_stop: int) -> ak.Array:
    """Read ``branches`` for entries ``[entry_start, entry_stop)`` into a NanoAOD-like record array.

    Collections (``Muon``, ``Jet``) become jagged records; ``MET``, ``PV``, ``HLT``, ``Truth``
    singletons become records; ``run``/``luminosityBlock``/``event`` stay flat.
    """
    arrays = tree.arrays(
        list(branches), entry_start=entry_start, entry_stop=entry_stop, library="ak", how=dict
    )
    out: dict[str, ak.Array] = {}
    prefixes = dict.fromkeys(k.split("_", 1)[0] for k in arrays if "_" in k)
    for name in arrays:
        if "_" not in name:
            out[name] = arrays[name]
    for prefix in prefixes:
        group = {k[len(prefix) + 1 :]: v for k, v in arrays.items() if k.startswith(prefix + "_")}
        if prefix in ("Muon", "Jet"):
            out[prefix] = ak.zip(group)
        else:
            out[prefix] = ak.zip(group, depth_limit=1)
    n = entry_stop - entry_start
    if not out:
        return ak.Array(np.zeros(n, dtype=[]))
    return ak.zip(out, depth_limit=1)
