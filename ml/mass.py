"""Samplers of the conditioning mass m (GeV) for the signal-region background template.

CATHODE (arXiv:2109.00546) samples the flow at masses drawn from the signal-region mass spectrum.
Two ways are offered: :class:`KDEMassSampler`, a Gaussian KDE on the logit of the min-max-scaled
masses (bandwidth 0.01, as in the sk_cathode CATHODE walkthrough), fitted on the SR masses; and
:class:`FunctionMassSampler`, inverse-CDF sampling of a 1-D density handed in by the caller (e.g.
the background polynomial fitted to the sidebands).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator

from ml._validation import check_condition, check_fitted, check_random_seed

log = logging.getLogger(__name__)

__all__ = ["FunctionMassSampler", "KDEMassSampler"]

_EPS = 1e-6


def _check_n(n: Any) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"n must be a non-negative int (number of masses to draw), got {n!r}")
    return int(n)


def _check_window(low: Any, high: Any) -> tuple[float, float]:
    low, high = float(low), float(high)
    if not (np.isfinite(low) and np.isfinite(high) and low < high):
        raise ValueError(f"need finite low < high (GeV), got low={low!r}, high={high!r}")
    return low, high


class KDEMassSampler(BaseEstimator):
    """Gaussian KDE on logit((m - low) / (high - low)); samples always lie inside (low, high).

    Parameters
    ----------
    bandwidth : float, default 0.01
        Kernel width in logit space.
    low, high : float or None, default None
        Window edges in GeV (e.g. the signal region 9.0, 10.6). None: the smallest / largest
        fitted mass.

    Attributes
    ----------
    low_, high_ : float
        Window used (GeV).
    logits_ : ndarray
        Kernel centres (logits of the scaled fitted masses).
    """

    def __init__(
        self, bandwidth: float = 0.01, low: float | None = None, high: float | None = None
    ):
        self.bandwidth = bandwidth
        self.low = low
        self.high = high

    def fit(self, m: Any, y: Any = None) -> KDEMassSampler:
        """Fit the KDE on masses ``m`` (GeV), e.g. the signal-region events."""
        if not (np.isfinite(self.bandwidth) and self.bandwidth > 0):
            raise ValueError(f"bandwidth must be a positive number, got {self.bandwidth!r}")
        m = check_condition(m)
        low = m.min() if self.low is None else self.low
        high = m.max() if self.high is None else self.high
        self.low_, self.high_ = _check_window(low, high)
        outside = (m < self.low_) | (m > self.high_)
        if outside.any():
            raise ValueError(
                f"{int(outside.sum())} mass(es) lie outside the window [{self.low_}, {self.high_}] "
                f"GeV (range of m: [{m.min():.6g}, {m.max():.6g}]); select the window's events"
            )
        u = np.clip((m - self.low_) / (self.high_ - self.low_), _EPS, 1.0 - _EPS)
        self.logits_ = np.log(u) - np.log1p(-u)
        return self

    def sample(self, n: int, random_state: int | None = None) -> np.ndarray:
        """Draw ``n`` masses (GeV), shape (n,); same ``random_state``, same masses."""
        check_fitted(self, "logits_")
        n = _check_n(n)
        rng = np.random.default_rng(check_random_seed(random_state))
        centres = self.logits_[rng.integers(self.logits_.size, size=n)]
        t = centres + self.bandwidth * rng.standard_normal(n)
        u = 0.5 * (1.0 + np.tanh(0.5 * t))
        return self.low_ + u * (self.high_ - self.low_)

    def score_samples(self, m: Any) -> np.ndarray:
        """log density of the KDE at masses ``m`` (per GeV), including the logit Jacobian."""
        check_fitted(self, "logits_")
        m = check_condition(m)
        width = self.high_ - self.low_
        u = np.clip((m - self.low_) / width, _EPS, 1.0 - _EPS)
        t = np.log(u) - np.log1p(-u)
        d = (t[:, None] - self.logits_[None, :]) / self.bandwidth
        log_k = -0.5 * d**2 - np.log(self.bandwidth * np.sqrt(2 * np.pi))
        mx = log_k.max(1, keepdims=True)
        log_t = mx[:, 0] + np.log(np.exp(log_k - mx).mean(1))
        out = log_t - np.log(u) - np.log1p(-u) - np.log(width)
        return np.where((m > self.low_) & (m < self.high_), out, -np.inf)


class FunctionMassSampler(BaseEstimator):
    """Inverse-CDF sampling of a caller-supplied 1-D density on [low, high].

    Parameters
    ----------
    pdf : callable
        Vectorized ``pdf(m) -> density`` for an array of masses in GeV, non-negative on
        [low, high] (need not be normalized), e.g. a background fit function.
    low, high : float
        Window edges in GeV.
    n_grid : int, default 20001
        Grid points for the cumulative distribution (trapezoidal rule, linear interpolation).

    Attributes
    ----------
    grid_, cdf_ : ndarray
        Mass grid (GeV) and normalized CDF on it.
    norm_ : float
        Integral of ``pdf`` over [low, high].
    """

    def __init__(
        self, pdf: Callable[[np.ndarray], Any], low: float, high: float, n_grid: int = 20001
    ):
        self.pdf = pdf
        self.low = low
        self.high = high
        self.n_grid = n_grid

    def fit(self, m: Any = None, y: Any = None) -> FunctionMassSampler:
        """Tabulate the CDF of ``pdf``; ``m`` is not needed and only checked when given."""
        if not callable(self.pdf):
            raise TypeError(f"pdf must be callable, got {type(self.pdf).__name__}")
        low, high = _check_window(self.low, self.high)
        if (
            isinstance(self.n_grid, bool)
            or not isinstance(self.n_grid, (int, np.integer))
            or self.n_grid < 3
        ):
            raise ValueError(f"n_grid must be an int >= 3, got {self.n_grid!r}")
        if m is not None:
            check_condition(m)
        grid = np.linspace(low, high, int(self.n_grid))
        values = np.asarray(self.pdf(grid), dtype=np.float64)
        if values.shape != grid.shape:
            raise ValueError(
                f"pdf returned shape {values.shape} for {grid.size} masses; it must be vectorized "
                "(one density per input mass)"
            )
        bad = ~np.isfinite(values) | (values < 0)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"pdf is negative or not finite at m = {grid[i]:.6g} GeV "
                f"(value {float(values[i])}); "
                "it must be a non-negative density on [low, high]"
            )
        cdf = np.concatenate([[0.0], np.cumsum(0.5 * (values[1:] + values[:-1]) * np.diff(grid))])
        if not cdf[-1] > 0:
            raise ValueError(f"pdf integrates to {float(cdf[-1])} on [{low}, {high}]; expected > 0")
        self.norm_ = float(cdf[-1])
        self.grid_, self.cdf_ = grid, cdf / cdf[-1]
        return self

    def sample(self, n: int, random_state: int | None = None) -> np.ndarray:
        """Draw ``n`` masses (GeV), shape (n,); same ``random_state``, same masses."""
        check_fitted(self, "cdf_")
        n = _check_n(n)
        rng = np.random.default_rng(check_random_seed(random_state))
        u = rng.uniform(size=n)
        # cdf_[j] <= u < cdf_[j + 1], so the step is never flat (no mass where pdf = 0)
        j = np.clip(np.searchsorted(self.cdf_, u, side="right") - 1, 0, self.cdf_.size - 2)
        frac = (u - self.cdf_[j]) / (self.cdf_[j + 1] - self.cdf_[j])
        return self.grid_[j] + frac * (self.grid_[j + 1] - self.grid_[j])
