"""The compute steps of the CATHODE analysis, as plain functions of arrays and settings.

Nothing here knows about files, the cache or Dask (:mod:`analysis.pipeline` does); every random
step takes an explicit seed. Masses in GeV, features in their skim units (GeV, cm).

References
----------
A. Hallin et al., "Classifying anomalies through outer density estimation" (CATHODE),
arXiv:2109.00546; the CMS Open Data dimuon search, arXiv:2502.14036.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from analysis.config import ClassifierSettings, FlowSettings

__all__ = [
    "Preprocessor",
    "build_classifier",
    "closure_test",
    "fit_flow",
    "fold_task",
    "make_template",
    "reference_scores",
    "roc_curve",
]

log = logging.getLogger(__name__)


@dataclass
class Preprocessor:
    """Logit feature scaling and mass scaling fitted on OS sideband data (reference §4).

    Attributes
    ----------
    x_scaler : ml.preprocessing.LogitScaler
    m_scaler : ml.preprocessing.MassScaler
    low, high : ndarray
        Feature range seen in the fit; inputs are clipped into it before the transform.
    """

    x_scaler: Any
    m_scaler: Any
    low: np.ndarray
    high: np.ndarray

    @classmethod
    def fit(cls, X_sb: np.ndarray, m_sb: np.ndarray) -> Preprocessor:
        """Fit both scalers on sideband events (features in GeV/cm, mass in GeV)."""
        from ml.preprocessing import LogitScaler, MassScaler

        return cls(
            LogitScaler(out_of_range="clip").fit(X_sb), MassScaler().fit(m_sb),
            X_sb.min(axis=0), X_sb.max(axis=0),
        )

    def tx(self, X: np.ndarray) -> np.ndarray:
        """Features → standardized logit space (clipped into the fitted range first)."""
        return self.x_scaler.transform(np.clip(X, self.low, self.high))

    def inv_x(self, Z: np.ndarray) -> np.ndarray:
        """Standardized logit space → physical features."""
        return self.x_scaler.inverse_transform(Z)

    def tm(self, m: np.ndarray) -> np.ndarray:
        """Mass (GeV) → scaled condition."""
        return self.m_scaler.transform(m)


@contextmanager
def torch_threads(n: int = 1) -> Iterator[None]:
    """Limit torch's intra-op threads inside the block (restored afterwards).

    The flows of reference §4 are tiny (6 × 20 units, batch 256): extra threads only add
    synchronisation, and on a loaded 2-core machine two threads train ~7× slower than one.
    """
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(max(1, int(n)))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def fit_flow(
    Z_sb: np.ndarray,
    mz_sb: np.ndarray,
    settings: FlowSettings,
    seed: int,
    verbose: bool = False,
) -> Any:
    """Train one conditional flow on preprocessed sideband data (one torch thread).

    The sidebands are split at random (seeded) into training and validation parts
    (``settings.validation_fraction``); the best epoch on the validation loss is kept.

    Returns
    -------
    ml.flows.ConditionalFlow
    """
    from ml.flows import ConditionalFlow

    rng = np.random.default_rng(seed)
    order = rng.permutation(len(Z_sb))
    n_val = max(1, int(round(settings.validation_fraction * len(Z_sb))))
    val, train = order[:n_val], order[n_val:]
    flow = ConditionalFlow.from_preset(
        settings.preset,
        **{
            "max_epochs": settings.max_epochs,
            "early_stopping": settings.early_stopping,
            "random_state": int(seed),
            "verbose": verbose,
            **dict(settings.params),
        },
    )
    with torch_threads(1):
        flow.fit(Z_sb[train], mz_sb[train], X_val=Z_sb[val], m_val=mz_sb[val])
    return flow


def _sample_flow(flow: Any, pre: Preprocessor, m: np.ndarray, seed: int) -> np.ndarray:
    import warnings

    with warnings.catch_warnings(), torch_threads(1):
        # masses drawn by a KDE can sit a hair outside the sideband range the flow saw
        warnings.filterwarnings("ignore", message=".*outside.*", category=UserWarning)
        Z = flow.sample(pre.tm(m), random_state=int(seed))
    return pre.inv_x(Z)


def build_classifier(settings: ClassifierSettings, seed: int) -> Any:
    """Unfitted classifier of the configured kind (one ensemble of ``n_models`` per fold)."""
    from ml.classifiers import MLPClassifier, XGBEnsembleClassifier

    params = dict(settings.params)
    if settings.kind == "xgboost":
        return XGBEnsembleClassifier(n_models=settings.n_models, random_state=seed, **params)
    return MLPClassifier(random_state=seed, **params)


def closure_test(
    flows: list[Any],
    pre: Preprocessor,
    X_sb: np.ndarray,
    m_sb: np.ndarray,
    features: tuple[str, ...],
    seed: int,
    n_folds: int = 5,
) -> dict[str, Any]:
    """Sideband closure of every flow (``ml.diagnostics.sideband_closure``).

    A BDT separates sideband data from flow samples drawn at the same masses, out of fold
    (AUC 0.5 = perfect closure); per feature the Kolmogorov–Smirnov distance (invariant under
    the monotone preprocessing, so it holds in physical units too).

    Returns
    -------
    dict with ``auc`` (per flow seed), ``auc_mean``, ``auc_std``, ``ks`` and ``ks_pvalue`` (per
    feature, first flow) and ``samples`` (physical-space samples of the first flow, for plots).
    """
    from ml.diagnostics import sideband_closure

    Z, mz = pre.tx(X_sb), pre.tm(m_sb)
    aucs, ks, ksp = [], None, None
    for i, flow in enumerate(flows):
        res = sideband_closure(Z, mz, flow, n_seeds=1, n_folds=n_folds, random_state=seed + i)
        aucs.append(float(res.aucs[0]))
        if i == 0:
            ks, ksp = res.ks_distance, res.ks_pvalue
    return {
        "auc": aucs,
        "auc_mean": float(np.mean(aucs)),
        "auc_std": float(np.std(aucs)),
        "ks": {name: float(v) for name, v in zip(features, ks, strict=True)},
        "ks_pvalue": {name: float(v) for name, v in zip(features, ksp, strict=True)},
        "samples": _sample_flow(flows[0], pre, m_sb, seed + 1000),
    }


def make_template(
    flows: list[Any],
    pre: Preprocessor,
    m_sr: np.ndarray,
    n_total: int,
    bandwidth: float,
    seed: int,
    sr: tuple[float, float] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """SR background template: masses from a KDE on logit(m) of the SR data, features from flows.

    ``sr`` = (sr_left, sr_right) in GeV bounds the KDE (default: the range of ``m_sr``).

    ``n_total`` samples are split evenly over the flows (seeds); the templates are concatenated
    (reference §4).

    Returns
    -------
    X : ndarray, shape (n_total, d)
        Physical-space features.
    m : ndarray, shape (n_total,)
        Masses in GeV.
    """
    from ml.mass import KDEMassSampler

    low, high = sr if sr is not None else (None, None)
    sampler = KDEMassSampler(bandwidth=bandwidth, low=low, high=high).fit(m_sr)
    sizes = np.full(len(flows), n_total // len(flows))
    sizes[: n_total - sizes.sum()] += 1
    Xs, ms = [], []
    for i, (flow, n) in enumerate(zip(flows, sizes, strict=True)):
        m = np.asarray(sampler.sample(int(n), random_state=seed + 3000 + i), dtype=np.float64)
        Xs.append(_sample_flow(flow, pre, m, seed + 4000 + i))
        ms.append(m)
    return np.vstack(Xs), np.concatenate(ms)


def fold_task(
    k: int,
    n_folds: int,
    X: np.ndarray,
    y: np.ndarray,
    fold: np.ndarray,
    X_extra: np.ndarray,
    extra_fold: np.ndarray,
    X_new: np.ndarray,
    settings: ClassifierSettings,
    seed: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Train the classifier of fold ``k`` and score its test events (the scheme of ml.kfold).

    Partition ``k`` is the test set, ``k + 1`` the validation set (early stopping), the rest
    the training set. Extra events in partition ``k`` (sideband data, never trained on) and all
    new events (e.g. the SS sample) are scored by this fold's model.

    Returns
    -------
    (scores of test events, scores of extra events in partition k, scores of all new events)
    """
    from ml.kfold import fold_roles

    test, val, train = fold_roles(k, n_folds)
    tr, va, te = np.isin(fold, train), fold == val, fold == test
    model = build_classifier(settings, seed)
    model.fit(X[tr], y[tr], X_val=X[va], y_val=y[va])
    p_test = model.predict_proba(X[te])[:, 1]
    sel = extra_fold == test
    p_extra = model.predict_proba(X_extra[sel])[:, 1] if sel.any() else np.empty(0)
    p_new = model.predict_proba(X_new)[:, 1] if len(X_new) else np.empty(0)
    return p_test, p_extra, p_new


