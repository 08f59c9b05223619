"""Mass windows and the sideband/signal-region binning of the bump hunt.

A :class:`Window` holds the four edges (GeV) of a bump hunt: left sideband, signal region (SR) and
right sideband.  :func:`make_bins` turns it into the binning of the published dimuon analysis
(arXiv:2502.14036): equal-width SR bins (``linspace(sr_left, sr_right, n_sr_edges)``) and sideband
bins of the *same* width stepped outward from the SR edges while they fit inside the window.

Partial bins at the outer window edges
--------------------------------------
Stepping a fixed width outward rarely lands exactly on ``sb_left`` / ``sb_right``.  By default
(``partial="drop"``, as in the reference) the left-over slivers are *not* binned: events in
``[sb_left, edges[0])`` and ``(edges[-1], sb_right]`` are ignored by the fit.  For the Υ window this
drops 5.000–5.073 GeV and 15.982–16.000 GeV and leaves 27 + 37 sideband bins of 0.1455 GeV.  With
``partial="keep"`` a narrower last bin reaching the window edge is added on each side instead.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

from dimuon_ad.errors import InputError

log = logging.getLogger(__name__)

__all__ = [
    "Window",
    "WINDOWS",
    "Binning",
    "make_bins",
    "get_window",
    "CoverageError",
    "coverage_problem",
    "check_coverage",
]

#: relative tolerance used when deciding whether a stepped edge still lies inside the window
_EDGE_RTOL = 1e-9


@dataclass(frozen=True)
class Window:
    """Sideband / signal-region mass window of a bump hunt (all edges in GeV).

    Parameters
    ----------
    sb_left : float
        Lower edge of the left sideband, GeV.
    sr_left : float
        Lower edge of the signal region (= upper edge of the left sideband), GeV.
    sr_right : float
        Upper edge of the signal region (= lower edge of the right sideband), GeV.
    sb_right : float
        Upper edge of the right sideband, GeV.

    Raises
    ------
    ValueError
        If the edges are not finite and strictly increasing.
    """

    sb_left: float
    sr_left: float
    sr_right: float
    sb_right: float

    def __post_init__(self) -> None:
        edges = (self.sb_left, self.sr_left, self.sr_right, self.sb_right)
        try:
            values = [float(e) for e in edges]
        except (TypeError, ValueError) as err:
            raise TypeError(f"Window edges must be numbers in GeV, got {edges!r}") from err
        if not all(math.isfinite(v) for v in values):
            raise ValueError(f"Window edges must be finite, got {edges!r}")
        if not (values[0] < values[1] < values[2] < values[3]):
            raise ValueError(
                f"Window edges must be strictly increasing (sb_left < sr_left < sr_right < "
                f"sb_right), got {edges!r}; pass them in that order in GeV"
            )
        for name, v in zip(("sb_left", "sr_left", "sr_right", "sb_right"), values, strict=True):
            object.__setattr__(self, name, v)

    def in_sr(self, masses: np.ndarray) -> np.ndarray:
        """Boolean mask of masses inside the signal region ``[sr_left, sr_right)``."""
        m = np.asarray(masses)
        return (m >= self.sr_left) & (m < self.sr_right)

    def in_sb(self, masses: np.ndarray) -> np.ndarray:
        """Mask of masses in a sideband, ``[sb_left, sr_left)`` or ``[sr_right, sb_right]``."""
        m = np.asarray(masses)
        return ((m >= self.sb_left) & (m < self.sr_left)) | (
            (m >= self.sr_right) & (m <= self.sb_right)
        )

    def as_tuple(self) -> tuple[float, float, float, float]:
        """The four edges ``(sb_left, sr_left, sr_right, sb_right)`` in GeV."""
        return (self.sb_left, self.sr_left, self.sr_right, self.sb_right)


#: Preset windows (GeV).  The first six are those of arXiv:2502.14036 (reference §3).
#: ``jpsi``: J/ψ (3.097 GeV, resolution ≈ 1.5 % ≈ 0.05 GeV): SR 2.95–3.25 is about ±3σ; the right
#: sideband stops at 3.55 GeV, 3σ below the ψ(2S) (3.686 GeV), the left one at 2.6 GeV keeps it
#: narrower than 1 GeV so that a low-degree polynomial describes the falling continuum.
#: ``z``: Z (91.19 GeV, Γ = 2.5 GeV ⊕ ≈1.5 % resolution ≈ 1.4 GeV): SR 86–96 GeV holds ≈ 90 % of the
#: peak; sidebands 70–86 and 96–110 GeV are dominated by Drell–Yan continuum.
WINDOWS: dict[str, Window] = {
    "upsilon": Window(5.0, 9.0, 10.6, 16.0),
    "eta": Window(0.30, 0.525, 0.569, 0.72),
    "psi2s": Window(3.17, 3.51, 3.85, 5.0),
    "phi": Window(0.82, 0.95, 1.05, 1.5),
    "rho_omega": Window(0.57, 0.70, 0.86, 0.95),
    "control": Window(11.0, 12.0, 13.6, 17.0),
    "jpsi": Window(2.60, 2.95, 3.25, 3.55),
    "z": Window(70.0, 86.0, 96.0, 110.0),
}


def get_window(window: Window | str) -> Window:
    """Return ``window`` itself or the preset of that name from :data:`WINDOWS`.

    Raises
    ------
    KeyError
        If the name is not a preset.
    TypeError
        If ``window`` is neither a :class:`Window` nor a string.
    """
    if isinstance(window, Window):
        return window
    if isinstance(window, str):
        try:
            return WINDOWS[window]
        except KeyError:
            raise KeyError(
                f"unknown window preset {window!r}; expected one of {sorted(WINDOWS)} "
                "or a stats.binning.Window(sb_left, sr_left, sr_right, sb_right)"
            ) from None
    raise TypeError(f"window must be a stats.binning.Window or a preset name, got {type(window)}")


@dataclass(frozen=True)
class Binning:
    """Contiguous mass binning over a window (see :func:`make_bins`).

    Attributes
    ----------
    window : Window
        The window the binning was made from.
    edges : numpy.ndarray
        All bin edges, GeV, increasing and contiguous from the first left-sideband edge to the last
        right-sideband edge.
    sr_mask : numpy.ndarray
        Boolean per bin: bin lies in the signal region.
    sb_mask : numpy.ndarray
        Boolean per bin: bin lies in a sideband (``~sr_mask``).
    bin_width : float
        Width of the SR bins (and of all full sideband bins), GeV.
    """

    window: Window
    edges: np.ndarray
    sr_mask: np.ndarray
    sb_mask: np.ndarray
    bin_width: float

    @property
    def n_bins(self) -> int:
        """Total number of bins."""
        return len(self.edges) - 1

    @property
    def low(self) -> float:
        """Lowest binned mass, GeV."""
        return float(self.edges[0])

    @property
    def high(self) -> float:
        """Highest binned mass, GeV."""
        return float(self.edges[-1])

    @property
    def sr_edges(self) -> np.ndarray:
        """Edges of the signal-region bins, GeV."""
        idx = np.flatnonzero(self.sr_mask)
        return self.edges[idx[0] : idx[-1] + 2]

    @property
    def n_sb_left(self) -> int:
        """Number of bins in the left sideband."""
        return int(np.flatnonzero(self.sr_mask)[0])

    @property
    def n_sb_right(self) -> int:
        """Number of bins in the right sideband."""
        return int(self.n_bins - np.flatnonzero(self.sr_mask)[-1] - 1)

    def histogram(self, masses: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        """Counts (or sums of weights) per bin; masses outside ``[low, high]`` are ignored.

        Parameters
        ----------
        masses : array_like
            Dimuon masses, GeV.
        weights : array_like, optional
            Per-event weights (same length as ``masses``).
        """
        counts, _ = np.histogram(masses, bins=self.edges, weights=weights)
        return counts.astype(np.float64)

    def in_range(self, masses: np.ndarray) -> np.ndarray:
        """Boolean mask of masses that fall into some bin."""
        m = np.asarray(masses)
        return (m >= self.edges[0]) & (m <= self.edges[-1])

    def in_sidebands(self, masses: np.ndarray) -> np.ndarray:
        """Boolean mask of masses that fall into a sideband bin."""
        m = np.asarray(masses)
        idx = np.clip(np.searchsorted(self.edges, m, side="right") - 1, 0, self.n_bins - 1)
        return self.in_range(m) & self.sb_mask[idx]

    def in_signal_region(self, masses: np.ndarray) -> np.ndarray:
        """Boolean mask of masses that fall into a signal-region bin."""
        m = np.asarray(masses)
        return self.in_range(m) & ~self.in_sidebands(m)


def make_bins(window: Window | str, n_sr_edges: int = 12, *, partial: str = "drop") -> Binning:
    """Binning of the published analysis for a window.

    The SR is split by ``numpy.linspace(sr_left, sr_right, n_sr_edges)``; sideband bins of the same
    width are stepped outward from ``sr_left`` and ``sr_right`` while they fit inside
    ``[sb_left, sb_right]`` (reference §5, arXiv:2502.14036).

    Parameters
    ----------
    window : Window or str
        The window (GeV) or a preset name from :data:`WINDOWS`.
    n_sr_edges : int
        Number of SR bin edges (bins = ``n_sr_edges - 1``); 12 gives the published 11 bins.
    partial : {"drop", "keep"}
        What to do with the sliver left between the last full sideband bin and the window edge:
        ``"drop"`` leaves it out of the binning (reference behaviour), ``"keep"`` adds one narrower
        bin ending exactly at the window edge.

    Returns
    -------
    Binning
        Edges and SR / sideband masks.  For ``WINDOWS["upsilon"]`` and 12 edges: 27 left + 11 SR +
        37 right bins of 0.1455 GeV.

    Raises
    ------
    ValueError
        If ``n_sr_edges < 2``, ``partial`` is unknown, or a sideband is narrower than one bin.
    """
    window = get_window(window)
    if int(n_sr_edges) != n_sr_edges or n_sr_edges < 2:
        raise ValueError(f"n_sr_edges must be an integer >= 2, got {n_sr_edges!r}")
    if partial not in ("drop", "keep"):
        raise ValueError(f"partial must be 'drop' or 'keep', got {partial!r}")
    sr_edges = np.linspace(window.sr_left, window.sr_right, int(n_sr_edges))
    width = float(sr_edges[1] - sr_edges[0])
    tol = _EDGE_RTOL * max(abs(window.sb_right), abs(window.sb_left), width)

    n_left = int(math.floor((window.sr_left - window.sb_left) / width + tol / width))
    n_right = int(math.floor((window.sb_right - window.sr_right) / width + tol / width))
    left = window.sr_left - width * np.arange(n_left, 0, -1)
    right = window.sr_right + width * np.arange(1, n_right + 1)
    # a stepped edge that meets the window edge up to rounding is put exactly on it
    if left.size and abs(left[0] - window.sb_left) <= tol:
        left[0] = window.sb_left
    if right.size and abs(right[-1] - window.sb_right) <= tol:
        right[-1] = window.sb_right
    if partial == "keep":
        if left.size == 0 or left[0] - window.sb_left > tol:
            left = np.concatenate([[window.sb_left], left])
        if right.size == 0 or window.sb_right - right[-1] > tol:
            right = np.concatenate([right, [window.sb_right]])
    if left.size == 0 or right.size == 0:
        raise ValueError(
            f"window {window.as_tuple()} has a sideband narrower than one SR bin "
            f"({width:.4g} GeV); "
            "use fewer n_sr_edges, a wider window, or partial='keep'"
        )
    edges = np.concatenate([left, sr_edges, right])
    n_sr_bins = len(sr_edges) - 1
    sr_mask = np.zeros(len(edges) - 1, dtype=bool)
    sr_mask[len(left) : len(left) + n_sr_bins] = True
    dropped = (float(edges[0] - window.sb_left), float(window.sb_right - edges[-1]))
    log.debug(
        "binning %s: %d + %d + %d bins of %.4g GeV, unbinned slivers %.4g / %.4g GeV",
        window.as_tuple(),
        len(left),
        n_sr_bins,
        len(right),
        width,
        *dropped,
    )
    sr_mask.setflags(write=False)
    sb_mask = ~sr_mask
    sb_mask.setflags(write=False)
    edges.setflags(write=False)
    return Binning(window=window, edges=edges, sr_mask=sr_mask, sb_mask=sb_mask, bin_width=width)


# ---------------------------------------------------------------------------------------------
# Coverage: does the data span the window?
# ---------------------------------------------------------------------------------------------

#: An empty stretch at an outer window edge longer than this many bins may be a data edge ...
COVERAGE_EDGE_BINS = 3
#: ... and is one when the ``COVERAGE_EDGE_BINS`` bins next to it hold at least this many events.
COVERAGE_EDGE_EVENTS = 10.0


class CoverageError(InputError):
    """The data do not cover a window's sidebands (see :func:`check_coverage`)."""


