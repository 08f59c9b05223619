"""The cluster-scanning stage of the analysis: run :func:`ml.cluster_scan.cluster_scan` on the
opposite-sign sample, draw its figures and write its report section.

Configured by the ``cluster_scan:`` YAML section (:class:`analysis.config.ClusterScanSettings`);
:mod:`analysis.pipeline` caches the result under a key of the sample's features and masses, the
settings and the seed. Masses in GeV.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.figure import Figure

from analysis.config import ClusterScanSettings
from analysis.fmt import fmt_num, fmt_p, fmt_z
from analysis.plots import _COLORS, PlotLabels, _figure, _label, _mark_window
from analysis.presets import MassWindow

__all__ = [
    "plot_cluster_spectra",
    "plot_scan_statistic",
    "report_section",
    "run_cluster_scan",
]


def run_cluster_scan(X: np.ndarray, m: np.ndarray, features: tuple[str, ...],
                     settings: ClusterScanSettings, window: MassWindow, seed: int,
                     map=None, progress: bool = False):  # noqa: A002 - as ml.kfold's map
    """Cluster scan of one sample with the configured settings (mass_range None: the window).

    Returns
    -------
    ml.cluster_scan.ClusterScanResult
    """
    from ml.cluster_scan import cluster_scan

    s = settings
    rng = s.mass_range or (window.sb_left, window.sb_right)
    return cluster_scan(
        X, m, mass_range=rng, window_width=s.window_width, step=s.step, k=s.k,
        n_clusterings=s.n_clusterings, n_bootstrap=s.n_bootstrap, threshold=s.threshold,
        block_width=s.block_width, feature_names=features, seed=seed, map=map,
        verbose=progress,
    )


def plot_scan_statistic(res, labels: PlotLabels, window: MassWindow) -> Figure:
    """Test statistic per sliding window with its null bands (68 %, 95 %) and median."""
    fig, axes = _figure(size=(10, 7))
    ax = axes[0, 0]
    x = res.centers
    q025, q16, q50, q84, q975 = res.null_band()
    _mark_window(ax, window)
    ax.fill_between(x, q025, q975, color="#ffe08a", lw=0, label="null 95 %")
    ax.fill_between(x, q16, q84, color="#7fd27f", lw=0, label="null 68 %")
    ax.plot(x, q50, color="0.3", ls="--", lw=1.2, label="null median")
    ax.plot(x, res.statistic, "ko-", ms=4, lw=1.2, label="observed")
    lo, hi = res.best_window
    ax.axvspan(lo, hi, color="tab:red", alpha=0.12, lw=0)
    ax.annotate(
        f"best {lo:g}-{hi:g} GeV\nlocal Z ≈ {fmt_z(res.z_local_tail[res.best_index])}σ "
        f"(Pareto tail)\nglobal p = {fmt_p(res.p_global)}, Z ≈ {fmt_z(res.z_global_gumbel)}σ "
        "(Gumbel)", xy=(0.98, 0.97), xycoords="axes fraction", ha="right", va="top",
        fontsize=12)
    ax.set_xlabel(r"window centre $m_{\mu\mu}$ [GeV]")
    ax.set_ylabel("rich − poor excess $T$ [σ]")
    top = max(np.max(res.statistic), np.max(q975))
    ax.set_ylim(min(np.min(res.statistic), np.min(q025)) - 0.5, top * 1.45 + 0.5)
    ax.legend(fontsize=11, loc="upper left", ncols=2,
              title=f"{res.settings['n_clusterings']} × k-means (k = {res.settings['k']}), "
                    f"{len(res.null)} resamplings", title_fontsize=11)
    _label(ax, labels)
    return fig


def plot_cluster_spectra(res, labels: PlotLabels, window: MassWindow, top: int = 3) -> Figure:
    """Sum-normalised spectra of the most anomalous clusters against the inclusive spectrum
    (top), and the anomaly-rich against the scaled anomaly-poor spectrum of the clustering of
    the most anomalous cluster (bottom)."""
    fig, axes = _figure(2, 1, size=(10, 9), sharex=True, height_ratios=[3, 2])
    ax, ax2 = axes[0, 0], axes[1, 0]
    x = res.centers
    e0 = res.best_clusters[0]["clustering"] if res.best_clusters else 0
    inclusive = res.counts[e0].sum(axis=0)
    ax.plot(x, inclusive / inclusive.sum(), "k-", lw=2, label="all events")
    for i, bc in enumerate(res.best_clusters[:top]):
        n = res.counts[bc["clustering"], bc["cluster"]]
        ax.step(x, n / max(n.sum(), 1), where="mid", color=_COLORS[i % len(_COLORS)], lw=1.5,
                label=f"clustering {bc['clustering']}, cluster {bc['cluster']}: pull "
                      f"{bc['pull']:.1f}, {bc['events']:.0f} ev.")
    for a in (ax, ax2):
        _mark_window(a, window)
        a.axvspan(*res.best_window, color="tab:red", alpha=0.12, lw=0)
    ax.set_ylabel("fraction per window")
    ax.legend(fontsize=10, loc="upper right")
    rich = res.rich[e0]
    R, P = res.counts[e0][rich].sum(axis=0), res.counts[e0][~rich].sum(axis=0)
    scale = R.sum() / max(P.sum(), 1)
    ax2.errorbar(x, R, yerr=np.sqrt(R), fmt="o", ms=3, color="tab:red",
                 label=f"anomaly-rich ({int(rich.sum())} clusters)")
    ax2.plot(x, scale * P, color="0.3", lw=1.5,
             label=f"anomaly-poor × {scale:.3g} ({int((~rich).sum())} clusters)")
    ax2.set_xlabel(r"window centre $m_{\mu\mu}$ [GeV]")
    ax2.set_ylabel("events / window")
    ax2.legend(fontsize=10, loc="upper right", title=f"clustering {e0}", title_fontsize=10)
    _label(ax, labels)
    return fig


def report_section(res) -> dict[str, Any]:
    """The report section (``id``, ``title``, ``blocks``) of a cluster scan."""
    s = res.settings
    text = (
        f"Cluster scanning (arXiv:2402.17714): {s['n_clusterings']} MiniBatchKMeans clusterings "
        f"(k = {s['k']}) of the standardised OS features; per cluster the mass spectrum in "
        f"windows of {s['window_width']:g} GeV every {s['step']:g} GeV over "
        f"{s['mass_range'][0]:g}-{s['mass_range'][1]:g} GeV. A cluster is anomaly-rich when "
        f"its spectrum deviates from the inclusive one by more than {s['threshold']:g}σ in "
        "some window ('maxdev'); T is the excess of the rich over the scaled poor spectrum per "
        "window, averaged over the clusterings. Null: "
        f"{s['n_bootstrap']} resamplings that permute the masses among events"
        + (f" within {s['block_width']:g} GeV blocks" if s.get("block_width") else "")
        + (" (" + s["null"] + ")" if s["null"] != "permute" else "")
        + "; the global p-value compares the largest T with the resampled maxima (look-"
        "elsewhere over windows). Empirical p-values stop at 1/(resamplings + 1); the local Z "
        "beyond comes from a generalised Pareto tail of the pooled standardised null, the "
        "global one from a Gumbel fit of the resampled maxima."
    )
    b = res.best_index
    rows = [(f"{res.best_window[0]:g}-{res.best_window[1]:g}", fmt_num(res.statistic[b]),
             fmt_p(res.p_local[b]), fmt_z(res.z_local_tail[b]), fmt_p(res.p_global),
             fmt_z(res.z_global_gumbel), f"{fmt_num(res.chi2_ndof)} (p {fmt_p(res.p_chi2)})")]
    clusters = [(f"{c['clustering']}/{c['cluster']}", fmt_num(c["pull"]),
                 fmt_num(c["events"]),
                 ", ".join(f"{k} = {v:.3g}" for k, v in c["centroid"].items()))
                for c in res.best_clusters]
    return {"id": "cluster-scan", "title": "Cluster scanning over the mass range", "blocks": [
        ("p", text),
        ("table", ["best window [GeV]", "T", "local p", "local Z (tail)", "global p",
                   "global Z (Gumbel)", "χ²/ndof (paper)"], rows),
        ("p", "Most anomalous clusters in the best window (clustering/cluster, pull, events, "
              "centroid in physical units):"),
        ("table", ["cluster", "pull", "events", "centroid"], clusters),
        ("fig", "cluster_scan_statistic"), ("fig", "cluster_scan_spectra")]}