def roc_curve(scores: np.ndarray, labels: np.ndarray, min_background: int = 50) -> dict[str, Any]:
    """ROC and SIC of ``scores`` for truth ``labels`` (``ml.diagnostics.roc_sic``).

    Returns
    -------
    dict with ``eps_s``, ``eps_b`` (thinned to ≤ 400 points), ``auc``, ``max_sic`` (only where at
    least ``min_background`` background events pass) and ``sic_at_eps_s_0.2``.
    """
    from ml.diagnostics import roc_sic

    labels = np.asarray(labels, dtype=bool)
    if labels.all() or not labels.any():
        nan = float("nan")
        return {"eps_s": [], "eps_b": [], "auc": nan, "max_sic": nan, "sic_at_eps_s_0.2": nan}
    r = roc_sic(scores, labels, min_background=min_background)
    idx = np.unique(np.linspace(0, len(r.tpr) - 1, min(400, len(r.tpr))).astype(int))
    return {
        "eps_s": r.tpr[idx].tolist(),
        "eps_b": r.fpr[idx].tolist(),
        "auc": r.auc,
        "max_sic": r.max_sic,
        "sic_at_eps_s_0.2": float(r.sic_at(0.2)),
    }


def reference_scores(
    X_sr: np.ndarray,
    is_signal: np.ndarray,
    settings: ClassifierSettings,
    n_folds: int,
    seed: int,
) -> dict[str, np.ndarray]:
    """Out-of-fold scores of the truth-based reference classifiers on SR data.

    * supervised (``ml.diagnostics.supervised_scores``): truth signal vs background of the SR;
    * idealized anomaly detector (``ml.diagnostics.idealized_scores``): SR data vs a perfect
      background template. The SR is split in two random halves; half A is the "data", the true
      background events of half B the template, so no event sits in both classes. Scores are
      returned for the events of half A (``idealized_mask``).

    Returns
    -------
    dict with ``supervised`` (one score per SR event, when there are signal events),
    ``idealized`` and ``idealized_mask``.
    """
    from ml.diagnostics import idealized_scores, supervised_scores

    out: dict[str, np.ndarray] = {}
    sig = np.asarray(is_signal, dtype=bool)
    if sig.sum() >= 2 * n_folds:
        res = supervised_scores(
            X_sr[sig], X_sr[~sig], classifier=build_classifier(settings, seed), n_folds=n_folds,
            random_state=seed,
        )
        scores = np.empty(len(X_sr))
        scores[sig], scores[~sig] = res.scores[: sig.sum()], res.scores[sig.sum():]
        out["supervised"] = scores
    half = np.random.default_rng(seed + 1).random(len(X_sr)) < 0.5
    res = idealized_scores(
        X_sr[half], X_sr[~half & ~sig], classifier=build_classifier(settings, seed + 2),
        n_folds=n_folds, random_state=seed + 2,
    )
    out["idealized"] = res.scores[: int(half.sum())]
    out["idealized_mask"] = half
    return out
