"""Multi-category fit of per-mode signal strengths (μ_ggF, μ_VBF, μ_WH, μ_ZH, μ_ttH) with pyhf.

Events are put into categories (the production-mode classifier's argmax).  Each category ``c``
has two counting channels:

* ``cat<c>_sb``: the mass sidebands, holding the continuum ``B_c`` (normfactor ``bkg_<c>``,
  free) and the signal that leaks there (per mode, normfactor ``mu_<mode>``);
* ``cat<c>_sr``: the signal region, holding ``T · B_c`` (same ``bkg_<c>``; ``T`` = SR/sideband
  ratio of the inclusive background fit, the same in every category) and the expected signal
  ``S_cm`` of every mode, each scaled by its ``mu_<mode>``; one counting bin, or the fine mass
  bins of the SR when the shapes of background (the inclusive fit's fractions) and signal (the
  DSCB's fractions) over them are given — the peak then sits on less background.

The sidebands measure each category's background, ``T`` carries it under the peak; the
assumption is that the mγγ shape of the continuum does not depend on the category.  Observations
are the Asimov data at μ = 1 (expected precision, arXiv:1007.1727) or given counts; the 68 %
interval of every ``mu_<mode>`` is the profile-likelihood one of
:func:`stats.signal_strength.profile_interval` (pyhf alone, the others profiled).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pyhf

from dimuon_ad.errors import InputError
from stats.model import numpy_backend
from stats.signal_strength import profile_interval
from stats.workspace import make_workspace

log = logging.getLogger(__name__)

__all__ = ["MIN_BACKGROUND", "category_workspace", "category_yields", "mode_precision",
           "pseudo_data_fits"]

#: Smallest background per category sideband, events: keeps every expectation positive.
MIN_BACKGROUND = 0.5
#: Range of each signal strength in the fits.
MU_BOUNDS = (-20.0, 40.0)


def category_yields(category: np.ndarray, mode: np.ndarray, weight: np.ndarray,
                    n_categories: int, n_modes: int) -> np.ndarray:
    """Signed sums of weights per (category, mode), shape (n_categories, n_modes), events."""
    c, m = np.asarray(category, np.int64), np.asarray(mode, np.int64)
    idx = c * n_modes + m
    return np.bincount(idx, weights=np.asarray(weight, np.float64),
                       minlength=n_categories * n_modes).reshape(n_categories, n_modes)


def category_workspace(signal_sr: np.ndarray, background_sb: np.ndarray, transfer: float,
                       modes: Sequence[str], *, signal_sb: np.ndarray | None = None,
                       observed_sr: np.ndarray | None = None,
                       observed_sb: np.ndarray | None = None,
                       background_shape: np.ndarray | None = None,
                       signal_shape: np.ndarray | None = None) -> dict:
    """pyhf workspace of the categorised counting fit (POI ``mu_<modes[0]>``).

    Parameters
    ----------
    signal_sr, signal_sb : ndarray, (n_categories, n_modes)
        Expected signal per category and mode in the SR and the sidebands (events; negative
        sums from signed weights are set to 0).
    background_sb : ndarray, (n_categories,)
        Continuum in each category's sidebands (events; floored at :data:`MIN_BACKGROUND`).
    transfer : float
        SR / sideband ratio of the continuum.
    modes : sequence of str
        Mode names (normfactors ``mu_<mode>``).
    observed_sr, observed_sb : ndarray, optional
        Observed counts, (n_categories,) or with SR shapes (n_categories, n_sr_bins); default
        the Asimov data (all μ = 1, ``bkg = 1``).
    background_shape, signal_shape : ndarray, optional
        Fractions of the SR background and of the SR signal in each fine SR bin (both or
        neither; normalised here).
    """
    s_sr = np.clip(np.asarray(signal_sr, np.float64), 0.0, None)
    n_cat, n_modes = s_sr.shape
    if n_modes != len(modes):
        raise InputError(f"signal yields have {n_modes} modes, names {list(modes)}")
    s_sb = np.zeros_like(s_sr) if signal_sb is None else \
        np.clip(np.asarray(signal_sb, np.float64), 0.0, None)
    b_sb = np.maximum(np.asarray(background_sb, np.float64), MIN_BACKGROUND)
    if b_sb.shape != (n_cat,) or not np.isfinite(transfer) or transfer <= 0:
        raise InputError(f"background_sb must have {n_cat} entries and transfer > 0, got "
                         f"{b_sb.shape}, {transfer}")
    if (background_shape is None) != (signal_shape is None):
        raise InputError("give both background_shape and signal_shape over the SR bins, or "
                         "neither")
    one = np.ones(1)
    fb = one if background_shape is None else np.asarray(background_shape, np.float64)
    fs = one if signal_shape is None else np.asarray(signal_shape, np.float64)
    if fb.shape != fs.shape or np.any(fb <= 0) or np.any(fs < 0) or fs.sum() <= 0:
        raise InputError(f"SR shapes must be positive fractions of one length, got "
                         f"{fb.tolist()} and {fs.tolist()}")
    fb, fs = fb / fb.sum(), fs / fs.sum()
    channels, obs = [], {}
    for c in range(n_cat):
        for region, b, s, o, f_b, f_s in (
                ("sb", b_sb[c], s_sb[c], observed_sb, one, one),
                ("sr", b_sb[c] * transfer, s_sr[c], observed_sr, fb, fs)):
            name = f"cat{c}_{region}"
            samples = [{"name": "background", "data": (b * f_b).tolist(),
                        "modifiers": [{"name": f"bkg_{c}", "type": "normfactor", "data": None}]}]
            samples += [{"name": f"signal_{m}", "data": (s[j] * f_s).tolist(),
                         "modifiers": [{"name": f"mu_{m}", "type": "normfactor", "data": None}]}
                        for j, m in enumerate(modes) if s[j] > 0]
            channels.append({"name": name, "samples": samples})
            asimov = b * f_b + s.sum() * f_s
            obs[name] = asimov.tolist() if o is None else \
                np.atleast_1d(np.asarray(o, np.float64)[c]).tolist()
    params = [{"name": f"mu_{m}", "bounds": [list(MU_BOUNDS)], "inits": [1.0]} for m in modes]
    params += [{"name": f"bkg_{c}", "bounds": [[0.0, 10.0]], "inits": [1.0]} for c in range(n_cat)]
    return make_workspace({"channels": channels}, obs, poi=f"mu_{modes[0]}", parameters=params)


def mode_precision(spec: dict, modes: Sequence[str]) -> dict[str, dict[str, float]]:
    """Best fit and profile-likelihood 68 % interval of every ``mu_<mode>``."""
    return {m: profile_interval(spec, f"mu_{m}") for m in modes}


def pseudo_data_fits(spec: dict, modes: Sequence[str], *, n_toys: int = 50,
                     random_state: int = 0) -> dict[str, dict[str, float]]:
    """Fit Poisson pseudo-data drawn from the workspace's expectation at its initial values
    (μ = 1): mean, standard deviation, median and 16 / 84 % quantiles of every fitted
    ``mu_<mode>`` over ``n_toys`` toys (the quantiles are robust where a category holds a few
    events and some fits end on a bound)."""
    rng = np.random.default_rng(random_state)
    with numpy_backend(), np.errstate(all="ignore"):
        ws = pyhf.Workspace(spec)
        model = ws.model()
        init = model.config.suggested_init()
        bounds = model.config.suggested_bounds()
        lam = np.asarray(model.expected_actualdata(init), dtype=np.float64)
        fits = []
        for _ in range(int(n_toys)):
            data = np.concatenate([rng.poisson(lam).astype(float), model.config.auxdata])
            try:
                fits.append(np.asarray(pyhf.infer.mle.fit(data, model, init, bounds)))
            except pyhf.exceptions.FailedMinimization:
                continue
    fits = np.array(fits)
    out = {}
    for m in modes:
        i = model.config.par_slice(f"mu_{m}").start
        vals = fits[:, i] if len(fits) else np.array([np.nan])
        q16, q50, q84 = np.quantile(vals, [0.16, 0.5, 0.84])
        out[m] = {"mean": float(np.mean(vals)), "std": float(np.std(vals, ddof=1))
                  if len(vals) > 1 else float("nan"), "median": float(q50),
                  "q16": float(q16), "q84": float(q84), "n_toys": int(len(fits))}
    return out
