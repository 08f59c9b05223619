"""CWoLa hunting: out-of-fold SR-vs-sideband scores find an injected resonance; sculpting."""

import numpy as np
import pytest

from ml.classifiers import XGBEnsembleClassifier
from ml.cwola import cut_efficiency_by_mass, cwola_scores
from stats.binning import Window
from stats.significance import scan_cut

WINDOW = Window(5.0, 9.0, 10.6, 16.0)


def _clf():
    return XGBEnsembleClassifier(n_models=1, n_estimators=60, max_depth=2)


def _toy(rng, n_bkg=8000, n_sig=0):
    m = 5.0 + rng.exponential(4.0, 3 * n_bkg)
    m = m[m < 16.0][:n_bkg]
    X = rng.normal(size=(len(m), 2))
    if n_sig:
        m = np.r_[m, rng.normal(9.8, 0.1, n_sig)]
        X = np.r_[X, rng.normal([2.5, 2.5], 0.5, size=(n_sig, 2))]
    return X, m


def test_cwola_finds_injected_signal():
    rng = np.random.default_rng(0)
    X, m = _toy(rng, n_sig=120)
    sr = (m >= WINDOW.sr_left) & (m < WINDOW.sr_right)
    res = cwola_scores(X, m, sr, classifier=_clf(), random_state=1)
    assert res.scores.shape == m.shape and np.isfinite(res.scores).all()
    assert len(res.models) == 5 and set(res.fold) == set(range(5))
    is_sig = np.arange(len(m)) >= len(m) - 120
    assert np.median(res.scores[is_sig]) > np.quantile(res.scores[~is_sig], 0.95)
    z_cut = max(r.Z for r in scan_cut(m, res.scores, window=WINDOW, fprs=[0.05, 0.01],
                                      degree=3))
    z_nocut = scan_cut(m, res.scores, window=WINDOW, fprs=[1.0], degree=3)[0].Z
    assert z_cut > 5.0 and z_cut > 2 * z_nocut


def test_cwola_same_seed_same_scores_and_flat_efficiency_without_signal():
    rng = np.random.default_rng(1)
    X, m = _toy(rng, n_bkg=5000)
    sr = (m >= WINDOW.sr_left) & (m < WINDOW.sr_right)
    a = cwola_scores(X, m, sr, classifier=_clf(), random_state=3)
    b = cwola_scores(X, m, sr, classifier=_clf(), random_state=3)
    np.testing.assert_array_equal(a.scores, b.scores)
    eff = cut_efficiency_by_mass(m, a.scores, ~sr, [0.1], np.arange(5.0, 16.01, 1.0))
    assert eff["p_flat"][0] > 0.01 and eff["ndf"][0] == 11
    assert np.nanmean(np.array(eff["efficiency"][0], dtype=float)) == pytest.approx(0.1, abs=0.02)


def test_cut_efficiency_sees_a_mass_dependent_score():
    rng = np.random.default_rng(2)
    m = rng.uniform(5, 16, 20000)
    score = m + rng.normal(scale=2.0, size=m.size)  # a score that learned the mass
    sb = (m < 9.0) | (m >= 10.6)
    eff = cut_efficiency_by_mass(m, score, sb, [0.1], np.arange(5.0, 16.01, 1.0))
    e = np.array(eff["efficiency"][0], dtype=float)
    assert e[-1] > 3 * e[0] and eff["p_flat"][0] < 1e-6


def test_cwola_decorrelated_and_input_checks():
    rng = np.random.default_rng(3)
    X, m = _toy(rng, n_bkg=3000)
    X[:, 0] += m  # strongly mass dependent
    sr = (m >= WINDOW.sr_left) & (m < WINDOW.sr_right)
    res = cwola_scores(X, m, sr, classifier=_clf(), decorrelate=1, random_state=0)
    assert res.decorrelator is not None
    with pytest.raises(ValueError, match="boolean mask"):
        cwola_scores(X, m, sr[:-1], classifier=_clf())
