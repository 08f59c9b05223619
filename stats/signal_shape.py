"""Resonance signal shape: the double-sided Crystal Ball, fitted to weighted simulation.

The ATLAS H→γγ analyses model the diphoton mass peak with a double-sided Crystal Ball (DSCB,
arXiv:1802.04146 §6): a Gaussian core of mean ``mu`` and width ``sigma`` with a power-law tail on
each side, starting ``alpha_lo`` / ``alpha_hi`` widths from the mean with exponents ``n_lo`` /
``n_hi``:

.. math::
    f(t) = \\begin{cases}
        e^{-t^2/2} & -\\alpha_{lo} \\le t \\le \\alpha_{hi} \\\\
        e^{-\\alpha_{lo}^2/2} \\left[\\frac{\\alpha_{lo}}{n_{lo}}
            \\left(\\frac{n_{lo}}{\\alpha_{lo}} - \\alpha_{lo} - t\\right)\\right]^{-n_{lo}}
            & t < -\\alpha_{lo} \\\\
        (\\text{mirror image}) & t > \\alpha_{hi}
    \\end{cases},\\qquad t = (m - \\mu)/\\sigma .

:func:`fit_dscb` fits it to simulated masses with per-event weights (``weight`` of the skim,
negative ones included) by the weighted likelihood ``-Σ_b W_b ln p_b`` on 25 MeV bins (``W_b``:
sum of weights in bin ``b``, ``p_b``: the DSCB fraction in it; at this bin width, far below the
≈1.7 GeV resolution, the same as the unbinned weighted fit and independent of the sample size);
integrals are numerical (Gauss–Legendre, :func:`stats.background.integrate_shape`).  Parameter
uncertainties are not reported: with weighted events they need the sandwich estimator, and only
the shape (fractions per bin) enters the signal model.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

import numpy as np
from scipy.optimize import minimize

from dimuon_ad.errors import FitError, InputError
from stats.background import integrate_shape

log = logging.getLogger(__name__)

__all__ = ["DSCB", "dscb", "fit_dscb"]

#: step of the normalisation grid, GeV
_GRID_STEP = 0.1
#: bin width of the weighted likelihood, GeV
_FIT_STEP = 0.025


def dscb(m: np.ndarray, mu: float, sigma: float, alpha_lo: float, n_lo: float,
         alpha_hi: float, n_hi: float) -> np.ndarray:
    """Unnormalised double-sided Crystal Ball at masses ``m`` (GeV); 1 at the peak.

    Parameters
    ----------
    m : array_like
        Masses, GeV.
    mu, sigma : float
        Mean and width of the Gaussian core, GeV.
    alpha_lo, alpha_hi : float
        Where the low / high tail starts, in units of ``sigma`` (> 0).
    n_lo, n_hi : float
        Power-law exponents of the tails (> 1).
    """
    t = (np.asarray(m, dtype=np.float64) - mu) / sigma
    out = np.exp(-0.5 * t * t)
    lo, hi = t < -alpha_lo, t > alpha_hi
    a = n_lo / alpha_lo - alpha_lo - t[lo]
    out[lo] = np.exp(-0.5 * alpha_lo**2) * (alpha_lo / n_lo * a) ** (-n_lo)
    b = n_hi / alpha_hi - alpha_hi + t[hi]
    out[hi] = np.exp(-0.5 * alpha_hi**2) * (alpha_hi / n_hi * b) ** (-n_hi)
    return out


@dataclass(frozen=True)
class DSCB:
    """Fitted double-sided Crystal Ball (GeV) normalised on ``[low, high]``.

    Attributes
    ----------
    mu, sigma : float
        Mean and width of the core, GeV.
    alpha_lo, n_lo, alpha_hi, n_hi : float
        Tail parameters (see :func:`dscb`).
    low, high : float
        Range the shape is normalised on, GeV.
    """

    mu: float
    sigma: float
    alpha_lo: float
    n_lo: float
    alpha_hi: float
    n_hi: float
    low: float
    high: float

    @property
    def params(self) -> tuple[float, ...]:
        return (self.mu, self.sigma, self.alpha_lo, self.n_lo, self.alpha_hi, self.n_hi)

    def _raw_integrals(self, edges: np.ndarray) -> np.ndarray:
        return integrate_shape(lambda m, th, lo, hi: dscb(m, *th), self.params,
                               np.asarray(edges, dtype=np.float64), self.low, self.high)

    def fractions(self, edges: np.ndarray) -> np.ndarray:
        """Fraction of the signal (normalised on ``[low, high]``) in each bin of ``edges``."""
        return self._raw_integrals(edges) / self._norm()

    def pdf(self, m: np.ndarray) -> np.ndarray:
        """Density per GeV, normalised to 1 on ``[low, high]``."""
        return dscb(m, *self.params) / self._norm()

    def fwhm(self) -> float:
        """Full width at half maximum, GeV (numerically, on a 5 MeV grid)."""
        m = np.arange(self.mu - 10 * self.sigma, self.mu + 10 * self.sigma, 0.005)
        above = m[dscb(m, *self.params) >= 0.5]
        return float(above[-1] - above[0])

    def _norm(self) -> float:
        n = max(int(np.ceil((self.high - self.low) / _GRID_STEP)), 1)
        return float(self._raw_integrals(np.linspace(self.low, self.high, n + 1)).sum())

    def to_dict(self) -> dict[str, float]:
        return {k: float(v) for k, v in asdict(self).items()}


def fit_dscb(mass: np.ndarray, weight: np.ndarray | None = None, *, low: float, high: float,
             start_mu: float | None = None) -> DSCB:
    """Weighted unbinned maximum-likelihood fit of a DSCB to simulated masses.

    Parameters
    ----------
    mass : array_like
        Masses, GeV; those outside ``[low, high]`` are ignored.
    weight : array_like, optional
        Per-event weights (negative ones allowed; their sum in range must be > 0).
    low, high : float
        Fit range, GeV.
    start_mu : float, optional
        Starting mean, GeV (default: the weighted median in range).

    Returns
    -------
    DSCB

    Raises
    ------
    InputError
        Fewer than 50 events in range or a non-positive sum of weights.
    FitError
        The minimisation did not converge.
    """
    m = np.asarray(mass, dtype=np.float64)
    w = np.ones_like(m) if weight is None else np.asarray(weight, dtype=np.float64)
    if w.shape != m.shape:
        raise InputError(f"fit_dscb: {w.shape[0]} weights for {m.shape[0]} masses")
    keep = np.isfinite(m) & np.isfinite(w) & (m >= low) & (m <= high)
    m, w = m[keep], w[keep]
    if m.size < 50 or w.sum() <= 0:
        raise InputError(
            f"fit_dscb: {m.size} events with sum of weights {w.sum():.3g} in {low:g}-{high:g} GeV;"
            " need >= 50 events and a positive sum"
        )
    n_bins = max(int(np.ceil((high - low) / _FIT_STEP)), 10)
    edges = np.linspace(low, high, n_bins + 1)
    wb = np.histogram(m, edges, weights=w / w.sum())[0]
    w = w / w.sum()
    order = np.argsort(m)
    cw = np.cumsum(np.clip(w[order], 0, None))
    med = float(m[order][np.searchsorted(cw, 0.5 * cw[-1])]) if start_mu is None else start_mu
    q16, q84 = (m[order][np.searchsorted(cw, q * cw[-1])] for q in (0.16, 0.84))
    s0 = max(0.5 * float(q84 - q16), 1e-3 * (high - low))
    # parameters: mu, log sigma, log alpha_lo, log(n_lo - 1), log alpha_hi, log(n_hi - 1)
    x0 = np.array([med, np.log(s0), np.log(1.5), np.log(4.0), np.log(1.5), np.log(4.0)])

    def unpack(x: np.ndarray) -> DSCB:
        return DSCB(float(x[0]), float(np.exp(x[1])), float(np.exp(x[2])),
                    1.0 + float(np.exp(x[3])), float(np.exp(x[4])), 1.0 + float(np.exp(x[5])),
                    float(low), float(high))

    def nll(x: np.ndarray) -> float:
        if not (low < x[0] < high) or np.any(np.abs(x[1:]) > 8):
            return 1e300
        with np.errstate(all="ignore"):
            raw = unpack(x)._raw_integrals(edges)
            p = raw / raw.sum()
        if not np.all(np.isfinite(p)) or np.any(p[wb != 0] <= 0):
            return 1e300
        return float(-np.sum(wb[wb != 0] * np.log(p[wb != 0])))

    res = minimize(nll, x0, method="Nelder-Mead",
                   options={"xatol": 1e-5, "fatol": 1e-9, "maxiter": 6000, "maxfev": 12000})
    if not np.isfinite(res.fun) or res.fun >= 1e299:
        raise FitError(f"DSCB fit to {m.size} masses in {low:g}-{high:g} GeV failed: {res.message}")
    shape = unpack(res.x)
    log.debug("DSCB fit: %s (%s)", shape, res.message)
    return shape
