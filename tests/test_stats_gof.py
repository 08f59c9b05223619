"""Every fit carries its goodness of fit and a ``bad_fit`` flag (stats.gof.BAD_FIT_P_VALUE).

The tester's window had other resonances in its sidebands: χ²/ndf = 2213/94, visible only in
results.json.  Now ``bad_fit`` is True, the message says so and the analysis can show it.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats as sps

from stats.binning import Window
from stats.gof import BAD_FIT_P_VALUE, describe_gof, goodness_of_fit
from stats.significance import scan_cut, significance


def _falling(seed: int, n: int, tau: float = 3.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    m = 5.0 + rng.exponential(tau, 4 * n)
    return m[m < 16.0][:n]


def test_gof_flag_known_answers():
    n = np.full(50, 100.0)
    good = goodness_of_fit(n, n, 3)
    assert good["ndf"] == 47 and good["p_saturated"] == pytest.approx(1.0)
    assert good["bad_fit"] is False
    # deviance 2 (λ - n + n ln(n/λ)) per bin = 2 (100 - 81 + 81 ln 0.81) = 3.864...; 50 bins
    off = goodness_of_fit(np.full(50, 81.0), n, 3)
    dev = 50 * 2 * (100 - 81 + 81 * math.log(81 / 100))
    assert off["deviance"] == pytest.approx(dev)
    assert off["p_saturated"] == pytest.approx(sps.chi2.sf(dev, 47))
    assert off["bad_fit"] is (off["p_saturated"] < BAD_FIT_P_VALUE) is True
    assert goodness_of_fit([1.0, 2.0], [1.0, 2.0], 2)["bad_fit"] is False  # ndf = 0: no verdict
    assert describe_gof(off).startswith("bad background fit: chi2/ndf = ")


def test_resonances_in_the_sidebands_flag_the_fit():
    rng = np.random.default_rng(1)
    bkg = _falling(1, 40000)
    # J/psi-like and Z-like narrow peaks inside the sidebands of the Upsilon window
    m = np.concatenate([bkg, rng.normal(6.5, 0.07, 3000), rng.normal(13.0, 0.1, 2000)])
    res = significance(m, window="upsilon")
    assert res.converged and res.bad_fit
    assert res.gof["chi2_ndf"] > 5 and res.gof["p_saturated"] < BAD_FIT_P_VALUE
    assert "bad background fit: chi2/ndf = " in res.message
    d = res.to_dict()
    assert d["bad_fit"] is True and json.loads(json.dumps(d["gof"]))["bad_fit"] is True


def test_good_fits_are_not_flagged():
    flagged = 0
    for seed in range(40):
        res = significance(_falling(seed, 3000), window="upsilon", return_workspace=False)
        assert res.converged and set(res.gof) >= {"chi2_ndf", "p_saturated", "bad_fit", "ndf"}
        flagged += res.bad_fit
    assert flagged <= 2  # expected 0.04


def test_every_scan_point_and_shape_carries_the_flag():
    m = _falling(2, 5000)
    res = scan_cut(m, np.random.default_rng(0).uniform(size=m.size), window="upsilon",
                   fprs=(1.0, 0.1), return_workspace=False)
    assert all(isinstance(r.bad_fit, bool) and "p_saturated" in r.gof for r in res)
    direct = significance(m, window=Window(5.0, 9.0, 10.6, 16.0), background="exp_poly")
    assert direct.converged and direct.bad_fit is False and "bad_fit" in direct.gof
