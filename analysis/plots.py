"""Report figures (mplhep, CMS style): spectra with fits, Z vs FPR, features, closure, ROC/SIC.

Every function takes plain arrays, returns a :class:`matplotlib.figure.Figure` (no pyplot state,
Agg canvas) and never touches files; :func:`save_png` writes one atomically.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from analysis.presets import PDG_MASSES, MassWindow
from dimuon_ad.io import atomic_write_bytes

__all__ = [
    "PlotLabels",
    "SpectrumLevel",
    "feature_label",
    "plot_closure",
    "plot_features_sr",
    "plot_mass_spectra",
    "plot_roc_sic",
    "plot_z_vs_fpr",
    "save_figure",
    "save_png",
]

_UNITS = {"pt": "GeV", "mass": "GeV", "ip3d": "cm", "dxy": "cm", "dz": "cm", "deltapT": "GeV",
          "sumEt": "GeV"}
_NAMES = {"dimu_pt": r"$p_{T}^{\mu\mu}$", "dimu_mass": r"$m_{\mu\mu}$",
          "mu0_ip3d": r"$\mu_0$ IP$_{3D}$", "mu1_ip3d": r"$\mu_1$ IP$_{3D}$",
          "mu0_pt": r"$p_{T}^{\mu_0}$", "mu1_pt": r"$p_{T}^{\mu_1}$",
          "mumu_deltaR": r"$\Delta R_{\mu\mu}$", "dimu_eta": r"$\eta^{\mu\mu}$"}
_COLORS = ["#3f90da", "#ffa90e", "#bd1f01", "#94a4a2", "#832db6", "#a96b59", "#e76300",
           "#b9ac70", "#717581", "#92dadd"]


def feature_label(column: str) -> str:
    """Axis label with unit for a skim column, e.g. ``dimu_pt`` → ``p_T^μμ [GeV]``."""
    unit = _UNITS.get(column.rsplit("_", 1)[-1])
    name = _NAMES.get(column, column)
    return f"{name} [{unit}]" if unit else name


@dataclass(frozen=True)
class PlotLabels:
    """Experiment label: ``<experiment> <text>`` left, the right label (luminosity, √s) right.

    Built from the input's metadata by :meth:`from_sample` (:mod:`analysis.labels`), so a
    synthetic or unknown input never shows another dataset's √s or luminosity.
    """

    text: str = ""
    experiment: str = ""
    rlabel: str = ""

    @classmethod
    def from_sample(cls, labels: Any) -> PlotLabels:
        """From an :class:`analysis.labels.SampleLabels`."""
        return cls(text=labels.text, experiment=labels.experiment, rlabel=labels.right_label())


def _figure(nrows: int = 1, ncols: int = 1, size=(10, 8), **kw):
    import mplhep

    with matplotlib.rc_context(mplhep.style.CMS):
        fig = Figure(figsize=size, layout="constrained")
        FigureCanvasAgg(fig)
        axes = fig.subplots(nrows, ncols, squeeze=False, **kw)
    return fig, axes


def _label(ax, labels: PlotLabels, fontsize: float = 16.0) -> None:
    import mplhep

    mplhep.label.exp_label(
        exp=labels.experiment, text=labels.text, rlabel=labels.rlabel, data=True, ax=ax,
        fontsize=fontsize, loc=0,
    )


def _mark_window(ax, window: MassWindow, resonances: bool = True) -> None:
    ax.axvspan(window.sr_left, window.sr_right, color="0.85", alpha=0.5, lw=0)
    if resonances:
        for name in window.resonances:
            ax.axvline(PDG_MASSES[name], color="0.4", ls=":", lw=1.2)


#: Pulls beyond ±PULL_RANGE are drawn as arrows at the edge of the pull panel.
PULL_RANGE = 4.0


@dataclass
class SpectrumLevel:
    """One cut level of the mass-spectrum figure.

    Attributes
    ----------
    label : str
        Legend entry (e.g. ``FPR 10 %: Z = 3.1σ``).
    counts : ndarray
        Events per bin.
    expected : ndarray or None
        Background fit per bin (events), sidebands and interpolation under the SR.
    band : ndarray or None
        ±1σ uncertainty of ``expected`` per bin.
    """

    label: str
    counts: np.ndarray
    expected: np.ndarray | None = None
    band: np.ndarray | None = None


def plot_mass_spectra(
    edges: np.ndarray,
    levels: Sequence[SpectrumLevel],
    window: MassWindow,
    labels: PlotLabels,
    *,
    title: str = "",
) -> Figure:
    """Dimuon mass spectra after each cut level with the background fit and its ±1σ band.

    Parameters
    ----------
    edges : ndarray
        Bin edges in GeV.
    levels : sequence of SpectrumLevel
        From the loosest to the tightest cut.
    window : MassWindow
        The SR is shaded, the window's resonances are dotted lines.
    """
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    fig, axes = _figure(2, 1, size=(10, 9), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    ax, rax = axes[:, 0]
    centers = 0.5 * (edges[1:] + edges[:-1])
    width = edges[1] - edges[0]
    _mark_window(ax, window)
    _mark_window(rax, window, resonances=False)
    markers = "osD^v"
    for i, lev in enumerate(levels):
        color = _COLORS[i % len(_COLORS)]
        counts = np.asarray(lev.counts, dtype=float)
        err = np.sqrt(np.maximum(counts, 1.0))
        ax.errorbar(centers, counts, yerr=np.sqrt(counts), fmt=markers[i % 5], ms=3.5,
                    color=color, label=lev.label)
        if lev.expected is not None:
            exp = np.asarray(lev.expected, dtype=float)
            ax.stairs(exp, edges, color=color, lw=1.5)
            if lev.band is not None:
                band = np.asarray(lev.band, dtype=float)
                ax.stairs(exp + band, edges, baseline=np.maximum(exp - band, 0), fill=True,
                          color=color, alpha=0.3)
            pull = (counts - exp) / err
            # levels side by side inside each bin; pulls beyond the axis drawn as arrows at its
            # edge (open triangles), not dropped
            x = centers + (i - (len(levels) - 1) / 2) * width / (len(levels) + 1)
            inside = np.abs(pull) <= PULL_RANGE
            rax.errorbar(x[inside], pull[inside], yerr=1.0, fmt=markers[i % 5], ms=3,
                         color=color, elinewidth=0.8)
            for sign, mk in ((1, "^"), (-1, "v")):
                out = sign * pull > PULL_RANGE
                rax.plot(x[out], np.full(out.sum(), sign * (PULL_RANGE - 0.3)), mk, ms=6,
                         mfc="none", color=color)
    ax.set_yscale("log")
    ymax = max(float(np.max(lev.counts)) for lev in levels) if levels else 1.0
    ax.set_ylim(0.5, ymax * 30)  # the legends sit above the data
    ax.set_ylabel(f"Events / {width:.3g} GeV")
    leg = ax.legend(fontsize=11, loc="upper right", title=title or None, title_fontsize=11)
    ax.add_artist(leg)
    proxies = [Line2D([], [], color="0.3", lw=1.5, label="sideband background fit"),
               Patch(color="0.3", alpha=0.3, label=r"fit $\pm1\sigma$"),
               Patch(color="0.85", alpha=0.5, label="signal region")]
    if window.resonances:
        proxies.append(Line2D([], [], color="0.4", ls=":", lw=1.2,
                              label=", ".join(r.replace("Upsilon", "Υ").replace("psi", "ψ")
                                              for r in window.resonances) + " mass"))
    ax.legend(handles=proxies, fontsize=10, loc="upper left", bbox_to_anchor=(0.0, 0.9))
    rax.axhline(0, color="k", lw=1)
    rax.set_ylim(-PULL_RANGE, PULL_RANGE)
    rax.set_ylabel("(data−fit)/σ", fontsize=14)
    rax.set_xlabel(feature_label("dimu_mass"))
    rax.set_xlim(edges[0], edges[-1])
    _label(ax, labels)
    return fig


def plot_z_vs_fpr(
    curves: Mapping[str, tuple[np.ndarray, np.ndarray]],
    labels: PlotLabels,
    *,
    reweighting: float | None = None,
    no_cut: float | None = None,
    toys_max_z: tuple[float, float] | None = None,
    title: str = "",
) -> Figure:
    """Local significance of the excess vs the false-positive rate of the cut, one line per
    method.

    Parameters
    ----------
    curves : mapping of name to (fpr, Z)
        FPR measured on sideband data, Z in σ (NaN for failed fits: gaps).
    reweighting : float, optional
        Z of the likelihood-reweighting method (horizontal line).
    no_cut : float, optional
        Z without any cut (horizontal line).
    toys_max_z : (float, float), optional
        Median and 95 % quantile of the largest local Z of background-only toys (band).
    """
    fig, axes = _figure(size=(10, 7.5))
    ax = axes[0, 0]
    if toys_max_z is not None and all(v is not None and np.isfinite(v) for v in toys_max_z):
        ax.axhspan(0, toys_max_z[1], color="0.88", lw=0,
                   label=f"toys' largest Z: 95 % below {toys_max_z[1]:.2f}σ")
        ax.axhline(toys_max_z[0], color="0.6", lw=1, ls="-.",
                   label=f"toys' largest Z: median {toys_max_z[0]:.2f}σ")
    for i, (name, (fpr, z)) in enumerate(curves.items()):
        ax.plot(fpr, z, "o-", ms=4, lw=1.5, color=_COLORS[i % len(_COLORS)], label=name)
    if reweighting is not None and np.isfinite(reweighting):
        ax.axhline(reweighting, color="k", ls="--", lw=1.5,
                   label=f"likelihood reweighting ({reweighting:.2f}σ)")
    if no_cut is not None and np.isfinite(no_cut):
        ax.axhline(no_cut, color="0.5", ls=":", lw=1.5, label=f"no cut ({no_cut:.2f}σ)")
    ax.axhline(2.0, color="tab:red", lw=0.8, alpha=0.5)
    ax.annotate("Z = 2", xy=(1.0, 2.0), xycoords=("axes fraction", "data"), ha="right",
                va="bottom", fontsize=11, color="tab:red")
    ax.set_xscale("log")
    ax.invert_xaxis()
    ax.set_xlabel("false-positive rate of the cut on sideband data")
    ax.set_ylabel(r"local significance $Z$ [$\sigma$]")
    finite = [np.asarray(z)[np.isfinite(z)] for _, z in curves.values()]
    values = np.concatenate([*finite, [v for v in (reweighting, no_cut, 2.0)
                                       if v is not None and np.isfinite(v)]])
    top = values.max() if toys_max_z is None else max(values.max(), toys_max_z[1] or 0)
    ax.set_ylim(min(values.min(), 0.0) - 0.2, top * 1.6 + 0.5)  # room for the legend
    ax.legend(fontsize=11, loc="upper left", title=title or None, title_fontsize=11, ncols=2)
    _label(ax, labels)
    return fig


#: Features drawn on a logarithmic axis (when positive): impact parameters in cm, whose prompt
#: signal sits decades below the displaced background. Chosen per feature, not per array, so every
#: panel of a feature has the same scale.
LOG_FEATURES = ("ip3d", "sip3d", "dxy", "dz")


def _feature_bins(name: str, *arrays: np.ndarray, n: int = 40) -> tuple[np.ndarray, bool]:
    """Bins covering the data (up to the 99.5 % quantile); log-spaced for the
    :data:`LOG_FEATURES` when at least 95 % of the values are positive."""
    x = np.concatenate([a for a in arrays if len(a)])
    pos = x[x > 0]
    logx = name.rsplit("_", 1)[-1] in LOG_FEATURES and len(pos) >= 0.95 * len(x)
    if logx:  # (the few flow samples at or below zero fall outside the axis)
        lo, hi = np.quantile(pos, [0.002, 0.995])
        return np.geomspace(lo, hi if hi > lo else lo * 10, n + 1), True
    lo, hi = np.quantile(x, [0.0, 0.995])
    return np.linspace(lo, hi if hi > lo else lo + 1.0, n + 1), False


def _density_points(ax, x: np.ndarray, bins: np.ndarray, logx: bool, color: str,
                    label: str, fmt: str = "o") -> None:
    """Unit-normalized histogram of ``x`` as points with Poisson errors (empty bins left out)."""
    h, _ = np.histogram(x, bins=bins)
    norm = max(h.sum(), 1) * np.diff(bins)
    c = np.sqrt(bins[1:] * bins[:-1]) if logx else 0.5 * (bins[1:] + bins[:-1])
    ok = h > 0
    ax.errorbar(c[ok], h[ok] / norm[ok], yerr=np.sqrt(h[ok]) / norm[ok], fmt=fmt, ms=4,
                color=color, label=label)


def plot_features_sr(
    features: Sequence[str],
    before: np.ndarray,
    after: np.ndarray,
    labels: PlotLabels,
    *,
    template: np.ndarray | None = None,
    cut_label: str = "after cut",
) -> Figure:
    """Feature distributions of SR data before and after the anomaly cut (unit-normalized)."""
    d = len(features)
    fig, axes = _figure(1, d, size=(6 * d, 6.5))
    for j, name in enumerate(features):
        ax = axes[0, j]
        bins, logx = _feature_bins(name, before[:, j], after[:, j],
                                   *(() if template is None else (template[:, j],)))
        if logx:
            ax.set_xscale("log")
        if template is not None:
            ax.hist(template[:, j], bins=bins, density=True, histtype="stepfilled",
                    color="0.8", label=f"flow background template ({len(template):,})")
        h, _ = np.histogram(before[:, j], bins=bins)
        ax.stairs(h / max(h.sum(), 1) / np.diff(bins), bins, color="k", lw=1.5,
                  label=f"SR data ({len(before):,})")
        if len(after):
            _density_points(ax, after[:, j], bins, logx, "tab:red",
                            f"{cut_label} ({len(after):,})")
        ax.set_xlabel(feature_label(name))
        if not logx:
            ax.xaxis.set_major_locator(MaxNLocator(5))
        ax.set_yscale("log")
        lo, hi = ax.get_ylim()
        ax.set_ylim(lo, hi * 30)  # headroom: the legend sits above the data
        ax.set_ylabel("density (unit area)" if j == 0 else "")
        ax.legend(fontsize=10, loc="upper right")
    _label(axes[0, 0], labels, fontsize=13)
    return fig


def plot_closure(
    features: Sequence[str],
    data: np.ndarray,
    samples: np.ndarray,
    labels: PlotLabels,
    *,
    auc: float | None = None,
    ks: Mapping[str, float] | None = None,
) -> Figure:
    """Sideband closure: sideband data vs flow samples drawn at the same masses, per feature."""
    d = len(features)
    fig, axes = _figure(2, d, size=(6 * d, 7), gridspec_kw={"height_ratios": [3, 1]})
    for j, name in enumerate(features):
        ax, rax = axes[0, j], axes[1, j]
        bins, logx = _feature_bins(name, data[:, j], samples[:, j])
        if logx:
            ax.set_xscale("log")
            rax.set_xscale("log")
        hd, _ = np.histogram(data[:, j], bins=bins)
        hs, _ = np.histogram(samples[:, j], bins=bins)
        scale = hd.sum() / max(hs.sum(), 1)
        ax.stairs(hs * scale, bins, fill=True, color="tab:blue", alpha=0.35,
                  label="flow samples")
        c = np.sqrt(bins[1:] * bins[:-1]) if logx else 0.5 * (bins[1:] + bins[:-1])
        ax.errorbar(c, hd, yerr=np.sqrt(hd), fmt="o", ms=3, color="k", label="sideband data")
        ax.set_yscale("log")
        lo, hi = ax.get_ylim()
        ax.set_ylim(lo, hi * 30)  # headroom: the legend sits above the data
        title = f"KS = {ks[name]:.3f}" if ks and name in ks else ""
        ax.legend(fontsize=11, title=title or None, title_fontsize=11, loc="upper right")
        ok = hs > 0
        ratio = hd[ok] / (hs[ok] * scale)
        rerr = np.sqrt(hd[ok]) / (hs[ok] * scale)
        rax.errorbar(c[ok], ratio, yerr=rerr, fmt="o", ms=3, color="k")
        rax.axhline(1, color="tab:blue")
        rax.set_ylim(0.5, 1.5)
        rax.set_xlabel(feature_label(name))
        if not logx:
            rax.xaxis.set_major_locator(MaxNLocator(5))
            ax.xaxis.set_major_locator(MaxNLocator(5))
        ax.set_xlim(bins[0], bins[-1])
        rax.set_xlim(bins[0], bins[-1])
        rax.set_ylabel("data/flow" if j == 0 else "", fontsize=13)
    _label(axes[0, 0], labels, fontsize=13)
    if auc is not None:
        axes[0, -1].set_title(f"closure BDT AUC = {auc:.3f}", fontsize=13, loc="right")
    return fig


def plot_roc_sic(
    curves: Mapping[str, tuple[np.ndarray, np.ndarray]],
    labels: PlotLabels,
    *,
    min_background: int | None = None,
    n_background: Mapping[str, int] | None = None,
) -> Figure:
    """ROC (1/ε_B vs ε_S) and SIC (ε_S/√ε_B vs ε_S) for each method with truth labels.

    Parameters
    ----------
    curves : mapping of name to (eps_s, eps_b)
        Efficiencies on signal and background in the SR.
    min_background : int, optional
        SIC is only drawn where at least this many background events pass the cut
        (``eps_b * n_background[name]``; every point without ``n_background``), as in the
        tabulated maximum SIC.
    n_background : mapping of name to int, optional
        Background events each curve's ``eps_b`` is a fraction of.
    """
    fig, axes = _figure(1, 2, size=(16, 7))
    ax, sax = axes[0]
    for i, (name, (es, eb)) in enumerate(curves.items()):
        es, eb = np.asarray(es), np.asarray(eb)
        ok = eb > 0
        col = _COLORS[i % len(_COLORS)]
        ax.plot(es[ok], 1.0 / eb[ok], color=col, label=name)
        n_b = (n_background or {}).get(name)
        enough = ok & (eb * n_b >= min_background) if min_background and n_b else ok
        sax.plot(es[enough], es[enough] / np.sqrt(eb[enough]), color=col, label=name)
    x = np.linspace(1e-3, 1, 200)
    ax.plot(x, 1 / x, "k:", label="random")
    sax.plot(x, np.sqrt(x), "k:", label="random")
    ax.set_yscale("log")
    ax.set_xlabel(r"signal efficiency $\epsilon_S$")
    ax.set_ylabel(r"background rejection $1/\epsilon_B$")
    sax.set_xlabel(r"signal efficiency $\epsilon_S$")
    sax.set_ylabel(r"SIC $\epsilon_S/\sqrt{\epsilon_B}$")
    ax.legend(fontsize=12)
    if min_background:
        sax.set_title(f"cuts keeping ≥ {min_background} background events", fontsize=12,
                      loc="right")
    _label(ax, labels, fontsize=14)
    return fig


#: Resolution of the PNG figures (dots per inch).
PNG_DPI = 150


def save_png(fig: Figure, path: str | Path, dpi: int = PNG_DPI) -> Path:
    """Render ``fig`` to PNG at ``path`` atomically and return the path."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return atomic_write_bytes(path, buf.getvalue())


def save_figure(fig: Figure, stem: str | Path, dpi: int = PNG_DPI) -> list[Path]:
    """Render ``fig`` to ``<stem>.png`` (``dpi``) and the vector ``<stem>.pdf``, atomically;
    returns both paths."""
    stem = Path(stem)
    paths = [save_png(fig, stem.with_name(stem.name + ".png"), dpi)]
    buf = io.BytesIO()
    fig.savefig(buf, format="pdf", metadata={"Creator": "dimuon-ad"})
    paths.append(atomic_write_bytes(stem.with_name(stem.name + ".pdf"), buf.getvalue()))
    return paths
