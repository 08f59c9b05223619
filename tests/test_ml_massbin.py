"""Mass-bin classifier test: bin pairs, the Mann-Whitney null of held-out AUCs, the scan."""

import numpy as np
import pytest
from scipy import stats

from ml.classifiers import XGBEnsembleClassifier
from ml.decorrelation import MassDecorrelator
from ml.massbin import auc_test, bin_pairs, ks_uniformity, massbin_scan, pair_scores


def test_bin_pairs_fixed_and_sliding():
    fixed = bin_pairs(5.0, 16.0, 1.0)
    assert fixed.shape == (10, 3)
    np.testing.assert_allclose(fixed[0], [5, 6, 7])
    np.testing.assert_allclose(fixed[-1], [14, 15, 16])
    sliding = bin_pairs(5.0, 16.0, 1.0, step=0.5)
    assert len(sliding) == 19 and sliding[-1, 2] <= 16.0
    with pytest.raises(ValueError, match="high - low >= 2"):
        bin_pairs(5.0, 6.0, 1.0)


def test_auc_test_known_answers():
    y = np.r_[np.zeros(50), np.ones(50)]
    perfect = auc_test(y + 0.1 * np.arange(100) / 100, y, n_null=0)
    assert perfect.auc == 1.0 and perfect.p < 1e-10
    # no ties: the permutation standard deviation is Mann-Whitney's sqrt((n+1)/(12 n0 n1))
    rng = np.random.default_rng(0)
    t = auc_test(rng.random(100), y, n_null=2000, random_state=1)
    assert t.null_std == pytest.approx(np.sqrt(101 / (12 * 50 * 50)))
    assert t.null.mean() == pytest.approx(0.5, abs=0.003)
    assert t.null.std() == pytest.approx(t.null_std, rel=0.05)
    with pytest.raises(ValueError, match="need both"):
        auc_test(rng.random(10), np.zeros(10))


def test_auc_test_p_uniform_for_identical_distributions():
    rng = np.random.default_rng(2)
    y = np.r_[np.zeros(60), np.ones(40)]
    p = [auc_test(rng.integers(0, 5, 100).astype(float), y, n_null=0).p for _ in range(400)]
    assert ks_uniformity(p) > 0.01


def test_held_out_pairs_are_calibrated_on_noise():
    # the same classifier on two identical Gaussian classes: held-out Z ~ N(0, 1)
    rng = np.random.default_rng(3)
    clf = XGBEnsembleClassifier(n_models=1, n_estimators=20, max_depth=2,
                                early_stopping_rounds=None)
    z = []
    for seed in range(60):
        X = rng.normal(size=(300, 2))
        s, y = pair_scores(X[:150], X[150:], clf, 0.5, seed)
        assert len(s) == 150 and y.sum() == 75
        z.append(auc_test(s, y, n_null=0).z)
    assert stats.kstest(z, "norm").pvalue > 0.01


def _toy(n, rng, signal=0):
    m = rng.uniform(5.0, 11.0, n)
    X = rng.normal(size=(n, 2))
    X[:, 0] += 0.1 * m  # a smooth trend of the background with the mass
    if signal:
        ms = rng.normal(8.5, 0.1, signal)
        Xs = rng.normal([0.85 + 2.0, -2.0], 0.5, size=(signal, 2))
        m, X = np.r_[m, ms], np.r_[X, Xs]
    return X, m


def test_scan_finds_a_shifted_bin_and_not_the_trend():
    rng = np.random.default_rng(4)
    kw = dict(low=5.0, high=11.0, width=1.0, n_null=100, random_state=0)
    X, m = _toy(6000, rng)
    null = massbin_scan(X, m, **kw)
    assert null.auc.shape == (5,) and null.null.shape == (5, 100)
    assert null.z_global < 2.0
    X, m = _toy(6000, rng, signal=300)
    sig = massbin_scan(X, m, **kw)
    # the signal sits at 8.5 GeV: the pairs (7, 8, 9) and (8, 9, 10) see it
    assert set(np.argsort(sig.p)[:1]) <= {2, 3}
    assert sig.z_global > 3.0 and sig.p_global < 1e-3
    d = sig.to_dict()
    assert len(d["pairs"]) == 5 and d["z_global"] == pytest.approx(sig.z_global)


def test_scan_skips_sparse_pairs_and_checks_input():
    rng = np.random.default_rng(5)
    X, m = _toy(400, rng)
    res = massbin_scan(X, m, low=5.0, high=11.0, width=1.0, n_null=10, min_events=100)
    assert not res.tested.any() and np.isnan(res.z_global)
    with pytest.raises(ValueError, match="shape"):
        massbin_scan(X, m[:-1])


def test_decorrelator_removes_a_linear_trend():
    rng = np.random.default_rng(6)
    m = rng.uniform(5, 15, 5000)
    X = np.column_stack([m + rng.normal(size=5000), np.exp(rng.normal(size=5000))])
    Z = MassDecorrelator(degree=1).fit_transform(X, m)
    assert abs(np.corrcoef(Z[:, 0], m)[0, 1]) < 0.03
    assert np.corrcoef(X[:, 0], m)[0, 1] > 0.9
    np.testing.assert_allclose(Z.std(axis=0), 1.0, atol=0.05)
    with pytest.raises(ValueError, match="too few"):
        MassDecorrelator(degree=3).fit(X[:20], m[:20])


def test_scan_and_cwola_take_a_per_object_classifier():
    # the PFN of ml.pfn on padded objects plugs into both methods (tiny network, 1 epoch)
    from ml.cwola import cwola_scores
    from ml.pfn import PFNClassifier

    rng = np.random.default_rng(7)
    n = 300
    m = rng.uniform(5.0, 9.0, n)
    X = rng.normal(size=(n, 3, 2))
    X[:, 2] = 0.0  # padding
    pfn = PFNClassifier(phi_sizes=(8,), f_sizes=(8,), max_epochs=1, early_stopping=None,
                        device="cpu", n_jobs=1)
    scan = massbin_scan(X, m, low=5.0, high=9.0, width=2.0, classifier=pfn, n_null=20,
                        min_events=20, random_state=0)
    assert scan.tested.all() and np.isfinite(scan.auc).all()
    res = cwola_scores(X, m, (m >= 6.5) & (m < 7.5), classifier=pfn, n_folds=3, random_state=0)
    assert res.scores.shape == (n,) and np.isfinite(res.scores).all()
    with pytest.raises(ValueError, match="decorrelate needs 2-D"):
        massbin_scan(X, m, low=5.0, high=9.0, width=2.0, classifier=pfn, decorrelate=1)
