"""Significances of every method for one sample, and the fitted background curves for plots.

Thin layer over :mod:`stats.significance` (pyhf model of arXiv:2502.14036): no cut, cuts at the
sideband FPR grid on any score, likelihood reweighting. Results become plain dicts (JSON) with
their pyhf workspaces. The best cut of a scan is a maximum over the FPR grid, so its local Z is
inflated by the trials; :func:`look_elsewhere_toys` and :func:`global_significances` turn it into
a global p-value and Z with background-only pseudo-experiments (:func:`stats.toys.look_elsewhere`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from analysis.config import StatsSettings
from analysis.presets import MassWindow

__all__ = [
    "background_curve",
    "best_of_scan",
    "evaluate_sample",
    "global_significances",
    "look_elsewhere_fprs",
    "look_elsewhere_toys",
    "skipped_sample",
    "stats_window",
]

log = logging.getLogger(__name__)


def stats_window(window: MassWindow) -> Any:
    """The ``stats.binning.Window`` of an analysis window."""
    from stats.binning import Window

    return Window(*window.edges)


def degree_options(stats: StatsSettings) -> dict[str, Any]:
    """Candidate degrees and F-test level of the per-spectrum rules (``"auto"``,
    ``"spurious"``) for the stats functions; empty for a fixed degree."""
    if not isinstance(stats.degree, str):
        return {}
    return {"degrees": tuple(stats.degree_candidates), "f_test_alpha": float(stats.f_test_alpha)}


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

    Rebuilds the :class:`stats.model.BumpModel` of these (unweighted) masses at the fitted
    degree and evaluates the fitted parameters in every bin, the SR bins included
    (:meth:`stats.model.BumpModel.background_band`: the band propagates the inverse Fisher
    information of the sideband bins, as ``b_fit_unc`` does for the SR total).

    Returns
    -------
    dict with ``edges`` (GeV), ``counts``, ``expected`` and ``band`` per bin.
    """
    from stats.binning import make_bins
    from stats.model import BumpModel

    binning = make_bins(stats_window(window), stats.n_sr_edges)
    counts = binning.histogram(np.asarray(masses, dtype=np.float64))
    degree = sum(1 for k in params if k.startswith("bkg_c")) - 1  # the fitted (chosen) degree
    model = BumpModel.from_counts(binning, counts, degree)
    expected, band = model.background_band(np.array([params[n] for n in model.par_names]))
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
    kw = {"degree": stats.degree, "n_sr_edges": stats.n_sr_edges, **degree_options(stats)}
    nocut = significance(m, window=win, **kw)
    out: dict[str, Any] = {"no_cut": _as_dict(nocut, workspaces), "scans": {}, "spectra": {}}
    if nocut.converged:
        out["spectra"]["no cut"] = background_curve(m, nocut.params, window, stats)
    from tqdm.auto import tqdm

    from analysis.fmt import fmt_z

    # one bar for the stage (methods), not one per method's FPR scan
    for name, (score, high) in tqdm(methods.items(), desc="significance", unit="method",
                                    disable=not progress, leave=False):
        res = scan_cut(m, score, window=win, fprs=list(stats.fprs), higher_is_signal=high,
                       progress=False, return_workspace=workspaces, **kw)
        out["scans"][name] = [_as_dict(r, workspaces, stats.min_sideband_events) for r in res]
        log.info("%s: best Z %s", name,
                 fmt_z(best_of_scan(out["scans"][name]).get("Z"), missing="no usable cut"))
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


def skipped_sample(reason: str, methods: Mapping[str, Any]) -> dict[str, Any]:
    """The :func:`evaluate_sample` output of a sample left out (too few events): every entry
    failed with ``reason``, so tables show it as skipped and no number is made up."""
    failed = {"Z": float("nan"), "p_value": float("nan"), "converged": False, "usable": False,
              "message": reason, "excluded": reason}
    return {"skipped": reason, "no_cut": dict(failed), "scans": {name: [] for name in methods},
            "spectra": {}, "reweighting": dict(failed)}


