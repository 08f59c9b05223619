"""Write the synthetic sample as a NanoAOD-schema ROOT file (TTree ``Events``) with uproot.

The tree is created with ``mktree`` (uproot ≥ 5.7 writes an RNTuple on dict assignment) and
filled chunk by chunk with ``extend``; collections are written as awkward records so uproot makes
the ``nMuon``/``nJet`` counters and ``Muon_*``/``Jet_*`` jagged branches. The file is written next
to its destination and moved into place only when complete (:mod:`dimuon_ad.io`).
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import awkward as ak
import numpy as np
import uproot
from tqdm.auto import tqdm

from dimuon_ad.errors import ConfigError, InputError
from dimuon_ad.io import atomic_path
from toymc.config import InjectedSignal, ToyConfig
from toymc.generator import _check_n_events, _check_seed, iter_event_chunks

__all__ = ["COMPRESSIONS", "write_nanoaod", "make_compression"]

log = logging.getLogger(__name__)

#: Supported codecs and default levels. CMS writes NanoAOD with LZMA level 9; level 1 is the
#: default here: ≈3× faster to write, ≈10 % larger, and about as fast to decompress.
COMPRESSIONS: dict[str, tuple[type, int]] = {
    "lz4": (uproot.LZ4, 1),
    "zstd": (uproot.ZSTD, 1),
    "zlib": (uproot.ZLIB, 1),
    "lzma": (uproot.LZMA, 1),
}


def make_compression(name: str, level: int | None = None) -> uproot.compression.Compression:
    """uproot compression object for a codec name ("lz4", "zstd", "zlib", "lzma")."""
    if name not in COMPRESSIONS:
        raise ConfigError(
            f"compression={name!r} is not supported; expected one of {sorted(COMPRESSIONS)}"
        )
    cls, default_level = COMPRESSIONS[name]
    level = default_level if level is None else level
    if not isinstance(level, int) or not 1 <= level <= 9:
        raise ConfigError(f"compression level={level!r}; expected an integer from 1 to 9")
    return cls(level)


def _to_tree_data(branches: dict) -> dict:
    """Group ``Coll_field`` jagged branches into awkward records keyed by collection."""
    data: dict = {}
    for key, value in branches.items():
        coll = key[1:]
        if key.startswith("n") and f"{coll}_pt" in branches:
            fields = {
                k[len(coll) + 1 :]: v
                for k, v in branches.items()
                if k.startswith(coll + "_") and isinstance(v, ak.Array)
            }
            data[coll] = ak.zip(fields, depth_limit=None)
        elif isinstance(value, np.ndarray):
            data[key] = value
    return data


def write_nanoaod(
    path: str | os.PathLike,
    n_events: int = 1_000_000,
    *,
    seed: int = 1,
    compression: str = "lz4",
    compression_level: int | None = None,
    chunk_size: int = 100_000,
    signal: InjectedSignal | None = None,
    config: ToyConfig | None = None,
    progress: bool = True,
) -> Path:
    """Generate a synthetic DoubleMuon-like sample and write it as NanoAOD (TTree ``Events``).

    Parameters
    ----------
    path : str or path-like
        Output ``.root`` file; parent directories are created. Written atomically.
    n_events : int
        Number of events (default 1,000,000).
    seed : int
        Seed; the same seed (and options) gives identical branch contents.
    compression : {"lz4", "zstd", "zlib", "lzma"}
        Codec; "lz4" (default) is fast, "lzma" mimics the CMS files.
    compression_level : int, optional
        Codec level 1–9 (default 1; CMS uses LZMA level 9).
    chunk_size : int
        Events per ``extend`` call (one basket per branch); does not change the content.
    signal : InjectedSignal, optional
        Extra resonance to inject (``Truth_process`` 20).
    config : ToyConfig, optional
        Process mixture and shapes.
    progress : bool
        Show a tqdm progress bar on stderr.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    n_events = _check_n_events(n_events)
    seed = _check_seed(seed)
    codec = make_compression(compression, compression_level)
    if isinstance(chunk_size, bool) or int(chunk_size) != chunk_size or chunk_size < 1:
        raise ConfigError(f"chunk_size={chunk_size!r}; expected a positive integer, e.g. 200000")
    path = Path(path)
    if path.is_dir():
        raise InputError(f"output path {path} is a directory; give a file name ending in .root")
    start = time.perf_counter()
    with (
        atomic_path(path) as tmp,
        uproot.recreate(str(tmp), compression=codec) as fout,
        tqdm(
            total=n_events, unit="ev", unit_scale=True, disable=not progress, desc=path.name
        ) as bar,
    ):
        tree = None
        for chunk in iter_event_chunks(
            n_events, int(chunk_size), seed=seed, signal=signal, config=config
        ):
            data = _to_tree_data(chunk)
            if tree is None:
                types = {k: (v.type if isinstance(v, ak.Array) else v.dtype)
                         for k, v in data.items()}  # fmt: skip
                tree = fout.mktree("Events", types, title="Events")
            tree.extend(data)
            bar.update(len(chunk["run"]))
    elapsed = time.perf_counter() - start
    log.debug(
        "wrote %d events to %s (%s, %.1f MB) in %.1f s",
        n_events, path, compression, path.stat().st_size / 1e6, elapsed,
    )  # fmt: skip
    return path
