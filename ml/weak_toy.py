"""A resonant toy shaped like the LHC Olympics R&D benchmark, for weak-supervision studies.

Background: dijet-like events on a falling invariant-mass spectrum m (GeV) with four
correlated substructure features whose shapes move with m: the lighter jet mass ``mj1``, the
mass difference ``delta_mj = mj2 - mj1`` (GeV; the sorting of the two jet masses puts a kink at
``delta_mj = 0``), and the N-subjettiness ratios ``tau21_1``, ``tau21_2`` (bounded in (0, 1),
lower for heavier jets). The jet masses scale with m (jet pT ~ m / 2), carry a Sudakov-like
low-mass fall, a long tail and a 7 % top-quark-like peak at 172 GeV. Signal: a narrow
resonance X -> Y Z at m = 3500 GeV with two-prong jets of 100 and 300 GeV. Optional noise:
``n_noise`` standard Gaussian features independent of everything (arXiv:2309.13111).

All functions are pure numpy and seeded (same seed, same numbers).

References
----------
G. Kasieczka et al., LHC Olympics 2020, arXiv:2101.08320; A. Hallin et al. (CATHODE),
arXiv:2109.00546; T. Finke et al., arXiv:2309.13111 (noise features, boosted-tree ensembles).
"""

from __future__ import annotations

import numpy as np

from ml.diagnostics import ToySample

__all__ = ["WEAK_FEATURES", "WEAK_WINDOW", "WeakToy", "make_weak_toy", "weak_background",
           "weak_signal", "weak_test_set"]

#: Mass window (GeV): sideband-left, SR-left, SR-right, sideband-right (the LHCO R&D SR).
WEAK_WINDOW = (2800.0, 3300.0, 3700.0, 4600.0)
#: Physical features, in column order (GeV, GeV, 1, 1); noise features follow as ``noise_<i>``.
WEAK_FEATURES = ("mj1", "delta_mj", "tau21_1", "tau21_2")
_SLOPE = 450.0  # GeV, exponential fall of the background mass spectrum
_M_X, _M_Y, _M_Z = 3500.0, 300.0, 100.0  # GeV, signal resonance and its daughters


def _exp_mass(n: int, low: float, high: float, rng: np.random.Generator) -> np.ndarray:
    """Inverse-CDF draws from exp(-m / _SLOPE) on [low, high) (GeV)."""
    a, b = np.exp(-low / _SLOPE), np.exp(-high / _SLOPE)
    return -_SLOPE * np.log(a - rng.random(n) * (a - b))


def _beta(mean: np.ndarray, kappa: float, rng: np.random.Generator) -> np.ndarray:
    """Beta draws with the given mean (clipped to (0.02, 0.98)) and concentration ``kappa``."""
    mu = np.clip(mean, 0.02, 0.98)
    return rng.beta(mu * kappa, (1 - mu) * kappa)


