"""No-excess check of anomaly scores: SR pass counts against the sideband interpolation.

Without signal, a cut on a CATHODE score must not select more signal-region (SR) events than the
sidebands (SB) predict. The score distribution of SR events is *not* expected to equal that of
all SB events: the features move with the mass, so even a classifier trained on a perfect
background template gives mass-dependent pass fractions (on one of three toys of
:func:`ml.diagnostics.make_resonant_toy` with the true background as template, the fraction
above the SB 90 % quantile rises smoothly from 0.07 at 6.5 GeV to 0.16 at 13 GeV, and a direct
SR-vs-SB Kolmogorov-Smirnov test gives p < 1e-4). What the bump hunt relies on is smoothness
through the SR, so the check here does what the analysis does: it models the pass fraction as a
smooth function of m fitted on SB events only and compares the SR count with the interpolation.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy import stats

from ml._validation import check_condition

log = logging.getLogger(__name__)

__all__ = ["ExcessTest", "sideband_excess_test"]


@dataclass(frozen=True)
class ExcessTest:
    """SR pass count for one cut, compared with the sideband interpolation.

    Attributes
    ----------
    fpr : float
        Fraction of SB events above the cut (sets the cut).
    cut : float
        Score threshold: events with ``score > cut`` pass.
    observed : int
        SR events above the cut.
    expected : float
        SR events expected above the cut from the SB fit of the pass fraction vs m.
    expected_error : float
        Standard deviation of ``expected`` from the fit parameters' uncertainty.
    z : float
        (observed - expected) / sqrt(binomial variance + expected_error**2).
    pvalue : float
        One-sided p-value of an excess, 1 - Phi(z).
    """

    fpr: float
    cut: float
    observed: int
    expected: float
    expected_error: float
    z: float
    pvalue: float


def _logistic_fit(
    A: np.ndarray, y: np.ndarray, max_iter: int = 100
) -> tuple[np.ndarray, np.ndarray]:
    """Maximum-likelihood logistic regression by Newton steps: (coefficients, Hessian)."""
    beta = np.zeros(A.shape[1])
    p0 = np.clip(y.mean(), 1e-6, 1 - 1e-6)
    beta[-1] = np.log(p0 / (1 - p0))  # last Vandermonde column is the constant
    for _ in range(max_iter):
        p = 1.0 / (1.0 + np.exp(-(A @ beta)))
        H = A.T @ (A * (p * (1 - p))[:, None])
        step = np.linalg.solve(H, A.T @ (y - p))
        beta = beta + step
        if np.abs(step).max() < 1e-10:
            break
    p = 1.0 / (1.0 + np.exp(-(A @ beta)))
    return beta, A.T @ (A * (p * (1 - p))[:, None])


def sideband_excess_test(scores, m, sr_mask, *, fprs=(0.1, 0.05, 0.01),
                         degree: int = 2) -> list[ExcessTest]:
    """Compare SR pass counts with the sideband interpolation, for cuts at SB-measured FPRs.

    For each ``fpr`` the cut is the (1 - fpr) quantile of the SB scores. The pass probability
    is modelled as ``sigmoid(poly_degree(m))``, fitted by maximum likelihood on SB events only;
    the expected SR count is the sum of the fitted probabilities at the SR masses, its
    uncertainty propagated from the fit (delta method) and added to the binomial variance.

    Parameters
    ----------
    scores : array, shape (n,)
        Anomaly scores of all events (e.g. ``Cathode.scores_``).
    m : array, shape (n,)
        Dimuon mass (GeV).
    sr_mask : bool array, shape (n,)
        True for SR events.
    fprs : sequence of float
        SB false-positive rates defining the cuts, each in (0, 1).
    degree : int
        Degree of the polynomial in m inside the sigmoid (2 by default: a trend and a
        curvature; both sidebands are needed to constrain it).

    Returns
    -------
    list of ExcessTest, one per ``fpr``.
    """
    s = np.asarray(scores, dtype=np.float64)
    m = check_condition(m, n_events=len(s))
    sr = np.asarray(sr_mask)
    if s.ndim != 1 or not np.isfinite(s).all():
        raise ValueError(f"scores must be a finite 1-D array; got shape {s.shape}")
    if sr.shape != s.shape or sr.dtype != bool:
        raise ValueError(f"sr_mask must be a boolean array of shape {s.shape}; got dtype "
                         f"{sr.dtype}, shape {sr.shape}")
    if not isinstance(degree, (int, np.integer)) or degree < 0:
        raise ValueError(f"degree={degree!r}; expected an int >= 0")
    n_sb = int((~sr).sum())
    if sr.sum() == 0 or n_sb < 10 * (degree + 1):
        raise ValueError(f"{int(sr.sum())} SR and {n_sb} SB events; need >= 1 SR and "
                         f">= {10 * (degree + 1)} SB events for a degree-{degree} fit")
    x = (m - m[sr].mean()) / m.std()
    A = np.vander(x, degree + 1)
    out = []
    for fpr in fprs:
        if not 0 < fpr < 1:
            raise ValueError(f"fpr={fpr!r}; expected a number in (0, 1)")
        cut = float(np.quantile(s[~sr], 1 - fpr))
        passed = (s > cut).astype(np.float64)
        if passed[~sr].sum() == 0:
            raise ValueError(f"no SB event passes the cut at fpr={fpr}; use a larger fpr")
        beta, H = _logistic_fit(A[~sr], passed[~sr])
        p = 1.0 / (1.0 + np.exp(-(A[sr] @ beta)))
        grad = A[sr].T @ (p * (1 - p))
        fit_var = float(grad @ np.linalg.solve(H, grad))
        expected = float(p.sum())
        observed = int(passed[sr].sum())
        z = (observed - expected) / np.sqrt(float((p * (1 - p)).sum()) + fit_var)
        out.append(ExcessTest(float(fpr), cut, observed, expected, float(np.sqrt(fit_var)),
                              float(z), float(stats.norm.sf(z))))
        log.debug("fpr %.3g: SR observed %d, expected %.1f +- %.1f, z %.2f", fpr, observed,
                  expected, np.sqrt(fit_var), z)
    return out