def best_of_scan(scan: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The usable entry with the highest Z of a scan, FPR = 1 (no cut) excluded, or {}."""
    ok = [r for r in scan if r.get("usable") and (r.get("fpr") or 1.0) < 1.0]
    return max(ok, key=lambda r: r["Z"]) if ok else {}


def look_elsewhere_fprs(stats: StatsSettings) -> tuple[float, ...]:
    """The FPR points a best cut is chosen from (:func:`best_of_scan`: FPR = 1 excluded)."""
    return tuple(float(f) for f in stats.fprs if f < 1.0)


def look_elsewhere_toys(
    m: np.ndarray,
    window: MassWindow,
    stats: StatsSettings,
    n_toys: int,
    seed: int,
    progress: bool = False,
) -> dict[str, Any]:
    """Largest local Z over the FPR grid in background-only toys of one sample.

    Each toy draws masses from the background-only fit of the uncut spectrum ``m`` (GeV) and a
    mass-independent score, and cuts at :func:`look_elsewhere_fprs` with this analysis' binning,
    degree and ``min_sideband_events`` (:func:`stats.toys.look_elsewhere`).

    Failed and bad fits are expected in background-only toys (tight cuts on few events): the
    ``stats`` warnings about them are silenced below ERROR inside the toys, also on Dask
    workers, which do not inherit the command line's logger levels.

    Returns
    -------
    dict with ``max_z`` (one per toy, NaN where no cut point was usable), ``n_tests`` and
    ``error`` (non-empty when the toys could not be generated, e.g. the uncut fit failed).
    """
    from dimuon_ad.logs import quiet_logger
    from stats.toys import look_elsewhere

    fprs = look_elsewhere_fprs(stats)
    try:
        with quiet_logger("stats", logging.ERROR):
            le = look_elsewhere(
                m, window=stats_window(window), fprs=fprs, n_toys=int(n_toys),
                degree=stats.degree, **degree_options(stats), n_sr_edges=stats.n_sr_edges,
                min_sideband_events=stats.min_sideband_events,
                random_state=int(seed), progress=progress,
            )
    except ValueError as err:
        return {"max_z": np.full(int(n_toys), np.nan), "n_tests": len(fprs), "error": str(err)}
    return {"max_z": le.max_z, "n_tests": le.n_tests, "error": ""}


def global_significances(
    sig: Mapping[str, Any], max_z: np.ndarray, n_tests: int, error: str = ""
) -> dict[str, Any]:
    """Global p-value and Z of each method's best cut, from the toys' largest Z.

    ``p_global`` is the fraction of toys whose largest Z over the grid reaches the observed best
    local Z; ``Z_global = Φ⁻¹(1 - p_global)``, shown as 0 when ``p_global >= 0.5``. When no toy
    reaches it, ``p_global = 0.5/(n + 1)`` and ``Z_global`` is a lower limit (``limit``).

    Parameters
    ----------
    sig : mapping
        One sample's output of :func:`evaluate_sample` (its ``scans``).
    max_z : ndarray
        Largest Z per toy (:func:`look_elsewhere_toys`).
    n_tests : int
        FPR points per toy.
    error : str
        Why the toys could not be made, if so.
    """
    from scipy.stats import norm

    from stats.toys import LookElsewhere

    le = LookElsewhere(np.asarray(max_z, dtype=np.float64), int(n_tests))
    good = le.max_z[np.isfinite(le.max_z)]
    methods: dict[str, Any] = {}
    for name, scan in sig["scans"].items():
        best = best_of_scan(scan)
        z = float(best.get("Z", np.nan))
        if good.size == 0 or not np.isfinite(z):
            methods[name] = {"Z_local": z, "fpr": best.get("fpr"), "p_global": np.nan,
                             "p_global_err": np.nan, "Z_global": np.nan, "limit": False}
            continue
        p, err = le.global_p_value(z)
        methods[name] = {
            "Z_local": z, "fpr": best.get("fpr"), "p_global": p, "p_global_err": err,
            "Z_global": max(float(norm.isf(p)), 0.0), "limit": bool(np.all(good < z)),
        }
    quant = {f"{q:g}": float(np.quantile(good, q)) for q in (0.5, 0.9, 0.95)} if good.size else {}
    return {
        "n_toys": int(le.max_z.size), "n_failed": int(le.max_z.size - good.size),
        "n_tests": int(n_tests), "error": error, "max_z_quantiles": quant,
        "max_z": le.max_z, "methods": methods,
    }
