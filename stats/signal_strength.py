"""Signal strengths: workspaces whose POI is μ = σ/σ_expected, fitted with pyhf alone.

The bump model of :mod:`stats.model` scales its ``signal`` sample to ``√B_SR`` events so that its
``mu`` is O(1) for any spectrum; for a known resonance (the Higgs boson) the physics parameter is
the signal strength relative to the simulated expectation.  :func:`signal_strength_workspace`
rewrites such a workspace so that the ``signal`` sample holds the expected events and ``mu`` (with
its bounds and initial value) is the signal strength; the likelihood, q0 and Z are unchanged.

:func:`profile_interval` gives the best fit and the profile-likelihood interval
``2 ΔNLL(μ) = 1`` (68 % CL, arXiv:1007.1727) of any normfactor of a workspace, by pyhf's own fits
(numpy backend, :func:`pyhf.infer.mle.fit` and :func:`pyhf.infer.mle.fixed_poi_fit` with that
normfactor as POI) — what a physicist gets from the JSON with plain pyhf.
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pyhf
from scipy.optimize import brentq

from dimuon_ad.errors import FitError, InputError
from stats.model import numpy_backend
from stats.workspace import validate_workspace

log = logging.getLogger(__name__)

__all__ = ["signal_strength_workspace", "profile_interval"]


def signal_strength_workspace(spec: Mapping[str, Any], expected: np.ndarray, *,
                              sample: str = "signal", poi: str = "mu",
                              channel: str = "signal_region") -> dict:
    """Copy of a bump workspace whose ``sample`` in ``channel`` holds ``expected`` events per bin
    and whose ``poi`` is the signal strength.

    Parameters
    ----------
    spec : dict
        Workspace of :func:`stats.significance.significance_from_counts` (``sr_fine=True`` gives
        one SR bin per fine bin).
    expected : array_like
        Expected signal events per bin of ``channel`` (μ = 1), > 0 in total.
    sample, poi, channel : str
        Names of the signal sample, its normfactor and its channel.

    Returns
    -------
    dict
        The validated workspace; ``poi`` bounds and init are rescaled with the sample, so every
        fit gives the same likelihood at the corresponding point.
    """
    new = copy.deepcopy(dict(spec))
    exp = np.asarray(expected, dtype=np.float64)
    chans = {c["name"]: c for c in new["channels"]}
    if channel not in chans:
        raise InputError(f"workspace has no channel {channel!r}; channels: {sorted(chans)}")
    samples = {s["name"]: s for s in chans[channel]["samples"]}
    if sample not in samples:
        raise InputError(
            f"channel {channel!r} has no sample {sample!r}; samples: {sorted(samples)}")
    old = np.asarray(samples[sample]["data"], dtype=np.float64)
    if exp.shape != old.shape or not exp.sum() > 0 or np.any(exp < 0):
        raise InputError(
            f"expected signal must be {old.size} non-negative counts with a positive sum, got "
            f"{exp.tolist()}"
        )
    scale = float(old.sum() / exp.sum())  # mu_new = mu_old * scale
    samples[sample]["data"] = exp.tolist()
    for meas in new["measurements"]:
        for par in meas["config"].get("parameters", []):
            if par["name"] != poi:
                continue
            if "bounds" in par:
                par["bounds"] = [[b * scale for b in pair] for pair in par["bounds"]]
            if "inits" in par:
                par["inits"] = [v * scale for v in par["inits"]]
    validate_workspace(new)
    return new


def profile_interval(spec: Mapping[str, Any], poi: str = "mu", *, level: float = 1.0,
                     data: np.ndarray | None = None) -> dict[str, float]:
    """Best fit and profile-likelihood interval of the normfactor ``poi`` with pyhf.

    Parameters
    ----------
    spec : dict
        A pyhf workspace.
    poi : str
        The normfactor to measure (others are profiled).
    level : float
        ``2 ΔNLL`` that bounds the interval (1: 68.3 % CL).
    data : array_like, optional
        Observations + auxiliary data in pyhf order (default: the workspace's).

    Returns
    -------
    dict
        ``value``, ``low``, ``high`` (interval ends; NaN where it reaches the parameter bound),
        ``err_low``, ``err_high`` (positive distances), ``twice_nll``.

    Raises
    ------
    FitError
        When the free fit fails.
    """
    with numpy_backend(), np.errstate(all="ignore"):
        ws = pyhf.Workspace(dict(spec))
        model = ws.model(poi_name=poi)
        obs = np.asarray(ws.data(model) if data is None else data, dtype=np.float64)
        init = model.config.suggested_init()
        bounds = model.config.suggested_bounds()
        try:
            best, nll0 = pyhf.infer.mle.fit(obs, model, init, bounds, return_fitted_val=True)
        except pyhf.exceptions.FailedMinimization as err:
            raise FitError(f"free fit of {poi!r} failed: {err.result.message}") from None
        best, nll0 = np.asarray(best, dtype=np.float64), float(nll0)
        i = model.config.poi_index
        mu_hat = float(best[i])
        lo_b, hi_b = bounds[i]

        def excess(mu: float) -> float:
            start = best.copy()
            start[i] = mu
            try:
                val = pyhf.infer.mle.fixed_poi_fit(mu, obs, model, start.tolist(), bounds,
                                                   return_fitted_val=True)[1]
            except pyhf.exceptions.FailedMinimization:
                return math.nan
            return float(val) - nll0 - level

        ends = []
        for sign, bound in ((-1.0, lo_b), (1.0, hi_b)):
            step = max(0.05 * abs(mu_hat), 0.02)
            probe = mu_hat + sign * step
            if (probe - lo_b) * (hi_b - probe) > 0:
                # parabola through the probe: the first try lands just beyond the crossing
                rise = excess(probe) + level
                if math.isfinite(rise) and rise > 0:
                    step = max(step, 1.2 * step * math.sqrt(level / rise))
            inner, outer = mu_hat, mu_hat
            end = math.nan
            for _ in range(40):
                outer = mu_hat + sign * step
                if (sign < 0 and outer <= bound) or (sign > 0 and outer >= bound):
                    break
                val = excess(outer)
                if math.isfinite(val) and val > 0:
                    end = brentq(excess, min(inner, outer), max(inner, outer), xtol=1e-3)
                    break
                inner, step = outer, step * 2.0
            ends.append(end)
    lo, hi = ends
    return {"value": mu_hat, "low": lo, "high": hi, "err_low": mu_hat - lo,
            "err_high": hi - mu_hat, "twice_nll": nll0}
