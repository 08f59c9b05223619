"""Event selection of the dimuon skim as pure numpy/awkward functions (momenta in GeV).

The muon pair is the first two muons passing the ID in NanoAOD order (pT-ordered), as in
arXiv:2502.14036: ``mu0`` leading, ``mu1`` subleading. Pair quantities are carried as flat numpy
arrays indexed per event; events without a pair get index -1 and NaN values, so every cut on them
is False. Nothing here knows about files, coffea modes or Dask.
"""

from __future__ import annotations

from collections.abc import Sequence

import awkward as ak
import numpy as np

#: Charge categories (histogram axis labels): opposite sign, same sign.
CHARGE_CATEGORIES = ("OS", "SS")
#: Isolation categories: both isolated, both anti-isolated, one of each, isolation unknown.
ISOLATION_CATEGORIES = ("iso", "antiiso", "mixed", "unknown")


def leading_pair_indices(counts, passes=None) -> tuple[np.ndarray, np.ndarray]:
    """Flat indices of the first two muons passing a per-muon mask, per event.

    Parameters
    ----------
    counts : array_like of int, shape (n_events,)
        Number of muons per event (``ak.num(events.Muon)``).
    passes : array_like of bool, shape (sum(counts),), optional
        Flattened per-muon mask (e.g. ``ak.flatten(events.Muon.tightId)``); ``None`` accepts all.

    Returns
    -------
    idx0, idx1 : numpy.ndarray of int64, shape (n_events,)
        Index into the flattened muon arrays of the leading and subleading selected muon, or -1
        when the event has fewer than one / two selected muons.
    """
    counts = np.asarray(counts, dtype=np.int64)
    n_events = len(counts)
    idx0 = np.full(n_events, -1, dtype=np.int64)
    idx1 = np.full(n_events, -1, dtype=np.int64)
    total = int(counts.sum())
    selected = (
        np.arange(total) if passes is None else np.flatnonzero(np.asarray(passes, dtype=bool))
    )
    if len(selected) == 0:
        return idx0, idx1
    event = np.repeat(np.arange(n_events, dtype=np.int64), counts)[selected]
    starts = np.flatnonzero(np.diff(event, prepend=-1))  # first selected muon of each event
    first = np.repeat(starts, np.diff(np.append(starts, len(event))))
    rank = np.arange(len(selected)) - first
    for rank_value, out in ((0, idx0), (1, idx1)):
        keep = rank == rank_value
        out[event[keep]] = selected[keep]
    return idx0, idx1


def take_pair(flat, idx0, idx1, fill=np.nan) -> tuple[np.ndarray, np.ndarray]:
    """Per-event values of the two pair muons from a flattened per-muon array.

    Parameters
    ----------
    flat : array_like, shape (n_muons,)
        Flattened per-muon quantity (``ak.flatten(events.Muon.pt)``).
    idx0, idx1 : numpy.ndarray of int
        Output of :func:`leading_pair_indices`.
    fill : scalar
        Value for events without that muon (NaN; use 0 for integer quantities).

    Returns
    -------
    value0, value1 : numpy.ndarray, shape (n_events,)
    """
    flat = np.asarray(flat)
    out = []
    for idx in (idx0, idx1):
        if flat.size == 0:
            out.append(np.full(len(idx), fill, dtype=np.result_type(flat.dtype, type(fill))))
            continue
        values = flat[np.maximum(idx, 0)]
        if np.all(idx >= 0):
            out.append(values)
        else:
            out.append(np.where(idx >= 0, values, fill))
    return out[0], out[1]


def has_pair(idx1) -> np.ndarray:
    """True for events with two selected muons (``idx1 >= 0``)."""
    return np.asarray(idx1) >= 0


def dimuon_charge(q0, q1) -> np.ndarray:
    """Sum of the two muon charges: 0 for opposite sign (OS), ±2 for same sign (SS)."""
    return np.asarray(q0) + np.asarray(q1)


def is_opposite_sign(q0, q1) -> np.ndarray:
    """True where the pair is opposite sign (q0 + q1 = 0)."""
    return dimuon_charge(q0, q1) == 0


