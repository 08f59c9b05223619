"""Cluster scanning (ml.cluster_scan, stats.cluster_stat): known answers on hand-made spectra and
toys, null calibration, reproducibility and the errors we promise."""

import numpy as np
import pytest
from scipy import stats

from dimuon_ad.errors import InputError
from ml.cluster_scan import _block_permutation, cluster_scan
from stats.cluster_stat import (
    FineBins,
    cluster_pulls,
    make_windows,
    pooled_tail_pvalues,
    rich_poor_statistic,
    window_counts,
)

SCAN = {"mass_range": (5.0, 16.0), "window_width": 0.5, "step": 0.25}


def _toy(seed, n=4000, n_signal=0, d=3):
    """Uniform masses, Gaussian features independent of the mass; optional narrow resonance at
    9.5 GeV (width 0.08 GeV) concentrated at x = (2.5, 2.5, 0, ...)."""
    rng = np.random.default_rng(seed)
    X, m = rng.normal(size=(n, d)), rng.uniform(5.0, 16.0, n)
    if n_signal:
        centre = np.zeros(d)
        centre[:2] = 2.5
        X = np.vstack([X, rng.normal(centre, 0.3, size=(n_signal, d))])
        m = np.concatenate([m, rng.normal(9.5, 0.08, n_signal)])
    return X, m


def test_make_windows_known_edges():
    w = make_windows((5.0, 7.0), 1.0, 0.5)
    np.testing.assert_allclose(w, [[5.0, 6.0], [5.5, 6.5], [6.0, 7.0]])
    assert make_windows((0.0, 1.0), 0.3, 0.3).shape == (3, 2)  # the last 0.1 GeV is not scanned


@pytest.mark.parametrize("kwargs, match", [
    ({"mass_range": (6.0, 5.0), "window_width": 1.0, "step": 0.5}, "low < high"),
    ({"mass_range": (5.0, 6.0), "window_width": 2.0, "step": 0.5}, "wider than mass_range"),
    ({"mass_range": (5.0, 6.0), "window_width": 0.5, "step": 0.0}, "expected both > 0"),
    ({"mass_range": 5.0, "window_width": 0.5, "step": 0.1}, "expected two numbers"),
])
def test_make_windows_errors(kwargs, match):
    with pytest.raises(InputError, match=match):
        make_windows(**kwargs)


def test_window_counts_overlapping_windows():
    windows = make_windows((0.0, 3.0), 2.0, 1.0)  # [0, 2), [1, 3)
    bins = FineBins(windows)
    m = np.array([0.5, 1.5, 1.5, 2.5, 3.5])  # the last is outside the scan
    labels = np.array([0, 0, 1, 1, 1])
    counts = window_counts(labels, bins.index(m), bins, k=2)
    np.testing.assert_allclose(counts, [[2, 1], [1, 2]])


def test_pulls_zero_when_every_cluster_has_the_inclusive_shape():
    counts = np.outer([10, 20, 30], [1, 2, 3, 2, 1]).astype(float)
    np.testing.assert_allclose(cluster_pulls(counts), 0.0, atol=1e-12)


def test_rich_cluster_and_excess_window_known_answer():
    counts = np.full((1, 4, 6), 100.0)
    counts[0, 2, 3] += 80  # cluster 2 has an excess in window 3
    t, rich, pulls = rich_poor_statistic(counts, threshold=3.0)
    assert rich.tolist() == [[False, False, True, False]]
    assert int(np.argmax(t[0])) == 3 and t[0, 3] > 3
    assert int(np.argmax(pulls[0, 2])) == 3
    # below the threshold the cluster with the largest pull is the rich one
    t1, rich1, _ = rich_poor_statistic(counts, threshold=50.0)
    assert rich1.tolist() == rich.tolist()
    np.testing.assert_allclose(t1, t)
    # identical spectra: no excess anywhere
    t0, _, _ = rich_poor_statistic(np.full((2, 4, 6), 100.0), threshold=3.0)
    assert np.all(t0 == 0)


def test_block_permutation_keeps_masses_in_their_block():
    rng = np.random.default_rng(0)
    m = rng.uniform(5, 16, 2000)
    perm = _block_permutation(m, 1.0, np.random.default_rng(1))
    assert sorted(perm) == list(range(len(m)))
    assert np.max(np.abs(m[perm] - m)) < 1.0
    assert np.mean(perm != np.arange(len(m))) > 0.9


