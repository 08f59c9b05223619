"""Figure of the sensitivity harness: median Z with its 68 % band vs injected signal events."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from analysis.plots import _COLORS, _figure, save_figure

__all__ = ["plot_null_pvalues", "plot_sensitivity"]


def plot_sensitivity(summary: dict[str, Any], stem: str | Path, title: str = "") -> list[Path]:
    """Median signed Z (line) and 16–84 % band per method vs injected S; 3σ and 5σ lines; the
    top axis shows the mean S/√B in the SR (truth). Writes ``<stem>.png`` and ``.pdf``.

    Parameters
    ----------
    summary : dict
        :func:`analysis.sensitivity.summarise` output.
    stem : str or Path
        Output path without suffix.
    title : str
        Text in the upper-left corner (window, signal, pseudo-experiments).
    """
    fig, axes = _figure(size=(10, 8))
    ax = axes[0, 0]
    s = np.asarray(summary["strengths"], dtype=float)
    for i, (name, e) in enumerate(summary["methods"].items()):
        c = _COLORS[i % len(_COLORS)]
        ax.fill_between(s, e["lo"], e["hi"], color=c, alpha=0.2, lw=0)
        need = e["s_needed"].get("3", {}).get("median")
        label = f"{name} (3σ: S = {need:.0f})" if need is not None else f"{name} (3σ: not reached)"
        ax.plot(s, e["median"], "o-", color=c, label=label, lw=2, ms=5)
    for z in (3, 5):
        ax.axhline(z, color="0.3", ls="--", lw=1)
        ax.text(s[0], z, f" {z}σ", va="bottom", fontsize=14, color="0.3")
    ax.set_xlabel("injected signal events S")
    ax.set_ylabel("Z (median, 68 % band)")
    if s[-1] > s[0]:
        ax.set_xlim(s[0], s[-1])
    ax.legend(loc="upper left", fontsize=13, title=title or None, title_fontsize=12)
    ratio = np.asarray(summary["s_over_sqrt_b"], dtype=float)
    if s[-1] > 0 and ratio[-1] > 0:
        k = ratio[-1] / s[-1]  # S/√B per injected event (B is the same in every block)
        top = ax.secondary_xaxis("top", functions=(lambda x: x * k, lambda y: y / k))
        top.set_xlabel(r"$S/\sqrt{B}$ in the SR")
    return save_figure(fig, stem)


def plot_null_pvalues(
    rows: list[dict[str, Any]], names: list[str], stem: str | Path, title: str = ""
) -> list[Path]:
    """Zero-injection p-values ``1 - Φ(Z)`` per method (step histograms, 10 bins) with the
    uniform expectation and its ±1σ binomial band. Writes ``<stem>.png`` and ``.pdf``."""
    from scipy.stats import norm

    fig, axes = _figure(size=(10, 8))
    ax = axes[0, 0]
    edges = np.linspace(0.0, 1.0, 11)
    n = 0
    for i, name in enumerate(names):
        z = np.array([r["z"][name] for r in rows if r["strength"] == 0], dtype=float)
        p = norm.sf(z[np.isfinite(z)])
        n = max(n, p.size)
        ax.hist(p, bins=edges, histtype="step", lw=2, color=_COLORS[i % len(_COLORS)],
                label=f"{name} ({p.size})")
    expect = n / (len(edges) - 1)
    sd = np.sqrt(expect * (1 - 1 / (len(edges) - 1)))
    ax.axhspan(expect - sd, expect + sd, color="0.85", alpha=0.6, lw=0, label="uniform ±1σ")
    ax.axhline(expect, color="0.4", ls="--", lw=1)
    ax.set_xlim(0, 1)
    ax.set_xlabel(r"p-value $1 - \Phi(Z)$ without injected signal")
    ax.set_ylabel("pseudo-datasets per bin")
    ax.set_ylim(0, 2.2 * expect + 3 * sd)
    ax.legend(loc="upper right", fontsize=12, ncol=2, title=title or None, title_fontsize=12)
    return save_figure(fig, stem)
