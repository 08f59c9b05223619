"""The diphoton report: results.json, pyhf workspaces, plots and report.md/.html.

Written with the dimuon report's machinery (:func:`analysis.report_render.write_pages`, the same
page layout, figures via :func:`analysis.plots.save_figure`, atomic writes).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from analysis.diphoton import MODES
from analysis.diphoton_plots import plot_confusion, plot_higgs_peak
from analysis.diphoton_run import DiphotonResult
from analysis.plots import PlotLabels, save_figure
from analysis.provenance import provenance
from analysis.report_render import write_pages
from dimuon_ad.io import atomic_write_text, to_jsonable
from stats.workspace import write_workspace

log = logging.getLogger(__name__)

__all__ = ["write_diphoton_report"]


def _f(x: float, digits: int = 2) -> str:
    return "–" if x is None or not np.isfinite(x) else f"{x:.{digits}f}"


def _labels(result: DiphotonResult) -> PlotLabels:
    return PlotLabels(text="Open Data, synthetic" if result.synthetic else "Open Data",
                      experiment="ATLAS", rlabel="13 TeV")


def _plots(result: DiphotonResult, plot_dir: Path) -> list[str]:
    peak = result.peak
    b = peak.binning
    expected, band = peak.background()
    fig = plot_higgs_peak(np.asarray(b.edges), peak.data_counts, expected, band, peak.mc_counts,
                          (b.window.sr_left, b.window.sr_right), _labels(result), mu=peak.mu,
                          z=peak.z)
    save_figure(fig, plot_dir / "higgs_peak")
    c = result.classifier
    fig = plot_confusion({"classifier (XGBoost, |w|, balanced)":
                          np.array(c["model"]["confusion_weighted"]),
                          "seed baseline (random forest, w > 0)":
                          np.array(c["baseline"]["confusion_weighted"])}, MODES, _labels(result))
    save_figure(fig, plot_dir / "confusion")
    return ["higgs_peak", "confusion"]


def _sections(result: DiphotonResult, ws_files: list[str]) -> list[dict[str, Any]]:
    p, c, cat = result.peak.summary(), result.classifier, result.categories
    truth = p["truth"]
    peak_rows = [
        ("data events 105–160 GeV (SR 120–130)", f"{p['n_data']:.0f} ({p['n_data_sr']:.0f})", ""),
        ("MC signal expected in the SR (μ = 1)", _f(p["s_expected_sr"], 1),
         ", ".join(f"{k} {v:.1f}" for k, v in p["mc_yield_sr_per_mode"].items())),
        ("signal shape (DSCB on weighted MC)",
         f"mean {p['signal_shape']['mu']:.2f} GeV, σ {p['signal_shape']['sigma']:.2f} GeV",
         f"FWHM {p['signal_fwhm_GeV']:.2f} GeV"),
        ("background polynomial degree", str(p["background_degree"]), p["degree_reason"]),
        ("background in the SR (fit)", f"{p['b_fit_sr']:.0f} ± {p['b_fit_sr_unc']:.0f}",
         f"sideband χ²/ndf {p['sideband_gof']['chi2']:.1f}/{p['sideband_gof']['ndf']:.0f}"),
        ("signal strength μ", f"{p['mu']:.3f} −{p['mu_err_low']:.3f} +{p['mu_err_high']:.3f}",
         "profile likelihood, pyhf"),
        ("discovery significance Z", _f(p["Z"]), f"p = {p['p_value']:.2g}"),
    ]
    if truth:
        peak_rows.append(("injected truth", f"μ_true = {truth['mu_true']:.3f}",
                          f"{truth['higgs_events_sr']} Higgs events in the SR"))
    m, base = c["model"]["weighted"], c["baseline"]["weighted"]
    clf_rows = [(mode, _f(m["recall"][mode]), _f(base["recall"][mode]), _f(m["purity"][mode]),
                 _f(base["purity"][mode])) for mode in MODES]
    clf_rows.append(("**balanced accuracy**", f"**{_f(m['balanced_accuracy'])}**",
                     f"**{_f(base['balanced_accuracy'])}**", "", ""))
    raw_rows = [(t, *[str(v) for v in row]) for t, row in
                zip(MODES, c["model"]["confusion_raw"], strict=True)]
    w_rows = [(t, *[f"{v:.2f}" for v in row]) for t, row in
              zip(MODES, c["model"]["confusion_weighted"], strict=True)]
    exp, toys, obs = cat["expected_precision"], cat["pseudo_data"], cat["observed"]
    mu_rows = []
    for mode in MODES:
        e = exp[mode]
        o = obs.get(mode) if isinstance(obs, dict) else None
        mu_rows.append((mode, f"−{_f(e['err_low'])} +{_f(e['err_high'])}",
                        f"{_f(toys[mode]['median'])} [{_f(toys[mode]['q16'])}, "
                        f"{_f(toys[mode]['q84'])}]",
                        "–" if not o else
                        f"{_f(o['value'])} −{_f(o['err_low'])} +{_f(o['err_high'])}"))
    cat_rows = []
    for i, (name, row) in enumerate(zip(cat["category_names"], cat["signal_sr"], strict=True)):
        pred = cat["background_sb_binned"][i] * cat["transfer"] + sum(row)
        pull = (cat["data_sr"][i] - pred) / np.sqrt(max(pred, 1.0))
        cat_rows.append((name, *[f"{v:.2f}" for v in row], f"{cat['data_sb'][i]:.0f}",
                         f"{pred:.1f}", f"{cat['data_sr'][i]:.0f}", f"{pull:+.1f}"))
    return [
        {"id": "peak", "title": "Higgs peak", "blocks": [
            ("fig", "higgs_peak"),
            ("table", ["quantity", "value", "note"], peak_rows),
            ("p", "The background is the stats layer's Bernstein polynomial fitted to the data "
                  "sidebands (105–120, 130–160 GeV), its degree by the `spurious` rule; the "
                  "signal template is the DSCB fitted to the weighted MC, scaled to the MC's SR "
                  "expectation, so μ is the signal strength. Workspace: `workspaces/"
                  "higgs_peak.json` (pyhf alone refits μ and Z)."),
        ]},
        {"id": "classifier", "title": "Production-mode classifier", "blocks": [
            ("p", f"XGBoost multiclass on {len(c['features'])} photon, jet, lepton and MET "
                  f"features, trained on {c['n_train']} MC events with |w| and class-balanced "
                  f"weights ({100 * c['negative_weight_fraction']:.1f} % of the MC events have "
                  "negative weights; none dropped); evaluated on "
                  f"{c['n_test']} held-out events with signed weights. Baseline: the seed's "
                  "random forest on raw weights with negative weights dropped."),
            ("table", ["true mode", "recall", "recall (seed RF)", "purity", "purity (seed RF)"],
             clf_rows),
            ("fig", "confusion"),
            ("p", "Raw confusion matrix of the classifier (events; rows true, columns "
                  "predicted):"),
            ("table", ["true \\ pred", *MODES], raw_rows),
            ("p", "Weighted confusion matrix (expected events, signed weights):"),
            ("table", ["true \\ pred", *MODES], w_rows),
        ]},
        {"id": "categories", "title": "Categories and per-mode signal strengths", "blocks": [
            ("p", "Categories are the classifier's argmax, each split into *low* and *high* at "
                  "the median (over the held-out signal) of a Higgs-vs-continuum score (Higgs MC "
                  "against sideband data, out of fold; "
                  f"{100 * cat['continuum_sideband_efficiency']:.0f} % of the sideband data "
                  "are *high*). Expected signal per category and mode in the SR (held-out MC, "
                  "weights × 1/test fraction), data in the sidebands, the SR prediction "
                  "(background from the sidebands + signal at μ = 1), data in the SR and the "
                  "pull (data − "
                  "prediction)/√prediction: the background transfer assumes the continuum's mγγ "
                  "shape is the same in every category, which a score that learned mγγ would "
                  "break (large pulls of opposite sign in the low and high halves)."),
            ("table", ["category", *MODES, "data SB", "SR pred. (B + S)", "data SR", "pull"],
             cat_rows),
            ("p", f"Each category's background is measured in its sidebands and carried into "
                  f"the SR with the inclusive fit's ratio T = {cat['transfer']:.4f}. Expected "
                  "68 % intervals on Asimov data (μ = 1), median [16 %, 84 % quantiles] of "
                  "the fitted μ on "
                  f"{toys[MODES[0]]['n_toys']} Poisson pseudo-data sets, and the fit of the "
                  "observed data:"),
            ("table", ["mode", "expected 68 % interval", "pseudo-data μ", "observed μ"],
             mu_rows),
        ]},
        {"id": "files", "title": "Files", "blocks": [
            ("links", [f"[{n}](workspaces/{n})" for n in ws_files]
             + ["[results.json](results.json)"]),
        ]},
    ]


def write_diphoton_report(result: DiphotonResult, output_dir: str | Path, *,
                          command: str | None = None) -> dict[str, Path]:
    """Write plots/, workspaces/, results.json, report.md and report.html into ``output_dir``.

    Returns
    -------
    dict of name to path (``html``, ``md``, ``json``, ``plots``, ``workspaces``).
    """
    out = Path(output_dir)
    plot_dir = out / "plots"
    names = _plots(result, plot_dir)
    ws_dir = out / "workspaces"
    ws_files = []
    for name, spec in result.workspaces.items():
        write_workspace(spec, ws_dir / f"{name}.json")
        ws_files.append(f"{name}.json")
    res = {**result.to_dict(),
           "plots": [f"plots/{n}.{ext}" for n in names for ext in ("png", "pdf")],
           "workspace_files": [f"workspaces/{n}" for n in ws_files],
           "provenance": provenance({"analysis": "diphoton", **result.settings}, command=command,
                                    source=result.source, run_dir=None)}
    json_path = atomic_write_text(out / "results.json", json.dumps(to_jsonable(res), indent=1))
    p, m = result.peak, result.classifier["model"]["weighted"]
    truth = f" (injected μ_true = {p.truth['mu_true']:.2f})" if p.truth else ""
    concl = (f"**Higgs boson at {p.shape.mu:.1f} GeV: μ = {p.mu:.2f} −{p.mu_err_low:.2f} "
             f"+{p.mu_err_high:.2f}{truth}, Z = {p.z:.1f}σ.** Production-mode classifier: "
             f"balanced accuracy {m['balanced_accuracy']:.2f} against "
             f"{result.classifier['baseline']['weighted']['balanced_accuracy']:.2f} for the "
             "seed's random forest.")
    title = "H→γγ: Higgs peak, production-mode classifier and per-mode signal strengths"
    intro_text = (f"Diphoton skim `{result.source}`: data and the five Higgs MC samples with "
                  "their full event weights (GeV throughout).")
    md_path, html_path = write_pages(out, title, intro_text, concl, result.notes,
                                       _sections(result, ws_files))
    log.info("diphoton report written to %s", html_path)
    return {"html": html_path, "md": md_path, "json": json_path, "plots": plot_dir,
            "workspaces": ws_dir}
