"""The analysis report: results.json (every number + pyhf workspaces), plots, report.md/.html.

``report.html`` is self-contained (PNG figures embedded as base64), ``report.md`` links the PNGs
in ``plots/``. All files are written atomically.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from analysis import plots
from analysis.fmt import fmt_fpr, fmt_z
from analysis.pipeline import CATHODE, AnalysisResult
from analysis.report_render import write_pages
from analysis.report_sections import intro
from analysis.report_sections import sections as report_sections
from analysis.significance import best_of_scan
from analysis.summary import conclusion, headline, report_notes, usable_z
from dimuon_ad.io import atomic_write_text, to_jsonable

__all__ = ["results_dict", "write_report"]

log = logging.getLogger(__name__)



def results_dict(result: AnalysisResult, plot_files: list[str] | None = None, *,
                 provenance: dict[str, Any] | None = None,
                 workspace_files: list[str] | None = None) -> dict[str, Any]:
    """Every number of the run (and the pyhf workspaces) as a JSON-able dict."""
    d = result.data
    sig = {
        k: {kk: vv for kk, vv in v.items() if kk != "spectra"}
        for k, v in result.significance.items()
    }
    refs = {k: v for k, v in result.references.items()}
    return to_jsonable({
        "schema": "dimuon-ad/analysis-results/1",
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "provenance": provenance,
        "input": {"skim": d.source, "dataset": d.dataset, "has_truth": d.has_truth,
                  "features": list(d.features),
                  "skim_complete": (d.skim_summary or {}).get("complete"),
                  "labels": d.labels.to_dict() if d.labels is not None else None},
        "notes": list(d.notes),
        "config": result.config.to_dict(),
        "skim_cutflow": d.skim_cutflow,
        "cutflow": [list(c) for c in d.cutflow],
        "counts": {"os": d.os.counts(), "ss": d.ss.counts()},
        "flows": result.flows,
        "closure": {k: v for k, v in result.closure.items() if k != "samples"},
        "template": {"n_events": int(len(result.template)),
                     "oversampling": result.config.oversampling},
        "headline": {k: headline(result.significance[k]) for k in ("os", "ss")},
        "significance": sig,
        "references": refs,
        "massbin": result.massbin.to_dict() if result.massbin is not None else None,
        "cwola": result.cwola,
        "timings_s": {k: round(v, 2) for k, v in result.timings.items()},
        "cache": result.cache,
        "cluster_scan": (result.cluster_scan.summary()
                         if result.cluster_scan is not None else None),
        "plots": plot_files or [],
        "workspaces": workspace_files or [],
    })


def _labels(result: AnalysisResult) -> plots.PlotLabels:
    return plots.PlotLabels.from_sample(result.data.labels)


def _levels(spectra: dict[str, Any]) -> list[plots.SpectrumLevel]:
    out = []
    for label, c in spectra.items():
        z = c.get("Z")
        lab = label if z is None else f"{label}: Z = {fmt_z(z, missing='failed', unit='σ')}"
        out.append(plots.SpectrumLevel(lab, c["counts"], c["expected"], c["band"]))
    return out


def make_plots(result: AnalysisResult, directory: Path) -> list[str]:
    """Render every figure to ``directory`` as ``<name>.png`` and ``<name>.pdf``; returns the
    names (without extension)."""
    labels = _labels(result)
    cfg = result.config
    files: dict[str, Any] = {}
    for key, title in (("os", "opposite sign"), ("ss", "same sign (control)")):
        sig = result.significance[key]
        if sig.get("skipped"):
            continue
        nc = sig["no_cut"]
        levels = _levels(sig["spectra"])
        if levels:
            edges = next(iter(sig["spectra"].values()))["edges"]
            levels[0].label = f"no cut: Z = {fmt_z(usable_z(nc), missing='failed', unit='σ')}"
            files[f"mass_{key}"] = plots.plot_mass_spectra(
                np.asarray(edges), levels, cfg.window, labels, title=title)
        curves = {name: (np.array([r["fpr_sideband"] if r.get("fpr_sideband") else r["fpr"]
                                   for r in scan]),
                         np.array([usable_z(r) for r in scan]))
                  for name, scan in sig["scans"].items()}
        q = (sig.get("look_elsewhere") or {}).get("max_z_quantiles") or {}
        toys = (q.get("0.5"), q.get("0.95")) if q else None
        files[f"z_vs_fpr_{key}"] = plots.plot_z_vs_fpr(
            curves, labels, reweighting=usable_z(sig.get("reweighting")), no_cut=usable_z(nc),
            toys_max_z=toys,
            title=f"{title}, window {cfg.window.name}")
    os_ = result.data.os
    best = best_of_scan(result.significance["os"]["scans"].get(CATHODE, []))
    fpr = best.get("fpr") or 0.05
    s = result.scores["os"]
    thr = np.quantile(s[os_.sb], 1 - fpr) if fpr < 1 else -np.inf
    sr = os_.sr
    files["features_sr"] = plots.plot_features_sr(
        result.data.features, os_.X[sr], os_.X[sr & (s >= thr)], labels,
        template=result.template, cut_label=f"after CATHODE cut, FPR {fmt_fpr(fpr)}")
    cl = result.closure
    files["closure"] = plots.plot_closure(
        result.data.features, os_.X[os_.sb], cl["samples"], labels, auc=cl["auc_mean"],
        ks=cl["ks"])
    curves = {k: (v["eps_s"], v["eps_b"]) for k, v in result.references.items()
              if isinstance(v, dict) and v.get("eps_s")}
    if curves:
        files["roc_sic"] = plots.plot_roc_sic(
            curves, labels, min_background=50,
            n_background={k: v.get("n_background") for k, v in result.references.items()
                          if isinstance(v, dict)})
    if result.cluster_scan is not None:
        from analysis.cluster_scan import plot_cluster_spectra, plot_scan_statistic

        files["cluster_scan_statistic"] = plot_scan_statistic(result.cluster_scan, labels,
                                                              cfg.window)
        files["cluster_scan_spectra"] = plot_cluster_spectra(result.cluster_scan, labels,
                                                             cfg.window)
    files.update(_weak_plots(result, labels))
    directory.mkdir(parents=True, exist_ok=True)
    for name, fig in files.items():
        plots.save_figure(fig, directory / name)
    return list(files)


def _weak_plots(result: AnalysisResult, labels: plots.PlotLabels) -> dict[str, Any]:
    """Figures of the mass-bin scan and of CWoLa's cut efficiency, when they ran."""
    from analysis.plots_weak import plot_cut_efficiency, plot_massbin_scan

    files: dict[str, Any] = {}
    if result.massbin is not None:
        files["massbin_scan"] = plot_massbin_scan(result.massbin.to_dict(), labels,
                                                  result.config.window)
    if result.cwola.get("efficiency_by_mass"):
        files["cwola_efficiency"] = plot_cut_efficiency(result.cwola["efficiency_by_mass"],
                                                        labels, result.config.window)
    return files


