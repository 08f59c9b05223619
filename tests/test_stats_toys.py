"""Calibration of the discovery test with pseudo-experiments (stats.toys)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from stats.binning import make_bins
from stats.model import BumpModel
from stats.toys import calibrate, look_elsewhere, sample_masses


@pytest.fixture(scope="module")
def published_size_spectrum() -> np.ndarray:
    """≈12 k events falling over 5-16 GeV (the size of the published anti-isolated sample)."""
    rng = np.random.default_rng(7)
    m = 5.0 + rng.exponential(3.5, 40000)
    return m[m < 16.0][:12300]


@pytest.mark.slow
def test_background_only_toys_are_calibrated(published_size_spectrum):
    cal = calibrate(published_size_spectrum, window="upsilon", n_toys=1000, random_state=1)
    assert cal.n_failed == 0
    assert cal.z.size == 1000
    assert 1200 < cal.b_sr < 2000
    # p-values of the signed Z are uniform
    assert cal.ks_pvalue > 0.05
    # P(Z > 2) agrees with the asymptotic 1 - Φ(2) within two binomial standard errors
    frac, err = cal.fraction_above(2.0)
    assert abs(frac - sps.norm.sf(2.0)) < 2 * err
    # half of the toys have a deficit (Z = 0)
    assert np.mean(cal.z == 0) == pytest.approx(0.5, abs=0.06)


@pytest.mark.slow
def test_signal_toys_median_matches_asimov(published_size_spectrum):
    cal = calibrate(
        published_size_spectrum, window="upsilon", n_toys=200, signal=120.0, random_state=2
    )
    assert cal.n_failed == 0 and cal.signal == 120.0
    # Asimov Z of 120 events on B ≈ 1500 with the sideband uncertainty on B: 2-3 sigma
    assert 1.5 < cal.z_asimov < 3.5
    assert cal.z_median / cal.z_asimov == pytest.approx(1.0, abs=0.10)


def test_toys_are_reproducible(published_size_spectrum):
    a = calibrate(published_size_spectrum, window="upsilon", n_toys=5, random_state=3)
    b = calibrate(published_size_spectrum, window="upsilon", n_toys=5, random_state=3)
    np.testing.assert_array_equal(a.z_signed, b.z_signed)
    c = calibrate(published_size_spectrum, window="upsilon", n_toys=5, random_state=4)
    assert not np.array_equal(a.z_signed, c.z_signed)
    with pytest.raises(ValueError, match="n_toys"):
        calibrate(published_size_spectrum, window="upsilon", n_toys=0)
    with pytest.raises(ValueError, match="signal must be >= 0"):
        calibrate(published_size_spectrum, window="upsilon", n_toys=1, signal=-1.0)


def test_sample_masses_follow_the_fit(published_size_spectrum):
    b = make_bins("upsilon")
    counts = b.histogram(published_size_spectrum)
    model = BumpModel.from_counts(b, counts)
    fit = model.fit(model.data_vector(counts))
    m = sample_masses(model, fit.pars_bkg, 200000, np.random.default_rng(0))
    assert b.low <= m.min() and m.max() <= b.high
    expected = np.zeros(b.n_bins)
    lam = model.expected(fit.pars_bkg)
    expected[b.sb_mask] = lam[:-1]
    got = b.histogram(m)
    frac_exp = expected[b.sb_mask] / lam.sum()
    frac_got = got[b.sb_mask] / got.sum()
    # bin fractions agree within a few standard errors of the 200 k sample
    assert np.max(np.abs(frac_got - frac_exp) / np.sqrt(frac_exp / 2e5)) < 5


def test_look_elsewhere_small(published_size_spectrum):
    le = look_elsewhere(
        published_size_spectrum, window="upsilon", fprs=(1.0, 0.1, 0.01), n_toys=3, random_state=5
    )
    assert le.n_tests == 3 and le.max_z.shape == (3,)
    assert np.all(np.isfinite(le.max_z)) and np.all(le.max_z >= 0)
    p, err = le.global_p_value(float(le.max_z.max()) + 10)
    assert 0 < p < 0.5 and err > 0
    assert le.global_significance(0.0) == -np.inf or le.global_significance(0.0) < 0.5
    with pytest.raises(ValueError, match="outside the toy range"):
        look_elsewhere(published_size_spectrum, window="upsilon", windows=["z"], n_toys=1)


def test_look_elsewhere_reused_models_match_scan_cut(published_size_spectrum):
    kw = {"window": "upsilon", "fprs": (0.3, 0.05, 0.01, 0.003), "n_toys": 4, "random_state": 8}
    fast = look_elsewhere(published_size_spectrum, **kw)
    slow = look_elsewhere(published_size_spectrum, reuse_models=False, **kw)
    np.testing.assert_allclose(fast.max_z, slow.max_z, atol=2e-3)
    # the Poisson fit's total equals the observed count in the binned range
    n_binned = make_bins("upsilon").in_range(published_size_spectrum).sum()
    assert fast.n_expected == pytest.approx(n_binned, rel=1e-4)
    # cuts keeping fewer sideband events than the minimum (FPR 0.003: ~32 of ~10.7 k) are ignored
    strict = look_elsewhere(published_size_spectrum, min_sideband_events=40, **kw)
    assert np.all(strict.max_z <= fast.max_z + 1e-12)
    none = look_elsewhere(published_size_spectrum, min_sideband_events=10**6, **kw)
    assert np.all(np.isnan(none.max_z))
    assert np.isnan(none.global_p_value(1.0)[0])
    # the global p-value falls with the local Z it is asked for
    ps = [fast.global_p_value(z)[0] for z in (0.0, 1.0, 2.0, 10.0)]
    assert ps == sorted(ps, reverse=True) and ps[0] == 1.0 and ps[-1] == pytest.approx(0.1)
