"""Diagnostics of the CATHODE chain: sideband closure, ROC/SIC curves, reference classifiers, toy.

- :func:`sideband_closure` -- can a BDT tell sideband data from flow samples drawn at the same
  masses? (AUC over seeds, should be ~0.5, and per-feature Kolmogorov-Smirnov distances).
- :func:`roc_sic` -- ROC and significance improvement SIC = eps_S / sqrt(eps_B); the maximum is
  taken only where at least ``min_background`` test background events pass the cut.
- :func:`idealized_scores` / :func:`supervised_scores` -- the idealized anomaly detector (SR data
  vs the true SR background) and the fully supervised classifier (truth signal vs background),
  references for CATHODE when truth labels exist.
- :func:`make_resonant_toy` -- a toy with the structure of the Upsilon analysis (dimu_pt,
  mu0_ip3d, mu1_ip3d conditioned on the dimuon mass) and truth labels.

References
----------
A. Hallin et al. (CATHODE), arXiv:2109.00546; arXiv:2502.14036 (dimuon analysis).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy import stats
from sklearn.metrics import roc_auc_score, roc_curve

from ml._validation import check_condition, check_features
from ml.classifiers import XGBEnsembleClassifier, _seeds
from ml.kfold import OutOfFoldResult, out_of_fold_scores

log = logging.getLogger(__name__)

__all__ = [
    "ClosureResult", "RocSic", "ToySample", "TOY_FEATURES", "TOY_WINDOW", "idealized_scores",
    "make_resonant_toy", "roc_sic", "sideband_closure", "supervised_scores", "toy_background",
    "toy_signal",
]


@dataclass(frozen=True)
class ClosureResult:
    """Sideband closure: AUC of SB data vs flow samples (per seed) and per-feature KS tests."""

    aucs: np.ndarray
    ks_distance: np.ndarray
    ks_pvalue: np.ndarray

    @property
    def auc_mean(self) -> float:
        return float(np.mean(self.aucs))

    @property
    def auc_std(self) -> float:
        return float(np.std(self.aucs, ddof=1)) if len(self.aucs) > 1 else 0.0


def sideband_closure(X_sb, m_sb, flow, *, classifier=None, n_seeds: int = 3, n_folds: int = 5,
                     random_state=None) -> ClosureResult:
    """Closure test of a conditional density model on sideband data.

    For each seed one flow sample is drawn at every sideband mass, and a classifier separates the
    sideband data (label 1) from the samples (label 0) out of fold; a perfect model gives AUC 0.5.

    Parameters
    ----------
    X_sb : array, shape (n, d)
        Sideband features in the space the flow models (e.g. after preprocessing).
    m_sb : array, shape (n,)
        Condition for each event, as the flow expects it.
    flow : object
        Anything with ``sample(m, random_state=None) -> (n, d)``, e.g. a fitted
        ``ml.flows.ConditionalFlow``.
    classifier : estimator, optional
        Default: ``XGBEnsembleClassifier()`` (100 fixed rounds, depth 5).
    n_seeds : int
        Independent sample draws and fold splits; the AUC spread over them is reported.
    n_folds : int
    random_state : int or None

    Returns
    -------
    ClosureResult
        ``aucs`` per seed, ``auc_mean``/``auc_std``, and per-feature two-sample KS distance and
        p-value for the first seed's sample.
    """
    X = check_features(X_sb, name="X_sb")
    m = check_condition(m_sb, n_events=len(X), name="m_sb")
    if int(n_seeds) < 1:
        raise ValueError(f"n_seeds={n_seeds}; expected >= 1")
    clf = XGBEnsembleClassifier() if classifier is None else classifier
    aucs, ks_d, ks_p = [], None, None
    y = np.r_[np.ones(len(X), int), np.zeros(len(X), int)]
    for i, seed in enumerate(_seeds(random_state, int(n_seeds))):
        samples = np.asarray(flow.sample(m, random_state=seed), dtype=np.float64)
        if samples.shape != X.shape:
            raise ValueError(f"flow.sample returned shape {samples.shape}; expected {X.shape}")
        res = out_of_fold_scores(np.vstack([X, samples]), y, classifier=clf, n_folds=n_folds,
                                 random_state=seed)
        aucs.append(roc_auc_score(y, res.scores))
        if i == 0:
            ks = [stats.ks_2samp(X[:, j], samples[:, j]) for j in range(X.shape[1])]
            ks_d = np.array([k.statistic for k in ks])
            ks_p = np.array([k.pvalue for k in ks])
    log.info("sideband closure AUC %.4f +- %.4f", np.mean(aucs), np.std(aucs))
    return ClosureResult(np.array(aucs), ks_d, ks_p)


@dataclass(frozen=True)
class RocSic:
    """ROC and SIC curves of a score on labelled test events.

    Attributes
    ----------
    tpr, fpr : ndarray
        Signal and background efficiencies (eps_S, eps_B) per threshold.
    thresholds : ndarray
    n_background_pass : ndarray of int
        Test background events passing each threshold.
    sic : ndarray
        eps_S / sqrt(eps_B) (NaN where eps_B = 0).
    auc : float
    max_sic : float
        Maximum SIC over thresholds with at least ``min_background`` background events left.
    tpr_at_max : float
    min_background : int
    n_background_at_max : int
        Test background events passing the cut of the maximum SIC (0 when there is none).
    """

    tpr: np.ndarray
    fpr: np.ndarray
    thresholds: np.ndarray
    n_background_pass: np.ndarray
    sic: np.ndarray
    auc: float
    max_sic: float
    tpr_at_max: float
    min_background: int
    n_background_at_max: int = 0

    def sic_at(self, eps_s: float, *, return_n_background: bool = False):
        """SIC at signal efficiency ``eps_s`` (eps_B interpolated linearly in the ROC).

        With ``return_n_background=True`` returns ``(sic, n_background)``: the SIC and the
        (interpolated, rounded) number of test background events passing that cut, so that a
        SIC resting on a handful of events is visible.
        """
        if not 0.0 < eps_s <= 1.0:
            raise ValueError(f"eps_s={eps_s}; expected a signal efficiency in (0, 1]")
        fpr = float(np.interp(eps_s, self.tpr, self.fpr))
        sic = eps_s / np.sqrt(fpr) if fpr > 0 else np.nan
        if not return_n_background:
            return sic
        n_b = float(np.interp(eps_s, self.tpr, self.n_background_pass))
        return sic, int(round(n_b))


def roc_sic(scores, is_signal, *, min_background: int = 50) -> RocSic:
    """ROC and significance-improvement curves.

    Parameters
    ----------
    scores : array, shape (n,)
        Anomaly score (higher = more signal-like).
    is_signal : array of bool/0-1, shape (n,)
        Truth label of each test event.
    min_background : int
        The maximum SIC is only taken where at least this many test background events pass the
        cut (default 50, as in arXiv:2109.00546), so that it is not a fluctuation of a few events.

    Returns
    -------
    RocSic
    """
    s = check_condition(scores, name="scores")
    lab = np.asarray(is_signal)
    if lab.shape != s.shape:
        raise ValueError(f"is_signal has shape {lab.shape}; expected {s.shape} like scores")
    lab = lab.astype(bool)
    n_b = int((~lab).sum())
    if lab.sum() == 0 or n_b == 0:
        raise ValueError(f"need signal and background test events; got {int(lab.sum())} and {n_b}")
    fpr, tpr, thr = roc_curve(lab, s, drop_intermediate=False)
    n_pass = np.rint(fpr * n_b).astype(np.int64)
    with np.errstate(divide="ignore", invalid="ignore"):
        sic = np.where(fpr > 0, tpr / np.sqrt(fpr), np.nan)
    ok = (n_pass >= min_background) & np.isfinite(sic)
    if ok.any():
        i = int(np.nanargmax(np.where(ok, sic, -np.inf)))
        max_sic, tpr_max, n_max = float(sic[i]), float(tpr[i]), int(n_pass[i])
    else:
        max_sic, tpr_max, n_max = np.nan, np.nan, 0
    return RocSic(tpr, fpr, thr, n_pass, sic, float(roc_auc_score(lab, s)), max_sic, tpr_max,
                  int(min_background), n_max)


def idealized_scores(X_sr, X_sr_background, *, classifier=None, sample_weight=None, n_folds=5,
                     random_state=None) -> OutOfFoldResult:
    """Idealized anomaly detector: SR data (label 1) vs a sample of the true SR background (0).

    Same out-of-fold scheme as CATHODE with a perfect background template; the ceiling CATHODE
    approaches when its flow is perfect. ``sample_weight`` weights the concatenation
    ``[X_sr, X_sr_background]``.
    """
    X1 = check_features(X_sr, name="X_sr")
    X0 = check_features(X_sr_background, name="X_sr_background", n_features=X1.shape[1])
    y = np.r_[np.ones(len(X1), int), np.zeros(len(X0), int)]
    return out_of_fold_scores(np.vstack([X1, X0]), y,
                              classifier=classifier or XGBEnsembleClassifier(),
                              sample_weight=sample_weight, n_folds=n_folds,
                              random_state=random_state)


def supervised_scores(X_signal, X_background, *, classifier=None, n_folds=5,
                      random_state=None) -> OutOfFoldResult:
    """Fully supervised reference: truth signal (label 1) vs truth background (label 0)."""
    X1 = check_features(X_signal, name="X_signal")
    X0 = check_features(X_background, name="X_background", n_features=X1.shape[1])
    y = np.r_[np.ones(len(X1), int), np.zeros(len(X0), int)]
    return out_of_fold_scores(np.vstack([X1, X0]), y,
                              classifier=classifier or XGBEnsembleClassifier(),
                              n_folds=n_folds, random_state=random_state)


# ----------------------------------------------------------------------------- toy
#: Mass window of the toy (GeV): sideband-left, SR-left, SR-right, sideband-right. The SR is the
#: Upsilon SR; the sidebands are narrower than the analysis' so that SB/SR ~ 3.
TOY_WINDOW = (6.5, 9.0, 10.6, 13.0)
TOY_FEATURES = ("dimu_pt", "mu0_ip3d", "mu1_ip3d")
_SLOPE = 6.0  # GeV, exponential fall of the background mass spectrum


def _mass_exp(n, low, high, rng):
    """Inverse-CDF draws from exp(-m / _SLOPE) on [low, high] (GeV)."""
    a, b = np.exp(-low / _SLOPE), np.exp(-high / _SLOPE)
    return -_SLOPE * np.log(a - rng.random(n) * (a - b))


def _prompt_ip(n, rng):
    """Prompt-muon ip3d (cm): resolution plus a short tail."""
    return np.abs(rng.normal(0.0, 0.0015, n)) + rng.exponential(0.0008, n)


def toy_background(m, random_state=None) -> np.ndarray:
    """Background features (dimu_pt GeV, mu0_ip3d cm, mu1_ip3d cm) at masses ``m`` (GeV).

    85 % heavy flavour (displaced muons sharing a decay-length factor, softer pT) and 15 %
    prompt; pT scale and displacement both move with m.
    """
    rng = np.random.default_rng(random_state)
    m = np.asarray(m, dtype=np.float64)
    n, r = len(m), (m - 9.8) / 3.0
    hf = rng.random(n) < 0.85
    pt_hf = 12 + rng.gamma(2.2, 5.5 * (1 + 0.25 * r))
    pt = np.where(hf, pt_hf, 12 + rng.gamma(2.0, 4.5 * (1 + 0.2 * r)))
    lam = 0.010 * (1 + 0.3 * r) * rng.gamma(3.0, 1 / 3.0, n)
    ips = [np.where(hf, lam * rng.exponential(1.0, n) + np.abs(rng.normal(0, 0.0015, n)),
                    _prompt_ip(n, rng)) for _ in range(2)]
    return np.column_stack([pt, *ips])


def toy_signal(n, random_state=None, *, mass=9.46, width=0.09):
    """Narrow prompt resonance with harder dimuon pT: (X, m) with m ~ N(mass, width) GeV."""
    rng = np.random.default_rng(random_state)
    m = rng.normal(mass, width, n)
    X = np.column_stack([12 + rng.gamma(3.0, 9.0, n), _prompt_ip(n, rng), _prompt_ip(n, rng)])
    return X, m


@dataclass(frozen=True)
class ToySample:
    """Toy events: features ``X`` (n, d), mass ``m`` (GeV), truth ``is_signal`` and the window
    ``(sb_left, sr_left, sr_right, sb_right)`` (GeV)."""

    X: np.ndarray
    m: np.ndarray
    is_signal: np.ndarray
    window: tuple

    @property
    def sr_mask(self) -> np.ndarray:
        """True for signal-region events."""
        return (self.m >= self.window[1]) & (self.m < self.window[2])


def make_resonant_toy(n_sr_background=10_000, signal_fraction=0.02, *, window=TOY_WINDOW,
                      random_state=None) -> ToySample:
    """Toy with the structure of the dimuon analysis and truth labels.

    Parameters
    ----------
    n_sr_background : int
        Expected background events in the SR; the sidebands get ~3x as many with the default
        window (exponential spectrum, slope 6 GeV).
    signal_fraction : float
        Signal events injected = ``signal_fraction * n_sr_background`` (S/B in the SR).
    window : tuple of 4 floats (GeV)
    random_state : int or None

    Returns
    -------
    ToySample
    """
    lo, srl, srr, hi = window
    if not lo < srl < srr < hi:
        raise ValueError(
            f"window={window}; expected increasing (sb_left, sr_left, sr_right, sb_right)"
        )
    rng = np.random.default_rng(random_state)
    cdf = lambda x: np.exp(-x / _SLOPE)  # noqa: E731
    n_tot = int(round(n_sr_background * (cdf(lo) - cdf(hi)) / (cdf(srl) - cdf(srr))))
    m_b = _mass_exp(n_tot, lo, hi, rng)
    X_b = toy_background(m_b, rng)
    X_s, m_s = toy_signal(int(round(signal_fraction * n_sr_background)), rng)
    keep = (m_s >= lo) & (m_s < hi)
    X = np.vstack([X_b, X_s[keep]])
    m = np.r_[m_b, m_s[keep]]
    sig = np.r_[np.zeros(len(m_b), bool), np.ones(int(keep.sum()), bool)]
    order = rng.permutation(len(m))
    return ToySample(X[order], m[order], sig[order], tuple(window))
