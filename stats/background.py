"""Background shapes for the sideband fit: Bernstein basis integrals and non-linear alternatives.

The default background is a polynomial of degree ``n`` in the mass, written in the Bernstein basis
on the binned range ``[low, high]``:

.. math:: f(m) = \\sum_{k=0}^{n} c_k\\, b_{k,n}(x),\\qquad x = (m - low)/(high - low),

with :math:`b_{k,n}(x) = \\binom{n}{k} x^k (1-x)^{n-k}`.  The expected count in a bin is linear
in the coefficients, so every basis function becomes one HistFactory sample whose bin contents are
the basis integrated over the bins (:func:`bernstein_bin_integrals`) and every coefficient one
``normfactor``.
Coefficients ``c_k >= 0`` are sufficient for ``f >= 0`` on the window but not necessary, and
bounding them at 0 biases the fit when a true coefficient is near 0; the published analysis
(arXiv:2502.14036) fits a plain degree-5 polynomial, so by default the coefficients are free and
only the expected counts per bin must be positive (see :mod:`stats.model`).

Non-linear shapes (:data:`SHAPES`: ``exp_poly`` = exp of a polynomial, ``dijet`` = the
four-parameter dijet function of CMS/ATLAS resonance searches, e.g. arXiv:1911.03947) are
integrated numerically (Gauss–Legendre, 8 points per bin) and fitted by direct minimization in
:mod:`stats.direct`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
from scipy.special import comb

log = logging.getLogger(__name__)

__all__ = [
    "bernstein_bin_integrals",
    "bernstein_cdf",
    "bernstein_density",
    "exp_poly",
    "dijet",
    "SHAPES",
    "integrate_shape",
]


def _check_degree(degree: int) -> int:
    if int(degree) != degree or degree < 0 or degree > 20:
        raise ValueError(f"polynomial degree must be an integer in [0, 20], got {degree!r}")
    return int(degree)


def _unit(m: np.ndarray, low: float, high: float) -> np.ndarray:
    if not high > low:
        raise ValueError(f"polynomial domain needs high > low, got low={low}, high={high}")
    return np.clip((np.asarray(m, dtype=np.float64) - low) / (high - low), 0.0, 1.0)


def _bernstein_matrix(x: np.ndarray, degree: int) -> np.ndarray:
    """``B[i, k] = b_{k,degree}(x_i)``."""
    k = np.arange(degree + 1)
    return comb(degree, k) * x[:, None] ** k * (1.0 - x[:, None]) ** (degree - k)


def bernstein_density(
    m: np.ndarray, coefficients: np.ndarray, low: float, high: float
) -> np.ndarray:
    """Polynomial ``sum_k c_k b_{k,n}((m - low)/(high - low))`` per unit mass (events / GeV).

    Parameters
    ----------
    m : array_like
        Masses, GeV (clipped to ``[low, high]``).
    coefficients : array_like
        Bernstein coefficients ``c_0 .. c_n`` in events / GeV.
    low, high : float
        Domain of the polynomial, GeV.
    """
    c = np.asarray(coefficients, dtype=np.float64)
    return _bernstein_matrix(_unit(m, low, high), len(c) - 1) @ c


def bernstein_cdf(m: np.ndarray, degree: int, low: float, high: float) -> np.ndarray:
    """Integrals ``∫_low^m b_{k,n}(x(m')) dm'`` of every basis function, shape ``(len(m), n + 1)``.

    Uses ``∫_0^x b_{k,n} = (1/(n+1)) Σ_{j=k+1}^{n+1} b_{j,n+1}(x)``; the result is in GeV.
    """
    degree = _check_degree(degree)
    x = _unit(np.atleast_1d(m), low, high)
    upper = _bernstein_matrix(x, degree + 1)  # columns j = 0..n+1
    # column k of the result: sum of upper[:, k+1:], i.e. a reversed cumulative sum
    tail = np.cumsum(upper[:, ::-1], axis=1)[:, ::-1]
    return tail[:, 1:] * (high - low) / (degree + 1)


def bernstein_bin_integrals(edges: np.ndarray, degree: int, low: float, high: float) -> np.ndarray:
    """Each Bernstein basis function integrated over each bin, shape ``(n_bins, degree + 1)``, GeV.

    Parameters
    ----------
    edges : array_like
        Increasing bin edges, GeV, inside ``[low, high]``.
    degree : int
        Polynomial degree ``n`` (``n + 1`` basis functions).
    low, high : float
        Domain of the polynomial, GeV.
    """
    cdf = bernstein_cdf(np.asarray(edges, dtype=np.float64), degree, low, high)
    return np.diff(cdf, axis=0)


# ---------------------------------------------------------------------------------------------
# Non-linear shapes: f(m; theta) >= 0 per GeV, parameters unconstrained reals
# ---------------------------------------------------------------------------------------------


def exp_poly(m: np.ndarray, theta: np.ndarray, low: float, high: float) -> np.ndarray:
    """Exponential of a polynomial ``exp(θ_0 + θ_1 x + ...)``, ``x = (m - low)/(high - low)``."""
    x = _unit(m, low, high)
    return np.exp(np.clip(np.polynomial.polynomial.polyval(x, theta), -700.0, 700.0))


def dijet(
    m: np.ndarray, theta: np.ndarray, low: float, high: float, sqrt_s: float = 13000.0
) -> np.ndarray:
    """Dijet function ``exp(θ_0) (1 - x)^θ_1 / x^(θ_2 + θ_3 ln x)`` with ``x = m / sqrt_s``.

    ``sqrt_s`` is the collision energy in GeV (13 TeV for Run 2); ``low``/``high`` are unused and
    accepted for a uniform signature.
    """
    x = np.asarray(m, dtype=np.float64) / sqrt_s
    t = np.zeros(4)
    t[: len(theta)] = theta
    lx = np.log(x)
    logf = t[0] + t[1] * np.log1p(-x) - (t[2] + t[3] * lx) * lx
    return np.exp(np.clip(logf, -700.0, 700.0))


#: name -> (function, default number of parameters)
SHAPES: dict[str, tuple[Callable[..., np.ndarray], int]] = {
    "exp_poly": (exp_poly, 3),
    "dijet": (dijet, 4),
}

_GL_X, _GL_W = np.polynomial.legendre.leggauss(8)


def integrate_shape(
    func: Callable[..., np.ndarray], theta: np.ndarray, edges: np.ndarray, low: float, high: float
) -> np.ndarray:
    """Integral of ``func(m, theta, low, high)`` over each bin (8-point Gauss–Legendre), events."""
    e = np.asarray(edges, dtype=np.float64)
    half = 0.5 * np.diff(e)
    mid = 0.5 * (e[1:] + e[:-1])
    pts = mid[:, None] + half[:, None] * _GL_X[None, :]
    vals = func(pts.ravel(), theta, low, high).reshape(pts.shape)
    return (vals * _GL_W[None, :]).sum(axis=1) * half
