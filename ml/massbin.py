"""The mass-bin classifier test: can a classifier tell adjacent dimuon-mass bins apart?

For each pair of adjacent mass bins (i, i + 1) across a range, a classifier is trained to
separate bin i (label 0) from bin i + 1 (label 1) on the auxiliary features and scores a held-out
test set it never saw; the area under the ROC curve (AUC) of those scores is the test statistic.
Without new physics, and with features whose distribution does not change with the mass, the AUC
is 0.5; a resonance in one bin makes it distinguishable from its neighbour (particledist, built
on the Particle Flow Networks of arXiv:1810.05165). Smooth background trends with the mass can
also separate the bins; :class:`ml.decorrelation.MassDecorrelator` (polynomials in m fitted over
the whole range, option ``decorrelate``) removes their first two moments.

The null distribution of the AUC
--------------------------------
The test set is a stratified random ``test_fraction`` of the pair's events; the model is trained
(with its own early-stopping split) on the rest only. Under the null (both bins share one
feature distribution) the test events' scores are then i.i.d. given the model and independent of
their labels, so the labels are exchangeable given the scores: the Mann-Whitney situation. The
permutation null of the AUC of the *fixed* held-out scores is exact; its mean is 0.5 and its
variance follows from sampling without replacement (ties included), and the p-value is the
normal tail of the standardised AUC (the rank sum of hundreds of events is normal to high
accuracy, and the normal tail reaches the large Z of a real signal, which a finite number of
permutations cannot). ``n_null`` explicit permutations per pair (milliseconds) draw the null
band of the scan plot and cross-check the normal tail (``p_perm``). No retraining is needed.

Why not k-fold out-of-fold scores: pooling (or summing per-fold rank statistics of) out-of-fold
scores of several fold models is *not* calibrated by label permutations of the fixed scores. Each
fold's AUC alone is exact, but every fold model learns the same chance excess of the finite
sample from the other folds' events, so the fold AUCs are positively correlated: on Gaussian
noise (two 450-event classes, 3 features, the default BDT, 200 pairs; ``python -m
benchmarks.weak_null --calibration 200``) the standardised 5-fold statistic had standard
deviation 1.13 and 7.5 % of the null pairs beyond the one-sided 5 % point, the held-out split
0.92 and 3.5 % (slightly conservative: an early-stopped BDT gives tied scores). Calibrating
the k-fold statistic would need retraining on permuted labels (hundreds of trainings per pair);
a single held-out split is exact at the price of testing on a part of the events.

Look-elsewhere correction over the pairs: Sidak, ``p_global = 1 - (1 - p_min)^n_pairs``. Adjacent
pairs share a bin, so their statistics are positively correlated and this is conservative
(exact for independent pairs).

References
----------
particledist (mass-bin PFN classifier, signal injection to 3 and 5 sigma); P. T. Komiske,
E. M. Metodiev, J. Thaler, arXiv:1810.05165 (Particle Flow Networks); H. B. Mann,
D. R. Whitney, Ann. Math. Statist. 18 (1947) 50 (rank-sum null).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats as sps
from sklearn.base import clone
from tqdm.auto import tqdm

from ml._validation import check_rows
from ml.classifiers import XGBEnsembleClassifier, _seeds
from ml.decorrelation import MassDecorrelator, _check_mass

log = logging.getLogger(__name__)

__all__ = [
    "AucTest",
    "MassBinScan",
    "auc_test",
    "bin_pairs",
    "default_classifier",
    "ks_uniformity",
    "massbin_scan",
    "pair_scores",
]


def default_classifier(random_state=None) -> XGBEnsembleClassifier:
    """The small BDT of the scan: one XGBoost model, 100 rounds of depth 2, early stopping 10."""
    return XGBEnsembleClassifier(n_models=1, n_estimators=100, max_depth=2, learning_rate=0.1,
                                 early_stopping_rounds=10, min_rounds=0, smoothing=1,
                                 random_state=random_state)


def bin_pairs(low: float, high: float, width: float, step: float | None = None) -> np.ndarray:
    """Adjacent bin pairs ``(lower edge, shared edge, upper edge)`` in GeV covering [low, high].

    Parameters
    ----------
    low, high : float
        Scan range in GeV.
    width : float
        Width of each bin in GeV.
    step : float, optional
        Shift between consecutive pairs; ``None`` (= ``width``): fixed bins, pair i is bins i
        and i + 1; smaller: a sliding scan (overlapping pairs).

    Returns
    -------
    ndarray, shape (n_pairs, 3)
    """
    step = width if step is None else step
    if not (np.isfinite([low, high, width, step]).all() and width > 0 and step > 0
            and high - low >= 2 * width):
        raise ValueError(f"bin pairs over [{low}, {high}] GeV with width {width} and step {step}: "
                         "expected width > 0, step > 0 and high - low >= 2 * width")
    n = int(np.floor((high - low - 2 * width) / step + 1e-9)) + 1
    a = low + step * np.arange(n)
    return np.column_stack([a, a + width, a + 2 * width])


@dataclass
class AucTest:
    """AUC of held-out scores and its permutation null.

    Attributes
    ----------
    auc : float
    null_mean, null_std : float
        Exact mean (0.5) and standard deviation of the AUC under label permutations.
    z : float
        ``(auc - null_mean) / null_std``.
    p : float
        One-sided normal tail ``P(AUC >= auc)`` under the null.
    null : ndarray, shape (n_null,)
        AUCs of label permutations.
    p_perm : float
        ``(1 + #(null >= auc)) / (n_null + 1)`` (a check of ``p``; floor ``1 / (n_null + 1)``).
    """

    auc: float
    null_mean: float
    null_std: float
    z: float
    p: float
    null: np.ndarray
    p_perm: float


def auc_test(scores, labels, n_null: int = 500, random_state=None) -> AucTest:
    """AUC of ``scores`` for ``labels`` with the Mann-Whitney null of label permutations.

    Valid when the scores come from a model that never saw these events (a held-out test
    set): then, under the null, the labels are exchangeable given the scores.

    Parameters
    ----------
    scores : array, shape (n,)
        Held-out classifier scores (higher: more like label 1).
    labels : array of 0/1, shape (n,)
    n_null : int
        Permutations drawn for ``null`` and ``p_perm`` (0: none).
    random_state : int or None

    Returns
    -------
    AucTest
    """
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels).astype(bool)
    if s.shape != y.shape or s.ndim != 1:
        raise ValueError(f"scores {s.shape} and labels {y.shape} must be 1-D of equal length")
    n1, n = int(y.sum()), len(y)
    if n1 == 0 or n1 == n:
        raise ValueError(f"labels hold {n1} events of class 1 and {n - n1} of class 0; "
                         "need both")
    r = sps.rankdata(s)  # average ranks: ties count one half
    norm = float(n1) * (n - n1)
    offset = n1 * (n1 + 1) / 2.0
    auc = (r[y].sum() - offset) / norm
    # exact permutation mean and variance of the rank sum (sampling n1 of n without replacement)
    null_std = np.sqrt(n1 * (n - n1) / (n - 1) * r.var()) / norm
    z = (auc - 0.5) / null_std if null_std > 0 else 0.0
    rng = np.random.default_rng(random_state)
    null = np.empty(int(n_null))
    for i0 in range(0, int(n_null), 100):  # 100 permutations at a time (memory)
        k = min(100, int(n_null) - i0)
        perm = np.argsort(rng.random((k, n)), axis=1)[:, :n1]
        null[i0:i0 + k] = (r[perm].sum(axis=1) - offset) / norm
    p_perm = float((1 + np.sum(null >= auc)) / (len(null) + 1)) if len(null) else float("nan")
    return AucTest(float(auc), 0.5, float(null_std), float(z), float(sps.norm.sf(z)), null,
                   p_perm)


def pair_scores(X_lo, X_hi, classifier, test_fraction: float, seed: int):
    """Held-out scores of one pair: labels 0 (lower bin) and 1 (upper bin).

    A stratified random ``test_fraction`` of the events is the test set; the classifier is
    trained on the rest (its own validation split for early stopping comes out of that rest)
    and scores the test events. A module-level function so that a cluster can run the pairs in
    parallel.

    Returns
    -------
    (test scores, test labels)
    """
    X = np.concatenate([X_lo, X_hi])
    y = np.concatenate([np.zeros(len(X_lo), dtype=np.int64), np.ones(len(X_hi), dtype=np.int64)])
    train_seed, split_seed = _seeds(seed, 2)
    test = np.zeros(len(y), dtype=bool)
    rng = np.random.default_rng(split_seed)
    for c in (0, 1):
        idx = np.flatnonzero(y == c)
        test[rng.choice(idx, int(round(test_fraction * len(idx))), replace=False)] = True
    model = clone(classifier)
    if "random_state" in model.get_params():
        model.set_params(random_state=train_seed)
    model.fit(X[~test], y[~test])
    return model.predict_proba(X[test])[:, 1], y[test]


@dataclass
class MassBinScan:
    """Result of :func:`massbin_scan`.

    Attributes
    ----------
    edges : ndarray, shape (n_pairs, 3)
        Lower edge, shared edge, upper edge of each pair (GeV).
    n_events : ndarray of int, shape (n_pairs, 2)
        Events in the lower and upper bin.
    auc, null_mean, null_std, z, p, p_perm : ndarray, shape (n_pairs,)
        Per pair, see :class:`AucTest` (NaN for a pair with too few events).
    null : ndarray, shape (n_pairs, n_null)
        Permutation AUCs per pair (the band of the scan plot).
    p_global, z_global : float
        Sidak look-elsewhere correction of the smallest p over the tested pairs.
    settings : dict
        The settings of the scan (for results.json).
    """

    edges: np.ndarray
    n_events: np.ndarray
    auc: np.ndarray
    null_mean: np.ndarray
    null_std: np.ndarray
    z: np.ndarray
    p: np.ndarray
    p_perm: np.ndarray
    null: np.ndarray
    p_global: float
    z_global: float
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def tested(self) -> np.ndarray:
        """Mask of the pairs that had enough events to be tested."""
        return np.isfinite(self.p)

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON summary (no permutation draws; their 1 and 2 sigma quantiles instead)."""
        q = (np.nanquantile(self.null, [0.02275, 0.15866, 0.84134, 0.97725], axis=1).T
             if self.null.size else np.full((len(self.auc), 4), np.nan))
        return {
            "settings": self.settings,
            "pairs": [
                {"edges_gev": [float(e) for e in self.edges[i]],
                 "n_events": [int(n) for n in self.n_events[i]],
                 "auc": _num(self.auc[i]), "null_mean": _num(self.null_mean[i]),
                 "null_std": _num(self.null_std[i]), "z": _num(self.z[i]),
                 "p": _num(self.p[i]), "p_perm": _num(self.p_perm[i]),
                 "null_quantiles": [_num(v) for v in q[i]]}
                for i in range(len(self.auc))
            ],
            "p_global": _num(self.p_global),
            "z_global": _num(self.z_global),
            "ks_uniformity_p": _num(ks_uniformity(self.p)),
        }


def _num(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


def ks_uniformity(p_values) -> float:
    """Kolmogorov-Smirnov p-value of the hypothesis that ``p_values`` are uniform on [0, 1]
    (NaNs dropped; NaN for fewer than 3 values)."""
    p = np.asarray(p_values, dtype=np.float64)
    p = p[np.isfinite(p)]
    return float(sps.kstest(p, "uniform").pvalue) if len(p) >= 3 else float("nan")


def massbin_scan(
    X,
    m,
    *,
    low: float = 5.0,
    high: float = 16.0,
    width: float = 0.5,
    step: float | None = None,
    classifier=None,
    test_fraction: float = 0.5,
    n_null: int = 300,
    decorrelate: int | None = None,
    min_events: int = 50,
    random_state=0,
    verbose: bool = False,
    map=None,  # noqa: A002 - the mapping function, as in ml.kfold.out_of_fold_scores
) -> MassBinScan:
    """The mass-bin classifier test over adjacent bin pairs in [low, high] GeV.

    Parameters
    ----------
    X : array, shape (n, d) or (n, n_objects, d)
        Auxiliary features (GeV, cm) of every event (any mass; events outside the range are
        ignored); 3-D (padded objects) for a per-object classifier such as
        :class:`ml.pfn.PFNClassifier` (then without ``decorrelate``).
    m : array, shape (n,)
        Dimuon masses in GeV.
    low, high, width, step : float
        Scan range, bin width and shift between pairs in GeV (:func:`bin_pairs`).
    classifier : estimator, optional
        Unfitted classifier with ``fit(X, y)`` and ``predict_proba`` (cloned per pair);
        default :func:`default_classifier`.
    test_fraction : float
        Held-out share of each pair's events (stratified); the rest trains the classifier.
    n_null : int
        Label permutations per pair (null band, ``p_perm``).
    decorrelate : int or None
        Degree of the :class:`ml.decorrelation.MassDecorrelator` fitted on all events of the
        range before the scan; ``None`` uses the raw features.
    min_events : int
        Pairs with fewer events in either bin are not tested (NaN).
    random_state : int
        Seeds the splits, the classifiers and the permutations.
    verbose : bool
        Progress bar over pairs.
    map : callable, optional
        ``map(fn, list_of_argument_tuples)`` running :func:`pair_scores` for all pairs (e.g.
        ``analysis.parallel.TaskRunner.map``); default: one after the other.

    Returns
    -------
    MassBinScan
    """
    X = check_rows(X)
    m = _check_mass(m, len(X))
    if decorrelate is not None and X.ndim != 2:
        raise ValueError("decorrelate needs 2-D features (n, d); per-object inputs are not "
                         "decorrelated -- pass decorrelate=None")
    pairs = bin_pairs(low, high, width, step)
    in_range = (m >= pairs[0, 0]) & (m < pairs[-1, 2])
    Xr, mr = X[in_range], m[in_range]
    if decorrelate is not None:
        Xr = MassDecorrelator(degree=int(decorrelate), random_state=random_state).fit_transform(
            Xr, mr)
    classifier = classifier if classifier is not None else default_classifier()
    seeds = _seeds(random_state, 2 * len(pairs))
    n_events = np.zeros((len(pairs), 2), dtype=np.int64)
    jobs, tested = [], []
    for i, (a, b, c) in enumerate(pairs):
        lo, hi = (mr >= a) & (mr < b), (mr >= b) & (mr < c)
        n_events[i] = lo.sum(), hi.sum()
        if min(n_events[i]) >= int(min_events):
            jobs.append((Xr[lo], Xr[hi], classifier, test_fraction, seeds[i]))
            tested.append(i)
    if map is None:
        results = [pair_scores(*a) for a in tqdm(jobs, desc="mass-bin pairs",
                                                   disable=not verbose, leave=False)]
    else:
        results = list(map(pair_scores, jobs))
    nan = np.full(len(pairs), np.nan)
    out = {k: nan.copy() for k in ("auc", "null_mean", "null_std", "z", "p", "p_perm")}
    null = np.full((len(pairs), int(n_null)), np.nan)
    for i, (s, y) in zip(tested, results, strict=True):
        t = auc_test(s, y, n_null=n_null, random_state=seeds[len(pairs) + i])
        for k in out:
            out[k][i] = getattr(t, k)
        null[i] = t.null
        log.debug("pair %.2f-%.2f-%.2f GeV: AUC %.4f, Z %.2f", *pairs[i], t.auc, t.z)
    p_tested = out["p"][np.isfinite(out["p"])]
    if len(p_tested):
        p_min = float(p_tested.min())
        p_global = float(-np.expm1(len(p_tested) * np.log1p(-p_min))) if p_min < 1 else 1.0
    else:
        p_global = float("nan")
    z_global = float(sps.norm.isf(p_global)) if np.isfinite(p_global) else float("nan")
    settings = {"low_gev": float(low), "high_gev": float(high), "width_gev": float(width),
                "step_gev": float(width if step is None else step),
                "test_fraction": float(test_fraction),
                "n_null": int(n_null), "decorrelate": decorrelate,
                "min_events": int(min_events), "random_state": random_state,
                "classifier": type(classifier).__name__}
    log.info("mass-bin scan: %d of %d pairs tested, smallest p %.3g, global Z %.2f",
             len(tested), len(pairs), p_tested.min() if len(p_tested) else np.nan, z_global)
    return MassBinScan(pairs, n_events, out["auc"], out["null_mean"], out["null_std"], out["z"],
                       out["p"], out["p_perm"], null, p_global, z_global, settings)
