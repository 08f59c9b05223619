"""PFNClassifier: permutation and padding invariance, a separable toy, seeds, ensemble, k-fold."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from ml._validation import check_rows
from ml.kfold import out_of_fold_scores
from ml.pfn import PFNClassifier, object_mask

pytestmark = pytest.mark.usefixtures("one_torch_thread")

N_OBJECTS, N_FEATURES = 6, 3


def _toy(n, seed, shift=2.0):
    """Events of 1..6 objects (flag, x, noise); the objects of class 1 have x shifted by
    ``shift``; padding rows all zero."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    k = rng.integers(1, N_OBJECTS + 1, n)
    X = np.zeros((n, N_OBJECTS, N_FEATURES), np.float32)
    real = np.arange(N_OBJECTS) < k[:, None]
    X[..., 0] = real
    X[..., 1] = np.where(real, rng.normal(0, 1, (n, N_OBJECTS)) + shift * y[:, None], 0)
    X[..., 2] = np.where(real, rng.normal(0, 1, (n, N_OBJECTS)), 0)
    return X, y


def _fit(**kw):
    X, y = _toy(1500, 0)
    params = {"max_epochs": 8, "batch_size": 64, "phi_sizes": (16, 16), "f_sizes": (16,),
              "random_state": 3, "device": "cpu"} | kw
    return PFNClassifier(**params).fit(X, y)


@pytest.fixture(scope="module")
def fitted():
    return _fit()


def test_learns_a_separable_toy(fitted):
    X, y = _toy(1000, 1)
    p = fitted.predict_proba(X)
    assert p.shape == (1000, 2) and np.allclose(p.sum(1), 1)
    assert roc_auc_score(y, p[:, 1]) > 0.95
    assert fitted.n_features_in_ == N_FEATURES and len(fitted.history_[0]["val_loss"]) >= 1


def test_permutation_and_padding_invariant(fitted):
    X, _ = _toy(300, 2)
    p = fitted.predict_proba(X)[:, 1]
    perm = np.random.default_rng(0).permutation(N_OBJECTS)
    np.testing.assert_allclose(fitted.predict_proba(X[:, perm])[:, 1], p, atol=1e-6)
    padded = np.concatenate([X, np.zeros((len(X), 4, N_FEATURES), np.float32)], axis=1)
    np.testing.assert_allclose(fitted.predict_proba(padded)[:, 1], p, atol=1e-6)
    # each event's objects shuffled on their own (padding rows interleaved) changes nothing
    rng = np.random.default_rng(1)
    shuffled = np.stack([x[rng.permutation(N_OBJECTS)] for x in X])
    np.testing.assert_allclose(fitted.predict_proba(shuffled)[:, 1], p, atol=1e-6)
    # but the objects' features matter: shifting the real objects' x changes the score
    moved = X.copy()
    moved[..., 1] += 2.0 * (X[..., 0] == 1)
    assert np.abs(fitted.predict_proba(moved)[:, 1] - p).max() > 0.1


def test_same_seed_same_network_and_ensemble(fitted, tmp_path):
    X, _ = _toy(200, 3)
    p = fitted.predict_proba(X)[:, 1]
    np.testing.assert_array_equal(_fit().predict_proba(X)[:, 1], p)
    assert not np.array_equal(_fit(random_state=4).predict_proba(X)[:, 1], p)
    two = _fit(n_models=2, max_epochs=2)
    assert len(two.models_) == 2
    members = []
    for model in two.models_:
        one = _fit(n_models=2, max_epochs=2)
        one.models_ = [model]
        members.append(one.predict_proba(X)[:, 1])
    np.testing.assert_allclose(two.predict_proba(X)[:, 1], np.mean(members, axis=0), atol=1e-12)
    fitted.save(tmp_path / "pfn.pkl")
    np.testing.assert_array_equal(PFNClassifier.load(tmp_path / "pfn.pkl").predict_proba(X)[:, 1],
                                  p)


def test_bad_inputs_name_the_fix(fitted):
    X, y = _toy(100, 4)
    with pytest.raises(ValueError, match="must be 3-D"):
        PFNClassifier().fit(X[:, 0], y)
    with pytest.raises(ValueError, match="2 features per object"):
        fitted.predict_proba(X[..., :2])
    with pytest.raises(ValueError, match="NaN/inf"):
        fitted.predict_proba(np.where(X == 0, np.nan, X))
    with pytest.raises(ValueError, match="no object"):
        PFNClassifier().fit(np.zeros_like(X), y)
    with pytest.raises(ValueError, match="X_val was given without y_val"):
        PFNClassifier().fit(X, y, X_val=X)
    assert object_mask(X).sum() == (X[..., 0] == 1).sum()


def test_out_of_fold_scores_take_per_object_inputs():
    X, y = _toy(900, 5)
    X_extra, y_extra = _toy(150, 6)
    clf = PFNClassifier(max_epochs=6, batch_size=64, phi_sizes=(16, 16), f_sizes=(16,),
                        device="cpu")
    res = out_of_fold_scores(X, y, X_extra, classifier=clf, n_folds=3, random_state=0)
    assert np.isfinite(res.scores).all() and np.isfinite(res.extra_scores).all()
    assert roc_auc_score(y, res.scores) > 0.9 and roc_auc_score(y_extra, res.extra_scores) > 0.9
    assert res.score(X_extra).shape == (150,)
    assert check_rows(X).shape == X.shape and check_rows(X[:, 0]).ndim == 2