def write_report(result: AnalysisResult, output_dir: str | Path, *,
                 command: str | None = None) -> dict[str, Path]:
    """Write plots/, workspaces/, results.json, report.md and report.html into ``output_dir``.

    Parameters
    ----------
    result : AnalysisResult
    output_dir : str or Path
    command : str, optional
        The command line that made the run (provenance); default: ``sys.argv``.

    Returns
    -------
    dict of name to path (``html``, ``md``, ``json``, ``plots``, ``workspaces``).
    """
    from analysis.provenance import provenance
    from analysis.workspaces import write_workspaces

    out = Path(output_dir)
    plot_dir = out / "plots"
    names = make_plots(result, plot_dir)
    ws_dir = out / "workspaces"
    ws_files = [p.name for p in write_workspaces(result, ws_dir)]
    prov = provenance(result.config.to_dict(), command=command, source=result.data.source,
                      run_dir=result.data.skim_run_dir)
    res = results_dict(result, [f"plots/{n}.{ext}" for n in names for ext in ("png", "pdf")],
                       provenance=prov, workspace_files=[f"workspaces/{n}" for n in ws_files])
    json_path = atomic_write_text(out / "results.json", json.dumps(res, indent=1))
    w = result.config.window
    title = (f"Resonant anomaly detection in dimuons — {w.name} window, signal region "
             f"{w.sr_left:g}–{w.sr_right:g} GeV")
    sections = report_sections(result, res, names, ws_files)
    notes = report_notes(result)
    concl = conclusion(result)
    md_path, html_path = write_pages(out, title, intro(result, res), concl, notes, sections)
    log.info("report written to %s", html_path)
    return {"html": html_path, "md": md_path, "json": json_path, "plots": plot_dir,
            "workspaces": ws_dir}
