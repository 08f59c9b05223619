"""Pure functions of the diphoton skim: photon pair, cuts, m_γγ, jets, leptons, event weights.

Inputs are numpy/awkward arrays **in MeV** as the ATLAS ``mini`` ntuples store them (η, φ and
ratios are unit-free); every returned momentum or mass is **in GeV**. Nothing here knows files,
coffea or Dask.
"""

from __future__ import annotations

import awkward as ak
import numpy as np

from processors.selection import leading_pair_indices, take_pair

#: MeV per GeV
MEV_PER_GEV = 1000.0


def leading_pair(pt, *fields) -> list[tuple[np.ndarray, np.ndarray]]:
    """The two highest-pT entries of per-event lists: ``[(pt0, pt1), (f0, f1), ...]`` for ``pt``
    and every array of ``fields`` (same layout); NaN (False for booleans) where fewer than two.
    Works on flat numpy arrays (:func:`processors.selection.leading_pair_indices` /
    :func:`~processors.selection.take_pair`), whatever order the file stores the objects in."""
    counts = ak.to_numpy(ak.num(pt, axis=1)).astype(np.int64)
    flats = [ak.to_numpy(ak.flatten(v, axis=1)) for v in (pt, *fields)]
    return leading_pair_flat(counts, *flats)


def leading_pair_flat(counts, flat_pt, *flat_fields) -> list[tuple[np.ndarray, np.ndarray]]:
    """:func:`leading_pair` of flattened per-object arrays with ``counts`` objects per event."""
    counts = np.asarray(counts, dtype=np.int64)
    idx0, idx1 = leading_pair_indices(counts)  # the first two of each event
    event = np.repeat(np.arange(len(counts)), counts)
    same_event = event[1:] == event[:-1]
    if np.any(same_event & (flat_pt[1:] > flat_pt[:-1])):  # not pT-ordered: sort each event
        order = np.lexsort((-flat_pt, event))
        idx0 = np.where(idx0 >= 0, order[np.maximum(idx0, 0)], -1)
        idx1 = np.where(idx1 >= 0, order[np.maximum(idx1, 0)], -1)
    out = []
    for flat in (flat_pt, *flat_fields):
        flat = np.asarray(flat)
        if flat.dtype == bool:
            out.append(take_pair(flat, idx0, idx1, fill=False))
        else:
            out.append(take_pair(flat.astype(np.float64), idx0, idx1, fill=np.nan))
    return out


def photon_eta_mask(eta: np.ndarray, abs_eta_max: float, crack: tuple[float, ...]) -> np.ndarray:
    """|η| < ``abs_eta_max`` and outside the ``crack`` = (low, high) |η| range (if given)."""
    a = np.abs(eta)
    ok = a < abs_eta_max
    if crack:
        ok &= ~((a >= crack[0]) & (a <= crack[1]))
    return ok


def isolation_mask(pt_mev, ptcone_mev, etcone_mev, mode: str, ptcone_max: float,
                   etcone_max: float) -> np.ndarray:
    """Isolation of photons: ``"relative"`` ptcone30/pT < ``ptcone_max`` and etcone20/pT <
    ``etcone_max``; ``"raw_mev"`` the seed's cut on the raw MeV values; ``"none"`` all pass."""
    pt_mev = np.asarray(pt_mev, dtype=np.float64)
    if mode == "none":
        return np.ones(pt_mev.shape, bool)
    if mode == "raw_mev":
        return (np.asarray(ptcone_mev) < ptcone_max) & (np.asarray(etcone_mev) < etcone_max)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (np.asarray(ptcone_mev) / pt_mev < ptcone_max) & (
            np.asarray(etcone_mev) / pt_mev < etcone_max)


def pair_mass_gev(pt0, eta0, phi0, e0, pt1, eta1, phi1, e1) -> np.ndarray:
    """Invariant mass (GeV) of two objects from pT, η, φ, E in MeV:
    m² = 2 (E₀E₁ − pT₀pT₁ (cos Δφ + sinh η₀ sinh η₁)) (massless objects)."""
    dot = np.asarray(pt0) * pt1 * (np.cos(np.asarray(phi0) - phi1) + np.sinh(eta0) * np.sinh(eta1))
    m2 = 2.0 * (np.asarray(e0) * e1 - dot)
    return np.sqrt(np.maximum(m2, 0.0)) / MEV_PER_GEV


