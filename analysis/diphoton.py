"""The H→γγ peak: sideband background from data, signal shape from weighted MC, μ and Z with pyhf.

Input is the diphoton skim (:data:`processors.diphoton_columns.DIPHOTON_COLUMNS`, GeV): data
events (``is_data``) and the five Higgs MC samples with their full event weights (``weight``,
normalised to the luminosity, negative ones included).

1. The signal shape is a double-sided Crystal Ball fitted to the weighted MC masses in the
   105–160 GeV range (:func:`stats.signal_shape.fit_dscb`); its fractions in the 1 GeV SR bins
   are the signal template.
2. The data are binned on :data:`HIGGS_WINDOW` (sidebands 105–120 and 130–160 GeV, SR 120–130
   GeV, 1 GeV bins) and fitted with the stats layer's bump model (:mod:`stats.significance`:
   Bernstein polynomial on the sidebands, its degree by the ``"spurious"`` rule of
   :mod:`stats.degree`, the signal template in the fine SR bins).
3. Its workspace is rewritten with the MC expectation in the SR as the signal sample
   (:func:`stats.signal_strength.signal_strength_workspace`), so ``mu`` is the signal strength;
   ``mu`` and its profile-likelihood interval and the discovery Z come from pyhf on that JSON.

The signal fraction outside the SR (the DSCB tails, about 10 %) sits in the sidebands and is
absorbed by the polynomial; μ counts only the SR signal relative to the MC's SR expectation.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from dimuon_ad.errors import FitError, InputError
from processors.diphoton_columns import NON_HIGGS, TRUTH_MODES
from stats.binning import Binning, Window, make_bins
from stats.model import BumpModel
from stats.signal_shape import DSCB, fit_dscb
from stats.signal_strength import profile_interval, signal_strength_workspace
from stats.significance import significance_from_counts
from stats.workspace import discovery_test

log = logging.getLogger(__name__)

__all__ = ["HIGGS_WINDOW", "MODES", "HiggsPeak", "fit_higgs_peak", "mode_histograms",
           "split_data_mc"]

#: Sidebands 105–120 and 130–160 GeV, SR 120–130 GeV (the seed's and arXiv:1802.04146's range).
HIGGS_WINDOW = Window(105.0, 120.0, 130.0, 160.0)
#: Production modes in ``truth_mode`` order.
MODES: tuple[str, ...] = tuple(sorted(TRUTH_MODES, key=TRUTH_MODES.get))
#: 11 SR edges: 1 GeV bins over 120–130 GeV and in the sidebands.
N_SR_EDGES = 11


def split_data_mc(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Data rows and Higgs MC rows (``truth_mode`` in 0..4) of a diphoton skim frame."""
    missing = [c for c in ("mgg", "weight", "truth_mode", "is_data") if c not in frame]
    if missing:
        raise InputError(
            f"diphoton skim lacks columns {missing}; expected the contract of "
            "processors.diphoton_columns (write it with the diphoton processor)"
        )
    is_data = frame["is_data"].to_numpy(bool)
    mc = frame[~is_data]
    mc = mc[mc["truth_mode"].to_numpy() != NON_HIGGS]
    return frame[is_data], mc


def mode_histograms(mass: np.ndarray, weight: np.ndarray, mode: np.ndarray,
                    edges: np.ndarray) -> dict[str, np.ndarray]:
    """Weighted MC mass histograms per production mode (events per bin of ``edges``, GeV)."""
    return {name: np.histogram(mass[mode == TRUTH_MODES[name]], edges,
                               weights=weight[mode == TRUTH_MODES[name]])[0] for name in MODES}