def _qcd_jet_mass(m: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Background jet mass (GeV) at dijet mass ``m`` (GeV): scales with m, tail, top peak."""
    n = len(m)
    pt = 0.5 * m * (1 + 0.05 * rng.standard_normal(n))
    rho = 0.035 + rng.gamma(1.6, 0.045 * (1 + 0.4 * (m - 3500) / 1000), n)  # mass / pT
    mass = rho * pt
    top = rng.random(n) < 0.07
    mass[top] = rng.normal(172.0, 14.0 + 0.004 * (m[top] - 3500), top.sum())
    return np.clip(mass, 5.0, None)


def weak_background(m, random_state=None) -> np.ndarray:
    """Background features (mj1 GeV, delta_mj GeV, tau21_1, tau21_2) at masses ``m`` (GeV).

    Parameters
    ----------
    m : array, shape (n,)
        Dijet masses (GeV).
    random_state : int, numpy Generator or None

    Returns
    -------
    ndarray, shape (n, 4)
    """
    rng = np.random.default_rng(random_state)
    m = np.asarray(m, dtype=np.float64)
    ma, mb = _qcd_jet_mass(m, rng), _qcd_jet_mass(m, rng)
    m1, m2 = np.minimum(ma, mb), np.maximum(ma, mb)
    taus = []
    for mj in (m1, m2):
        rho = mj / (0.5 * m)
        # heavier (relative to pT) QCD jets look a little more two-prong; top jets lower still
        taus.append(_beta(0.72 - 0.9 * rho + 0.03 * (m - 3500) / 1000, 9.0, rng))
    return np.column_stack([m1, m2 - m1, *taus])


def weak_signal(n, random_state=None) -> tuple[np.ndarray, np.ndarray]:
    """Signal X -> Y(300 GeV) Z(100 GeV), both two-prong: ``(X (n, 4), m (n,) GeV)``.

    Widths: m 2 %, Y 8 %, Z 10 %; tau21 Beta with means 0.42 / 0.45 (concentration 7). Tuned
    so that a supervised XGB reaches max SIC ~ 17 (AUC 0.99), like the LHCO R&D signal.
    """
    rng = np.random.default_rng(random_state)
    m = rng.normal(_M_X, 0.02 * _M_X, n)
    mz = rng.normal(_M_Z, 0.10 * _M_Z, n)
    my = rng.normal(_M_Y, 0.08 * _M_Y, n)
    m1, m2 = np.minimum(mz, my), np.maximum(mz, my)
    X = np.column_stack([m1, m2 - m1, _beta(np.full(n, 0.42), 7.0, rng),
                         _beta(np.full(n, 0.45), 7.0, rng)])
    return X, m


def _with_noise(X: np.ndarray, n_noise: int, rng: np.random.Generator) -> np.ndarray:
    if n_noise == 0:
        return X
    return np.column_stack([X, rng.standard_normal((len(X), int(n_noise)))])


#: Toy events of this module: the toolkit's :class:`ml.diagnostics.ToySample` (features ``X``,
#: mass ``m`` in GeV, truth ``is_signal``, the window in GeV and ``sr_mask``).
WeakToy = ToySample


def _check(n_sr_background, signal_fraction, n_noise, window):
    lo, srl, srr, hi = window
    if not lo < srl < srr < hi:
        raise ValueError(f"window={window}; expected increasing (sb_left, sr_left, sr_right, "
                         "sb_right) in GeV")
    if int(n_sr_background) < 1:
        raise ValueError(f"n_sr_background={n_sr_background}; expected >= 1")
    if not 0 <= signal_fraction < 1:
        raise ValueError(f"signal_fraction={signal_fraction}; expected S/B in [0, 1)")
    if int(n_noise) < 0:
        raise ValueError(f"n_noise={n_noise}; expected >= 0 extra Gaussian features")


def make_weak_toy(n_sr_background=100_000, signal_fraction=0.006, *, n_noise=0,
                  window=WEAK_WINDOW, random_state=None) -> WeakToy:
    """Signal region and sidebands of the toy, with truth labels.

    Parameters
    ----------
    n_sr_background : int
        Background events in the SR (exact); the sidebands get the number the exponential
        spectrum implies (about 2.5x the SR with the default window).
    signal_fraction : float
        S/B in the SR: ``round(signal_fraction * n_sr_background)`` signal events are drawn (the
        few in the tails outside the SR land in the sidebands, as in data).
    n_noise : int
        Extra standard Gaussian features appended to every event (0 or e.g. 10).
    window : 4 floats (GeV)
    random_state : int, numpy Generator or None

    Returns
    -------
    WeakToy
    """
    _check(n_sr_background, signal_fraction, n_noise, window)
    lo, srl, srr, hi = window
    rng = np.random.default_rng(random_state)
    cdf = lambda x: np.exp(-x / _SLOPE)  # noqa: E731
    n_sr = int(n_sr_background)
    n_sb = int(round(n_sr * (cdf(lo) - cdf(srl) + cdf(srr) - cdf(hi)) / (cdf(srl) - cdf(srr))))
    m_sr = _exp_mass(n_sr, srl, srr, rng)
    # sideband masses: the exponential on [lo, hi) without the SR
    w_left = (cdf(lo) - cdf(srl)) / (cdf(lo) - cdf(srl) + cdf(srr) - cdf(hi))
    left = rng.random(n_sb) < w_left
    m_sb = np.where(left, _exp_mass(n_sb, lo, srl, rng), _exp_mass(n_sb, srr, hi, rng))
    m_b = np.r_[m_sr, m_sb]
    X_b = weak_background(m_b, rng)
    X_s, m_s = weak_signal(int(round(signal_fraction * n_sr)), rng)
    keep = (m_s >= lo) & (m_s < hi)
    X = _with_noise(np.vstack([X_b, X_s[keep]]), n_noise, rng)
    m = np.r_[m_b, m_s[keep]]
    sig = np.r_[np.zeros(len(m_b), bool), np.ones(int(keep.sum()), bool)]
    order = rng.permutation(len(m))
    return WeakToy(X[order], m[order], sig[order], tuple(window))


def weak_test_set(n_signal=20_000, n_background=200_000, *, n_noise=0, window=WEAK_WINDOW,
                  random_state=None) -> WeakToy:
    """Independent SR test set: background on the SR spectrum and signal inside the SR."""
    _check(max(n_background, 1), 0.0, n_noise, window)
    rng = np.random.default_rng(random_state)
    m_b = _exp_mass(int(n_background), window[1], window[2], rng)
    X_b = weak_background(m_b, rng)
    X_s, m_s = weak_signal(int(n_signal), rng)
    m_s = np.clip(m_s, window[1], np.nextafter(window[2], window[1]))
    X = _with_noise(np.vstack([X_s, X_b]), n_noise, rng)
    sig = np.r_[np.ones(int(n_signal), bool), np.zeros(int(n_background), bool)]
    return WeakToy(X, np.r_[m_s, m_b], sig, tuple(window))


def sr_background(n, *, n_noise=0, window=WEAK_WINDOW, random_state=None) -> tuple:
    """``n`` true SR background events ``(X, m)``: the idealized detector's template."""
    rng = np.random.default_rng(random_state)
    m = _exp_mass(int(n), window[1], window[2], rng)
    return _with_noise(weak_background(m, rng), n_noise, rng), m
