"""Write GamGam ``mini`` trees with uproot (``mktree`` + ``extend``), atomically."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

import uproot

from dimuon_ad.io import atomic_path
from toymc.gamgam.schema import BRANCHES, COUNTERS, counter_of

log = logging.getLogger(__name__)

TREE = "mini"


def write_mini(path: str | Path, chunks: Iterable[dict]) -> int:
    """Write branch-dict ``chunks`` (:mod:`toymc.gamgam.generator`) as TTree ``mini`` of
    ``path`` (list branches counted by their ``<prefix>_n`` branch); returns the entries."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    types = {name: t for name, t in BRANCHES.items() if name not in COUNTERS}
    entries = 0
    with atomic_path(path) as tmp, uproot.recreate(tmp, compression=uproot.ZLIB(1)) as out:
        tree = out.mktree(TREE, types, counter_name=counter_of, title="mini")
        for chunk in chunks:
            tree.extend(chunk)
            entries += len(chunk["runNumber"])
    log.info("wrote %s: %d events", path, entries)
    return entries
