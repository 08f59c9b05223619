"""Tests of stats.significance, stats.reweighting, stats.gof and stats.direct."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from scipy.optimize import minimize
from scipy.stats import norm

from stats.gof import deviance, f_test, goodness_of_fit
from stats.reweighting import effective_scale, likelihood_ratio_weights
from stats.significance import (
    DEFAULT_FPRS,
    SignificanceResult,
    cut_thresholds,
    reweighted_significance,
    scan_cut,
    significance,
)


def _spectrum(seed: int, n_bkg: int = 12000, n_sig: int = 0, tau: float = 3.5) -> np.ndarray:
    rng = np.random.default_rng(seed)
    m = 5.0 + rng.exponential(tau, 3 * n_bkg)
    m = m[m < 16.0][:n_bkg]
    return np.concatenate([m, rng.normal(9.8, 0.12, n_sig)])


@pytest.fixture(scope="module")
def with_signal() -> np.ndarray:
    return _spectrum(3, n_sig=160)


def _independent_z(
    masses: np.ndarray, sr=(9.0, 10.6), sb=(5.0, 16.0), n_sr_edges=12, degree=5
) -> float:
    """Profile-likelihood Z from scratch: power-basis polynomial, scipy BFGS, no stats code."""
    sr_edges = np.linspace(sr[0], sr[1], n_sr_edges)
    w = sr_edges[1] - sr_edges[0]
    n_left = int(np.floor((sr[0] - sb[0]) / w + 1e-9))
    n_right = int(np.floor((sb[1] - sr[1]) / w + 1e-9))
    left = sr[0] - w * np.arange(n_left, -1, -1)
    right = sr[1] + w * np.arange(0, n_right + 1)
    n_l = np.histogram(masses, left)[0].astype(float)
    n_r = np.histogram(masses, right)[0].astype(float)
    n_s = float(np.sum((masses >= sr[0]) & (masses < sr[1])))
    mid, half = 0.5 * (left[0] + right[-1]), 0.5 * (right[-1] - left[0])

    def prim(edges):  # ∫ t^j dm over each bin, t = (m - mid)/half
        t = (np.asarray(edges) - mid) / half
        j = np.arange(degree + 1)
        return np.diff(t[:, None] ** (j + 1) / (j + 1) * half, axis=0)

    a = np.vstack([prim(left), prim(right)])
    a_sr = prim([sr[0], sr[1]])[0]
    n_sb = np.concatenate([n_l, n_r])
    scale = n_sb.mean()

    def nll(x, with_s):
        coef = x[:-1] * scale
        s = x[-1] * scale if with_s else 0.0
        lam = a @ coef
        lam_sr = a_sr @ coef + s
        if np.any(lam <= 0) or lam_sr <= 0:
            return 1e30, np.zeros_like(x)
        val = np.sum(lam - n_sb * np.log(lam)) + lam_sr - n_s * np.log(lam_sr)
        g_coef = (a.T @ (1 - n_sb / lam) + a_sr * (1 - n_s / lam_sr)) * scale
        g_s = (1 - n_s / lam_sr) * scale if with_s else 0.0
        return val, np.append(g_coef, g_s)

    x0 = np.append(np.linalg.lstsq(a, n_sb, rcond=None)[0] / scale, 0.0)
    best = {}
    for with_s in (False, True):
        r = minimize(
            nll,
            x0,
            args=(with_s,),
            jac=True,
            method="BFGS",
            options={"gtol": 1e-9, "maxiter": 10000},
        )
        best[with_s] = r.fun
        x0 = r.x
    return math.sqrt(max(2 * (best[False] - best[True]), 0.0))


def test_z_agrees_with_independent_profile_likelihood(with_signal):
    res = significance(with_signal, window="upsilon")
    assert res.converged
    z_ref = _independent_z(with_signal)
    assert 2.0 < z_ref < 6.0
    assert res.Z == pytest.approx(z_ref, abs=0.05)
    assert res.p_value == pytest.approx(norm.sf(res.Z))
    assert res.q0 == pytest.approx(res.Z**2)
    # S and B add up to the SR count; B's uncertainty is of the order of sqrt(B)
    assert res.s_fit + res.b_fit == pytest.approx(res.n_sr, rel=1e-4)
    assert 0.3 * math.sqrt(res.b_fit) < res.b_fit_unc < 3 * math.sqrt(res.b_fit)
    assert set(res.params) == {"bkg_c0", "bkg_c1", "bkg_c2", "bkg_c3", "bkg_c4", "bkg_c5", "mu"}
    assert res.params_bkg_only["mu"] == 0.0
    assert 0.5 < res.gof["chi2_ndf"] < 2.0 and res.gof["ndf"] == 64 - 6


def test_degree_variations_agree_with_independent_fit(with_signal):
    for degree in (3, 7):
        res = significance(with_signal, window="upsilon", degree=degree)
        assert res.Z == pytest.approx(_independent_z(with_signal, degree=degree), abs=0.05)


def test_deficit_gives_zero_z_and_negative_signed_z():
    m = _spectrum(5)
    sr = (m >= 9.0) & (m < 10.6)
    m = np.concatenate([m[~sr], m[sr][::2]])  # remove half of the SR
    res = significance(m, window="upsilon")
    assert res.converged
    assert res.Z == 0.0 and res.p_value == 0.5
    assert res.Z_signed < -5 and res.s_fit < 0


def test_unit_weights_give_exactly_the_unweighted_result(with_signal):
    plain = significance(with_signal, window="upsilon")
    ones = significance(with_signal, window="upsilon", weights=np.ones(with_signal.size))
    for f in ("Z", "p_value", "s_fit", "b_fit", "b_fit_unc", "params", "Z_signed", "workspace"):
        assert getattr(ones, f) == getattr(plain, f), f
    rw = reweighted_significance(with_signal, np.full(with_signal.size, 0.5), window="upsilon")
    for f in ("Z", "p_value", "s_fit", "b_fit", "b_fit_unc", "params", "workspace"):
        assert getattr(rw, f) == getattr(plain, f), f
    assert rw.info["mu"] == pytest.approx(plain.s_fit / (plain.s_fit + plain.b_fit))


def test_constant_weights_scale_counts_but_not_z(with_signal):
    plain = significance(with_signal, window="upsilon", return_workspace=False)
    twice = significance(
        with_signal,
        window="upsilon",
        weights=np.full(with_signal.size, 2.0),
        return_workspace=False,
    )
    assert twice.info["weight_scale"] == 2.0
    assert twice.Z == pytest.approx(plain.Z, abs=1e-9)
    assert twice.b_fit == pytest.approx(2 * plain.b_fit, rel=1e-9)
    assert twice.s_fit == pytest.approx(2 * plain.s_fit, rel=1e-6)


def test_reweighting_raises_z_for_a_good_classifier():
    rng = np.random.default_rng(9)
    bkg = _spectrum(11)
    sig = rng.normal(9.8, 0.12, 160)
    m = np.concatenate([bkg, sig])
    # a calibrated classifier on a feature x ~ N(0, 1) (background) or N(2.5, 1) (signal):
    # s/(1 - s) = p_data/p_bkg = (1 - f) + f p_sig/p_bkg with f = S/(S + B) in the SR
    x = np.concatenate([rng.normal(0.0, 1.0, bkg.size), rng.normal(2.5, 1.0, sig.size)])
    f = 160 / 1600
    lr = (1 - f) + f * np.exp(2.5 * x - 2.5**2 / 2)
    scores = lr / (1 + lr)
    plain = significance(m, window="upsilon")
    rw = reweighted_significance(m, scores, window="upsilon")
    assert rw.converged and rw.Z > plain.Z + 1.0
    assert rw.info["weight_scale"] > 1.0


def test_weights_math():
    np.testing.assert_allclose(likelihood_ratio_weights([0.75, 0.5, 0.1], 0.5), [5.0, 1.0, 0.0])
    assert effective_scale(np.array([1.0, 3.0])) == pytest.approx(10 / 4)
    assert effective_scale(None) == 1.0
    assert math.isnan(effective_scale(np.zeros(3)))
    with pytest.raises(ValueError, match=r"mu must be in \(0, 1\]"):
        likelihood_ratio_weights([0.5], 0.0)
    with pytest.raises(ValueError, match="finite values in"):
        likelihood_ratio_weights([1.5], 0.1)


def test_bad_inputs_raise(with_signal):
    w = np.ones(with_signal.size)
    w[3] = -0.5
    with pytest.raises(ValueError, match="1 negative values"):
        significance(with_signal, window="upsilon", weights=w)
    with pytest.raises(ValueError, match="shape of masses"):
        significance(with_signal, window="upsilon", weights=np.ones(3))
    with pytest.raises(ValueError, match="non-finite"):
        significance(np.array([5.5, np.nan]), window="upsilon")
    with pytest.raises(ValueError, match="1-d array"):
        significance(np.ones((2, 2)), window="upsilon")
    with pytest.raises(ValueError, match="shape of masses"):
        scan_cut(with_signal, np.ones(4), window="upsilon")


def test_empty_and_sparse_inputs_are_reported_not_nan_numbers():
    empty = significance(np.array([9.5, 9.6]), window="upsilon")  # SR only, empty sidebands
    assert not empty.converged and math.isnan(empty.Z) and math.isnan(empty.p_value)
    assert "no events in the sidebands" in empty.message
    few = significance(np.array([5.5, 6.0, 9.5, 12.0]), window="upsilon")
    assert not few.converged and "non-empty sideband bins" in few.message
    zero_w = significance(_spectrum(1, 500), window="upsilon", weights=np.zeros(500))
    assert not zero_w.converged and "all weights are zero" in zero_w.message
    # 300 events over 75 bins: many empty bins, still a valid fit
    sparse = significance(_spectrum(2, 300), window="upsilon")
    assert sparse.converged and math.isfinite(sparse.Z)


def test_result_invariants():
    with pytest.raises(ValueError, match="finite Z"):
        SignificanceResult(float("nan"), 0.5, 0, 0, 0, {}, None, converged=True)
    with pytest.raises(ValueError, match="NaN"):
        SignificanceResult(1.0, 0.1, 0, 0, 0, {}, None, converged=False)


def test_default_fpr_grid():
    assert len(DEFAULT_FPRS) == 28
    assert DEFAULT_FPRS[0] == 1.0 and DEFAULT_FPRS[-1] == 0.001
    assert all(a > b for a, b in zip(DEFAULT_FPRS, DEFAULT_FPRS[1:], strict=False))
    for f in (0.25, 0.1, 0.05, 0.01, 0.005):
        assert any(abs(x - f) < 1e-12 for x in DEFAULT_FPRS)


def test_cut_thresholds_known_answer():
    s = np.arange(10.0)  # 0..9
    assert cut_thresholds(s, [1.0, 0.5, 0.1, 0.01]) == [-np.inf, 5.0, 9.0, None]
    assert cut_thresholds(s, [0.2], higher_is_signal=False) == [1.0]
    with pytest.raises(ValueError, match=r"in \(0, 1\]"):
        cut_thresholds(s, [0.0])


def test_scan_cut_measures_fpr_on_sidebands(with_signal):
    rng = np.random.default_rng(4)
    scores = rng.uniform(size=with_signal.size)
    fprs = (1.0, 0.25, 0.05, 1e-6)
    res = scan_cut(with_signal, scores, window="upsilon", fprs=fprs)
    assert [r.fpr for r in res] == list(fprs)
    plain = significance(with_signal, window="upsilon")
    assert res[0].Z == plain.Z and res[0].fpr_sideband == 1.0
    for r, f in zip(res[1:3], fprs[1:3], strict=True):
        assert r.converged and r.fpr_sideband == pytest.approx(f, abs=1e-3)
        assert r.n_sb == pytest.approx(f * plain.n_sb, rel=0.01)
    # a rate that keeps no sideband event: reported, not fitted
    assert not res[3].converged and math.isnan(res[3].Z) and "keeps none" in res[3].message
    low = scan_cut(with_signal, -scores, window="upsilon", fprs=(0.25,), higher_is_signal=False)[0]
    assert low.Z == pytest.approx(res[1].Z) and low.threshold == pytest.approx(-res[1].threshold)


def test_scan_cut_zero_events_after_tight_cut():
    m = _spectrum(8, 3000)
    scores = np.where((m >= 9.0) & (m < 10.6), 0.0, 1.0)  # SR events all fail a high cut
    r = scan_cut(m, scores, window="upsilon", fprs=(0.5,))[0]
    assert r.converged and r.n_sr == 0 and r.Z == 0.0


def test_nonlinear_shapes_fit_an_exponential():
    m = _spectrum(6, n_sig=0, tau=3.0)
    bern = significance(m, window="upsilon", return_workspace=False)
    for shape in ("exp_poly", "dijet"):
        r = significance(m, window="upsilon", background=shape)
        assert r.converged and r.workspace is None
        assert r.b_fit == pytest.approx(bern.b_fit, rel=0.05)
        assert r.gof["p_saturated"] > 1e-3
    with pytest.raises(ValueError, match="unknown background shape"):
        significance(m, window="upsilon", background="spline")


def test_gof_and_f_test_known_answers():
    n = np.array([10.0, 0.0, 5.0])
    assert deviance(n, n + 0.0) == pytest.approx(0.0)
    assert deviance([0.0], [2.0]) == pytest.approx(4.0)
    g = goodness_of_fit([4.0, 9.0], [4.0, 4.0], 1)
    assert g["chi2"] == pytest.approx(25 / 4) and g["ndf"] == 1
    assert f_test(100.0, 2, 100.0, 3, 50) == pytest.approx(1.0)
    assert f_test(200.0, 2, 50.0, 3, 50) < 1e-6
    with pytest.raises(ValueError, match="n_par_low < n_par_high"):
        f_test(1.0, 3, 1.0, 3, 10)


def test_auto_degree_picks_low_degree_for_a_line():
    rng = np.random.default_rng(12)
    # density falling linearly over 5-16 GeV: degree 1 suffices (the F-test of stats.degree)
    m = 5.0 + 11.0 * (1 - np.sqrt(1 - rng.uniform(size=20000)))
    res = significance(m, window="upsilon", degree="auto", degrees=(1, 2, 3, 4))
    assert res.info["degree"] <= 2
    assert [row["degree"] for row in res.info["degree_table"]][0] == 1
    assert res.gof["p_saturated"] > 1e-3


def test_sr_fine_bins_option(with_signal):
    res = significance(with_signal, window="upsilon", sr_fine=True, return_workspace=True)
    assert res.converged
    chans = {c["name"]: len(c["samples"][0]["data"]) for c in res.workspace["channels"]}
    assert chans == {"sidebands": 64, "signal_region": 11}
    assert res.Z > 0


def test_result_to_dict_is_plain(with_signal):
    r = significance(with_signal, window="upsilon")
    d = r.to_dict()
    assert "workspace" not in d and d["Z"] == r.Z
    assert dataclasses.replace(r, fpr=0.1).fpr == 0.1


def test_positive_coefficients_option(with_signal):
    res = significance(
        with_signal, window="upsilon", positive_coefficients=True, return_workspace=False
    )
    assert res.converged
    assert all(v >= 0 for k, v in res.params.items() if k.startswith("bkg_c"))
    bounds = [
        p["bounds"][0][0]
        for p in significance(with_signal, window="upsilon", positive_coefficients=True).workspace[
            "measurements"
        ][0]["config"]["parameters"]
    ]
    assert bounds[:6] == [0.0] * 6
