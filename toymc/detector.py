"""Detector response of the synthetic sample: resolution, isolation, impact parameters, IDs, jets.

Pure numpy functions on arrays of any shape (one entry per muon or jet). Parametrisations follow
CMS muon and jet performance papers in spirit, not in detail: muon pT resolution 1–2.5 % rising
with |η| (arXiv:1807.06325), impact-parameter resolution ≈ 15–25 μm at 10 GeV (arXiv:1405.6569),
PF isolation as the hadronic activity in a cone, b-tag discriminants by jet flavour
(arXiv:1712.07158). Units: GeV, cm.
"""

from __future__ import annotations

import numpy as np

from toymc.processes import Origin

__all__ = [
    "relative_pt_resolution",
    "smear_pt",
    "impact_parameters",
    "isolation",
    "muon_ids",
    "btag_scores",
    "jet_energy_fractions",
]

# Nested ID efficiencies per origin (loose; medium given loose; tight given medium).
_ID_EFF = {
    Origin.PROMPT: (0.995, 0.985, 0.975),
    Origin.HEAVY_FLAVOUR: (0.99, 0.97, 0.95),
    Origin.FAKE: (0.97, 0.90, 0.85),
}


def relative_pt_resolution(pt: np.ndarray, eta: np.ndarray) -> np.ndarray:
    """Relative muon pT resolution σ(pT)/pT: 1.3 % central, 2.5 % at |η| = 2.4, + 1e-4/GeV."""
    a = 0.013 + 0.012 * (np.clip(np.abs(eta), 0.0, 2.4) / 2.4) ** 2
    return a + 1.0e-4 * np.asarray(pt)


def smear_pt(rng: np.random.Generator, pt: np.ndarray, eta: np.ndarray) -> np.ndarray:
    """Reconstructed pT: true pT times (1 + σ(pT, η)/pT · N(0, 1)), kept positive (GeV)."""
    sigma = relative_pt_resolution(pt, eta)
    return pt * np.maximum(1.0 + sigma * rng.standard_normal(np.shape(pt)), 0.05)


def impact_parameters(
    rng: np.random.Generator, pt: np.ndarray, ctau: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Transverse, longitudinal and 3D impact parameters (cm) and the 3D significance.

    The true 3D impact parameter is exponential with mean ``ctau`` (0 for prompt muons, where
    only the resolution remains), split at a random angle into its transverse and longitudinal
    parts; resolution σ_xy = 12 μm + 100 μm·GeV/pT, σ_z = 1.6 σ_xy + 5 μm.

    Returns
    -------
    dxy, dz, ip3d, sip3d : ndarray
    """
    shape = np.shape(pt)
    ip_true = np.where(ctau > 0.0, rng.exponential(1.0, shape) * ctau, 0.0)
    alpha = rng.uniform(0.0, 0.5 * np.pi, shape)
    sign_xy = np.where(rng.random(shape) < 0.5, -1.0, 1.0)
    sign_z = np.where(rng.random(shape) < 0.5, -1.0, 1.0)
    sigma_xy = 0.0012 + 0.010 / np.maximum(pt, 0.5)
    sigma_z = 1.6 * sigma_xy + 0.0005
    dxy = sign_xy * ip_true * np.cos(alpha) + sigma_xy * rng.standard_normal(shape)
    dz = sign_z * ip_true * np.sin(alpha) + sigma_z * rng.standard_normal(shape)
    ip3d = np.hypot(dxy, dz)
    sigma_3d = np.sqrt((sigma_xy * dxy) ** 2 + (sigma_z * dz) ** 2) / np.maximum(ip3d, 1e-9)
    return dxy, dz, ip3d, ip3d / sigma_3d


def isolation(
    rng: np.random.Generator, pt: np.ndarray, hadronic_pt: np.ndarray, pileup_pt: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """PF relative isolations (ΔR < 0.3 and < 0.4, Δβ-corrected) from the hadronic activity.

    Parameters
    ----------
    pt : ndarray
        Muon pT (GeV).
    hadronic_pt : ndarray
        pT of the hadrons of the jet around the muon (GeV); a fraction falls inside the cone.
    pileup_pt : ndarray
        Pile-up pT left in the ΔR < 0.4 cone after the Δβ correction (GeV).

    Returns
    -------
    iso03, iso04 : ndarray
    """
    shape = np.shape(pt)
    f04 = rng.uniform(0.6, 0.95, shape)
    f03 = f04 * rng.uniform(0.6, 0.9, shape)
    iso04 = (f04 * hadronic_pt + pileup_pt) / pt
    iso03 = (f03 * hadronic_pt + 0.56 * pileup_pt) / pt
    return iso03, iso04


def muon_ids(
    rng: np.random.Generator, origin: np.ndarray, pt: np.ndarray, dxy: np.ndarray, dz: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Loose, medium, tight and soft muon IDs with tight ⊂ medium ⊂ loose.

    Efficiencies depend on the muon's origin (fakes from decays in flight fail the tighter IDs
    more often); tight also needs |dxy| < 0.2 cm and |dz| < 0.5 cm, soft |dxy| < 0.3 cm and
    |dz| < 20 cm, as in the CMS definitions (arXiv:1807.06325).

    Returns
    -------
    loose, medium, tight, soft : ndarray of bool
    """
    shape = np.shape(origin)
    eff = np.zeros(shape + (3,))
    for code, values in _ID_EFF.items():
        eff[origin == code] = values
    u = rng.random(shape)
    loose = u < eff[..., 0]
    medium = u < eff[..., 0] * eff[..., 1]
    tight = (u < eff[..., 0] * eff[..., 1] * eff[..., 2]) & (np.abs(dxy) < 0.2) & (np.abs(dz) < 0.5)
    soft = loose & (rng.random(shape) < 0.985) & (np.abs(dxy) < 0.3) & (np.abs(dz) < 20.0)
    soft &= pt > 0.0
    return loose, medium, tight, soft


def btag_scores(
    rng: np.random.Generator, flavour: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """DeepJet (DeepFlavB), DeepCSV (DeepB) and CSVv2 scores by jet flavour (5 b, 4 c, other).

    Returns
    -------
    deepflav_b, deep_b, csv_v2 : ndarray in [0, 1]
    """
    shape = np.shape(flavour)
    a = np.where(flavour == 5, 6.0, np.where(flavour == 4, 1.2, 0.5))
    b = np.where(flavour == 5, 1.2, np.where(flavour == 4, 6.0, 12.0))
    deepflav = rng.beta(a, b, shape)
    deep = np.clip(deepflav + 0.08 * rng.standard_normal(shape), 0.0, 1.0)
    csv = np.clip(0.05 + 0.9 * deepflav + 0.12 * rng.standard_normal(shape), 0.0, 1.0)
    return deepflav, deep, csv


def jet_energy_fractions(
    rng: np.random.Generator, mu_fraction: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Charged/neutral hadron and EM energy fractions sharing 1 − muEF (Dirichlet 6:1.2:0.3:2.5).

    Returns
    -------
    ch_hef, ne_hef, ch_emef, ne_emef : ndarray
    """
    shape = np.shape(mu_fraction)
    parts = np.stack([rng.gamma(k, 1.0, shape) for k in (6.0, 1.2, 0.3, 2.5)], axis=-1)
    parts *= ((1.0 - mu_fraction) / parts.sum(axis=-1))[..., None]
    return parts[..., 0], parts[..., 1], parts[..., 2], parts[..., 3]