@dataclass
class HiggsPeak:
    """Result of :func:`fit_higgs_peak` (masses in GeV, counts in events).

    Attributes
    ----------
    binning : Binning
        Sideband and SR bins of :data:`HIGGS_WINDOW`.
    data_counts : numpy.ndarray
        Data per bin.
    mc_counts : dict
        Weighted MC per bin and mode.
    shape : DSCB
        Signal shape fitted to the weighted MC.
    s_expected : float
        MC expectation in the SR (sum of weights, μ = 1).
    fit : SignificanceResult
        The bump fit (background degree, Z, sideband quality).
    mu, mu_err_low, mu_err_high : float
        Signal strength and its profile-likelihood 68 % interval.
    z, p_value : float
        Discovery significance from pyhf's q0 on :attr:`workspace`.
    workspace : dict
        pyhf workspace with ``mu`` = signal strength.
    truth : dict
        Injected truth when the data carry ``truth_mode`` (synthetic): Higgs events in the SR and
        ``mu_true`` = that over :attr:`s_expected`.
    """

    binning: Binning
    data_counts: np.ndarray
    mc_counts: dict[str, np.ndarray]
    shape: DSCB
    s_expected: float
    fit: Any
    mu: float
    mu_err_low: float
    mu_err_high: float
    z: float
    p_value: float
    workspace: dict
    truth: dict[str, Any] = field(default_factory=dict)

    def background(self) -> tuple[np.ndarray, np.ndarray]:
        """Fitted background and its ±1σ in every bin of :attr:`binning` (events)."""
        model = BumpModel.from_counts(self.binning, self.data_counts, int(self.fit.info["degree"]))
        return model.background_band(np.array([self.fit.params[n] for n in model.par_names]))

    def summary(self) -> dict[str, Any]:
        """JSON-ready numbers of the fit."""
        f = self.fit
        return {
            "window_GeV": list(self.binning.window.as_tuple()),
            "n_data": float(self.data_counts.sum()),
            "n_data_sr": float(self.data_counts[self.binning.sr_mask].sum()),
            "s_expected_sr": self.s_expected,
            "mc_yield_sr_per_mode": {k: float(v[self.binning.sr_mask].sum())
                                     for k, v in self.mc_counts.items()},
            "signal_shape": self.shape.to_dict(),
            "signal_fwhm_GeV": self.shape.fwhm(),
            "background_degree": int(f.info["degree"]),
            "degree_reason": f.info.get("degree_reason", ""),
            "b_fit_sr": float(f.b_fit), "b_fit_sr_unc": float(f.b_fit_unc),
            "s_fit_sr": float(f.s_fit),
            "sideband_gof": {k: float(v) for k, v in f.gof.items()
                             if isinstance(v, (int, float, np.floating))},
            "mu": self.mu, "mu_err_low": self.mu_err_low, "mu_err_high": self.mu_err_high,
            "Z": self.z, "p_value": self.p_value, "truth": self.truth,
        }


def fit_higgs_peak(data_mass: np.ndarray, mc_mass: np.ndarray, mc_weight: np.ndarray,
                   mc_mode: np.ndarray, *, data_truth: np.ndarray | None = None,
                   window: Window = HIGGS_WINDOW, degree: int | str = "spurious",
                   random_state: int = 0) -> HiggsPeak:
    """Fit the diphoton spectrum: background from the data sidebands, signal shape from MC.

    Parameters
    ----------
    data_mass : array_like
        Data ``mgg``, GeV.
    mc_mass, mc_weight, mc_mode : array_like
        Higgs MC ``mgg`` (GeV), full event weights (events at the data's luminosity) and
        ``truth_mode``.
    data_truth : array_like, optional
        ``truth_mode`` of the data (synthetic samples): the injected Higgs events.
    window : Window
        Sidebands and SR, GeV.
    degree : int or {"auto", "spurious"}
        Background polynomial degree or rule (:mod:`stats.degree`).
    random_state : int
        Seed of the fits' retry starting points.

    Raises
    ------
    InputError
        No MC expectation in the SR, or too few MC events for the shape fit.
    FitError
        The background fit failed.
    """
    binning = make_bins(window, N_SR_EDGES)
    data_mass = np.asarray(data_mass, dtype=np.float64)
    mc_mass = np.asarray(mc_mass, dtype=np.float64)
    mc_weight = np.asarray(mc_weight, dtype=np.float64)
    mc_mode = np.asarray(mc_mode)
    counts = binning.histogram(data_mass)
    mc_counts = mode_histograms(mc_mass, mc_weight, mc_mode, binning.edges)
    s_bins = sum(mc_counts.values())[binning.sr_mask]
    s_expected = float(s_bins.sum())
    if not s_expected > 0:
        raise InputError(f"Higgs MC gives {s_expected:.3g} events in the SR "
                         f"{window.sr_left:g}-{window.sr_right:g} GeV; expected > 0")
    shape = fit_dscb(mc_mass, mc_weight, low=binning.low, high=binning.high)
    fractions = shape.fractions(binning.sr_edges)
    fit = significance_from_counts(counts, binning, degree=degree, sr_fine=True,
                                   signal_shape=fractions, random_state=random_state)
    if not fit.converged:
        raise FitError(f"diphoton background fit failed: {fit.message}")
    ws = signal_strength_workspace(fit.workspace, s_expected * fractions / fractions.sum())
    interval = profile_interval(ws, "mu")
    disc = discovery_test(ws)
    truth: dict[str, Any] = {}
    if data_truth is not None:
        higgs = np.asarray(data_truth) != NON_HIGGS
        n_true = int(np.count_nonzero(higgs & window.in_sr(data_mass)))
        truth = {"higgs_events_sr": n_true, "mu_true": n_true / s_expected,
                 "higgs_events_total": int(np.count_nonzero(higgs))}
    log.info("Higgs peak: mu = %.3f -%.3f +%.3f, Z = %.2f (degree %s)", interval["value"],
             interval["err_low"], interval["err_high"], disc["Z"], fit.info["degree"])
    return HiggsPeak(binning=binning, data_counts=counts, mc_counts=mc_counts, shape=shape,
                     s_expected=s_expected, fit=fit, mu=interval["value"],
                     mu_err_low=interval["err_low"], mu_err_high=interval["err_high"],
                     z=disc["Z"], p_value=disc["p_value"], workspace=ws, truth=truth)
