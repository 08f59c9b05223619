"""Likelihood-ratio event weights and the effective-count treatment of weighted histograms.

Reference §5 and arXiv:2502.14036: a classifier trained to separate SR data from the background
template returns ``s``; its likelihood ratio ``LR = s/(1 - s)`` estimates ``p_data/p_bkg =
(1 - μ) + μ p_sig/p_bkg`` with ``μ = S/(S + B)`` in the SR, so ``w = (LR - (1 - μ))/μ`` estimates
``p_sig/p_bkg`` and, clipped at 0, weights each event by how signal-like it is.  A weighted Poisson
fit uses effective counts ``n' = n/k`` and means ``λ' = λ/k`` with ``k = E[w²]/E[w]`` (the
scaled-Poisson approximation, e.g. Bohm & Zech, NIM A 748 (2014) 1).
"""

from __future__ import annotations

import logging

import numpy as np

log = logging.getLogger(__name__)

__all__ = ["likelihood_ratio_weights", "effective_scale", "check_weights"]


def likelihood_ratio_weights(scores: np.ndarray, mu: float, *, eps: float = 1e-7) -> np.ndarray:
    """Per-event weights ``w = max((LR - 1)/μ + 1, 0)`` with ``LR = s/(1 - s)``.

    ``(LR - 1)/μ + 1`` equals ``(LR - (1 - μ))/μ`` and gives exactly ``w = 1`` for ``s = 0.5``.

    Parameters
    ----------
    scores : array_like
        Classifier outputs in ``[0, 1]``; clipped to ``[eps, 1 - eps]`` so that LR stays finite.
    mu : float
        Signal fraction ``S/(S + B)`` in the SR, ``0 < mu <= 1``.
    eps : float
        Clipping of the scores.

    Raises
    ------
    ValueError
        If ``mu`` is not in ``(0, 1]`` or the scores are outside ``[0, 1]`` / not finite.
    """
    mu = float(mu)
    if not (0.0 < mu <= 1.0):
        raise ValueError(f"signal fraction mu must be in (0, 1], got {mu}; fit the spectrum first")
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 1 or not np.all(np.isfinite(s)) or np.any((s < 0) | (s > 1)):
        raise ValueError("classifier scores must be a 1-d array of finite values in [0, 1]")
    s = np.clip(s, eps, 1.0 - eps)
    lr = s / (1.0 - s)
    return np.maximum((lr - 1.0) / mu + 1.0, 0.0)


def check_weights(weights: np.ndarray | None, n: int) -> np.ndarray | None:
    """Validate per-event weights: 1-d, length ``n``, finite and ``>= 0``.

    Negative weights are rejected: the effective-count Poisson treatment needs ``w >= 0``
    (clip or drop them before calling, e.g. ``np.clip(w, 0, None)``).
    """
    if weights is None:
        return None
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (n,):
        raise ValueError(f"weights must have the shape of masses ({n},), got {w.shape}")
    if not np.all(np.isfinite(w)):
        raise ValueError(f"weights contain {int(np.sum(~np.isfinite(w)))} non-finite values")
    if np.any(w < 0):
        raise ValueError(
            f"weights contain {int(np.sum(w < 0))} negative values (min {w.min():.4g}); the "
            "effective-count fit needs w >= 0: clip them with np.clip(weights, 0, None)"
        )
    return w


def effective_scale(weights: np.ndarray | None) -> float:
    """``k = E[w²]/E[w]`` over the given (in-range) events; 1 for unweighted data.

    Returns NaN when all weights are zero (nothing to fit).
    """
    if weights is None:
        return 1.0
    w = np.asarray(weights, dtype=np.float64)
    total = w.sum()
    if total <= 0:
        return float("nan")
    return float(np.dot(w, w) / total)
