"""Tests of ml.classifiers: XGBoost ensemble (early stopping without off-by-one) and torch MLP."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import xgboost as xgb
from sklearn.exceptions import NotFittedError
from sklearn.metrics import roc_auc_score

from ml.classifiers import MLPClassifier, XGBEnsembleClassifier, balanced_weights


def _toy(n=3000, shift=1.0, frac1=0.5, seed=0):
    """Two Gaussian classes in 3-D separated by ``shift`` along the first axis."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < frac1).astype(int)
    X = rng.normal(size=(n, 3))
    X[:, 0] += shift * y
    return X, y


def test_balanced_weights_known_answer():
    y = np.array([0, 0, 0, 1])
    w = balanced_weights(y, np.ones(4), "balanced")
    np.testing.assert_allclose(w, [2 / 3, 2 / 3, 2 / 3, 2.0])
    np.testing.assert_allclose(balanced_weights(y, np.ones(4), {0: 1.0, 1: 3.0}), [1, 1, 1, 3])
    np.testing.assert_allclose(balanced_weights(y, np.full(4, 2.0), None), [2, 2, 2, 2])
    with pytest.raises(ValueError, match="class_weight='weird'"):
        balanced_weights(y, np.ones(4), "weird")


def test_xgb_best_iteration_is_included():
    """Early-stopped predictions equal those of a model trained with exactly best+1 trees."""
    X, y = _toy(n=1500, shift=0.6, seed=1)
    Xv, yv = _toy(n=600, shift=0.6, seed=2)
    es = XGBEnsembleClassifier(n_estimators=300, learning_rate=0.3, early_stopping_rounds=10,
                               min_rounds=0, smoothing=1, random_state=5)
    es.fit(X, y, X_val=Xv, y_val=yv)
    best = es.best_iterations_[0]
    booster = es.boosters_[0]
    # it really stopped early, and kept early_stopping_rounds trees beyond the best one
    assert best < 200
    assert booster.num_boosted_rounds() == best + 1 + es.early_stopping_rounds
    fixed = XGBEnsembleClassifier(
        n_estimators=best + 1, learning_rate=0.3, early_stopping_rounds=None, random_state=5
    ).fit(X, y)
    assert fixed.boosters_[0].num_boosted_rounds() == best + 1
    Xt, _ = _toy(n=500, shift=0.6, seed=3)
    np.testing.assert_array_equal(es.predict_proba(Xt), fixed.predict_proba(Xt))
    # the peer bug, iteration_range=(0, best), gives different predictions
    buggy = booster.predict(xgb.DMatrix(Xt), iteration_range=(0, best))
    assert np.abs(buggy - es.predict_proba(Xt)[:, 1]).max() > 1e-4


def test_xgb_min_rounds_and_smoothed_early_stopping(caplog):
    """On labels without information plain early stopping collapses; min_rounds prevents it
    and says so in a warning."""
    X, y = _toy(n=2000, shift=0.0, seed=6)
    Xv, yv = _toy(n=800, shift=0.0, seed=7)
    plain = XGBEnsembleClassifier(n_models=3, n_estimators=200, early_stopping_rounds=10,
                                  min_rounds=0, smoothing=1, random_state=0)
    assert max(plain.fit(X, y, X_val=Xv, y_val=yv).best_iterations_) < 15
    guarded = XGBEnsembleClassifier(n_models=3, n_estimators=200, early_stopping_rounds=10,
                                    min_rounds=40, smoothing=5, random_state=0)
    with caplog.at_level("WARNING", logger="ml.classifiers"):
        guarded.fit(X, y, X_val=Xv, y_val=yv)
    assert min(guarded.best_iterations_) >= 39
    assert all(b.num_boosted_rounds() >= 40 for b in guarded.boosters_)
    assert "3 of 3 members the validation loss was lowest before min_rounds=40" in caplog.text
    with pytest.raises(ValueError, match="min_rounds=300"):
        XGBEnsembleClassifier(n_estimators=200, early_stopping_rounds=10, min_rounds=300).fit(X, y)
    with pytest.raises(ValueError, match="smoothing=0"):
        XGBEnsembleClassifier(smoothing=0).fit(X, y)


def test_xgb_fixed_rounds_also_train_on_the_validation_set():
    X, y = _toy(n=1000, seed=8)
    Xv, yv = _toy(n=400, seed=9)
    kw = dict(n_estimators=30, early_stopping_rounds=None, class_weight=None, random_state=2)
    a = XGBEnsembleClassifier(**kw).fit(X, y, X_val=Xv, y_val=yv)
    b = XGBEnsembleClassifier(**kw).fit(np.vstack([X, Xv]), np.r_[y, yv])
    np.testing.assert_array_equal(a.predict_proba(X[:100]), b.predict_proba(X[:100]))
    assert a.best_iterations_ == [29]


def test_xgb_ensemble_averages_members():
    X, y = _toy(n=1000, seed=4)
    ens = XGBEnsembleClassifier(n_models=3, n_estimators=20, random_state=1).fit(X, y)
    assert len(ens.boosters_) == 3
    dm = xgb.DMatrix(X[:50])
    members = [b.predict(dm, iteration_range=(0, k + 1))
               for b, k in zip(ens.boosters_, ens.best_iterations_, strict=True)]
    np.testing.assert_allclose(ens.predict_proba(X[:50])[:, 1], np.mean(members, axis=0), rtol=1e-6)
    # members differ (own seeds through subsample)
    assert np.abs(members[0] - members[1]).max() > 0


