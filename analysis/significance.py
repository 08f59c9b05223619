"""Significances of every method for one sample, and the fitted background curves for plots.

Thin layer over :mod:`stats.significance` (pyhf model of arXiv:2502.14036): no cut, cuts at the
sideband FPR grid on any score, likelihood reweighting. Results become plain dicts (JSON) with
their pyhf workspaces.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from analysis.config import StatsSettings
from analysis.presets import MassWindow

__all__ = ["background_curve", "evaluate_sample", "stats_window"]

log = logging.getLogger(__name__)


def stats_window(window: MassWindow) -> Any:
    """The ``stats.binning.Window`` of an analysis window."""
    from stats.binning import Window

    return Window(*window.edges)


def _as_dict(res: Any, workspace: bool, min_sb: int = 0) -> dict[str, Any]:
    """Result as a dict, with ``usable`` (False: failed, or fewer sideband events than
    ``min_sb``) and the reason in ``excluded``. (The stats fits keep every background
    expectation positive, so a converged fit never predicts a negative SR background.)"""
    out = {k: v for k, v in res.to_dict(workspace=workspace).items() if k != "params_bkg_only"}
    reason = ""
    if not res.converged:
        reason = f"fit failed: {res.message}"
    elif res.n_sb < min_sb:
        reason = f"{res.n_sb:.0f} sideband events < {min_sb}"
    out["usable"] = not reason
    out["excluded"] = reason
    return out


def background_curve(
    masses: np.ndarray, params: Mapping[str, float], window: MassWindow, stats: StatsSettings
) -> dict[str, np.ndarray]:
    """Per-bin counts, fitted background and its ±1σ band for the mass-spectrum plot.

    Rebuilds the Bernstein basis of :class:`stats.model.BumpModel` for these (unweighted) masses
    and evaluates the fitted coefficients ``bkg_c*`` in every bin, the SR bins included; the band
    propagates the inverse Fisher information of the sideband bins (as ``b_fit_unc`` does for the
    SR total).

    Returns
    -------
    dict with ``edges`` (GeV), ``counts``, ``expected`` and ``band`` per bin.
    """
    from stats.background import bernstein_bin_integrals
    from stats.binning import make_bins
    from stats.model import BumpModel

    binning = make_bins(stats_window(window), stats.n_sr_edges)
    counts = binning.histogram(np.asarray(masses, dtype=np.float64))
    model = BumpModel.from_counts(binning, counts, stats.degree)
    theta = np.array([params[f"bkg_c{k}"] for k in range(stats.degree + 1)])
    basis = bernstein_bin_integrals(binning.edges, stats.degree, binning.low, binning.high)
    basis = basis * model.scales
    expected = basis @ theta
    sb = basis[binning.sb_mask]
    lam = np.clip(sb @ theta, 1e-12, None)
    cov = np.linalg.pinv((sb / lam[:, None]).T @ sb, rcond=1e-12, hermitian=True)
    band = np.sqrt(np.clip(np.einsum("ij,jk,ik->i", basis, cov, basis), 0, None))
    edges = np.asarray(binning.edges)
    return {"edges": edges, "counts": counts, "expected": expected, "band": band}


def evaluate_sample(
    m: np.ndarray,
    methods: Mapping[str, tuple[np.ndarray, bool]],
    window: MassWindow,
    stats: StatsSettings,
    *,
    reweight_scores: np.ndarray | None = None,
    mu: float | None = None,
    spectrum_method: str | None = None,
    workspaces: bool = True,
    progress: bool = False,
) -> dict[str, Any]:
    """All significances of one sample (OS or SS).

    Parameters
    ----------
    m : ndarray
        Dimuon masses in GeV (events of the window).
    methods : mapping of name to (score, higher_is_signal)
        Scores to cut on at ``stats.fprs`` (thresholds measured on sideband events).
    window : MassWindow
    stats : StatsSettings
    reweight_scores : ndarray, optional
        Classifier scores in [0, 1] for likelihood reweighting.
    mu : float, optional
        Signal fraction for the reweighting weights; default from this sample's no-cut fit.
    spectrum_method : str, optional
        Method whose spectra at ``stats.spectrum_fprs`` are kept for the plot.
    workspaces : bool
        Keep the pyhf workspaces of the no-cut and reweighting fits and of the scans.

    Returns
    -------
    dict with ``no_cut``, ``scans`` (name → list of results per FPR), ``reweighting`` and
    ``spectra`` (label → curve arrays).
    """
    from stats.significance import reweighted_significance, scan_cut, significance

    win = stats_window(window)
    kw = {"degree": stats.degree, "n_sr_edges": stats.n_sr_edges}
    nocut = significance(m, window=win, **kw)
    out: dict[str, Any] = {"no_cut": _as_dict(nocut, workspaces), "scans": {}, "spectra": {}}
    if nocut.converged:
        out["spectra"]["no cut"] = background_curve(m, nocut.params, window, stats)
    for name, (score, high) in methods.items():
        res = scan_cut(m, score, window=win, fprs=list(stats.fprs), higher_is_signal=high,
                       progress=progress, return_workspace=workspaces, **kw)
        out["scans"][name] = [_as_dict(r, workspaces, stats.min_sideband_events) for r in res]
        log.info("%s: best Z %.2f", name, best_of_scan(out["scans"][name]).get("Z", np.nan))
    if spectrum_method is not None:
        score, high = methods[spectrum_method]
        res = scan_cut(m, score, window=win, fprs=list(stats.spectrum_fprs),
                       higher_is_signal=high, return_workspace=False, **kw)
        from stats.significance import cut_thresholds

        sb = (m < window.sr_left) | (m >= window.sr_right)
        thresholds = cut_thresholds(score[sb], stats.spectrum_fprs, higher_is_signal=high)
        for fpr, r, thr in zip(stats.spectrum_fprs, res, thresholds, strict=True):
            if not r.converged or thr is None:
                continue
            keep = score >= thr if high else score <= thr
            curve = background_curve(m[keep], r.params, window, stats)
            out["spectra"][f"{spectrum_method} FPR {fpr:g}"] = {**curve, "Z": r.Z}
    if reweight_scores is not None:
        if mu is None and nocut.converged and nocut.s_fit > 0:
            mu = nocut.s_fit / (nocut.s_fit + nocut.b_fit)
        if mu is None:
            out["reweighting"] = {
                "Z": float("nan"), "converged": False,
                "message": f"no-cut fit has S = {nocut.s_fit:.3g} <= 0: the reweighting weights "
                           "are undefined (no excess to enhance); Z taken as 0 in the summary",
            }
        else:
            rw = reweighted_significance(m, reweight_scores, window=win, mu=float(mu),
                                         return_workspace=workspaces, **kw)
            out["reweighting"] = _as_dict(rw, workspaces)
    return out


def best_of_scan(scan: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The usable entry with the highest Z of a scan, FPR = 1 (no cut) excluded, or {}."""
    ok = [r for r in scan if r.get("usable") and (r.get("fpr") or 1.0) < 1.0]
    return max(ok, key=lambda r: r["Z"]) if ok else {}
