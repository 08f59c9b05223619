"""Preprocessing for the CATHODE density estimator, with exact inverses and log-Jacobians.

Reference section 4 (arXiv:2109.00546 and the Upsilon search): every feature is min-max scaled
to [min, max × headroom], squeezed into [0.02, 0.98], sent through a logit and standardized, with
all statistics taken from the events passed to ``fit`` (the sideband events); the mass is
standard-scaled. :class:`FlowPipeline` chains these with a :class:`ml.flows.ConditionalFlow` and
adds the log-Jacobian, so its ``score_samples`` is a density in physical units (GeV, cm).
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from ml._validation import check_condition, check_features, check_fitted

log = logging.getLogger(__name__)

__all__ = ["FlowPipeline", "LogitScaler", "MassScaler", "default_preprocessing"]  # noqa: F822 (FlowPipeline: lazy)

_OUT_OF_RANGE = ("warn", "clip", "raise")
_DOMAIN_EPS = 1e-9


class LogitScaler(TransformerMixin, BaseEstimator):
    """Min-max scaling with headroom, squeeze, logit and standardization, per feature.

    ``u = (x - min) / (upper - min)`` with ``upper = max + (headroom - 1) |max|`` (= max × headroom
    for max ≥ 0), ``s = lo + (hi - lo) u``, ``y = logit(s)``, ``z = (y - mean) / std``.

    Parameters
    ----------
    headroom : float, default 1.2
        Upper edge of the scaling range as a multiple of the largest fitted value.
    squeeze : (float, float), default (0.02, 0.98)
        Interval (lo, hi) inside (0, 1) that [min, upper] is mapped to before the logit.
    out_of_range : {"warn", "clip", "raise"}, default "warn"
        Inputs outside the fitted [min, upper] (e.g. signal-region events beyond the sideband
        range): "warn" issues a UserWarning and transforms them exactly as long as the logit is
        defined (the squeeze margins, ``s`` in (0, lo) or (hi, 1)), moving values beyond that
        domain just inside it; "clip" clips them to [min, upper] silently; "raise" raises
        ValueError. Outputs are always finite.

    Attributes
    ----------
    min_, upper_ : ndarray of shape (n_features,)
        Fitted range in input units.
    mean_, scale_ : ndarray of shape (n_features,)
        Mean and standard deviation of the logits of the fitted events.
    n_features_in_ : int
    """

    def __init__(
        self,
        headroom: float = 1.2,
        squeeze: tuple[float, float] = (0.02, 0.98),
        out_of_range: str = "warn",
    ) -> None:
        self.headroom = headroom
        self.squeeze = squeeze
        self.out_of_range = out_of_range

    def _check_params(self) -> tuple[float, float]:
        if not (np.isfinite(self.headroom) and self.headroom >= 1.0):
            raise ValueError(f"headroom must be a finite number >= 1, got {self.headroom!r}")
        try:
            lo, hi = (float(v) for v in self.squeeze)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"squeeze must be a pair (lo, hi), got {self.squeeze!r}") from exc
        if not 0.0 < lo < hi < 1.0:
            raise ValueError(f"squeeze must satisfy 0 < lo < hi < 1, got {self.squeeze!r}")
        if self.out_of_range not in _OUT_OF_RANGE:
            raise ValueError(f"out_of_range={self.out_of_range!r}; expected one of {_OUT_OF_RANGE}")
        return lo, hi

    def fit(self, X: Any, y: Any = None) -> LogitScaler:
        """Fit range and logit statistics on ``X`` (n_events, n_features), e.g. sideband events."""
        lo, hi = self._check_params()
        X = check_features(X)
        if X.shape[0] < 2:
            raise ValueError(f"X has {X.shape[0]} event(s); LogitScaler needs at least 2")
        self.min_ = X.min(0)
        xmax = X.max(0)
        self.upper_ = xmax + (self.headroom - 1.0) * np.abs(xmax)
        constant = np.flatnonzero(xmax <= self.min_)
        if constant.size:
            j = int(constant[0])
            raise ValueError(
                f"feature {j} of X is constant ({self.min_[j]!r}) in the fitted events; "
                "drop it, it carries no information for the flow"
            )
        self._lo, self._hi = lo, hi
        self.n_features_in_ = X.shape[1]
        y_logit = self._logit(X)
        self.mean_ = y_logit.mean(0)
        self.scale_ = y_logit.std(0)
        self.scale_ = np.where(self.scale_ > 0, self.scale_, 1.0)
        return self

    def _squeezed(self, X: np.ndarray) -> np.ndarray:
        u = (X - self.min_) / (self.upper_ - self.min_)
        return self._lo + (self._hi - self._lo) * u

    def _logit(self, X: np.ndarray) -> np.ndarray:
        s = self._squeezed(X)
        return np.log(s) - np.log1p(-s)

    def _prepare(self, X: Any) -> np.ndarray:
        check_fitted(self, "mean_")
        X = check_features(X, n_features=self.n_features_in_)
        outside = (X < self.min_) | (X > self.upper_)
        if not outside.any():
            return X
        j = int(np.flatnonzero(outside.any(0))[0])
        msg = (
            f"{int(outside.sum())} value(s) of X lie outside the fitted range of LogitScaler "
            f"(first: feature {j}, range [{self.min_[j]:.6g}, {self.upper_[j]:.6g}], values "
            f"[{X[:, j].min():.6g}, {X[:, j].max():.6g}])"
        )
        if self.out_of_range == "raise":
            raise ValueError(msg + "; refit on a wider sample or use out_of_range='clip'")
        if self.out_of_range == "clip":
            return np.clip(X, self.min_, self.upper_)
        # "warn": the map stays exact inside its domain (the squeeze margins); only values beyond
        # the domain, where the logit is undefined, are moved just inside it.
        lo, hi = self._domain()
        beyond = (X <= lo) | (X >= hi)
        warnings.warn(
            msg + f"; the transform extrapolates there ({int(beyond.sum())} value(s) beyond the "
            "logit domain were clipped to its edge)",
            UserWarning,
            stacklevel=3,
        )
        if beyond.any():
            width = self.upper_ - self.min_
            X = np.clip(X, lo + _DOMAIN_EPS * width, hi - _DOMAIN_EPS * width)
        return X

    def _domain(self) -> tuple[np.ndarray, np.ndarray]:
        """Open interval of x where the squeezed value lies in (0, 1), i.e. the logit exists."""
        width = (self.upper_ - self.min_) / (self._hi - self._lo)
        return self.min_ - self._lo * width, self.min_ + (1.0 - self._lo) * width

    def transform(self, X: Any) -> np.ndarray:
        """Physical features → standardized logits (n_events, n_features)."""
        X = self._prepare(X)
        return (self._logit(X) - self.mean_) / self.scale_

    def inverse_transform(self, Z: Any) -> np.ndarray:
        """Standardized logits → physical features (exact inverse of :meth:`transform`)."""
        check_fitted(self, "mean_")
        Z = check_features(Z, name="Z", n_features=self.n_features_in_)
        y = Z * self.scale_ + self.mean_
        s = 0.5 * (1.0 + np.tanh(0.5 * y))  # numerically stable sigmoid
        u = (s - self._lo) / (self._hi - self._lo)
        return self.min_ + u * (self.upper_ - self.min_)

    def log_abs_det_jacobian(self, X: Any) -> np.ndarray:
        """log |det dz/dx| per event (physical → standardized logit), shape (n_events,).

        Out-of-range inputs are treated as in :meth:`transform` (clipped, then evaluated).
        """
        X = self._prepare(X)
        s = self._squeezed(X)
        per_feature = (
            np.log(self._hi - self._lo)
            - np.log(self.upper_ - self.min_)
            - np.log(s)
            - np.log1p(-s)
            - np.log(self.scale_)
        )
        return per_feature.sum(1)

    def _get_state(self) -> dict[str, Any]:
        check_fitted(self, "mean_")
        keys = ("min_", "upper_", "mean_", "scale_")
        return {
            "params": {**self.get_params(), "squeeze": list(self.squeeze)},
            **{k: self.__dict__[k].tolist() for k in keys},
        }

    @classmethod
    def _from_state(cls, state: dict[str, Any]) -> LogitScaler:
        params = dict(state["params"])
        params["squeeze"] = tuple(params["squeeze"])
        self = cls(**params)
        self._lo, self._hi = self._check_params()
        for k in ("min_", "upper_", "mean_", "scale_"):
            setattr(self, k, np.asarray(state[k], dtype=np.float64))
        self.n_features_in_ = self.min_.shape[0]
        return self


class MassScaler(TransformerMixin, BaseEstimator):
    """Standard scaling of the conditioning mass m (GeV): (m - mean) / std, fitted on sidebands.

    Attributes
    ----------
    mean_, scale_ : float
        Mean and standard deviation of the fitted masses (GeV).
    min_, max_ : float
        Range of the fitted masses (GeV).
    """

    def fit(self, m: Any, y: Any = None) -> MassScaler:
        """Fit on masses ``m`` of shape (n_events,)."""
        m = check_condition(m)
        self.mean_ = float(m.mean())
        self.scale_ = float(m.std())
        if not self.scale_ > 0:
            raise ValueError(f"all {m.size} masses are equal ({m[0]!r}); cannot standard-scale m")
        self.min_, self.max_ = float(m.min()), float(m.max())
        return self

    def transform(self, m: Any) -> np.ndarray:
        """Masses (GeV) → standardized masses, shape (n_events,)."""
        check_fitted(self, "mean_")
        return (check_condition(m) - self.mean_) / self.scale_

    def inverse_transform(self, m_scaled: Any) -> np.ndarray:
        """Standardized masses → masses in GeV (exact inverse of :meth:`transform`)."""
        check_fitted(self, "mean_")
        return check_condition(m_scaled, name="m_scaled") * self.scale_ + self.mean_


def default_preprocessing(out_of_range: str = "warn") -> tuple[LogitScaler, MassScaler]:
    """Unfitted feature and mass scalers of the CATHODE chain (reference section 4).

    The one place of these defaults (headroom, squeeze, mass scaling): :class:`FlowPipeline`
    uses them as they are (exact transforms, so its density integrates to one), and
    :class:`ml.cathode.Cathode` with ``out_of_range="clip"`` (signal-region events beyond the
    sideband range are clipped silently, so the flow always sees finite logits).

    Parameters
    ----------
    out_of_range : {"warn", "clip", "raise"}
        Passed to :class:`LogitScaler`.
    """
    return LogitScaler(out_of_range=out_of_range), MassScaler()


def __getattr__(name: str) -> Any:
    # FlowPipeline needs torch and Pyro; import it only when asked for.
    if name == "FlowPipeline":
        from ml._flow_pipeline import FlowPipeline

        return FlowPipeline
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
