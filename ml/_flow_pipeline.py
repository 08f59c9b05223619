"""FlowPipeline: LogitScaler + MassScaler + ConditionalFlow, densities in physical units.

Exposed as :class:`ml.preprocessing.FlowPipeline` (imported lazily there, so that importing
:mod:`ml.preprocessing` does not pull in torch and Pyro).
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, clone

from ml._validation import (
    atomic_torch_save,
    check_condition,
    check_features,
    check_fitted,
    warn_if_outside,
)
from ml.flows import ConditionalFlow
from ml.preprocessing import LogitScaler, MassScaler, default_preprocessing

__all__ = ["FlowPipeline"]

_FORMAT = "ml.preprocessing.FlowPipeline/1"
_M_WARNING = ".*outside the range .* seen in ConditionalFlow.fit"


class FlowPipeline(BaseEstimator):
    """Conditional flow behind the logit preprocessing, with the same API as ConditionalFlow.

    ``score_samples(X, m)`` returns log p(x | m) for x in physical units (GeV, cm):
    the flow's log density of the preprocessed features plus the preprocessing log-Jacobian.

    Parameters
    ----------
    flow : ConditionalFlow, optional
        Unfitted flow (cloned in ``fit``); default ``ConditionalFlow()`` (published settings).
    scaler : LogitScaler, optional
        Feature preprocessing (cloned in ``fit``); default: that of
        :func:`ml.preprocessing.default_preprocessing` (shared with ``ml.cathode.Cathode``).
    mass_scaler : MassScaler, optional
        Mass preprocessing (cloned in ``fit``); default as for ``scaler``.

    Attributes
    ----------
    flow_, scaler_, mass_scaler_ : fitted clones of the parameters.
    m_range_ : (float, float)
        Mass range (GeV) seen in fit; outside it a UserWarning is issued.
    history_ : list of dict
        The flow's training history.
    n_features_in_ : int

    References
    ----------
    A. Hallin et al., arXiv:2109.00546 (CATHODE preprocessing).
    """

    def __init__(
        self,
        flow: ConditionalFlow | None = None,
        scaler: LogitScaler | None = None,
        mass_scaler: MassScaler | None = None,
    ) -> None:
        self.flow = flow
        self.scaler = scaler
        self.mass_scaler = mass_scaler

    def fit(self, X: Any, m: Any, *, X_val: Any = None, m_val: Any = None) -> FlowPipeline:
        """Fit the scalers on all events passed (X and X_val: the sidebands), then the flow.

        Parameters
        ----------
        X : array-like (n_events, n_features), physical units
        m : array-like (n_events,), GeV
        X_val, m_val : optional validation events (otherwise the flow splits off 20 %).

        Returns
        -------
        self
        """
        X = check_features(X)
        m = check_condition(m, n_events=X.shape[0])
        if (X_val is None) != (m_val is None):
            raise ValueError("pass both X_val and m_val, or neither (then 20 % of X is held out)")
        X_all, m_all = X, m
        if X_val is not None:
            X_val = check_features(X_val, name="X_val", n_features=X.shape[1])
            m_val = check_condition(m_val, n_events=X_val.shape[0], name="m_val")
            X_all, m_all = np.concatenate([X, X_val]), np.concatenate([m, m_val])
        scaler, mass_scaler = default_preprocessing()
        self.scaler_ = clone(self.scaler if self.scaler is not None else scaler).fit(X_all)
        self.mass_scaler_ = clone(
            self.mass_scaler if self.mass_scaler is not None else mass_scaler
        ).fit(m_all)
        self.flow_ = clone(self.flow if self.flow is not None else ConditionalFlow())
        val = {}
        if X_val is not None:
            val = dict(
                X_val=self.scaler_.transform(X_val), m_val=self.mass_scaler_.transform(m_val)
            )
        self.flow_.fit(self.scaler_.transform(X), self.mass_scaler_.transform(m), **val)
        self.m_range_ = (float(m_all.min()), float(m_all.max()))
        self.n_features_in_ = X.shape[1]
        return self

    @property
    def history_(self) -> list[dict[str, Any]]:
        check_fitted(self, "flow_")
        return self.flow_.history_

    def _mass(self, m: Any, n_events: int | None = None) -> np.ndarray:
        check_fitted(self, "flow_")
        m = check_condition(m, n_events=n_events)
        warn_if_outside(m, *self.m_range_, owner=type(self).__name__)
        return self.mass_scaler_.transform(m)

    def _call_flow(self, method: str, *args: Any, **kwargs: Any) -> np.ndarray:
        with warnings.catch_warnings():  # already reported in GeV by _mass
            warnings.filterwarnings("ignore", message=_M_WARNING, category=UserWarning)
            return getattr(self.flow_, method)(*args, **kwargs)

    def score_samples(self, X: Any, m: Any) -> np.ndarray:
        """log p(x | m) per event in physical units of x (e.g. log(1/(GeV·cm·cm)))."""
        check_fitted(self, "flow_")
        X = check_features(X, n_features=self.n_features_in_)
        ms = self._mass(m, X.shape[0])
        Z = self.scaler_.transform(X)
        return self._call_flow("score_samples", Z, ms) + self.scaler_.log_abs_det_jacobian(X)

    def sample(self, m: Any, random_state: int | None = None) -> np.ndarray:
        """One x per mass value, in physical units, shape (n_events, n_features)."""
        ms = self._mass(m)
        return self.scaler_.inverse_transform(self._call_flow("sample", ms, random_state))

    def transform(self, X: Any, m: Any, *, member: int = 0) -> np.ndarray:
        """Physical features → the flow's latent space (for LaCATHODE)."""
        check_fitted(self, "flow_")
        X = check_features(X, n_features=self.n_features_in_)
        ms = self._mass(m, X.shape[0])
        return self._call_flow("transform", self.scaler_.transform(X), ms, member=member)

    def inverse_transform(self, Z: Any, m: Any, *, member: int = 0) -> np.ndarray:
        """Latent space → physical features (inverse of :meth:`transform`)."""
        check_fitted(self, "flow_")
        Z = check_features(Z, name="Z", n_features=self.n_features_in_)
        ms = self._mass(m, Z.shape[0])
        return self.scaler_.inverse_transform(
            self._call_flow("inverse_transform", Z, ms, member=member)
        )

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write scalers, flow parameters and weights to ``path`` (torch format, atomic write)."""
        check_fitted(self, "flow_")
        state = {
            "format": _FORMAT,
            "flow": self.flow_._get_state(),
            "scaler": self.scaler_._get_state(),
            "mass_scaler": [
                self.mass_scaler_.mean_,
                self.mass_scaler_.scale_,
                self.mass_scaler_.min_,
                self.mass_scaler_.max_,
            ],
            "m_range": list(self.m_range_),
        }
        atomic_torch_save(state, path)

    @classmethod
    def load(cls, path: str | os.PathLike[str], device: str | None = None) -> FlowPipeline:
        """Load a pipeline written by :meth:`save`."""
        if not os.path.isfile(path):
            raise FileNotFoundError(
                f"no saved pipeline at {path}; expected a file written by save()"
            )
        state = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(state, dict) or state.get("format") != _FORMAT:
            raise ValueError(f"{path} is not a FlowPipeline file written by FlowPipeline.save")
        flow = ConditionalFlow._from_state(state["flow"], device=device)
        scaler = LogitScaler._from_state(state["scaler"])
        mass = MassScaler()
        mass.mean_, mass.scale_, mass.min_, mass.max_ = (float(v) for v in state["mass_scaler"])
        self = cls(flow=clone(flow), scaler=clone(scaler), mass_scaler=MassScaler())
        self.flow_, self.scaler_, self.mass_scaler_ = flow, scaler, mass
        self.m_range_ = tuple(float(v) for v in state["m_range"])
        self.n_features_in_ = scaler.n_features_in_
        return self