@pytest.mark.parametrize("make", [
    lambda cw: XGBEnsembleClassifier(n_estimators=30, class_weight=cw, random_state=0),
    lambda cw: MLPClassifier(max_epochs=5, class_weight=cw, n_jobs=1, random_state=0),
])
def test_balanced_class_weight_removes_the_prior(make):
    """Features independent of the label: balanced weights give p ~ 0.5, unweighted p ~ prior."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(2500, 2))
    y = (rng.random(2500) < 0.2).astype(int)
    p_bal = make("balanced").fit(X, y).predict_proba(X)[:, 1].mean()
    p_raw = make(None).fit(X, y).predict_proba(X)[:, 1].mean()
    assert 0.42 < p_bal < 0.58
    assert 0.12 < p_raw < 0.28


@pytest.mark.parametrize("cls,kw", [
    (XGBEnsembleClassifier, {"n_models": 2, "n_estimators": 50}),
    (MLPClassifier, {"max_epochs": 8, "n_jobs": 1}),
])
def test_classifiers_learn_and_are_reproducible(cls, kw):
    X, y = _toy(n=2500, shift=1.5, seed=6)
    Xt, yt = _toy(n=2000, shift=1.5, seed=7)
    a = cls(random_state=11, **kw).fit(X, y)
    b = cls(random_state=11, **kw).fit(X, y)
    c = cls(random_state=12, **kw).fit(X, y)
    pa = a.predict_proba(Xt)
    assert pa.shape == (2000, 2)
    np.testing.assert_allclose(pa.sum(axis=1), 1.0)
    np.testing.assert_array_equal(pa, b.predict_proba(Xt))
    assert not np.array_equal(pa, c.predict_proba(Xt))
    # Bayes-optimal AUC for a unit shift of 1.5 is Phi(1.5/sqrt 2) = 0.856
    assert roc_auc_score(yt, pa[:, 1]) > 0.82
    assert set(np.unique(a.predict(Xt))) <= {0, 1}


def test_mlp_restores_best_epoch():
    X, y = _toy(n=1200, shift=0.5, seed=8)
    Xv, yv = _toy(n=400, shift=0.5, seed=9)
    clf = MLPClassifier(hidden_layers=(32, 32), max_epochs=40, early_stopping=3, n_jobs=1,
                        random_state=2)
    clf.fit(X, y, X_val=Xv, y_val=yv)
    hist = clf.history_[0]
    assert len(hist["val_loss"]) < 40  # stopped early on this weakly separable toy
    assert hist["best_epoch"] == int(np.argmin(hist["val_loss"]))
    assert len(hist["val_loss"]) == hist["best_epoch"] + 1 + 3
    # the restored network has the best validation loss
    w = balanced_weights(yv, np.ones(len(yv)), "balanced")
    p = np.clip(clf.predict_proba(Xv)[:, 1], 1e-12, 1 - 1e-12)
    loss = -np.sum(w * (yv * np.log(p) + (1 - yv) * np.log(1 - p))) / w.sum()
    assert loss == pytest.approx(min(hist["val_loss"]), rel=1e-4)


@pytest.mark.parametrize("cls", [XGBEnsembleClassifier, MLPClassifier])
def test_save_load_round_trip(cls, tmp_path):
    X, y = _toy(n=600, seed=10)
    tiny = {"n_estimators": 10} if cls is XGBEnsembleClassifier else {"max_epochs": 2}
    clf = cls(random_state=0, **tiny)
    clf.fit(X, y)
    path = tmp_path / "clf.pkl"
    clf.save(path)
    back = cls.load(path)
    np.testing.assert_array_equal(back.predict_proba(X), clf.predict_proba(X))
    assert back.get_params() == clf.get_params()
    with pytest.raises(FileNotFoundError, match="no saved"):
        cls.load(tmp_path / "missing.pkl")
    with pytest.raises(TypeError, match="expected a"):
        (MLPClassifier if cls is XGBEnsembleClassifier else XGBEnsembleClassifier).load(path)


@pytest.mark.parametrize("cls", [XGBEnsembleClassifier, MLPClassifier])
def test_input_errors(cls):
    X, y = _toy(n=200, seed=11)
    clf = cls(random_state=0)
    with pytest.raises(NotFittedError, match="not fitted yet"):
        clf.predict_proba(X)
    with pytest.raises(ValueError, match="must be 2-D"):
        clf.fit(X[:, 0], y)
    Xn = X.copy()
    Xn[5, 1] = np.nan
    with pytest.raises(ValueError, match="NaN/inf"):
        clf.fit(Xn, y)
    with pytest.raises(ValueError, match="only labels 0 and 1"):
        clf.fit(X, y * 2)
    with pytest.raises(ValueError, match="both classes"):
        clf.fit(X, np.zeros(len(X)))
    with pytest.raises(ValueError, match="shape"):
        clf.fit(X, y[:-1])
    with pytest.raises(ValueError, match="without y_val"):
        clf.fit(X, y, X_val=X)
    with pytest.raises(ValueError, match="sample_weight must be finite"):
        clf.fit(X, y, sample_weight=-np.ones(len(X)))
    tiny = {"n_estimators": 5} if cls is XGBEnsembleClassifier else {"max_epochs": 1}
    fitted = cls(random_state=0, **tiny).fit(X, y)
    with pytest.raises(ValueError, match="fitted with 3"):
        fitted.predict_proba(X[:, :2])
    Xi = X.copy()
    Xi[0, 0] = np.inf
    with pytest.raises(ValueError, match="NaN/inf"):
        fitted.predict_proba(Xi)


def test_mlp_does_not_touch_global_torch_rng():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    X, y = _toy(n=300, seed=12)
    MLPClassifier(max_epochs=1, random_state=0).fit(X, y)
    torch.testing.assert_close(torch.rand(3), expected)
