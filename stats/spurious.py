"""Smooth background-only templates for the spurious-signal check of ``degree="spurious"``.

The ATLAS H→γγ searches choose the background function by fitting signal + background to a
high-statistics background-only template and requiring the fitted (spurious) signal to stay small
(arXiv:1408.7084).  Without simulation the template here is a smooth function of another family
fitted to the sidebands: the exponential of a quadratic in the mass (:func:`stats.background.
exp_poly`), which describes falling spectra (exponential, power law) closely.  Used only when it
describes the sidebands (saturated-model p-value >= :data:`MIN_TEMPLATE_P`); its expected counts
over all bins, SR included, are the Asimov spectrum the candidate polynomials are fitted to.
"""

from __future__ import annotations

import logging

import numpy as np
from scipy.optimize import minimize
from scipy.special import xlogy

from stats.background import exp_poly, integrate_shape
from stats.binning import Binning
from stats.gof import goodness_of_fit

log = logging.getLogger(__name__)

__all__ = ["MIN_TEMPLATE_P", "smooth_template"]

#: The smooth template is used only when its sideband fit has a saturated-model p above this.
MIN_TEMPLATE_P = 0.01


def smooth_template(
    counts: np.ndarray, binning: Binning, *, n_params: int = 3
) -> tuple[np.ndarray | None, dict]:
    """Expected counts per bin of ``exp(polynomial)`` fitted to the sideband bins.

    Parameters
    ----------
    counts : array_like
        Counts (or effective counts) per bin of ``binning``.
    binning : Binning
        The binning (all bins).
    n_params : int
        Polynomial coefficients in the exponent (3: exp of a quadratic).

    Returns
    -------
    expected : numpy.ndarray or None
        Per-bin expectation over all bins (sidebands and SR), events; None when the fit fails or
        does not describe the sidebands (``gof["p_saturated"] < MIN_TEMPLATE_P``).
    gof : dict
        Goodness of fit of the template on the sidebands (:func:`stats.gof.goodness_of_fit`),
        with ``usable`` (bool) and ``message``.
    """
    n = np.asarray(counts, dtype=np.float64)
    sb = binning.sb_mask
    e, lo, hi = binning.edges, binning.low, binning.high
    centres = 0.5 * (e[1:] + e[:-1])
    x = (centres - lo) / (hi - lo)
    width = np.diff(e)
    # start: weighted least squares of log density on the sideband bins
    y = np.log((n[sb] + 0.5) / width[sb])
    design = np.vander(x[sb], n_params, increasing=True)
    w = np.sqrt(n[sb] + 0.5)
    start = np.linalg.lstsq(design * w[:, None], y * w, rcond=None)[0]

    def expected(theta: np.ndarray) -> np.ndarray:
        return integrate_shape(exp_poly, theta, e, lo, hi)

    def nll(theta: np.ndarray) -> float:
        lam = expected(theta)[sb]
        if not np.all(np.isfinite(lam)) or np.any(lam <= 0):
            return 1e300
        return float(np.sum(lam - xlogy(n[sb], lam)))

    with np.errstate(all="ignore"):
        res = minimize(nll, start, method="BFGS", options={"gtol": 1e-8, "maxiter": 500})
    lam = expected(res.x)
    if not (np.isfinite(res.fun) and res.fun < 1e299 and np.all(np.isfinite(lam))):
        return None, {"usable": False, "message": "exp-polynomial template fit failed"}
    gof = goodness_of_fit(n[sb], lam[sb], n_params)
    usable = bool(np.isfinite(gof["p_saturated"]) and gof["p_saturated"] >= MIN_TEMPLATE_P)
    gof.update(
        usable=usable,
        message="" if usable else (
            f"exp-polynomial template does not describe the sidebands (p = "
            f"{gof['p_saturated']:.2g} < {MIN_TEMPLATE_P:g})"
        ),
    )
    return (lam if usable else None), gof
