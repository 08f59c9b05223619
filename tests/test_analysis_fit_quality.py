"""Bad background fits are flagged in the headline, the report tables and the console lines."""

from __future__ import annotations

import numpy as np

from analysis.config import StatsSettings
from analysis.presets import MassWindow
from analysis.significance import evaluate_sample
from analysis.summary import BAD_FIT_MARK, fit_quality, headline

WINDOW = MassWindow("test", 8.0, 9.0, 10.6, 12.0)
STATS = StatsSettings(fprs=(1.0, 0.5), spectrum_fprs=(), n_toys=0)


def _spectrum(peak_in_sideband: bool, seed: int = 1) -> np.ndarray:
    """A falling exponential over 8–12 GeV (20 000 events), optionally with a narrow 3 000-event
    resonance at 8.5 GeV in the left sideband that no polynomial of degree 5 follows."""
    rng = np.random.default_rng(seed)
    m = 8.0 + rng.exponential(2.0, 60_000)
    m = m[m <= 12.0][:20_000]
    if peak_in_sideband:
        m = np.r_[m, rng.normal(8.5, 0.03, 3_000)]
    return m


def _evaluate(m):
    rng = np.random.default_rng(2)
    methods = {"CATHODE": (rng.random(len(m)), True)}
    return evaluate_sample(m, methods, WINDOW, STATS, reweight_scores=rng.random(len(m)))


def test_resonance_in_a_sideband_is_flagged():
    sig = _evaluate(_spectrum(True))
    assert sig["no_cut"]["converged"] and sig["no_cut"]["bad_fit"]
    quality = fit_quality(sig)
    no_cut = next(f for f in quality if f["fit"] == "no cut")
    assert no_cut["bad_fit"] and no_cut["p_saturated"] < 1e-3
    assert no_cut["chi2"] / no_cut["ndf"] > 3
    h = headline(sig)
    assert "no cut" in h["bad_fits"]
    assert "bad background fit" in sig["no_cut"]["message"]


def test_smooth_spectrum_is_not_flagged():
    sig = _evaluate(_spectrum(False))
    assert not sig["no_cut"]["bad_fit"]
    assert headline(sig)["bad_fits"] == []
    assert all(not f["bad_fit"] for f in fit_quality(sig))
    assert BAD_FIT_MARK.strip() == "!"
