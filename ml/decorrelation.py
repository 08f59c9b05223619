"""Mass-decorrelated features: each feature standardised by a smooth function of the mass.

Weakly supervised methods that compare mass regions (CWoLa hunting, the mass-bin classifier test)
learn the mass itself when the features depend on it smoothly (the muon pT thresholds make the
dimuon pT rise with the mass; the heavy-flavour mix changes the impact parameters). The
transformer here removes the first two moments of that dependence:

1. each feature is mapped to a standard normal by its empirical CDF (``sklearn``'s
   ``QuantileTransformer``; monotone, so a cut on one feature stays a cut),
2. the mean ``mu(m)`` and the spread ``sigma(m)`` of the mapped feature are fitted as
   polynomials of degree ``degree`` in the mass (least squares on the fit events),
3. the output is ``(g(x) - mu(m)) / sigma(m)``.

A narrow resonance that is a small fraction of the events barely moves the low-degree fit, so it
survives the transformation; a smooth background trend does not. Fitting on the sidebands only
and interpolating the polynomials into the signal region keeps the SR events out of the fit
entirely (CWoLa).
"""

from __future__ import annotations

import logging

import numpy as np
from numpy.polynomial import Polynomial
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.preprocessing import QuantileTransformer

from ml._validation import check_features, check_fitted

log = logging.getLogger(__name__)

__all__ = ["MassDecorrelator"]


def _check_mass(m, n: int, name: str = "m") -> np.ndarray:
    arr = np.asarray(m, dtype=np.float64)
    if arr.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},) to match X; got {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN/inf; expected finite masses in GeV")
    return arr


class MassDecorrelator(TransformerMixin, BaseEstimator):
    """Standardise every feature by a polynomial mean and spread in the mass.

    Parameters
    ----------
    degree : int
        Polynomial degree of ``mu(m)`` and ``sigma(m)`` (0: no mass dependence, only the
        normal-score mapping).
    n_quantiles : int
        Quantiles of the normal-score mapping (capped at the number of fit events).
    random_state : int or None
        Seed of the quantile transformer's subsampling (only used above 10^5 events).

    Attributes
    ----------
    quantile_ : sklearn.preprocessing.QuantileTransformer
    mean_, scale_ : list of numpy.polynomial.Polynomial
        ``mu(m)`` and ``sigma(m)`` per feature (masses in GeV).
    mass_range_ : tuple of float
        Smallest and largest fit mass (GeV); outside it the polynomials are held constant.
    n_features_in_ : int
    """

    def __init__(self, degree: int = 2, n_quantiles: int = 200, random_state=None):
        self.degree = degree
        self.n_quantiles = n_quantiles
        self.random_state = random_state

    def fit(self, X, m, sample_weight=None):
        """Fit the normal-score mapping and the polynomials on events ``X`` at masses ``m``.

        Parameters
        ----------
        X : array, shape (n, d)
            Features (GeV, cm).
        m : array, shape (n,)
            Masses in GeV.
        sample_weight : ignored

        Returns
        -------
        self
        """
        X = check_features(X)
        m = _check_mass(m, len(X))
        if not isinstance(self.degree, (int, np.integer)) or self.degree < 0:
            raise ValueError(f"degree={self.degree!r}; expected an int >= 0")
        if len(X) < 10 * (self.degree + 1):
            raise ValueError(f"{len(X)} events are too few to fit degree-{self.degree} "
                             f"polynomials; need at least {10 * (self.degree + 1)}")
        self.quantile_ = QuantileTransformer(
            n_quantiles=min(int(self.n_quantiles), len(X)), output_distribution="normal",
            random_state=self.random_state,
        ).fit(X)
        G = self.quantile_.transform(X)
        self.mass_range_ = (float(m.min()), float(m.max()))
        self.mean_, self.scale_ = [], []
        for j in range(X.shape[1]):
            mu = Polynomial.fit(m, G[:, j], self.degree)
            var = Polynomial.fit(m, (G[:, j] - mu(m)) ** 2, self.degree)
            self.mean_.append(mu)
            self.scale_.append(var)
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X, m) -> np.ndarray:
        """Decorrelated features ``(g(x) - mu(m)) / sigma(m)``, shape (n, d)."""
        check_fitted(self, "mean_")
        X = check_features(X, n_features=self.n_features_in_)
        m = np.clip(_check_mass(m, len(X)), *self.mass_range_)
        G = self.quantile_.transform(X)
        out = np.empty_like(G)
        for j in range(G.shape[1]):
            var = np.maximum(self.scale_[j](m), 1e-3)
            out[:, j] = (G[:, j] - self.mean_[j](m)) / np.sqrt(var)
        return out

    def fit_transform(self, X, m, sample_weight=None) -> np.ndarray:  # noqa: D102
        return self.fit(X, m).transform(X, m)
