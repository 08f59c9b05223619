"""Figures of the diphoton analysis: the Higgs peak (data vs background fit + weighted MC by
production mode) and the production-mode confusion matrices.

Same conventions as :mod:`analysis.plots`: plain arrays in, a :class:`matplotlib.figure.Figure`
out (mplhep style, Agg canvas), no files; :func:`analysis.plots.save_figure` writes them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from analysis.plots import PlotLabels, _figure, _label

__all__ = ["plot_confusion", "plot_higgs_peak"]

_MODE_COLORS = {"ggF": "#3f90da", "VBF": "#ffa90e", "WH": "#bd1f01", "ZH": "#94a4a2",
                "ttH": "#832db6"}


def plot_higgs_peak(edges: np.ndarray, data: np.ndarray, background: np.ndarray,
                    band: np.ndarray, mc: Mapping[str, np.ndarray], sr: tuple[float, float],
                    labels: PlotLabels, *, mu: float, z: float) -> Figure:
    """Diphoton mass spectrum: data points, the sideband background fit (±1σ band) and the
    weighted MC of each production mode stacked on it; lower panel: data − background with the
    MC signal (μ = 1) and the fitted μ × signal.

    Parameters
    ----------
    edges : ndarray
        Bin edges, GeV.
    data, background, band : ndarray
        Data, background fit and its ±1σ per bin, events.
    mc : mapping of mode to ndarray
        Weighted MC per bin and mode, events (μ = 1).
    sr : (float, float)
        Signal region, GeV (shaded).
    labels : PlotLabels
    mu, z : float
        Fitted signal strength and discovery significance (legend).
    """
    fig, axes = _figure(2, 1, size=(10, 9), sharex=True, height_ratios=[3, 1.3])
    top, low = axes[0, 0], axes[1, 0]
    centres, widths = 0.5 * (edges[1:] + edges[:-1]), np.diff(edges)
    for ax in (top, low):
        ax.axvspan(*sr, color="0.9", lw=0, zorder=0)
    bottom = background.copy()
    for mode, counts in mc.items():
        top.bar(centres, np.clip(counts, 0, None), widths, bottom=bottom, color=_MODE_COLORS.get(
            mode, "0.5"), label=f"{mode} (MC)", lw=0, alpha=0.85)
        bottom = bottom + np.clip(counts, 0, None)
    top.fill_between(edges, np.append(background - band, background[-1] - band[-1]),
                     np.append(background + band, background[-1] + band[-1]), step="post",
                     color="0.6", alpha=0.4, lw=0, label="background fit ±1σ")
    top.stairs(background, edges, color="k", ls="--", lw=1.5, label="background (sidebands)")
    top.errorbar(centres, data, yerr=np.sqrt(np.maximum(data, 1.0)), fmt="o", color="k",
                 ms=4, label="data")
    top.set_ylabel(f"events / {widths[0]:g} GeV")
    top.set_ylim(0, 1.35 * max(data.max(), bottom.max()))
    top.legend(loc="upper right", fontsize=13, ncol=2,
               title=f"μ = {mu:.2f}, Z = {z:.1f}σ", title_fontsize=14)
    _label(top, labels)
    signal = sum(mc.values())
    low.errorbar(centres, data - background, yerr=np.sqrt(np.maximum(data, 1.0)), fmt="o",
                 color="k", ms=4)
    low.stairs(signal, edges, color="#bd1f01", lw=1.5, label="MC signal (μ = 1)")
    low.stairs(mu * signal, edges, color="#3f90da", lw=1.5, ls="--", label=f"μ = {mu:.2f}")
    low.axhline(0, color="0.4", lw=1)
    low.set_ylabel("data − bkg")
    low.set_xlabel(r"$m_{\gamma\gamma}$ [GeV]")
    low.legend(loc="upper right", fontsize=12, ncol=2)
    low.set_xlim(edges[0], edges[-1])
    return fig


def plot_confusion(matrices: Mapping[str, np.ndarray], modes: Sequence[str],
                   labels: PlotLabels) -> Figure:
    """Row-normalised confusion matrices (true mode × predicted category), one panel per model.

    Parameters
    ----------
    matrices : mapping of title to ndarray (n_modes, n_modes)
        Weighted confusion matrices (rows true, columns predicted), expected events.
    modes : sequence of str
    labels : PlotLabels
    """
    n = len(matrices)
    fig, axes = _figure(1, n, size=(8 * n, 7.5))
    for ax, (title, m) in zip(axes[0], matrices.items(), strict=True):
        rows = np.asarray(m, dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            frac = rows / rows.sum(axis=1, keepdims=True)
        ax.imshow(np.nan_to_num(frac), cmap="Blues", vmin=0, vmax=1)
        for i in range(len(modes)):
            for j in range(len(modes)):
                text = f"{frac[i, j]:.2f}".replace("-0.00", "0.00")
                ax.text(j, i, text, ha="center", va="center", fontsize=14,
                        color="white" if frac[i, j] > 0.6 else "black")
        ax.set_xticks(range(len(modes)), modes)
        ax.set_yticks(range(len(modes)), modes)
        ax.minorticks_off()
        ax.set_xlabel("predicted category")
        ax.set_ylabel("true mode")
        ax.set_title(title, fontsize=16, pad=32)
        _label(ax, labels, fontsize=13)
    return fig
