"""Report figures of the methods without a density model: the mass-bin classifier scan
(:mod:`ml.massbin`) and the cut efficiency of CWoLa hunting in bins of the mass (:mod:`ml.cwola`).

Like :mod:`analysis.plots`: plain inputs (the JSON-able summaries of results.json), a
:class:`matplotlib.figure.Figure` out, no files. Masses in GeV.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from analysis.plots import _COLORS, PlotLabels, _figure, _label, _mark_window
from analysis.presets import MassWindow

__all__ = ["plot_cut_efficiency", "plot_massbin_scan"]


def _values(entries: list[Any]) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in entries], dtype=float)


def plot_massbin_scan(scan: Mapping[str, Any], labels: PlotLabels, window: MassWindow,
                     title: str = "") -> Figure:
    """AUC − 0.5 of every adjacent-bin pair at its shared edge, with the ±1σ and ±2σ bands
    of the label-permutation null, and the local Z per pair below.

    Parameters
    ----------
    scan : mapping
        :meth:`ml.massbin.MassBinScan.to_dict`.
    window : MassWindow
        Its SR is shaded and its resonances marked.
    """
    pairs = scan["pairs"]
    x = np.array([p["edges_gev"][1] for p in pairs])
    auc = _values([p["auc"] for p in pairs]) - 0.5
    q = np.array([_values(p["null_quantiles"]) for p in pairs]) - 0.5
    z = _values([p["z"] for p in pairs])
    fig, axes = _figure(2, 1, size=(10, 9), sharex=True, gridspec_kw={"height_ratios": [3, 1.4]})
    ax, axz = axes[0, 0], axes[1, 0]
    for a in (ax, axz):
        _mark_window(a, window)
    ax.fill_between(x, q[:, 0], q[:, 3], color="#ffdf7f", step="mid", lw=0,
                    label="null (label permutations): 95 %")
    ax.fill_between(x, q[:, 1], q[:, 2], color="#85d47f", step="mid", lw=0, label="68 %")
    ax.axhline(0.0, color="0.4", lw=1)
    ax.plot(x, auc, "ko", ms=6, label="held-out AUC of bin i vs bin i+1")
    ax.set_ylabel("AUC − 0.5")
    zg = scan.get("z_global")
    head = title or "mass-bin classifier test"
    if zg is not None:
        head += f": global Z = {zg:.2f}σ (Šidák, {int(np.isfinite(z).sum())} pairs)"
    ax.legend(fontsize=11, loc="upper left", title=head, title_fontsize=11)
    top = np.nanmax(np.abs(np.r_[auc, q.ravel(), 0.02]))
    ax.set_ylim(-1.3 * top, 2.0 * top)
    _label(ax, labels)
    axz.bar(x, np.nan_to_num(z), width=0.8 * np.diff(pairs[0]["edges_gev"])[0],
            color=[_COLORS[2] if v >= 3 else _COLORS[0] for v in np.nan_to_num(z)])
    axz.axhline(0.0, color="0.4", lw=1)
    for level in (3.0, 5.0):
        axz.axhline(level, color="tab:red", lw=0.8, ls="--", alpha=0.6)
    axz.set_ylabel(r"local $Z$ [$\sigma$]")
    axz.set_xlabel(r"shared bin edge $m_{\mu\mu}$ [GeV]")
    return fig


def plot_cut_efficiency(eff: Mapping[str, Any], labels: PlotLabels, window: MassWindow,
                        method: str = "CWoLa") -> Figure:
    """Efficiency of the sideband-measured cuts per mass bin, divided by the false-positive
    rate (1 everywhere without sculpting), with binomial errors.

    Parameters
    ----------
    eff : mapping
        :func:`ml.cwola.cut_efficiency_by_mass`.
    """
    edges = np.asarray(eff["edges"], dtype=float)
    centres = 0.5 * (edges[1:] + edges[:-1])
    n = np.asarray(eff["n"], dtype=float)
    fig, axes = _figure(size=(10, 7))
    ax = axes[0, 0]
    _mark_window(ax, window)
    for i, (fpr, e, p) in enumerate(zip(eff["fprs"], eff["efficiency"], eff["p_flat"],
                                        strict=True)):
        e = _values(e)
        err = np.sqrt(fpr * (1 - fpr) / np.maximum(n, 1)) / fpr
        ax.errorbar(centres + (i - 1) * 0.08, e / fpr, yerr=err, fmt="o", ms=5,
                    color=_COLORS[i % len(_COLORS)],
                    label=f"FPR {fpr:g}: flat-efficiency p = {p:.2g}")
    ax.axhline(1.0, color="0.4", lw=1)
    ax.set_xlabel(r"$m_{\mu\mu}$ [GeV]")
    ax.set_ylabel("cut efficiency / sideband FPR")
    ax.legend(fontsize=11, loc="upper left", title=f"{method}: cut efficiency vs mass",
              title_fontsize=11)
    _label(ax, labels)
    return fig
