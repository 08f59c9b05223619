"""Goodness of fit of the sideband model and an F-test to choose the polynomial degree.

* Pearson χ²/ndf and the saturated-model (deviance) p-value of the sideband bins: the deviance
  ``D = 2 Σ [λ - n + n ln(n/λ)]`` is asymptotically χ²(ndf) with ``ndf = bins - parameters``
  (Baker & Cousins, NIM 221 (1984) 437).
* Fisher F-test between nested polynomial degrees, as used to pick the degree of sideband fits in
  resonance searches (:mod:`stats.degree`): go one degree higher only while the improvement is
  significant at ``alpha``.
"""

from __future__ import annotations

import logging

import numpy as np
from scipy import stats as sps

log = logging.getLogger(__name__)

__all__ = [
    "BAD_FIT_P_VALUE",
    "goodness_of_fit",
    "describe_gof",
    "deviance",
    "f_test",
]

#: A background fit is flagged bad (``bad_fit``) when its saturated-model p-value is below this.
#: 1e-3 rather than 0.01 because an analysis makes ~60 fits (cuts): on background-only toys
#: (exponential spectra of 150-12 000 events, degree 5) 0.7-2 % of the fits have p < 0.01,
#: which would flag a good fit in most analyses; a real misfit (other resonances in the
#: sidebands, χ²/ndf = 2213/94) has p ≈ 0.
BAD_FIT_P_VALUE = 1e-3


def deviance(counts: np.ndarray, expected: np.ndarray) -> float:
    """Poisson deviance ``2 Σ [λ - n + n ln(n/λ)]`` (``n ln n`` → 0 for ``n = 0``)."""
    n = np.asarray(counts, dtype=np.float64)
    lam = np.clip(np.asarray(expected, dtype=np.float64), 1e-300, None)
    with np.errstate(divide="ignore", invalid="ignore"):
        term = np.where(n > 0, n * np.log(n / lam), 0.0)
    return float(2.0 * np.sum(lam - n + term))


def goodness_of_fit(counts: np.ndarray, expected: np.ndarray, n_params: int) -> dict:
    """χ²/ndf and the saturated-model p-value of a binned Poisson fit.

    Parameters
    ----------
    counts, expected : array_like
        Observed and fitted counts per bin (the sideband bins).
    n_params : int
        Number of fitted parameters.

    Returns
    -------
    dict
        ``chi2`` (Pearson), ``deviance``, ``ndf``, ``chi2_ndf``, ``p_saturated`` (NaN if ndf ≤ 0)
        and ``bad_fit``: ``p_saturated < BAD_FIT_P_VALUE`` (False when it is NaN).
    """
    n = np.asarray(counts, dtype=np.float64)
    lam = np.clip(np.asarray(expected, dtype=np.float64), 1e-300, None)
    chi2 = float(np.sum((n - lam) ** 2 / lam))
    dev = deviance(n, lam)
    ndf = int(n.size - n_params)
    p = float(sps.chi2.sf(dev, ndf)) if ndf > 0 else float("nan")
    if ndf <= 0:
        return {
            "chi2": chi2,
            "deviance": dev,
            "ndf": ndf,
            "chi2_ndf": float("nan"),
            "p_saturated": float("nan"),
            "bad_fit": False,
        }
    return {
        "chi2": chi2,
        "deviance": dev,
        "ndf": ndf,
        "chi2_ndf": chi2 / ndf,
        "p_saturated": p,
        "bad_fit": bool(p < BAD_FIT_P_VALUE),
    }


def describe_gof(gof: dict) -> str:
    """One line on a bad background fit (``"bad background fit: χ²/ndf = 2213/94, ..."``)."""
    return (
        f"bad background fit: chi2/ndf = {gof['chi2']:.0f}/{gof['ndf']}, saturated-model p = "
        f"{gof['p_saturated']:.2g} < {BAD_FIT_P_VALUE:g}; the polynomial does not describe the "
        "sidebands (other resonances or structure in them?): narrow the window or change the "
        "degree"
    )


def f_test(dev_low: float, n_par_low: int, dev_high: float, n_par_high: int, n_bins: int) -> float:
    """p-value of the F-test that the larger model (``n_par_high``) does not improve the fit.

    ``F = [(D_low - D_high)/(p_high - p_low)] / [D_high/(n_bins - p_high)]`` ~ F(p_high - p_low,
    n_bins - p_high) for deviances ``D`` of nested models.
    """
    d1 = n_par_high - n_par_low
    d2 = n_bins - n_par_high
    if d1 <= 0 or d2 <= 0:
        raise ValueError(
            f"F-test needs n_par_low < n_par_high < n_bins, got {n_par_low}, {n_par_high}, {n_bins}"
        )
    if dev_high <= 0:
        return 0.0
    f = max(dev_low - dev_high, 0.0) / d1 / (dev_high / d2)
    return float(sps.f.sf(f, d1, d2))
