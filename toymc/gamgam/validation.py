"""Reference H → γγ selection on generated branches, for the generator's truth efficiencies.

A minimal awkward/numpy re-statement of the ATLAS selection (arXiv:1802.04146) on the generator's
own output (MeV; photons already pT-ordered by the generator). It validates the generator and
calibrates the data-like continuum; the analysis selection lives in
:mod:`processors.diphoton`, whose ``hgg`` preset gives the cut values used here.
"""

from __future__ import annotations

import awkward as ak
import numpy as np

from processors.diphoton_config import PRESETS

_HGG = PRESETS["hgg"]


def _second(values, fill):
    return ak.to_numpy(ak.fill_none(ak.pad_none(values, 2, axis=1)[:, :2], fill))


def reference_pass(branches: dict) -> np.ndarray:
    """Events of a branch dict (``photon_*`` lists in MeV, ``trigP``) that pass the ``hgg``
    selection, by the generator's own reckoning."""
    return reference_selection(branches)[0]


def reference_selection(branches: dict, preset: str = "hgg") -> tuple[np.ndarray, np.ndarray]:
    """(pass, m_γγ in GeV) of every event of a branch dict (see :func:`reference_pass`);
    ``preset="seed_raw_mev"`` applies the isolation cuts to the raw MeV values as the seed."""
    c = PRESETS[preset]
    get = {k: _second(branches[f"photon_{k}"], 0) for k in
           ("pt", "eta", "phi", "E", "ptcone30", "etcone20")}
    flags = {k: _second(branches[f"photon_{k}"], False).astype(bool)
             for k in ("isTightID", "trigMatched")}
    pt, eta = get["pt"] / 1000.0, get["eta"]
    aeta = np.abs(eta)
    ok = np.asarray(branches["trigP"], bool) & (pt[:, 1] > 0)
    ok &= flags["isTightID"].all(axis=1) & flags["trigMatched"].all(axis=1)
    ok &= ((aeta < c.abs_eta_max) & ~((aeta >= c.crack[0]) & (aeta <= c.crack[1]))).all(axis=1)
    scale = get["pt"] if c.isolation == "relative" else 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        ok &= (get["ptcone30"] / scale < c.ptcone_max).all(axis=1)
        ok &= (get["etcone20"] / scale < c.etcone_max).all(axis=1)
    ok &= (pt[:, 0] > c.pt0_min) & (pt[:, 1] > c.pt1_min)
    e = get["E"] / 1000.0
    px, py = pt * np.cos(get["phi"]), pt * np.sin(get["phi"])
    pz = pt * np.sinh(eta)
    m = np.sqrt(np.maximum(e.sum(1) ** 2 - px.sum(1) ** 2 - py.sum(1) ** 2 - pz.sum(1) ** 2, 0))
    with np.errstate(divide="ignore", invalid="ignore"):
        ok &= (pt[:, 0] > c.pt0_over_m_min * m) & (pt[:, 1] > c.pt1_over_m_min * m)
    return ok & (m >= c.mass_min) & (m <= c.mass_max), m


def weighted_pass(branches: dict, scale_factors=_HGG.scale_factors) -> float:
    """Σ mcWeight × scale factors over the events that pass :func:`reference_pass`."""
    w = np.asarray(branches["mcWeight"], np.float64)
    for name in scale_factors:
        w = w * np.asarray(branches[f"scaleFactor_{name}"], np.float64)
    return float(w[reference_pass(branches)].sum())