def _fmt_edges(window: Window) -> str:
    return "(" + ", ".join(f"{e:g}" for e in window.as_tuple()) + ") GeV"


def coverage_problem(
    counts: np.ndarray,
    binning: Binning,
    *,
    edge_bins: int = COVERAGE_EDGE_BINS,
    edge_events: float = COVERAGE_EDGE_EVENTS,
) -> str:
    """Why a binned spectrum does not cover its window's sidebands, or ``""`` if it does.

    The rule (any window, any sample size; counts are events or effective counts):

    1. each sideband holds events (a sideband fit with an empty sideband extrapolates a
       polynomial into a region without data and returns a meaningless Z);
    2. the events reach each outer window edge: an empty stretch of more than ``edge_bins`` bins
       at the outer edge of a sideband is a *data edge* (the data stop, e.g. the skim's or the
       trigger's mass range, or a window outside the data) when the ``edge_bins`` bins next to
       it still hold ``>= edge_events`` events.  A falling (or rising) tail that thins out
       towards the edge leaves only a few events there and passes, so small spectra (tight cuts)
       and steep spectra are covered.

    Parameters
    ----------
    counts : array_like
        Counts per bin of ``binning``.
    binning : Binning
        From :func:`make_bins`.
    edge_bins, edge_events
        The thresholds of rule 2 (default 3 bins, 10 events).

    Returns
    -------
    str
        Empty when covered; otherwise what is wrong, naming the window edges (GeV) and the mass
        range the events occupy.
    """
    n = np.asarray(counts, dtype=np.float64)
    if n.shape != (binning.n_bins,):
        raise ValueError(f"counts must have one entry per bin ({binning.n_bins}), got {n.shape}")
    e = binning.edges
    nl, nr = binning.n_sb_left, binning.n_sb_right
    left, right = float(n[:nl].sum()), float(n[binning.n_bins - nr :].sum())
    problems = []
    if left <= 0 and right <= 0:
        problems.append("no events in the sidebands")
    elif left <= 0:
        problems.append(f"no events in the left sideband [{e[0]:.4g}, {e[nl]:.4g}) GeV")
    elif right <= 0:
        problems.append(f"no events in the right sideband [{e[-nr - 1]:.4g}, {e[-1]:.4g}] GeV")
    else:
        filled = np.flatnonzero(n > 0)
        gap_lo, gap_hi = int(filled[0]), int(binning.n_bins - 1 - filled[-1])
        near_lo = float(n[gap_lo : gap_lo + edge_bins].sum())
        near_hi = float(n[max(filled[-1] - edge_bins + 1, 0) : filled[-1] + 1].sum())
        if gap_lo > edge_bins and near_lo >= edge_events:
            problems.append(
                f"the events start abruptly at {e[gap_lo]:.4g} GeV, {gap_lo} empty bins above the "
                f"lower edge ({near_lo:.0f} events in the next {edge_bins} bins)"
            )
        if gap_hi > edge_bins and near_hi >= edge_events:
            problems.append(
                f"the events stop abruptly at {e[filled[-1] + 1]:.4g} GeV, {gap_hi} empty bins "
                f"below the upper edge ({near_hi:.0f} events in the {edge_bins} bins before)"
            )
    if not problems:
        return ""
    filled = np.flatnonzero(n > 0)
    span = (
        f"the events occupy {e[filled[0]]:.4g}-{e[filled[-1] + 1]:.4g} GeV"
        if filled.size
        else "the binned range holds no events"
    )
    return (
        f"window {_fmt_edges(binning.window)} is not covered by the data: "
        f"{'; '.join(problems)} ({span}); expected events in both sidebands reaching within "
        f"{edge_bins} bins ({edge_bins * binning.bin_width:.3g} GeV) of the outer edges: choose a "
        "window inside the data's mass range"
    )


