"""Compute steps of the analysis beside the CATHODE chain: classifier construction, sideband
closure, truth references and ROC curves, as plain functions of arrays and settings.

The chain itself is :class:`ml.cathode.Cathode` (preprocessing, flows, template, k-fold
classifier); :mod:`analysis.pipeline` runs its steps with a cache and on Dask. Nothing here knows
about files, the cache or Dask; every random step takes an explicit seed. Masses in GeV, features
in their skim units (GeV, cm).

References
----------
A. Hallin et al., "Classifying anomalies through outer density estimation" (CATHODE),
arXiv:2109.00546; the CMS Open Data dimuon search, arXiv:2502.14036.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from analysis.config import ClassifierSettings

__all__ = [
    "build_classifier",
    "closure_test",
    "reference_scores",
    "roc_curve",
    "torch_threads",
]

log = logging.getLogger(__name__)


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


def build_classifier(settings: ClassifierSettings, seed: int | None) -> Any:
    """Unfitted classifier of the configured kind (one ensemble of ``n_models`` per fold)."""
    from ml.classifiers import MLPClassifier, XGBEnsembleClassifier

    params = dict(settings.params)
    if settings.kind == "xgboost":
        return XGBEnsembleClassifier(n_models=settings.n_models, random_state=seed, **params)
    return MLPClassifier(random_state=seed, **params)


def closure_test(
    chain: Any,
    X_sb: np.ndarray,
    m_sb: np.ndarray,
    features: tuple[str, ...],
    n_folds: int = 5,
) -> dict[str, Any]:
    """Sideband closure of every flow of a fitted chain (``ml.diagnostics.sideband_closure``).

    A BDT separates sideband data from flow samples drawn at the same masses, out of fold
    (AUC 0.5 = perfect closure); per feature the Kolmogorov–Smirnov distance (invariant under
    the monotone preprocessing, so it holds in physical units too).

    Parameters
    ----------
    chain : ml.cathode.Cathode
        With its preprocessing and flows fitted (``flows_``).
    X_sb, m_sb : ndarray
        Sideband features (GeV, cm) and masses (GeV).

    Returns
    -------
    dict with ``auc`` (per flow), ``auc_mean``, ``auc_std``, ``ks`` and ``ks_pvalue`` (per
    feature, first flow) and ``samples`` (physical-space samples of the first flow, for plots).
    """
    import warnings

    from ml.diagnostics import sideband_closure

    seed = int(np.random.SeedSequence([int(chain.random_state or 0), 11]).generate_state(1)[0])
    Z, mz = chain.preprocessor_.transform(X_sb), chain.mass_scaler_.transform(m_sb)
    aucs, ks, ksp = [], None, None
    with torch_threads(1):
        for i, flow in enumerate(chain.flows_):
            res = sideband_closure(Z, mz, flow, n_seeds=1, n_folds=n_folds,
                                   random_state=seed + i)
            aucs.append(float(res.aucs[0]))
            if i == 0:
                ks, ksp = res.ks_distance, res.ks_pvalue
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*outside.*", category=UserWarning)
            samples = chain.preprocessor_.inverse_transform(
                chain.flows_[0].sample(mz, random_state=seed + 1000))
    return {
        "auc": aucs,
        "auc_mean": float(np.mean(aucs)),
        "auc_std": float(np.std(aucs)),
        "ks": {name: float(v) for name, v in zip(features, ks, strict=True)},
        "ks_pvalue": {name: float(v) for name, v in zip(features, ksp, strict=True)},
        "samples": samples,
    }


def roc_curve(scores: np.ndarray, labels: np.ndarray, min_background: int = 50) -> dict[str, Any]:
    """ROC and SIC of ``scores`` for truth ``labels`` (``ml.diagnostics.roc_sic``).

    Returns
    -------
    dict with ``eps_s``, ``eps_b`` (thinned to ≤ 400 points), ``auc``, ``max_sic`` (only where at
    least ``min_background`` background events pass), ``sic_at_eps_s_0.2`` and
    ``n_background`` (background events the efficiencies are fractions of).
    """
    from ml.diagnostics import roc_sic

    labels = np.asarray(labels, dtype=bool)
    if labels.all() or not labels.any():
        nan = float("nan")
        return {"eps_s": [], "eps_b": [], "auc": nan, "max_sic": nan, "sic_at_eps_s_0.2": nan,
                "n_background": int((~labels).sum())}
    r = roc_sic(scores, labels, min_background=min_background)
    idx = np.unique(np.linspace(0, len(r.tpr) - 1, min(400, len(r.tpr))).astype(int))
    return {
        "eps_s": r.tpr[idx].tolist(),
        "eps_b": r.fpr[idx].tolist(),
        "auc": r.auc,
        "max_sic": r.max_sic,
        "sic_at_eps_s_0.2": float(r.sic_at(0.2)),
        "n_background": int((~labels).sum()),
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
