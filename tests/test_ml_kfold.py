"""Tests of ml.kfold: fold roles, stratification, and out-of-fold scoring with no leakage."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import BaseEstimator

from ml.classifiers import XGBEnsembleClassifier
from ml.kfold import assign_folds, fold_roles, out_of_fold_scores


class MemoryClassifier(BaseEstimator):
    """Real (if silly) classifier that remembers its events exactly.

    ``predict_proba`` gives 1.0 for an event it was trained on, 0.75 for one it validated on and
    0.25 for an event it never saw, so leakage shows up in the scores.
    """

    def __init__(self, random_state=None):
        self.random_state = random_state

    def fit(self, X, y, *, sample_weight=None, X_val=None, y_val=None, sample_weight_val=None):
        self.train_ = {row.tobytes() for row in X}
        self.val_ = {row.tobytes() for row in X_val}
        self.n_train_, self.n_val_ = len(X), len(X_val)
        self.weight_sum_ = float(np.sum(sample_weight))
        self.n_features_in_ = X.shape[1]
        return self

    def predict_proba(self, X):
        rows = [r.tobytes() for r in np.asarray(X, dtype=np.float64)]
        p = np.array([1.0 if r in self.train_ else 0.75 if r in self.val_ else 0.25 for r in rows])
        return np.column_stack([1 - p, p])


def test_fold_roles_rotate():
    roles = [fold_roles(k, 5) for k in range(5)]
    assert roles[0] == (0, 1, [2, 3, 4])
    assert roles[4] == (4, 0, [1, 2, 3])
    assert sorted(r[0] for r in roles) == list(range(5))
    assert sorted(r[1] for r in roles) == list(range(5))
    for test, val, train in roles:
        assert len(train) == 3 and test not in train and val not in train


def test_assign_folds_is_stratified_and_seeded():
    y = np.r_[np.zeros(103, int), np.ones(17, int)]
    f = assign_folds(y, 5, random_state=1)
    for c in (0, 1):
        counts = np.bincount(f[y == c], minlength=5)
        assert counts.max() - counts.min() <= 1
    np.testing.assert_array_equal(f, assign_folds(y, 5, random_state=1))
    assert not np.array_equal(f, assign_folds(y, 5, random_state=2))


def test_every_event_scored_once_by_a_model_that_never_saw_it():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(230, 3))
    y = (rng.random(230) < 0.3).astype(int)
    X_extra = rng.normal(size=(97, 3))
    res = out_of_fold_scores(X, y, X_extra, classifier=MemoryClassifier(), n_folds=5,
                             random_state=3)
    # scored (no NaN left) and never by a model that trained or validated on the event
    np.testing.assert_array_equal(res.scores, 0.25)
    np.testing.assert_array_equal(res.extra_scores, 0.25)
    assert len(res.models) == 5
    # each event is a test event in exactly one fold: the models' train+val+test partition it
    for k, model in enumerate(res.models):
        test, val, train = fold_roles(k, 5)
        assert model.n_train_ == np.isin(res.fold, train).sum()
        assert model.n_val_ == (res.fold == val).sum()
        assert model.n_train_ / len(X) == pytest.approx(0.6, abs=0.02)
    # sideband events are spread evenly over the folds
    assert np.ptp(np.bincount(res.extra_fold, minlength=5)) <= 1
    # scoring new events averages over all fold models: a training event of fold k is in the
    # training set of 3 models and the validation set of 1, the test set of 1
    s = res.score(X[:1])
    assert s[0] == pytest.approx((3 * 1.0 + 0.75 + 0.25) / 5)


def test_out_of_fold_xgb_is_not_overfitted_and_reproducible():
    """Random labels: in-sample scores memorize, out-of-fold scores must not (AUC ~ 0.5)."""
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(1)
    X = rng.normal(size=(1500, 4))
    y = (rng.random(1500) < 0.5).astype(int)
    clf = XGBEnsembleClassifier(n_estimators=60, max_depth=6, early_stopping_rounds=None)
    res = out_of_fold_scores(X, y, classifier=clf, random_state=7)
    assert res.extra_scores is None
    in_sample = res.models[0].predict_proba(X[np.isin(res.fold, [2, 3, 4])])[:, 1]
    assert roc_auc_score(y[np.isin(res.fold, [2, 3, 4])], in_sample) > 0.8
    assert abs(roc_auc_score(y, res.scores) - 0.5) < 0.05
    again = out_of_fold_scores(X, y, classifier=clf, random_state=7)
    np.testing.assert_array_equal(res.scores, again.scores)
    # the template classifier given as argument stays unfitted
    assert not hasattr(clf, "boosters_")


def test_sample_weights_are_passed_to_the_folds():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(100, 2))
    y = np.r_[np.ones(50, int), np.zeros(50, int)]
    w = np.r_[np.ones(50), np.full(50, 0.2)]
    res = out_of_fold_scores(X, y, classifier=MemoryClassifier(), sample_weight=w, random_state=0)
    train = np.isin(res.fold, fold_roles(0, 5)[2])
    assert res.models[0].weight_sum_ == pytest.approx(w[train].sum())


def test_out_of_fold_errors():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(40, 2))
    y = np.r_[np.ones(20, int), np.zeros(20, int)]
    with pytest.raises(ValueError, match="n_folds=2"):
        out_of_fold_scores(X, y, classifier=MemoryClassifier(), n_folds=2)
    with pytest.raises(ValueError, match="class 1 has 3 events"):
        out_of_fold_scores(X[17:], y[17:], classifier=MemoryClassifier())
    with pytest.raises(ValueError, match="X_extra has 3 features"):
        out_of_fold_scores(X, y, rng.normal(size=(5, 3)), classifier=MemoryClassifier())
    bad = X.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="X_sr contains 1 NaN"):
        out_of_fold_scores(bad, y, classifier=MemoryClassifier())