def pair_pt_gev(pt0, phi0, pt1, phi1) -> np.ndarray:
    """Transverse momentum (GeV) of the sum of two objects (pT in MeV)."""
    px = np.asarray(pt0) * np.cos(phi0) + np.asarray(pt1) * np.cos(phi1)
    py = np.asarray(pt0) * np.sin(phi0) + np.asarray(pt1) * np.sin(phi1)
    return np.hypot(px, py) / MEV_PER_GEV


def jet_columns(pt, eta, phi, e, mv2c10, *, pt_min: float, abs_eta_max: float,
                btag_min: float) -> dict[str, np.ndarray]:
    """Jet columns (GeV) of jets with pT > ``pt_min`` GeV and |η| < ``abs_eta_max``:
    ``n_jets``, ``jet0_pt/eta``, ``jet1_pt/eta``, ``mjj``, ``deta_jj`` (NaN without two jets) and
    ``n_bjets`` (MV2c10 > ``btag_min``)."""
    counts = ak.to_numpy(ak.num(pt, axis=1)).astype(np.int64)
    flat = {k: ak.to_numpy(ak.flatten(v, axis=1))
            for k, v in (("pt", pt), ("eta", eta), ("phi", phi), ("e", e), ("mv2", mv2c10))}
    keep = (flat["pt"] > pt_min * MEV_PER_GEV) & (np.abs(flat["eta"]) < abs_eta_max)
    event = np.repeat(np.arange(len(counts)), counts)[keep]
    n_jets = np.bincount(event, minlength=len(counts))
    flat = {k: v[keep] for k, v in flat.items()}
    (pt0, pt1), (eta0, eta1), (phi0, phi1), (e0, e1) = leading_pair_flat(
        n_jets, flat["pt"], flat["eta"], flat["phi"], flat["e"])
    return {
        "n_jets": n_jets.astype(np.int32),
        "jet0_pt": pt0 / MEV_PER_GEV, "jet0_eta": eta0,
        "jet1_pt": pt1 / MEV_PER_GEV, "jet1_eta": eta1,
        "mjj": _massive_pair_mass(pt0, eta0, phi0, e0, pt1, eta1, phi1, e1),
        "deta_jj": np.abs(eta0 - eta1),
        "n_bjets": np.bincount(event, weights=flat["mv2"] > btag_min,
                               minlength=len(counts)).astype(np.int32),
    }


def _massive_pair_mass(pt0, eta0, phi0, e0, pt1, eta1, phi1, e1) -> np.ndarray:
    """Pair mass (GeV) from pT, η, φ, E (MeV) of objects with mass (jets)."""
    px = pt0 * np.cos(phi0) + pt1 * np.cos(phi1)
    py = pt0 * np.sin(phi0) + pt1 * np.sin(phi1)
    pz = pt0 * np.sinh(eta0) + pt1 * np.sinh(eta1)
    m2 = (e0 + e1) ** 2 - px**2 - py**2 - pz**2
    return np.sqrt(np.maximum(m2, 0.0)) / MEV_PER_GEV


def lepton_columns(pt, eta, tight, *, pt_min: float = 10.0) -> dict[str, np.ndarray]:
    """``n_leptons`` (tight leptons with pT > ``pt_min`` GeV), ``lep0_pt`` (GeV), ``lep0_eta``
    (NaN without a lepton)."""
    keep = ak.values_astype(tight, bool) & (pt > pt_min * MEV_PER_GEV)
    (pt0, _), (eta0, _) = leading_pair(pt[keep], eta[keep])
    return {"n_leptons": ak.to_numpy(ak.num(pt[keep], axis=1)).astype(np.int32),
            "lep0_pt": pt0 / MEV_PER_GEV, "lep0_eta": eta0}


def mc_event_weight(mc_weight, scale_factors, xsection_pb, sum_weights, lumi_fb: float
                    ) -> np.ndarray:
    """``mcWeight`` × Π scale factors × ``XSection`` [pb] / ``SumWeights`` × luminosity
    [fb⁻¹ → pb⁻¹]: events expected per simulated event (float64)."""
    w = np.asarray(mc_weight, dtype=np.float64).copy()
    for sf in scale_factors:
        w *= np.asarray(sf, dtype=np.float64)
    return w * np.asarray(xsection_pb, np.float64) / np.asarray(sum_weights, np.float64) * (
        lumi_fb * 1000.0)