def check_coverage(
    masses: np.ndarray,
    window: Window | str | tuple[float, float, float, float] | Binning,
    *,
    n_sr_edges: int = 12,
    partial: str = "drop",
    edge_bins: int = COVERAGE_EDGE_BINS,
    edge_events: float = COVERAGE_EDGE_EVENTS,
) -> None:
    """Raise :class:`CoverageError` unless the masses cover the window's sidebands.

    Call it once on the full sample before any fit; the rule is that of
    :func:`coverage_problem` on the window's binning (:func:`make_bins`).

    Parameters
    ----------
    masses : array_like
        All dimuon masses of the sample, GeV (inside and outside the window).
    window : Window, str, 4-tuple or Binning
        The window (GeV), a preset name, ``(sb_left, sr_left, sr_right, sb_right)`` or a ready
        binning.
    n_sr_edges, partial
        Binning settings (:func:`make_bins`).
    edge_bins, edge_events
        Thresholds of the data-edge rule (:func:`coverage_problem`).

    Raises
    ------
    CoverageError
        Naming the window edges (GeV), the data's mass range and what is missing.
    """
    m = np.asarray(masses, dtype=np.float64).ravel()
    m = m[np.isfinite(m)]
    if isinstance(window, Binning):
        binning = window
    else:
        if not isinstance(window, (Window, str)):
            window = Window(*window)
        binning = make_bins(window, n_sr_edges, partial=partial)
    problem = coverage_problem(
        binning.histogram(m), binning, edge_bins=edge_bins, edge_events=edge_events
    )
    if problem:
        data = f"{m.min():.4g}-{m.max():.4g} GeV" if m.size else "no events"
        raise CoverageError(f"{problem}; the sample's masses span {data} ({m.size} events)")
