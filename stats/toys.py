"""Pseudo-experiments: calibration of Z and the look-elsewhere effect of scanning cuts and windows.

* :func:`calibrate` draws binned Poisson toys from the background-only fit of a spectrum (plus an
  optional injected signal in the SR), refits every toy with the same pyhf model and compares the
  distribution of Z with the asymptotic formulae of arXiv:1007.1727: under the background-only
  hypothesis ``p = 1 - Φ(Z_signed)`` is uniform and ``P(Z > z) = 1 - Φ(z)``; with a signal the
  median Z approaches the Asimov significance (the fit of the expected counts themselves).
* :func:`look_elsewhere` (in :mod:`stats.lee`, re-exported here) draws event-level toys (masses
  from the background fit, scores independent of the mass: no signal), repeats the full FPR scan
  (and optionally several windows) on each and returns the distribution of the largest Z, from
  which a global p-value follows.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
from scipy import stats as sps

from stats._toybase import progress_bar, sample_masses, toy_setup
from stats.binning import Window
from stats.lee import LookElsewhere, look_elsewhere
from stats.significance import significance_from_counts

log = logging.getLogger(__name__)

__all__ = ["Calibration", "calibrate", "sample_masses", "look_elsewhere", "LookElsewhere"]


@dataclass
class Calibration:
    """Distribution of Z over pseudo-experiments.

    Attributes
    ----------
    z, z_signed : numpy.ndarray
        ``Z`` (≥ 0) and signed Z of every converged toy.
    p_values : numpy.ndarray
        ``1 - Φ(Z_signed)``: uniform on [0, 1] under the background-only hypothesis.
    n_toys, n_failed : int
        Toys generated and toys whose fit did not converge (left out of the arrays).
    signal : float
        Injected signal events in the SR.
    z_asimov : float
        Z of the Asimov data set (expected counts).
    b_sr : float
        Background expectation in the SR used to generate the toys.
    ks_pvalue : float
        Kolmogorov–Smirnov p-value of ``p_values`` against U(0, 1).
    """

    z: np.ndarray
    z_signed: np.ndarray
    p_values: np.ndarray
    n_toys: int
    n_failed: int
    signal: float
    z_asimov: float
    b_sr: float
    ks_pvalue: float
    messages: list[str] = field(default_factory=list)

    def fraction_above(self, z: float) -> tuple[float, float]:
        """Fraction of toys with ``Z > z`` and its binomial standard error."""
        n = self.z.size
        frac = float(np.mean(self.z > z)) if n else float("nan")
        expected = float(sps.norm.sf(z))
        return frac, float(np.sqrt(expected * (1 - expected) / max(n, 1)))

    @property
    def z_median(self) -> float:
        """Median Z of the converged toys."""
        return float(np.median(self.z))


def calibrate(
    masses: np.ndarray,
    *,
    window: Window | str,
    n_toys: int = 500,
    signal: float = 0.0,
    degree: int = 5,
    n_sr_edges: int = 12,
    partial: str = "drop",
    random_state: int | None = None,
    progress: bool = False,
) -> Calibration:
    """Calibrate the no-cut Z with binned toys from the background-only fit of ``masses``.

    Parameters
    ----------
    masses : array_like
        A dimuon mass spectrum (GeV) whose background-only fit defines the truth of the toys.
    window : Window or str
        Mass window or preset name.
    n_toys : int
        Number of pseudo-experiments.
    signal : float
        Signal events added to the SR expectation (spread like the model's signal sample).
    degree, n_sr_edges, partial
        Model settings as for :func:`stats.significance.significance`.
    random_state : int, optional
        Seed; same seed, same toys.
    progress : bool
        tqdm bar on stderr.

    Returns
    -------
    Calibration
    """
    if n_toys < 1:
        raise ValueError(f"n_toys must be >= 1, got {n_toys}")
    if signal < 0:
        raise ValueError(f"signal must be >= 0 events, got {signal}")
    binning, model, fit = toy_setup(masses, window, degree, n_sr_edges, partial)
    truth = model.expected(fit.pars_bkg)  # pyhf bin order, mu = 0
    b_sr = model.background_sr(fit.pars_bkg)
    truth_sig = truth + model.A[:, model.poi_index] * (signal / model.signal_sr.sum())
    rng = np.random.default_rng(random_state)

    def to_bins(vector):
        # pyhf order → per-bin counts of the binning (SR spread evenly if a single counting bin)
        out = np.zeros(binning.n_bins)
        sb_sl = model._slices["sidebands"]
        sr_sl = model._slices["signal_region"]
        out[binning.sb_mask] = vector[sb_sl]
        sr = vector[sr_sl]
        out[binning.sr_mask] = sr if model.sr_fine else sr[0] / binning.sr_mask.sum()
        return out

    asimov = significance_from_counts(
        to_bins(truth_sig), binning, degree=degree, model=model, return_workspace=False
    )
    z, zs, messages = [], [], []
    for i in progress_bar(range(int(n_toys)), progress, "toys"):
        toy = rng.poisson(truth_sig).astype(np.float64)
        res = significance_from_counts(
            to_bins(toy),
            binning,
            degree=degree,
            model=model,
            return_workspace=False,
            random_state=i,
        )
        if res.converged:
            z.append(res.Z)
            zs.append(res.Z_signed)
        else:
            messages.append(f"toy {i}: {res.message}")
    z_arr, zs_arr = np.asarray(z), np.asarray(zs)
    p = sps.norm.sf(zs_arr)
    ks = float(sps.kstest(p, "uniform").pvalue) if p.size else float("nan")
    n_failed = int(n_toys) - z_arr.size
    if n_failed:
        log.warning("%d of %d toys failed to fit", n_failed, n_toys)
    return Calibration(
        z_arr,
        zs_arr,
        p,
        int(n_toys),
        n_failed,
        float(signal),
        float(asimov.Z) if asimov.converged else float("nan"),
        b_sr,
        ks,
        messages,
    )
