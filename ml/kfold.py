"""k-fold out-of-fold scoring: every event is scored once by models that never saw it.

The scheme of the CMS Open Data dimuon analysis (arXiv:2502.14036): the labelled training sample
(signal-region data, label 1, and the background template, label 0) is split into ``n_folds``
stratified partitions. For fold ``k`` partition ``k`` is the test set, partition ``k + 1`` (mod
``n_folds``) the validation set for early stopping and the remaining ``n_folds - 2`` partitions
(3 of 5) the training set. Every labelled event is therefore scored exactly once, by the model of
the fold in which it is a test event. Extra events that are never trained on (the sideband data)
are split into ``n_folds`` random partitions as well and partition ``k`` is scored by fold ``k``'s
model, so sideband and signal-region scores come from the same models and are directly comparable.
New events (e.g. the same-sign sample) are scored by the average over all fold models.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
from sklearn.base import clone
from tqdm.auto import tqdm

from ml._validation import check_rows
from ml.classifiers import _check_labels, _check_weights, _seeds

log = logging.getLogger(__name__)

__all__ = ["OutOfFoldResult", "assign_folds", "fit_fold", "fold_roles", "out_of_fold_scores"]


def assign_folds(y: np.ndarray, n_folds: int, random_state=None) -> np.ndarray:
    """Stratified random fold index (0 .. n_folds-1) for each event.

    Each class is shuffled and dealt round-robin, so every fold holds the same share of each
    class (to within one event).

    Parameters
    ----------
    y : ndarray of int, shape (n,)
        Class labels (any integers; use zeros for unlabelled events).
    n_folds : int
    random_state : int, numpy Generator or None

    Returns
    -------
    ndarray of int, shape (n,)
    """
    rng = np.random.default_rng(random_state)
    y = np.asarray(y)
    fold = np.empty(len(y), dtype=np.int64)
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        fold[rng.permutation(idx)] = np.arange(len(idx)) % n_folds
    return fold


def fold_roles(k: int, n_folds: int) -> tuple[int, int, list[int]]:
    """(test, validation, training partitions) of fold ``k``: test ``k``, validation ``k + 1``."""
    test, val = k % n_folds, (k + 1) % n_folds
    return test, val, [j for j in range(n_folds) if j not in (test, val)]


@dataclass
class OutOfFoldResult:
    """Out-of-fold scores and the fold models that produced them.

    Attributes
    ----------
    scores : ndarray, shape (n,)
        Class-1 probability of each labelled event from the fold where it was a test event.
    fold : ndarray of int, shape (n,)
        Fold (= test partition) of each labelled event.
    extra_scores : ndarray, shape (n_extra,) or None
        Scores of the extra (never trained on) events, one fold model each.
    extra_fold : ndarray of int, shape (n_extra,) or None
    models : list
        The fitted classifier of each fold.
    """

    scores: np.ndarray
    fold: np.ndarray
    extra_scores: np.ndarray | None
    extra_fold: np.ndarray | None
    models: list = field(default_factory=list)

    def score(self, X) -> np.ndarray:
        """Class-1 probability of new events, averaged over all fold models, shape (n,)."""
        X = check_rows(X, n_features=self.models[0].n_features_in_)
        return np.mean([m.predict_proba(X)[:, 1] for m in self.models], axis=0)


def fit_fold(k, n_folds, X, y, w, fold, X_extra, extra_fold, classifier, seed):
    """Train the classifier of fold ``k`` and score its test (and extra) events.

    Partition ``k`` is the test set, ``k + 1`` the validation set, the rest the training set
    (:func:`fold_roles`). A module-level function, so a cluster can run the folds in parallel
    (the ``map`` of :func:`out_of_fold_scores`).

    Returns
    -------
    (model, scores of the test events, scores of the extra events of partition ``k`` or None)
    """
    test, val, train = fold_roles(k, n_folds)
    tr, va, te = np.isin(fold, train), fold == val, fold == test
    model = clone(classifier)
    if "random_state" in model.get_params():
        model.set_params(random_state=seed)
    model.fit(X[tr], y[tr], sample_weight=w[tr],
              X_val=X[va], y_val=y[va], sample_weight_val=w[va])
    p_test = model.predict_proba(X[te])[:, 1]
    p_extra = None
    if X_extra is not None and (extra_fold == test).any():
        p_extra = model.predict_proba(X_extra[extra_fold == test])[:, 1]
    log.debug("fold %d: trained on partitions %s, validated on %d, tested on %d",
              k, train, val, test)
    return model, p_test, p_extra


def out_of_fold_scores(
    X_sr,
    y_sr,
    X_extra=None,
    *,
    classifier,
    n_folds: int = 5,
    sample_weight=None,
    random_state=None,
    verbose: bool = False,
    map=None,  # noqa: A002 - the mapping function, as in concurrent.futures' Executor.map
) -> OutOfFoldResult:
    """Train one classifier per fold and score every event out of fold.

    Parameters
    ----------
    X_sr : array, shape (n, d) or (n, n_objects, d)
        Labelled training events (e.g. signal-region data and background template); 3-D for
        per-object classifiers (:class:`ml.pfn.PFNClassifier`).
    y_sr : array of 0/1, shape (n,)
        Labels (1: data, 0: template in CATHODE).
    X_extra : array, shape (n_extra, d) or (n_extra, n_objects, d), optional
        Events that are only scored, never trained on (the sideband data).
    classifier : estimator
        Unfitted classifier with ``fit(X, y, *, sample_weight, X_val, y_val,
        sample_weight_val)`` and ``predict_proba``; cloned per fold (an ensemble such as
        :class:`ml.classifiers.XGBEnsembleClassifier` averages its ``n_models`` per fold).
    n_folds : int
        At least 3 (one test, one validation and at least one training partition).
    sample_weight : array, shape (n,), optional
        Event weights (e.g. template weights), passed to ``fit`` for training and validation.
    random_state : int or None
        Seeds the fold assignment and the per-fold classifier seeds.
    verbose : bool
        Progress bar over folds (stderr).
    map : callable, optional
        ``map(fn, list_of_argument_tuples) -> list of results`` running :func:`fit_fold` for
        every fold, e.g. ``analysis.parallel.TaskRunner.map`` on a Dask cluster; default: the
        folds one after the other in this process. The results do not depend on it.

    Returns
    -------
    OutOfFoldResult

    References
    ----------
    arXiv:2502.14036 (fold scheme); A. Hallin et al., arXiv:2109.00546 (CATHODE).
    """
    if not isinstance(n_folds, (int, np.integer)) or n_folds < 3:
        raise ValueError(f"n_folds={n_folds!r}; expected an int >= 3 (test, validation, training)")
    X = check_rows(X_sr, name="X_sr")
    y = _check_labels(y_sr, len(X), "y_sr")
    w = _check_weights(sample_weight, len(X))
    if X_extra is not None:
        X_extra = check_rows(X_extra, name="X_extra", n_features=X.shape[-1])
    for c in (0, 1):
        if (y == c).sum() < n_folds:
            raise ValueError(
                f"class {c} has {(y == c).sum()} events; need at least n_folds={n_folds} "
                "to fill every fold"
            )
    seeds = _seeds(random_state, n_folds + 2)
    fold = assign_folds(y, n_folds, seeds[-1])
    extra_fold = None
    if X_extra is not None:
        extra_fold = np.random.default_rng(seeds[-2]).permutation(len(X_extra)) % n_folds
    args = [(k, n_folds, X, y, w, fold, X_extra, extra_fold, classifier, seeds[k])
            for k in range(n_folds)]
    if map is None:
        results = [fit_fold(*a) for a in tqdm(args, desc="folds", disable=not verbose,
                                              leave=False)]
    else:
        results = list(map(fit_fold, args))
    scores = np.full(len(X), np.nan)
    extra_scores = None if X_extra is None else np.full(len(X_extra), np.nan)
    models = []
    for k, (model, p_test, p_extra) in enumerate(results):
        scores[fold == k] = p_test
        if p_extra is not None:
            extra_scores[extra_fold == k] = p_extra
        models.append(model)
    return OutOfFoldResult(scores, fold, extra_scores, extra_fold, models)