def test_pooled_tail_pvalues_known_answers():
    rng = np.random.default_rng(0)
    null = rng.exponential(1.0, size=(500, 20))  # standardised: z = x - 1, P(X > x) = exp(-x)
    p = pooled_tail_pvalues(null, np.array([8.0] * 19 + [0.5]))
    assert p[0] == pytest.approx(np.exp(-8.0), rel=0.35)
    assert p[-1] == pytest.approx(np.exp(-0.5), abs=0.06)  # below the tail: empirical
    gauss = pooled_tail_pvalues(rng.normal(size=(500, 20)), np.full(20, 3.0))
    assert 0.5 < gauss[0] / stats.norm.sf(3.0) < 2.0  # a Gaussian tail: GPD slightly above
    far = pooled_tail_pvalues(null, np.array([1e3] * 20))  # no extrapolation to 1e-300
    np.testing.assert_allclose(far, 1 / (10 * (1 + null.size)))
    flat = pooled_tail_pvalues(np.zeros((50, 3)), np.array([1.0, 0.0, -1.0]))
    np.testing.assert_array_equal(flat, 1.0)


def test_no_signal_global_p_values_uniform():
    p = [cluster_scan(*_toy(s), **SCAN, k=10, n_clusterings=2, n_bootstrap=50, seed=s).p_global
         for s in range(16)]
    assert stats.kstest(p, "uniform").pvalue > 0.01
    assert np.median(p) > 0.2


def test_narrow_resonance_found_in_its_window_and_clusters():
    X, m = _toy(3, n=6000, n_signal=120)
    res = cluster_scan(X, m, **SCAN, k=30, n_clusterings=3, n_bootstrap=100, seed=0,
                       feature_names=["a", "b", "c"])
    lo, hi = res.best_window
    assert lo <= 9.5 <= hi
    assert res.p_global == pytest.approx(1 / 101)  # beyond every resampling
    # far beyond every resampling: the tail fits stop at 10x below the nulls' resolution
    assert res.z_global_gumbel == pytest.approx(stats.norm.isf(1 / (10 * 101)))
    floor = 1 / (10 * (1 + res.null.size))
    assert res.z_local_tail[res.best_index] == pytest.approx(stats.norm.isf(floor))
    top = res.best_clusters[0]
    assert top["centroid"]["a"] > 1.5 and top["centroid"]["b"] > 1.5
    assert res.p_chi2 == pytest.approx(1 / 101)
    band = res.null_band()
    assert band.shape == (5, len(res.windows)) and np.all(np.diff(band, axis=0) >= 0)
    assert res.summary()["best_window_gev"] == [lo, hi]


def test_same_seed_same_numbers_and_map_independent():
    X, m = _toy(5, n=3000, n_signal=60)
    kw = dict(**SCAN, k=10, n_clusterings=2, n_bootstrap=60, seed=7)
    a = cluster_scan(X, m, **kw)
    b = cluster_scan(X, m, **kw, map=lambda fn, args: [fn(*x) for x in args])
    np.testing.assert_array_equal(a.statistic, b.statistic)
    np.testing.assert_array_equal(a.null, b.null)
    assert a.p_global == b.p_global
    c = cluster_scan(X, m, **{**kw, "seed": 8})
    assert not np.array_equal(a.null, c.null)


def test_reference_sample_null():
    X, m = _toy(11, n=3000)
    Xr, mr = _toy(12, n=6000)
    res = cluster_scan(X, m, **SCAN, k=10, n_clusterings=2, n_bootstrap=60, seed=0,
                       null_sample=(Xr, mr))
    assert res.settings["null"] == "null_sample"
    assert res.p_global > 0.01
    assert res.null.shape == (60, len(res.windows))


def test_input_errors():
    X, m = _toy(0, n=100)
    with pytest.raises(InputError, match="needs at least 120"):
        cluster_scan(X, m, **SCAN, k=60)
    with pytest.raises(InputError, match="n_bootstrap=0"):
        cluster_scan(X, m, **SCAN, k=5, n_bootstrap=0)
    with pytest.raises(InputError, match="block_width"):
        cluster_scan(X, m, **SCAN, k=5, block_width=-1.0)
    with pytest.raises(ValueError, match="null_sample X"):
        cluster_scan(X, m, **SCAN, k=5, null_sample=(X[:, :2], m))
