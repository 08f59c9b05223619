"""Higgs production-mode classifier (ggF, VBF, WH, ZH, ttH) trained with signed MC event weights.

The seed notebook (ATLAS Open Data H→γγ course) trained a random forest on the raw weights with
the negative ones dropped and ended "highly biased towards gluon-gluon fusion": ggF carries ~87 %
of the weighted yield, so an unbalanced weighted fit learns to call everything ggF, and weights of
1e-8 leave tree learners without splits that pass their minimum-weight settings.  Here:

* **negative weights** (NLO generators) are kept: the classifier is trained on ``|w|``
  (``negative_weights="abs"``) and every metric is evaluated with the signed weights.  ``|w|``
  trains on the density ``|f|`` instead of ``f``; the two differ only where negative weights
  pile up in feature space, while dropping the negatives (the seed) biases every region where
  they sit, and fitting signed weights makes the tree loss non-convex (negative hessians).  The
  metrics with signed weights are the physical expectations whichever way it was trained.
* **class balancing**: each class gets the same total training weight and the mean weight is 1
  (``class_weight="balanced"``), so the minority modes (VBF, WH, ZH, ttH) count as much as ggF
  and XGBoost's ``min_child_weight`` keeps its meaning.
* features: photon pT/mγγ and η, pTγγ, jet multiplicity and the two leading jets, mjj and Δη_jj,
  b-tagged jets, leptons and MET (:data:`FEATURES`); a missing object's columns are
  :data:`MISSING` (-10, outside every physical range).

:func:`fit_seed_baseline` trains the seed's model for comparison: scikit-learn's
``RandomForestClassifier`` with default settings on the raw weights, negatives dropped, no
balancing.  :func:`confusion_matrices` and :func:`class_metrics` give the raw and weighted
confusion matrices, per-class recall and purity and the balanced accuracy.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd
import xgboost as xgb
from sklearn.base import BaseEstimator
from sklearn.ensemble import RandomForestClassifier

from dimuon_ad.errors import InputError
from ml._validation import check_features, check_fitted

log = logging.getLogger(__name__)

__all__ = ["FEATURES", "MISSING", "NEGATIVE_WEIGHTS", "ProductionModeClassifier",
           "class_metrics", "confusion_matrices", "continuum_scores", "fit_seed_baseline",
           "production_features", "training_weights"]

#: Classifier inputs: skim columns, with photon pT divided by mγγ (GeV / GeV).
FEATURES: tuple[str, ...] = (
    "photon0_pt_over_mgg", "photon1_pt_over_mgg", "photon0_eta", "photon1_eta", "ptgg",
    "n_jets", "jet0_pt", "jet0_eta", "jet1_pt", "jet1_eta", "mjj", "deta_jj", "n_bjets",
    "n_leptons", "lep0_pt", "lep0_eta", "met_et",
)
#: Value of the columns of a missing object (no second jet, no lepton).
MISSING = -10.0
#: Ways to treat negative event weights in training.
NEGATIVE_WEIGHTS = ("abs", "drop")


def production_features(frame: pd.DataFrame) -> np.ndarray:
    """Feature matrix (n_events, len(FEATURES)) of a diphoton skim frame (GeV).

    Raises
    ------
    InputError
        A column of the diphoton contract is missing.
    """
    need = {"mgg", "photon0_pt", "photon1_pt", *[f for f in FEATURES if "_over_" not in f]}
    missing = sorted(need - set(frame.columns))
    if missing:
        raise InputError(f"diphoton frame lacks columns {missing} for the production-mode "
                         "classifier; expected processors.diphoton_columns.DIPHOTON_COLUMNS")
    cols = []
    for name in FEATURES:
        if name.endswith("_over_mgg"):
            col = frame[name.removesuffix("_over_mgg")].to_numpy(np.float64) / \
                frame["mgg"].to_numpy(np.float64)
        else:
            col = frame[name].to_numpy(np.float64)
        cols.append(col)
    X = np.column_stack(cols)
    return np.where(np.isfinite(X), X, MISSING)


def training_weights(y: np.ndarray, weight: np.ndarray, *, n_classes: int,
                     negative_weights: str = "abs",
                     class_weight: str | None = "balanced") -> np.ndarray:
    """Training weights from signed event weights.

    Parameters
    ----------
    y : array of int
        Class labels 0 .. n_classes-1.
    weight : array
        Signed event weights.
    n_classes : int
    negative_weights : {"abs", "drop"}
        ``"abs"``: train on ``|w|``; ``"drop"``: negative weights set to 0 (the seed's choice).
    class_weight : "balanced" or None
        ``"balanced"``: every class gets the same total weight; the mean weight is then 1.

    Raises
    ------
    ValueError
        Unknown option, non-finite weights, or a class without weight.
    """
    y = np.asarray(y)
    w = np.asarray(weight, dtype=np.float64)
    if w.shape != y.shape or not np.all(np.isfinite(w)):
        raise ValueError(f"weights must be {y.shape[0]} finite numbers, got shape {w.shape}")
    if negative_weights not in NEGATIVE_WEIGHTS:
        raise ValueError(f"negative_weights={negative_weights!r}; expected one of "
                         f"{NEGATIVE_WEIGHTS}")
    w = np.abs(w) if negative_weights == "abs" else np.clip(w, 0.0, None)
    if class_weight is None:
        return w
    if class_weight != "balanced":
        raise ValueError(f"class_weight={class_weight!r}; expected 'balanced' or None")
    out = np.zeros_like(w)
    for c in range(n_classes):
        s = w[y == c].sum()
        if s <= 0:
            raise ValueError(f"class {c} has no positive training weight; cannot balance")
        out[y == c] = w[y == c] * (len(w) / n_classes) / s
    return out


class ProductionModeClassifier(BaseEstimator):
    """Multiclass gradient-boosted trees (XGBoost ``multi:softprob``) on signed-weight MC.

    Parameters
    ----------
    n_estimators : int
        Maximum boosting rounds.
    max_depth, learning_rate, subsample : int, float, float
        Tree depth, shrinkage and row subsampling per round.
    early_stopping_rounds : int or None
        Stop when the weighted validation log-loss has not improved for this many rounds.
    validation_fraction : float
        Fraction of the training events (random, seeded) held out for early stopping.
    negative_weights : {"abs", "drop"}
        Treatment of negative weights in training (:func:`training_weights`).
    class_weight : "balanced" or None
        Class balancing of the training weights.
    n_jobs : int
        Threads.
    random_state : int or None
        Seed; the same seed gives identical predictions.

    Attributes
    ----------
    booster_ : xgboost.Booster
    best_iteration_ : int
    n_classes_, n_features_in_ : int

    References
    ----------
    T. Chen, C. Guestrin, arXiv:1603.02754 (XGBoost).
    """

    def __init__(self, n_estimators: int = 400, max_depth: int = 4, learning_rate: float = 0.1,
                 subsample: float = 0.8, early_stopping_rounds: int | None = 20,
                 validation_fraction: float = 0.2, negative_weights: str = "abs",
                 class_weight: str | None = "balanced", n_jobs: int = 1, random_state=None):
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.learning_rate = learning_rate
        self.subsample = subsample
        self.early_stopping_rounds = early_stopping_rounds
        self.validation_fraction = validation_fraction
        self.negative_weights = negative_weights
        self.class_weight = class_weight
        self.n_jobs = n_jobs
        self.random_state = random_state

    def fit(self, X, y, *, sample_weight=None, n_classes: int | None = None):
        """Train on features ``X``, labels ``y`` (0..n_classes-1) and signed ``sample_weight``.

        Returns
        -------
        self
        """
        X = check_features(X)
        y = np.asarray(y, dtype=np.int64)
        if y.shape != (X.shape[0],) or y.min() < 0:
            raise ValueError(f"y must be {X.shape[0]} labels >= 0, got shape {y.shape}")
        k = int(n_classes or y.max() + 1)
        w = np.ones(len(y)) if sample_weight is None else sample_weight
        w = training_weights(y, w, n_classes=k, negative_weights=self.negative_weights,
                             class_weight=self.class_weight)
        seed = int(np.random.SeedSequence(self.random_state).generate_state(1)[0] % (2**31 - 1))
        rng = np.random.default_rng(seed)
        val = np.zeros(len(y), bool)
        if self.early_stopping_rounds is not None:
            if not 0.0 < self.validation_fraction < 1.0:
                raise ValueError(f"validation_fraction={self.validation_fraction}; expected (0, 1)")
            val = rng.random(len(y)) < self.validation_fraction
        params = {"objective": "multi:softprob", "num_class": k, "eval_metric": "mlogloss",
                  "tree_method": "hist", "max_depth": int(self.max_depth),
                  "eta": float(self.learning_rate), "subsample": float(self.subsample),
                  "seed": seed, "nthread": int(self.n_jobs), "verbosity": 0}
        dtrain = xgb.DMatrix(X[~val], label=y[~val], weight=w[~val])
        evals = [(xgb.DMatrix(X[val], label=y[val], weight=w[val]), "val")] if val.any() else []
        self.booster_ = xgb.train(params, dtrain, num_boost_round=int(self.n_estimators),
                                  evals=evals, verbose_eval=False,
                                  early_stopping_rounds=self.early_stopping_rounds if evals
                                  else None)
        self.best_iteration_ = int(self.booster_.best_iteration if evals
                                   else int(self.n_estimators) - 1)
        self.n_classes_, self.n_features_in_ = k, X.shape[1]
        log.debug("production-mode classifier: %d rounds", self.best_iteration_ + 1)
        return self

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities, shape (n, n_classes)."""
        check_fitted(self, "booster_")
        X = check_features(X, n_features=self.n_features_in_)
        return self.booster_.predict(xgb.DMatrix(X), iteration_range=(0, self.best_iteration_ + 1))

    def predict(self, X) -> np.ndarray:
        """Most probable class (the category of an event)."""
        return np.argmax(self.predict_proba(X), axis=1)


def fit_seed_baseline(X, y, sample_weight, *, random_state=None) -> RandomForestClassifier:
    """The seed notebook's baseline: ``RandomForestClassifier(random_state)`` with default
    settings, trained on the raw weights with negative-weight events dropped, no balancing."""
    X = check_features(X)
    w = np.asarray(sample_weight, dtype=np.float64)
    keep = w > 0
    return RandomForestClassifier(random_state=random_state, n_jobs=1).fit(
        X[keep], np.asarray(y)[keep], sample_weight=w[keep])


def confusion_matrices(y_true: np.ndarray, y_pred: np.ndarray, weight: np.ndarray,
                       n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Raw and weighted confusion matrices, rows = true class, columns = predicted class.

    Returns
    -------
    raw : ndarray of int, (n_classes, n_classes)
        Event counts.
    weighted : ndarray, (n_classes, n_classes)
        Sums of the signed weights (expected events).
    """
    t, p = np.asarray(y_true, np.int64), np.asarray(y_pred, np.int64)
    w = np.asarray(weight, np.float64)
    if not (t.shape == p.shape == w.shape):
        raise ValueError(f"y_true, y_pred and weight differ in shape: {t.shape}, {p.shape}, "
                         f"{w.shape}")
    idx = t * n_classes + p
    raw = np.bincount(idx, minlength=n_classes**2).reshape(n_classes, n_classes)
    wtd = np.bincount(idx, weights=w, minlength=n_classes**2).reshape(n_classes, n_classes)
    return raw, wtd


def class_metrics(matrix: np.ndarray, names: Sequence[str]) -> dict:
    """Per-class recall (diagonal / row sum) and purity (diagonal / column sum) of a confusion
    matrix (weighted or raw), and the balanced accuracy (mean recall)."""
    m = np.asarray(matrix, dtype=np.float64)
    diag = np.diag(m)
    with np.errstate(divide="ignore", invalid="ignore"):
        recall = diag / m.sum(axis=1)
        purity = diag / m.sum(axis=0)
    return {"recall": dict(zip(names, map(float, recall), strict=True)),
            "purity": dict(zip(names, map(float, purity), strict=True)),
            "balanced_accuracy": float(np.nanmean(recall)),
            "accuracy": float(diag.sum() / m.sum())}


def continuum_scores(X_signal, w_signal, X_data, is_sideband, *, X_signal_eval=None,
                     random_state=None) -> tuple[np.ndarray, np.ndarray | None]:
    """Higgs-vs-continuum score: simulated Higgs events against sideband data, out of fold.

    The data are split in two halves (seeded); a binary :class:`ml.classifiers.
    XGBEnsembleClassifier` (balanced classes) is trained on the Higgs MC (``|w|``) against the
    sideband data of one half and scores the other half, so no data event is scored by a model
    that saw it, and SR data never enter a training.

    Parameters
    ----------
    X_signal, w_signal : array
        Training Higgs MC features and signed weights.
    X_data : array
        Data features (all events).
    is_sideband : bool array
        Data events in the mass sidebands (the continuum used in training).
    X_signal_eval : array, optional
        Further MC events (not used in training) to score with the mean of both models.
    random_state : int, optional

    Returns
    -------
    data_scores : ndarray
        Out-of-fold score of every data event (higher = more Higgs-like).
    signal_scores : ndarray or None
        Scores of ``X_signal_eval``.
    """
    from ml.classifiers import XGBEnsembleClassifier

    X_signal, X_data = check_features(X_signal), check_features(X_data)
    sb = np.asarray(is_sideband, dtype=bool)
    w_sig = np.abs(np.asarray(w_signal, dtype=np.float64))
    w_sig = w_sig * len(w_sig) / w_sig.sum()
    seeds = np.random.SeedSequence(random_state).generate_state(3) % (2**31 - 1)
    half = np.random.default_rng(int(seeds[2])).random(len(X_data)) < 0.5
    data_scores = np.empty(len(X_data))
    eval_scores = []
    for k, train_half in enumerate((half, ~half)):
        bkg = X_data[sb & train_half]
        X = np.vstack([X_signal, bkg])
        y = np.concatenate([np.ones(len(X_signal), int), np.zeros(len(bkg), int)])
        w = np.concatenate([w_sig, np.ones(len(bkg))])
        # the settings this score was tuned with (the classifier's defaults before issue 11)
        model = XGBEnsembleClassifier(n_estimators=300, max_depth=3, early_stopping_rounds=10,
                                      min_rounds=0, smoothing=1,
                                      random_state=int(seeds[k])).fit(X, y, sample_weight=w)
        data_scores[~train_half] = model.predict_proba(X_data[~train_half])[:, 1]
        if X_signal_eval is not None:
            eval_scores.append(model.predict_proba(check_features(X_signal_eval))[:, 1])
    return data_scores, (np.mean(eval_scores, axis=0) if eval_scores else None)
