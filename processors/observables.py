"""Dimuon observables as pure numpy functions (GeV, radians; works on numpy or flat awkward arrays).

Four-vectors use the muon mass m_μ = 0.1056583755 GeV (PDG) whatever mass the file stores, as the
reference analysis does (arXiv:2502.14036).
"""

from __future__ import annotations

import awkward as ak
import numpy as np

from dimuon_ad.constants import MUON_MASS_GEV as MUON_MASS


def four_momentum(pt, eta, phi, mass=MUON_MASS) -> tuple[np.ndarray, ...]:
    """Cartesian four-momentum (px, py, pz, E) in GeV from pt [GeV], eta, phi [rad], mass [GeV]."""
    pt = np.asarray(pt, dtype=np.float64)
    eta = np.asarray(eta, dtype=np.float64)
    phi = np.asarray(phi, dtype=np.float64)
    px = pt * np.cos(phi)
    py = pt * np.sin(phi)
    pz = pt * np.sinh(eta)
    energy = np.sqrt(px * px + py * py + pz * pz + mass * mass)
    return px, py, pz, energy


def dimuon_kinematics(pt0, eta0, phi0, pt1, eta1, phi1, mass=MUON_MASS) -> dict[str, np.ndarray]:
    """Invariant mass, pT, pseudorapidity and azimuth of the sum of two muons.

    Parameters
    ----------
    pt0, eta0, phi0, pt1, eta1, phi1 : array_like
        Muon transverse momenta (GeV), pseudorapidities and azimuths (rad).
    mass : float
        Muon mass, GeV.

    Returns
    -------
    dict
        ``mass`` (GeV, ≥ 0), ``pt`` (GeV), ``eta`` (±inf for a pair with zero pT, NaN if also
        pz = 0), ``phi`` (rad, in
        (-π, π]).

    Examples
    --------
    Two back-to-back 5 GeV muons at η = 0 have m ≈ 10 GeV and zero pT.
    """
    px0, py0, pz0, e0 = four_momentum(pt0, eta0, phi0, mass)
    px1, py1, pz1, e1 = four_momentum(pt1, eta1, phi1, mass)
    px, py, pz, energy = px0 + px1, py0 + py1, pz0 + pz1, e0 + e1
    m2 = energy * energy - (px * px + py * py + pz * pz)
    pt = np.hypot(px, py)
    with np.errstate(divide="ignore", invalid="ignore"):
        eta = np.where(pt > 0, np.arcsinh(pz / pt), np.sign(pz) * np.inf)
    return {
        "mass": np.sqrt(np.maximum(m2, 0.0)),
        "pt": pt,
        "eta": eta,
        "phi": np.arctan2(py, px),
    }


def delta_phi(phi0, phi1) -> np.ndarray:
    """Azimuthal separation |Δφ| folded into [0, π] (rad)."""
    dphi = np.abs(np.asarray(phi0, dtype=np.float64) - np.asarray(phi1, dtype=np.float64))
    dphi = np.mod(dphi, 2 * np.pi)
    return np.where(dphi > np.pi, 2 * np.pi - dphi, dphi)


def delta_r(eta0, phi0, eta1, phi1) -> np.ndarray:
    """ΔR = sqrt(Δη² + Δφ²) with Δφ folded into [0, π]."""
    deta = np.asarray(eta0, dtype=np.float64) - np.asarray(eta1, dtype=np.float64)
    return np.hypot(deta, delta_phi(phi0, phi1))


def delta_pt(pt0, pt1) -> np.ndarray:
    """mumu_deltapT = pt0 − pt1 (GeV): positive for a pT-ordered pair."""
    return np.asarray(pt0, dtype=np.float64) - np.asarray(pt1, dtype=np.float64)


def leading_jet(
    jets, fields=("pt", "eta", "phi", "mass", "btagDeepFlavB")
) -> dict[str, np.ndarray]:
    """Leading (first, NanoAOD pT order) jet quantities per event, NaN where there is no jet.

    Parameters
    ----------
    jets : awkward.Array
        Jagged jet collection (``events.Jet``) with the requested fields.
    fields : sequence of str
        Jet fields to return (GeV for momenta and mass).

    Returns
    -------
    dict
        ``n_jets`` (int) and ``jet0_<field>`` (float32, NaN for events without jets).
    """
    counts = ak.to_numpy(ak.num(jets, axis=1)).astype(np.int64)
    offsets = np.cumsum(counts) - counts  # start of each event's jets in the flat arrays
    has_jet = counts > 0
    out: dict[str, np.ndarray] = {"n_jets": counts.astype(np.int32)}
    for name in fields:
        flat = ak.to_numpy(ak.flatten(jets[name], axis=1)).astype(np.float32)
        values = np.full(len(counts), np.nan, dtype=np.float32)
        values[has_jet] = flat[offsets[has_jet]]
        out[f"jet0_{name}"] = values
    return out
