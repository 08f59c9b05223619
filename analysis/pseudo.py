"""Pseudo-datasets for sensitivity studies: truth-labelled events of a skim, resampled.

An :class:`EventPool` holds the opposite-sign events of one analysis window split by truth into
signal and background. A pseudo-dataset (:func:`draw_pseudo`) is one disjoint block of the
shuffled background pool plus ``n_signal`` signal events drawn without replacement:

* background blocks never share an event, so pseudo-experiment ``i`` and ``j`` are independent
  (and the zero-injection p-values can be tested for uniformity); block ``i`` is the same at every
  injected strength (common random numbers: Z vs S curves are smooth, not re-drawn noise);
* no event appears twice in one pseudo-dataset, so no out-of-fold classifier can score an event
  it trained on (bootstrap duplicates would fake an excess for CATHODE).

Physics here is plain numpy; nothing reads files. Masses in GeV, features in GeV and cm.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from analysis._truth import process_codes
from analysis.data import band_masks
from analysis.presets import MassWindow
from dimuon_ad.errors import ConfigError
from toymc.truth import Process

__all__ = [
    "CONTINUUM",
    "EventPool",
    "PseudoDataset",
    "build_pool",
    "draw_pseudo",
]

log = logging.getLogger(__name__)

#: Default background processes: the non-resonant continuum of the synthetic sample.
CONTINUUM: tuple[str, ...] = tuple(p.name for p in Process if Process.is_continuum(int(p)))


@dataclass(frozen=True)
class EventPool:
    """Truth-split events of one window that pseudo-datasets are drawn from.

    Attributes
    ----------
    X : ndarray, shape (n, d)
        Classifier features (GeV, cm).
    m : ndarray, shape (n,)
        Dimuon masses in GeV.
    columns : dict of str to ndarray
        Single-feature baseline columns.
    is_signal : ndarray of bool
        Truth signal (the rest of the pool is truth background).
    window : MassWindow
    features : tuple of str
        Names of the columns of ``X``.
    signal_processes, background_processes : tuple of str
        ``toymc.truth.Process`` names of each class.
    """

    X: np.ndarray
    m: np.ndarray
    columns: dict[str, np.ndarray]
    is_signal: np.ndarray
    window: MassWindow
    features: tuple[str, ...]
    signal_processes: tuple[str, ...]
    background_processes: tuple[str, ...]

    @property
    def n_signal(self) -> int:
        return int(self.is_signal.sum())

    @property
    def n_background(self) -> int:
        return int((~self.is_signal).sum())

    def describe(self) -> dict[str, Any]:
        """Counts of the pool (total and in the SR) for logs and the JSON table."""
        sr = band_masks(self.m, self.window)["SR"]
        return {
            "n_signal": self.n_signal, "n_background": self.n_background,
            "n_signal_sr": int((sr & self.is_signal).sum()),
            "n_background_sr": int((sr & ~self.is_signal).sum()),
            "signal_processes": list(self.signal_processes),
            "background_processes": list(self.background_processes),
        }


@dataclass
class PseudoDataset:
    """One pseudo-experiment: events of a window with their truth (for bookkeeping only).

    Attributes
    ----------
    X, m, columns, window, features
        As in :class:`EventPool` (this dataset's events only).
    is_signal : ndarray of bool
        Truth; methods must not read it (only the harness does, for S and B).
    n_injected : int
        Signal events injected (all bands).
    index : int
        Background block of the pseudo-experiment.
    seed : int
        Seed of every random step of the methods on this dataset.
    memo : dict
        Results methods share on this dataset (e.g. one CATHODE classifier for the cut and the
        reweighting), with the CPU seconds they took in ``memo_seconds``.
    notes : dict
        JSON-able extras a method reports besides its Z (kept in the harness' table).
    """

    X: np.ndarray
    m: np.ndarray
    columns: dict[str, np.ndarray]
    is_signal: np.ndarray
    window: MassWindow
    features: tuple[str, ...]
    n_injected: int
    index: int
    seed: int
    memo: dict[str, Any] = field(default_factory=dict)
    memo_seconds: dict[str, float] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def bands(self) -> dict[str, np.ndarray]:
        return band_masks(self.m, self.window)

    @property
    def sr(self) -> np.ndarray:
        return self.bands["SR"]

    @property
    def sb(self) -> np.ndarray:
        b = self.bands
        return b["SBL"] | b["SBR"]

    def truth_counts(self) -> dict[str, float]:
        """Truth signal S and background B in the SR and S/√B (GeV window of ``window``)."""
        sr = self.sr
        s, b = int((sr & self.is_signal).sum()), int((sr & ~self.is_signal).sum())
        return {"s_sr": s, "b_sr": b, "s_over_sqrt_b": s / np.sqrt(b) if b > 0 else float("nan")}


def build_pool(
    sample: Any,
    window: MassWindow,
    features: tuple[str, ...],
    signal_processes: tuple[str, ...],
    background_processes: tuple[str, ...] = CONTINUUM,
    source: str = "sensitivity",
) -> EventPool:
    """Split one analysed sample (:class:`analysis.data.Sample` with truth) into a pool.

    Events of neither class (e.g. a J/ψ when only the continuum is background) are dropped.

    Raises
    ------
    ConfigError
        No truth, overlapping classes, or an empty class.
    """
    if sample.truth is None:
        raise ConfigError(f"{source}: the skim has no truth_process column; sensitivity studies "
                          "need a synthetic sample (python -m toymc, then run_skim.py)")
    overlap = set(signal_processes) & set(background_processes)
    if overlap:
        raise ConfigError(f"{source}: processes {sorted(overlap)} are both signal and background; "
                          "list each in one class only")
    sig = np.isin(sample.truth, process_codes(signal_processes))
    bkg = np.isin(sample.truth, process_codes(background_processes))
    if not sig.any() or not bkg.any():
        raise ConfigError(
            f"{source}: the window {window.edges} GeV holds {int(sig.sum())} signal "
            f"({'/'.join(signal_processes)}) and {int(bkg.sum())} background events; both must be "
            "> 0 (generate the signal with python -m toymc --inject-mass ...)")
    keep = sig | bkg
    log.info("pool: %d signal, %d background events (%d of other processes dropped)",
             int(sig.sum()), int(bkg.sum()), int((~keep).sum()))
    return EventPool(
        X=sample.X[keep], m=sample.m[keep],
        columns={k: v[keep] for k, v in sample.columns.items()},
        is_signal=sig[keep], window=window, features=tuple(features),
        signal_processes=tuple(signal_processes),
        background_processes=tuple(background_processes),
    )


def background_blocks(pool: EventPool, n_blocks: int, seed: int) -> list[np.ndarray]:
    """Indices of ``n_blocks`` disjoint, equal-size blocks of the shuffled background pool."""
    bkg = np.flatnonzero(~pool.is_signal)
    if n_blocks < 1 or n_blocks > len(bkg):
        raise ConfigError(f"n_blocks={n_blocks}; expected 1 <= n_blocks <= {len(bkg)} background "
                          "events of the pool")
    perm = np.random.default_rng(seed).permutation(bkg)
    size = len(bkg) // n_blocks
    return [np.sort(perm[i * size:(i + 1) * size]) for i in range(n_blocks)]


def draw_pseudo(
    pool: EventPool, blocks: list[np.ndarray], index: int, n_signal: int, seed: int
) -> PseudoDataset:
    """Pseudo-dataset ``index``: background block ``index`` plus ``n_signal`` signal events.

    Parameters
    ----------
    pool : EventPool
    blocks : list of ndarray
        From :func:`background_blocks`.
    index : int
        Which block.
    n_signal : int
        Signal events to inject, drawn without replacement (at most the pool's signal): the
        first ``n_signal`` of a permutation seeded by ``seed``, so with one seed the injections
        of growing strengths are nested (smooth Z vs S curves per pseudo-experiment).
    seed : int
        Seed of the signal draw and of the methods' random steps.
    """
    sig = np.flatnonzero(pool.is_signal)
    if not 0 <= n_signal <= len(sig):
        raise ConfigError(f"injected strength {n_signal} signal events; the pool holds "
                          f"{len(sig)}: use smaller strengths or generate more signal")
    chosen = np.random.default_rng(seed).permutation(sig)[: int(n_signal)]
    idx = np.sort(np.concatenate([blocks[index], chosen]))
    return PseudoDataset(
        X=pool.X[idx], m=pool.m[idx], columns={k: v[idx] for k, v in pool.columns.items()},
        is_signal=pool.is_signal[idx], window=pool.window, features=pool.features,
        n_injected=int(n_signal), index=int(index), seed=int(seed),
    )
