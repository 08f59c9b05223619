"""Direct-minimization profile likelihood for non-linear background shapes.

pyhf expresses models linear in their normalisation parameters; an exponential of a polynomial or
the dijet function (:data:`stats.background.SHAPES`) is not, so their discovery test is computed
here with scipy directly, on the same binned likelihood as :mod:`stats.model`: Poisson terms for
every sideband bin plus one SR counting bin with mean ``b_SR(θ) + s``.  With one SR bin and ``s``
free the SR term is saturated at the optimum, so

``t0 = min_θ [NLL_SB(θ) + NLL_SR(θ, s=0)] - min_θ NLL_SB(θ) - NLL_SR(saturated)``  (×2),

``Z_signed = sign(n_SR - b̂_SR) √t0`` and ``Z = max(Z_signed, 0)`` (q0 of arXiv:1007.1727,
s ≥ 0).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import gammaln, xlogy

from stats.background import SHAPES, integrate_shape
from stats.binning import Binning

log = logging.getLogger(__name__)

__all__ = ["DirectFit", "direct_discovery"]


@dataclass
class DirectFit:
    """Outcome of :func:`direct_discovery` (all counts in events)."""

    converged: bool
    message: str
    theta_free: np.ndarray | None = None
    theta_bkg: np.ndarray | None = None
    t0: float = float("nan")
    b_sr: float = float("nan")
    n_sr: float = float("nan")
    sideband_expected: np.ndarray | None = None


def _twice_nll(n: np.ndarray, lam: np.ndarray) -> float:
    if np.any(~np.isfinite(lam)) or np.any(lam <= 0):
        return 1e300
    return float(2.0 * np.sum(lam - xlogy(n, lam) + gammaln(n + 1.0)))


def direct_discovery(
    counts: np.ndarray,
    binning: Binning,
    shape: str = "exp_poly",
    *,
    n_params: int | None = None,
    random_state: int | None = 0,
    n_starts: int = 4,
) -> DirectFit:
    """Discovery test with a non-linear background shape by direct minimization.

    Parameters
    ----------
    counts : array_like
        Counts per bin of ``binning`` (all bins).
    binning : Binning
        The binning; the SR is used as one counting bin.
    shape : {"exp_poly", "dijet"}
        Background shape (:data:`stats.background.SHAPES`).
    n_params : int, optional
        Number of shape parameters (default of the shape otherwise).
    random_state : int, optional
        Seed for the jittered restarts.
    n_starts : int
        Starting points tried per fit; the best minimum is kept.

    Returns
    -------
    DirectFit
    """
    if shape not in SHAPES:
        raise ValueError(
            f"unknown background shape {shape!r}; expected one of {sorted(SHAPES)} or 'bernstein'"
        )
    func, default_n = SHAPES[shape]
    n_par = int(n_params or default_n)
    counts = np.asarray(counts, dtype=np.float64)
    e = binning.edges
    lo, hi = binning.low, binning.high
    sb = counts[binning.sb_mask]
    n_sr = float(counts[binning.sr_mask].sum())
    sr_lo, sr_hi = binning.sr_edges[0], binning.sr_edges[-1]
    sb_edges_l = e[: binning.n_sb_left + 1]
    sb_edges_r = e[len(e) - binning.n_sb_right - 1 :]

    def sb_expect(theta):
        return np.concatenate(
            [
                integrate_shape(func, theta, sb_edges_l, lo, hi),
                integrate_shape(func, theta, sb_edges_r, lo, hi),
            ]
        )

    def sr_expect(theta):
        fine = np.linspace(sr_lo, sr_hi, 9)
        return float(integrate_shape(func, theta, fine, lo, hi).sum())

    def obj_free(theta):
        return _twice_nll(sb, sb_expect(theta))

    def obj_bkg(theta):
        return _twice_nll(sb, sb_expect(theta)) + _twice_nll(
            np.array([n_sr]), np.array([sr_expect(theta)])
        )

    rng = np.random.default_rng(random_state)
    start = np.zeros(n_par)
    # level from the mean sideband density; for dijet take a gently falling start
    density = max(sb.sum(), 1.0) / max(np.diff(e)[binning.sb_mask].sum(), 1e-12)
    if shape == "dijet":
        start[:] = [0.0, 5.0, 4.0, 0.0][:n_par]
        start[0] = np.log(density) - np.log(func(np.array([0.5 * (lo + hi)]), start, lo, hi)[0])
    else:
        start[0] = np.log(density)

    def best_fit(obj, x0):
        best = None
        for i in range(n_starts):
            x = (
                x0
                if i == 0
                else x0 + rng.normal(0.0, 0.3, size=x0.size) * np.maximum(abs(x0), 1.0) * 0.1
            )
            with np.errstate(all="ignore"):
                r = minimize(obj, x, method="BFGS", options={"maxiter": 2000})
                r = minimize(
                    obj,
                    r.x,
                    method="Nelder-Mead",
                    options={"maxiter": 4000, "xatol": 1e-8, "fatol": 1e-9},
                )
            if np.isfinite(r.fun) and r.fun < 1e299 and (best is None or r.fun < best.fun):
                best = r
        return best

    if sb.sum() <= 0:
        return DirectFit(False, "no sideband events: nothing to fit the background to", n_sr=n_sr)
    free = best_fit(obj_free, start)
    if free is None:
        return DirectFit(False, f"{shape} sideband fit failed from {n_starts} starts", n_sr=n_sr)
    bkg = best_fit(obj_bkg, free.x)
    if bkg is None:
        return DirectFit(False, f"{shape} background-only fit failed", theta_free=free.x, n_sr=n_sr)
    sat = _twice_nll(np.array([n_sr]), np.array([max(n_sr, 1e-300)])) if n_sr > 0 else 0.0
    t0 = max(bkg.fun - (free.fun + sat), 0.0)
    return DirectFit(True, "", free.x, bkg.x, t0, sr_expect(free.x), n_sr, sb_expect(free.x))
