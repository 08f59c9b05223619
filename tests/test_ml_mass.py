"""Tests of ml.mass: KDE and function-based samplers of the conditioning mass (GeV)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from ml._validation import NotFittedError
from ml.mass import FunctionMassSampler, KDEMassSampler


def test_kde_sampler_reproduces_the_fitted_spectrum():
    rng = np.random.default_rng(0)
    m = 9.0 + 1.6 * rng.beta(2.0, 3.0, 20000)  # a smooth spectrum inside the 9-10.6 GeV SR
    kde = KDEMassSampler(bandwidth=0.01, low=9.0, high=10.6).fit(m)
    s = kde.sample(20000, random_state=1)
    assert s.shape == (20000,)
    assert ((s > 9.0) & (s < 10.6)).all()
    assert stats.ks_2samp(s, 9.0 + 1.6 * rng.beta(2.0, 3.0, 20000)).pvalue > 0.01


def test_kde_sampler_known_answer_single_point():
    # one kernel at logit(0.5) = 0: samples are sigmoid(N(0, h^2)) scaled to the window
    kde = KDEMassSampler(bandwidth=0.01, low=9.0, high=11.0).fit([10.0])
    s = kde.sample(100000, random_state=2)
    assert s.mean() == pytest.approx(10.0, abs=1e-3)
    # d m / d t = (high - low) / 4 at t = 0, so std(m) = 2 / 4 * 0.01
    assert s.std() == pytest.approx(0.005, rel=0.02)


def test_kde_density_integrates_to_one_and_default_window():
    rng = np.random.default_rng(3)
    m = rng.uniform(9.0, 10.6, 2000)
    kde = KDEMassSampler().fit(m)
    assert (kde.low_, kde.high_) == (m.min(), m.max())
    grid = np.linspace(kde.low_, kde.high_, 4001)[1:-1]
    assert np.trapezoid(np.exp(kde.score_samples(grid)), grid) == pytest.approx(1.0, abs=0.01)
    assert kde.score_samples([8.0])[0] == -np.inf


def test_samplers_are_seeded():
    kde = KDEMassSampler(low=0.0, high=1.0).fit(np.linspace(0.1, 0.9, 50))
    np.testing.assert_array_equal(kde.sample(100, random_state=4), kde.sample(100, random_state=4))
    assert not np.array_equal(kde.sample(100, random_state=4), kde.sample(100, random_state=5))
    fs = FunctionMassSampler(lambda x: np.ones_like(x), 0.0, 1.0).fit()
    np.testing.assert_array_equal(fs.sample(10, random_state=1), fs.sample(10, random_state=1))
    assert fs.sample(0, random_state=1).shape == (0,)


def test_function_sampler_matches_pdf():
    # linear falling density on [5, 16] GeV: p(m) ∝ 20 - m
    fs = FunctionMassSampler(lambda m: 20.0 - m, 5.0, 16.0).fit()
    s = fs.sample(50000, random_state=0)
    assert ((s >= 5.0) & (s <= 16.0)).all()
    norm = 20.0 * 11.0 - (16.0**2 - 5.0**2) / 2.0
    cdf = lambda x: (20.0 * (x - 5.0) - (x**2 - 25.0) / 2.0) / norm  # noqa: E731
    assert stats.kstest(s, cdf).pvalue > 0.01
    assert fs.norm_ == pytest.approx(norm, rel=1e-9)


def test_function_sampler_never_draws_where_pdf_vanishes():
    fs = FunctionMassSampler(
        lambda m: np.where((m > 9.0) & (m < 10.6), 0.0, 1.0), 5.0, 16.0, n_grid=11001
    ).fit()
    s = fs.sample(100000, random_state=1)
    step = 11.0 / 11000
    assert not ((s > 9.0 + step) & (s < 10.6 - step)).any()


@pytest.mark.parametrize(
    ("sampler", "exc", "match"),
    [
        (
            FunctionMassSampler(lambda m: m - 10.0, 5.0, 16.0),
            ValueError,
            "pdf is negative or not finite at m = 5 GeV",
        ),
        (FunctionMassSampler(lambda m: 1.0, 5.0, 16.0), ValueError, "pdf returned shape"),
        (FunctionMassSampler(lambda m: 0 * m, 5.0, 16.0), ValueError, "pdf integrates to 0"),
        (FunctionMassSampler("poly", 5.0, 16.0), TypeError, "pdf must be callable"),
        (FunctionMassSampler(np.ones_like, 16.0, 5.0), ValueError, "need finite low < high"),
        (FunctionMassSampler(np.ones_like, 5.0, 16.0, n_grid=2), ValueError, "n_grid must be"),
    ],
)
def test_function_sampler_errors(sampler, exc, match):
    with pytest.raises(exc, match=match):
        sampler.fit()


def test_kde_sampler_errors():
    with pytest.raises(ValueError, match="bandwidth must be a positive number"):
        KDEMassSampler(bandwidth=0.0).fit([1.0, 2.0])
    with pytest.raises(ValueError, match=r"1 mass\(es\) lie outside the window \[9.0, 10.6\]"):
        KDEMassSampler(low=9.0, high=10.6).fit([9.5, 11.0])
    with pytest.raises(ValueError, match="m contains 1 NaN/inf"):
        KDEMassSampler().fit([9.5, np.nan])
    with pytest.raises(NotFittedError, match="KDEMassSampler instance is not fitted"):
        KDEMassSampler().sample(3)
    with pytest.raises(ValueError, match="n must be a non-negative int"):
        KDEMassSampler().fit([1.0, 2.0]).sample(-1)
    with pytest.raises(TypeError, match="random_state must be None or a non-negative int"):
        KDEMassSampler().fit([1.0, 2.0]).sample(2, random_state="x")