def charge_category(q0, q1) -> np.ndarray:
    """Index into :data:`CHARGE_CATEGORIES`: 0 for OS, 1 for SS."""
    return np.where(is_opposite_sign(q0, q1), 0, 1).astype(np.int8)


def isolation_mask(iso0, iso1, mode: str, cut: float) -> np.ndarray:
    """Isolation requirement on both muons of the pair.

    Parameters
    ----------
    iso0, iso1 : array_like
        Relative isolation (``pfRelIso04_all``, dimensionless) of the two muons.
    mode : {"antiiso", "iso", "none"}
        ``"antiiso"``: both ``>= cut`` (the published Υ selection uses 0.55);
        ``"iso"``: both ``< cut``; ``"none"``: all True.
    cut : float
        Threshold.

    Returns
    -------
    numpy.ndarray of bool
    """
    iso0 = np.asarray(iso0)
    iso1 = np.asarray(iso1)
    if mode == "antiiso":
        return (iso0 >= cut) & (iso1 >= cut)
    if mode == "iso":
        return (iso0 < cut) & (iso1 < cut)
    if mode == "none":
        return np.ones(len(iso0), dtype=bool)
    raise ValueError(f"unknown isolation mode '{mode}'; expected antiiso, iso or none")


def isolation_category(iso0, iso1, *, iso_cut: float, antiiso_cut: float) -> np.ndarray:
    """Index into :data:`ISOLATION_CATEGORIES` for each pair.

    Both ``< iso_cut`` → 0 (iso); both ``>= antiiso_cut`` → 1 (antiiso); otherwise 2 (mixed);
    NaN isolation (not available) → 3 (unknown).
    """
    iso0 = np.asarray(iso0, dtype=np.float64)
    iso1 = np.asarray(iso1, dtype=np.float64)
    out = np.full(len(iso0), 2, dtype=np.int8)
    out[(iso0 < iso_cut) & (iso1 < iso_cut)] = 0
    out[(iso0 >= antiiso_cut) & (iso1 >= antiiso_cut)] = 1
    out[np.isnan(iso0) | np.isnan(iso1)] = 3
    return out


def pt_mask(pt0, pt1, mu0_pt_min: float, mu1_pt_min: float) -> np.ndarray:
    """Leading muon ``pt0 >= mu0_pt_min`` and subleading ``pt1 >= mu1_pt_min`` (GeV)."""
    return (np.asarray(pt0) >= mu0_pt_min) & (np.asarray(pt1) >= mu1_pt_min)


def abs_eta_mask(eta0, eta1, abs_eta_max: float | None) -> np.ndarray:
    """Both muons inside ``|eta| < abs_eta_max``; all True when ``abs_eta_max`` is None."""
    eta0 = np.asarray(eta0)
    if abs_eta_max is None:
        return np.ones(len(eta0), dtype=bool)
    return (np.abs(eta0) < abs_eta_max) & (np.abs(np.asarray(eta1)) < abs_eta_max)


def trigger_mask(hlt, names: Sequence[str]) -> np.ndarray:
    """OR of HLT bits given by branch name.

    Parameters
    ----------
    hlt : awkward record array
        The ``HLT`` record of the events (fields without the ``HLT_`` prefix, as NanoAODSchema
        builds it).
    names : sequence of str
        Trigger branch names (``"HLT_TrkMu15_DoubleTrkMu5NoFiltersNoVtx"``); the prefix is optional.

    Returns
    -------
    numpy.ndarray of bool

    Raises
    ------
    KeyError
        A trigger is not among the fields of ``hlt``.
    """
    if not names:
        raise ValueError("trigger_mask needs at least one trigger name")
    out = None
    for name in names:
        field = name[4:] if name.startswith("HLT_") else name
        if field not in ak.fields(hlt):
            raise KeyError(f"trigger {name} not found among the HLT bits of the events")
        bit = ak.to_numpy(hlt[field]).astype(bool)
        out = bit if out is None else (out | bit)
    return out
