"""Vectorized kinematics for the synthetic sample: spectra and two-body decays.

Pure numpy functions; every random step takes a :class:`numpy.random.Generator`. Units: GeV, rad.
"""

from __future__ import annotations

import numpy as np

from dimuon_ad.constants import MUON_MASS_GEV

__all__ = [
    "MUON_MASS_GEV",
    "sample_power_law",
    "sample_broken_power_law",
    "sample_hard_pt",
    "sample_breit_wigner",
    "two_body_decay",
]


def sample_power_law(
    rng: np.random.Generator, n: int, low: float, high: float, index: float
) -> np.ndarray:
    """Draw ``n`` values from p(x) ∝ x^-index on [low, high] by inverse transform.

    Parameters
    ----------
    rng : numpy.random.Generator
    n : int
    low, high : float
        Range, 0 < low < high (e.g. GeV).
    index : float
        Power-law index (any real; 1 gives a log-uniform distribution).

    Returns
    -------
    ndarray of float64, shape (n,)
    """
    u = rng.random(n)
    if abs(index - 1.0) < 1e-12:
        return low * (high / low) ** u
    a = 1.0 - index
    return (low**a + u * (high**a - low**a)) ** (1.0 / a)


def sample_broken_power_law(
    rng: np.random.Generator,
    n: int,
    edges: tuple[float, ...],
    indices: tuple[float, ...],
) -> np.ndarray:
    """Draw from a continuous piecewise power law p(x) ∝ x^-index_k on [edges[k], edges[k+1]].

    Used for dimuon continua that fall with one slope in the Υ region and faster at high mass,
    without the cliffs of a truncated single power law.

    Parameters
    ----------
    rng : numpy.random.Generator
    n : int
    edges : tuple of float
        Increasing segment boundaries (> 0), one more than ``indices``.
    indices : tuple of float
        Power-law index of each segment.

    Returns
    -------
    ndarray of float64, shape (n,)
    """
    edges_arr = np.asarray(edges, dtype=np.float64)
    if edges_arr.size != len(indices) + 1 or np.any(np.diff(edges_arr) <= 0) or edges_arr[0] <= 0:
        raise ValueError(
            f"edges={edges!r} must be positive, increasing and one longer than indices={indices!r}"
        )
    # density normalisation per segment so that p(x) is continuous at the edges
    scale = [1.0]
    for k in range(1, len(indices)):
        b = edges_arr[k]
        scale.append(scale[-1] * b ** (indices[k] - indices[k - 1]))
    weights = []
    for k, index in enumerate(indices):
        lo, hi = edges_arr[k], edges_arr[k + 1]
        if abs(index - 1.0) < 1e-12:
            integral = np.log(hi / lo)
        else:
            integral = (hi ** (1.0 - index) - lo ** (1.0 - index)) / (1.0 - index)
        weights.append(scale[k] * integral)
    weights_arr = np.asarray(weights) / np.sum(weights)
    segment = rng.choice(len(indices), size=n, p=weights_arr)
    out = np.empty(n)
    for k, index in enumerate(indices):
        sel = segment == k
        out[sel] = sample_power_law(rng, int(sel.sum()), edges_arr[k], edges_arr[k + 1], index)
    return out


def sample_hard_pt(rng: np.random.Generator, n: int, p0: float, power: float) -> np.ndarray:
    """Draw transverse momenta from p(pT) ∝ pT (1 + (pT/p0)²)^-power (GeV).

    The shape of hadroproduced quarkonia and of Drell-Yan pairs: rising linearly at low pT, peaking
    near ``p0 / sqrt(2 power - 1)`` and falling as pT^(1 - 2 power) (e.g. CMS, arXiv:1501.07750).

    Parameters
    ----------
    rng : numpy.random.Generator
    n : int
    p0 : float
        Scale in GeV (> 0).
    power : float
        Tail power (> 1).
    """
    u = rng.random(n)
    return p0 * np.sqrt((1.0 - u) ** (1.0 / (1.0 - power)) - 1.0)


def sample_breit_wigner(
    rng: np.random.Generator, n: int, mass: float, width: float, n_widths: float = 10.0
) -> np.ndarray:
    """Draw masses from a non-relativistic Breit-Wigner truncated at ``mass ± n_widths · width``.

    A width of 0 returns ``mass`` for every event. Masses are kept above twice the muon mass.
    """
    if width <= 0.0:
        return np.full(n, float(mass))
    lo = np.arctan(-n_widths * 2.0)
    hi = np.arctan(n_widths * 2.0)
    t = np.tan(lo + (hi - lo) * rng.random(n))
    return np.maximum(mass + 0.5 * width * t, 2.0 * MUON_MASS_GEV + 1e-3)


def two_body_decay(
    rng: np.random.Generator,
    mass: np.ndarray,
    pt: np.ndarray,
    rapidity: np.ndarray,
    phi: np.ndarray,
    daughter_mass: float = MUON_MASS_GEV,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Isotropic two-body decay of parents (mass, pT, y, φ) into two equal-mass daughters.

    Parameters
    ----------
    rng : numpy.random.Generator
    mass, pt, rapidity, phi : ndarray, shape (n,)
        Parent mass (GeV), transverse momentum (GeV), rapidity and azimuth (rad).
    daughter_mass : float
        Daughter mass in GeV (default: the muon's).

    Returns
    -------
    pt, eta, phi : ndarray, shape (n, 2)
        Daughter kinematics in the laboratory frame; daughter 0 carries the sampled decay direction.
    """
    mass = np.asarray(mass, dtype=np.float64)
    n = mass.shape[0]
    p_star = np.sqrt(np.maximum(0.25 * mass**2 - daughter_mass**2, 0.0))
    cos_t = rng.uniform(-1.0, 1.0, n)
    sin_t = np.sqrt(1.0 - cos_t**2)
    phi_s = rng.uniform(0.0, 2.0 * np.pi, n)
    p_rest = np.stack(
        [p_star * sin_t * np.cos(phi_s), p_star * sin_t * np.sin(phi_s), p_star * cos_t], axis=1
    )
    e_rest = 0.5 * mass
    mt = np.sqrt(mass**2 + pt**2)
    parent_p = np.stack([pt * np.cos(phi), pt * np.sin(phi), mt * np.sinh(rapidity)], axis=1)
    parent_e = mt * np.cosh(rapidity)
    beta = parent_p / parent_e[:, None]
    gamma = parent_e / mass
    out_pt = np.empty((n, 2))
    out_eta = np.empty((n, 2))
    out_phi = np.empty((n, 2))
    for k, sign in enumerate((1.0, -1.0)):
        p = sign * p_rest
        bp = np.einsum("ij,ij->i", beta, p)
        coef = gamma**2 / (gamma + 1.0) * bp + gamma * e_rest
        lab = p + coef[:, None] * beta
        ptk = np.hypot(lab[:, 0], lab[:, 1])
        out_pt[:, k] = ptk
        out_eta[:, k] = np.arcsinh(lab[:, 2] / np.maximum(ptk, 1e-12))
        out_phi[:, k] = np.arctan2(lab[:, 1], lab[:, 0])
    return out_pt, out_eta, out_phi
