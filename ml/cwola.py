"""CWoLa hunting: a classifier of signal-region vs sideband events, cut and bump-hunted.

Classification without labels (CWoLa; Metodiev, Nachman, Thaler, arXiv:1708.02949) applied to a
resonance search (Collins, Howe, Nachman, arXiv:1805.02664, arXiv:1902.02634): the events of
the signal region (label 1) and of the two sidebands (label 0) are separated on auxiliary
features. Without signal, and with features independent of the mass, the two classes share one
distribution and the classifier learns nothing; a resonance in the SR makes SR events
distinguishable, and the most SR-like events are then bump-hunted. No background density model
is learned.

Every event of the window (sidebands included) is scored out of fold by
:func:`ml.kfold.out_of_fold_scores`, so the scores of the sideband events, on which the cut
thresholds are measured (false-positive rates), come from models that never saw them. The cut
and the pyhf sideband fit are those of every ``kind = "cut"`` method
(:mod:`analysis.methods`, :func:`stats.significance.scan_cut`).

Sculpting: when the features depend on the mass, the classifier learns the mass, the cut
efficiency rises towards the SR and the cut spectrum gets a bump at the SR with no signal.
:func:`cut_efficiency_by_mass` measures it (cut efficiency per mass bin relative to the sideband
false-positive rate); ``decorrelate`` fits :class:`ml.decorrelation.MassDecorrelator` on the
sideband events and standardises every feature by its polynomial mean and spread in m before the
classifier sees it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats as sps

from ml._validation import check_rows
from ml.classifiers import XGBEnsembleClassifier, _seeds
from ml.decorrelation import MassDecorrelator, _check_mass
from ml.kfold import out_of_fold_scores

log = logging.getLogger(__name__)

__all__ = ["CwolaScores", "cut_efficiency_by_mass", "cwola_scores", "default_classifier"]


def default_classifier(random_state=None) -> XGBEnsembleClassifier:
    """The CWoLa BDT when none is given: an ensemble of 5 XGBoost models (depth 3, early
    stopping), the settings of the CATHODE classifier with fewer members."""
    return XGBEnsembleClassifier(n_models=5, n_estimators=300, max_depth=3,
                                 early_stopping_rounds=10, min_rounds=0, smoothing=1,
                                 random_state=random_state)


@dataclass
class CwolaScores:
    """Out-of-fold CWoLa scores.

    Attributes
    ----------
    scores : ndarray, shape (n,)
        SR-vs-sideband classifier output of every event (higher: more SR-like).
    fold : ndarray of int, shape (n,)
        Fold in which each event was a test event.
    decorrelator : MassDecorrelator or None
        Fitted on the sideband events when ``decorrelate`` was asked for.
    models : list
        The classifier of each fold.
    """

    scores: np.ndarray
    fold: np.ndarray
    decorrelator: Any
    models: list

    def score(self, X, m) -> np.ndarray:
        """Scores of new events (e.g. the same-sign sample): the average over the fold models,
        after the same decorrelation; ``m`` in GeV."""
        X = check_rows(X)
        if self.decorrelator is not None:
            X = self.decorrelator.transform(X, _check_mass(m, len(X)))
        return np.mean([model.predict_proba(X)[:, 1] for model in self.models], axis=0)


def cwola_scores(
    X,
    m,
    sr,
    *,
    classifier=None,
    n_folds: int = 5,
    decorrelate: int | None = None,
    random_state=None,
    verbose: bool = False,
    map=None,  # noqa: A002 - the mapping function, as in ml.kfold.out_of_fold_scores
) -> CwolaScores:
    """Score every event of the window by an out-of-fold SR-vs-sideband classifier.

    Parameters
    ----------
    X : array, shape (n, d) or (n, n_objects, d)
        Auxiliary features (GeV, cm) of the window's events; 3-D for per-object classifiers
        (without ``decorrelate``).
    m : array, shape (n,)
        Masses in GeV (only used by ``decorrelate``).
    sr : array of bool, shape (n,)
        Signal-region events (label 1); the others are sideband events (label 0).
    classifier : estimator, optional
        Unfitted classifier with the :mod:`ml.kfold` interface (e.g.
        :class:`ml.classifiers.XGBEnsembleClassifier`, :class:`ml.classifiers.MLPClassifier`
        or the per-object PFN); default :func:`default_classifier`.
    n_folds : int
        Folds (>= 3: test, validation and training partitions).
    decorrelate : int or None
        Degree of the :class:`ml.decorrelation.MassDecorrelator` fitted on the sideband events
        and applied to all events; None: raw features.
    random_state : int or None
        Seeds the folds and the classifiers.
    verbose : bool
        Progress bar over folds.
    map : callable, optional
        Runs the folds (e.g. ``analysis.parallel.TaskRunner.map``).

    Returns
    -------
    CwolaScores

    References
    ----------
    J. H. Collins, K. Howe, B. Nachman, arXiv:1805.02664 and arXiv:1902.02634.
    """
    X = check_rows(X)
    m = _check_mass(m, len(X))
    sr = np.asarray(sr, dtype=bool)
    if sr.shape != (len(X),):
        raise ValueError(f"sr must be a boolean mask of shape ({len(X)},); got {sr.shape}")
    seeds = _seeds(random_state, 2)
    dec = None
    if decorrelate is not None:
        if X.ndim != 2:
            raise ValueError("decorrelate needs 2-D features (n, d); per-object inputs are "
                             "not decorrelated -- pass decorrelate=None")
        dec = MassDecorrelator(degree=int(decorrelate), random_state=seeds[0]).fit(X[~sr], m[~sr])
        X = dec.transform(X, m)
    clf = classifier if classifier is not None else default_classifier()
    res = out_of_fold_scores(X, sr.astype(np.int64), classifier=clf, n_folds=n_folds,
                             random_state=seeds[1], verbose=verbose, map=map)
    log.info("CWoLa: %d SR and %d sideband events scored out of fold (%d folds)",
             int(sr.sum()), int((~sr).sum()), n_folds)
    return CwolaScores(res.scores, res.fold, dec, res.models)


def cut_efficiency_by_mass(
    m,
    scores,
    sb,
    fprs: Sequence[float],
    edges,
) -> dict[str, Any]:
    """Sculpting check: the efficiency of sideband-measured cuts in bins of the mass.

    For each false-positive rate the threshold keeps that fraction of the sideband events
    (:func:`stats.significance.cut_thresholds`); without mass dependence of the score every
    mass bin keeps the same fraction. On a signal-free sample a rise towards the SR is
    sculpting.

    Parameters
    ----------
    m : array, shape (n,)
        Masses in GeV.
    scores : array, shape (n,)
        Higher: more signal-like.
    sb : array of bool, shape (n,)
        Sideband events (where the thresholds are measured).
    fprs : sequence of float
    edges : array
        Mass bin edges in GeV.

    Returns
    -------
    dict with ``edges``, ``fprs``, ``efficiency`` (per FPR, per bin), ``n`` (events per bin),
    ``chi2``, ``ndf`` and ``p_flat`` (per FPR: binomial chi-square of a flat efficiency equal to
    the FPR over the bins with events; the SR bins included).
    """
    from stats.significance import cut_thresholds

    m = np.asarray(m, dtype=np.float64)
    s = np.asarray(scores, dtype=np.float64)
    sb = np.asarray(sb, dtype=bool)
    edges = np.asarray(edges, dtype=np.float64)
    idx = np.digitize(m, edges) - 1
    inside = (idx >= 0) & (idx < len(edges) - 1)
    n = np.bincount(idx[inside], minlength=len(edges) - 1)
    out: dict[str, Any] = {"edges": edges.tolist(), "fprs": [float(f) for f in fprs],
                           "n": n.tolist(), "efficiency": [], "chi2": [], "ndf": [],
                           "p_flat": []}
    for fpr, thr in zip(fprs, cut_thresholds(s[sb], fprs), strict=True):
        if thr is None:
            k = np.zeros_like(n)
        else:
            k = np.bincount(idx[inside & (s >= thr)], minlength=len(edges) - 1)
        with np.errstate(invalid="ignore", divide="ignore"):
            eff = np.where(n > 0, k / np.maximum(n, 1), np.nan)
            var = n * fpr * (1 - fpr)
            chi2 = float(np.sum(((k - n * fpr) ** 2 / var)[n > 0]))
        ndf = int((n > 0).sum())
        out["efficiency"].append([None if not np.isfinite(e) else float(e) for e in eff])
        out["chi2"].append(chi2)
        out["ndf"].append(ndf)
        out["p_flat"].append(float(sps.chi2.sf(chi2, ndf)) if ndf else float("nan"))
    return out
