"""Global (look-elsewhere) significance of the best cut over the FPR grid."""

from __future__ import annotations

import logging
import math

import numpy as np
import pytest
from scipy.stats import norm

from analysis.config import StatsSettings
from analysis.presets import WINDOW_PRESETS
from analysis.significance import (
    best_of_scan,
    degree_options,
    evaluate_sample,
    global_significances,
    look_elsewhere_fprs,
    look_elsewhere_toys,
    stats_window,
)
from analysis.summary import headline
from stats.toys import look_elsewhere

UPSILON = WINDOW_PRESETS["upsilon"]


def _scan(zs, fprs=(1.0, 0.5, 0.1, 0.01), n_sb=(5000, 2500, 500, 10)):
    return [
        {"Z": z, "fpr": f, "converged": True, "usable": n >= 20, "n_sb": n}
        for z, f, n in zip(zs, fprs, n_sb, strict=True)
    ]


def test_global_p_is_the_fraction_of_toys_reaching_the_observed_max():
    # 10 toys; CATHODE's usable best is 2.0 at FPR 0.1 (FPR 1 and the 10-event cut do not count)
    max_z = np.array([0.4, 0.9, 1.2, 1.5, 1.8, 2.0, 2.2, 2.6, 3.1, np.nan])
    sig = {"scans": {"CATHODE": _scan([9.0, 1.1, 2.0, 7.0]), "random": _scan([0, 0.3, 0.2, 0]),
                     "big": _scan([0.0, 0.0, 4.0, 0.0])}}
    out = global_significances(sig, max_z, n_tests=3)
    assert out["n_toys"] == 10 and out["n_failed"] == 1 and out["n_tests"] == 3
    cat = out["methods"]["CATHODE"]
    assert cat["Z_local"] == 2.0 and cat["fpr"] == 0.1
    assert cat["p_global"] == pytest.approx(4 / 9)  # 2.0, 2.2, 2.6, 3.1 of 9 finite toys
    assert cat["p_global_err"] == pytest.approx(math.sqrt(4 / 9 * 5 / 9 / 9))
    assert cat["Z_global"] == pytest.approx(norm.isf(4 / 9)) and not cat["limit"]
    # a best cut below every toy: p = 1, global Z shown as 0 (not -inf)
    rnd = out["methods"]["random"]
    assert rnd["p_global"] == 1.0 and rnd["Z_global"] == 0.0
    # beyond every toy: p = 0.5/(n+1), a lower limit on Z
    big = out["methods"]["big"]
    assert big["limit"] and big["p_global"] == pytest.approx(0.5 / 10)
    assert big["Z_global"] == pytest.approx(norm.isf(0.05))
    for g in out["methods"].values():
        assert g["Z_global"] <= g["Z_local"]
    assert out["max_z_quantiles"]["0.5"] == pytest.approx(1.8)


def test_no_usable_toys_give_nan_not_numbers():
    sig = {"scans": {"CATHODE": _scan([1.0, 2.0, 3.0, 0.0])}}
    out = global_significances(sig, np.full(4, np.nan), 3, error="fit failed")
    g = out["methods"]["CATHODE"]
    assert math.isnan(g["p_global"]) and math.isnan(g["Z_global"])
    assert out["error"] == "fit failed" and out["n_failed"] == 4


def test_headline_carries_global_next_to_local():
    max_z = np.linspace(0.5, 3.0, 11)
    sig = {"no_cut": {"Z": 1.0, "converged": True, "usable": True},
           "scans": {"CATHODE": _scan([1.0, 1.5, 2.5, 0.0]), "random": _scan([1.0, 0.2, 0.1, 0])}}
    sig["look_elsewhere"] = global_significances(sig, max_z, 3)
    h = headline(sig)
    assert h["CATHODE_best"]["Z"] == 2.5 and h["CATHODE_best"]["fpr"] == 0.1
    assert h["CATHODE_best"]["p_global"] == pytest.approx(3 / 11)  # 2.5, 2.75, 3.0
    assert h["methods_best"]["CATHODE"]["Z_global"] == pytest.approx(norm.isf(3 / 11))
    assert h["look_elsewhere"]["n_toys"] == 11
    del sig["look_elsewhere"]
    assert "Z_global" not in headline(sig)["CATHODE_best"]


def test_toys_on_a_spectrum_are_reproducible_and_global_below_local():
    rng = np.random.default_rng(4)
    m = 5.0 + rng.exponential(3.5, 8000)
    m = m[m < 16.0][:3000]
    stats = StatsSettings(fprs=(1.0, 0.3, 0.1, 0.03), min_sideband_events=20)
    assert look_elsewhere_fprs(stats) == (0.3, 0.1, 0.03)
    a = look_elsewhere_toys(m, UPSILON, stats, n_toys=6, seed=1)
    b = look_elsewhere_toys(m, UPSILON, stats, n_toys=6, seed=1)
    np.testing.assert_array_equal(a["max_z"], b["max_z"])
    assert a["n_tests"] == 3 and a["error"] == "" and np.all(np.isfinite(a["max_z"]))
    assert np.all(a["max_z"] >= 0) and np.all(a["max_z"] < 4)
    # observed scans on the same spectrum with two mass-independent scores
    methods = {"u": (rng.uniform(size=m.size), True), "v": (rng.normal(size=m.size), False)}
    sig = evaluate_sample(m, methods, UPSILON, stats, workspaces=False)
    out = global_significances(sig, a["max_z"], a["n_tests"])
    for name, g in out["methods"].items():
        assert g["Z_local"] == best_of_scan(sig["scans"][name])["Z"]
        assert 0 <= g["Z_global"] <= g["Z_local"] or g["Z_global"] == 0.0
    # a spectrum the background fit cannot describe: the error is reported, not raised
    bad = look_elsewhere_toys(np.array([9.5, 9.6]), UPSILON, stats, n_toys=2, seed=0)
    assert bad["error"] and np.all(np.isnan(bad["max_z"]))


def test_toys_do_not_log_their_expected_failed_and_bad_fits(caplog):
    # 300 events: the 1 % cut keeps ~2 sideband events, which no candidate degree can fit
    rng = np.random.default_rng(4)
    m = 5.0 + rng.exponential(3.5, 3000)
    m = m[m < 16.0][:300]
    stats = StatsSettings(fprs=(1.0, 0.1, 0.03, 0.01), min_sideband_events=20)
    # (a CLI run earlier in the session may have left the stats logger at ERROR)
    caplog.set_level(logging.WARNING, logger="stats")
    with caplog.at_level(logging.WARNING):
        look_elsewhere(m, window=stats_window(UPSILON), fprs=look_elsewhere_fprs(stats),
                       n_toys=2, degree=stats.degree, **degree_options(stats),
                       n_sr_edges=stats.n_sr_edges, random_state=1)
    assert any(r.name.startswith("stats") for r in caplog.records)  # the stats layer warns
    caplog.clear()
    level = logging.getLogger("stats").level
    with caplog.at_level(logging.WARNING):
        out = look_elsewhere_toys(m, UPSILON, stats, n_toys=2, seed=1)
    assert out["error"] == "" and out["max_z"].shape == (2,)
    assert not [r.getMessage() for r in caplog.records if r.name.startswith("stats")]
    assert logging.getLogger("stats").level == level  # restored after the toys
