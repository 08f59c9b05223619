"""The analysis report: results.json (every number + pyhf workspaces), plots, report.md/.html.

``report.html`` is self-contained (PNG figures embedded as base64), ``report.md`` links the PNGs
in ``plots/``. All files are written atomically.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import json
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np

from analysis import plots
from analysis.fmt import MISSING, fmt_count, fmt_fpr, fmt_num, fmt_p, fmt_z, is_number
from analysis.pipeline import CATHODE, AnalysisResult
from analysis.significance import best_of_scan
from dimuon_ad.io import atomic_write_text, to_jsonable

__all__ = [
    "bad_fit_lines",
    "conclusion",
    "fit_quality",
    "headline",
    "headline_rows",
    "report_notes",
    "results_dict",
    "write_report",
]

log = logging.getLogger(__name__)

#: Appended to a Z whose background fit is bad (saturated-model p below the stats threshold).
BAD_FIT_MARK = " !"
#: FPRs shown in the headline table (reference §6).
HEADLINE_FPRS = (0.25, 0.1, 0.05, 0.01, 0.005, 0.001)


def _z(entry: dict[str, Any] | None) -> float:
    if not entry or not entry.get("converged") or not entry.get("usable", True):
        return float("nan")
    return float(entry["Z"])


def _at(scan: list[dict[str, Any]], fpr: float) -> dict[str, Any]:
    for r in scan:
        if r.get("fpr") is not None and math.isclose(r["fpr"], fpr, rel_tol=1e-6):
            return r
    return {}


def _global(sig: dict[str, Any], name: str) -> dict[str, Any]:
    """Global significance of a method's best cut (look-elsewhere toys), or {} without toys."""
    g = sig.get("look_elsewhere", {}).get("methods", {}).get(name)
    if not g:
        return {}
    return {"Z_global": g["Z_global"], "p_global": g["p_global"],
            "p_global_err": g["p_global_err"], "Z_global_is_lower_limit": g["limit"]}


def headline(sig: dict[str, Any]) -> dict[str, Any]:
    """Summary numbers of one sample: no cut, CATHODE (best and at the reference FPRs),
    reweighting, every other method's best cut (local Z and, with look-elsewhere toys, global
    Z), and the best single-feature cut."""
    scans = sig["scans"]
    out: dict[str, Any] = {"no_cut": _z(sig["no_cut"])}
    best = best_of_scan(scans.get(CATHODE, []))
    out["CATHODE_best"] = {"Z": _z(best), "fpr": best.get("fpr"), **_global(sig, CATHODE)}
    out["CATHODE_at_fpr"] = {f"{f:g}": _z(_at(scans.get(CATHODE, []), f)) for f in HEADLINE_FPRS
                             if _at(scans.get(CATHODE, []), f)}
    rw = sig.get("reweighting", {})
    out["reweighting"] = _z(rw)
    out["reweighting_message"] = rw.get("message", "")
    out["methods_best"] = {}
    for name, scan in scans.items():
        b = best_of_scan(scan)
        out["methods_best"][name] = {"Z": _z(b), "fpr": b.get("fpr"), **_global(sig, name)}
    singles = {k: v for k, v in out["methods_best"].items() if k not in (CATHODE, "random")}
    if singles:
        name = max(singles, key=lambda k: np.nan_to_num(singles[k]["Z"], nan=-1))
        out["best_single_feature"] = {"method": name, **singles[name]}
    zs = [r["Z"] for s in scans.values() for r in s if r.get("usable")]
    out["max_Z_any_cut"] = max(zs) if zs else float("nan")
    out["skipped"] = sig.get("skipped", "")
    out["fit_quality"] = fit_quality(sig)
    out["bad_fits"] = [f["fit"] for f in out["fit_quality"] if f["bad_fit"]]
    le = sig.get("look_elsewhere")
    if le:
        out["look_elsewhere"] = {k: le[k] for k in ("n_toys", "n_failed", "n_tests",
                                                    "max_z_quantiles", "error")}
    return out


def fit_quality(sig: dict[str, Any]) -> list[dict[str, Any]]:
    """Goodness of fit of the fits a reader looks at: no cut, reweighting and each method's
    best cut — χ²/ndf, saturated-model p, degree and the ``bad_fit`` flag of
    :func:`stats.gof.goodness_of_fit` (saturated p below ``stats.gof.BAD_FIT_P_VALUE``)."""
    entries = [("no cut", sig.get("no_cut")), ("likelihood reweighting", sig.get("reweighting"))]
    entries += [(f"{name} (best cut, FPR {fmt_fpr(b['fpr'])})", b)
                for name, scan in sig.get("scans", {}).items() if (b := best_of_scan(scan))]
    out = []
    for name, e in entries:
        if not e or not e.get("converged"):
            continue
        g = e.get("gof") or {}
        out.append({"fit": name, "chi2": g.get("chi2"), "ndf": g.get("ndf"),
                    "chi2_ndf": g.get("chi2_ndf"), "p_saturated": g.get("p_saturated"),
                    "degree": (e.get("info") or {}).get("degree"),
                    "degree_reason": (e.get("info") or {}).get("degree_reason", ""),
                    "bad_fit": bool(e.get("bad_fit", g.get("bad_fit", False)))})
    return out


def _fmt_best(entry: dict[str, Any]) -> str:
    """``"local (global)"`` of a best cut; ``(>x)`` marks a global Z beyond every toy."""
    z = entry["Z"]
    if not is_number(z):
        return "failed"
    if "Z_global" not in entry:
        return f"{z:.2f}"
    zg = entry["Z_global"]
    g = MISSING if not is_number(zg) else (
        f">{zg:.2f}" if entry.get("Z_global_is_lower_limit") else f"{zg:.2f}")
    return f"{z:.2f} ({g})"


def headline_rows(result: AnalysisResult) -> list[tuple[str, str, str, str]]:
    """Rows (method, OS Z, best FPR, SS Z) of the headline table, as strings; a method's best
    cut reads "local Z (global Z)" when look-elsewhere toys were run."""
    h = {k: headline(result.significance[k]) for k in ("os", "ss")}
    ss_skipped = bool(h["ss"]["skipped"])

    def f(z: float) -> str:
        return fmt_z(z, missing="failed")

    def ss(text: str) -> str:
        return "skipped" if ss_skipped else text

    def bad(key: str, fit: str, text: str) -> str:
        return text + BAD_FIT_MARK if any(b == fit or b.startswith(fit + " (best cut")
                                          for b in h[key]["bad_fits"]) else text

    rows = [("no cut", bad("os", "no cut", f(h["os"]["no_cut"])), "100 %",
             ss(bad("ss", "no cut", f(h["ss"]["no_cut"]))))]
    for name in h["os"]["methods_best"]:
        o = h["os"]["methods_best"][name]
        s = h["ss"]["methods_best"].get(name, {"Z": float("nan"), "fpr": None})
        fpr = fmt_fpr(o["fpr"])
        rows.append((f"{name} (best cut)", bad("os", name, _fmt_best(o)), fpr,
                     ss(bad("ss", name, _fmt_best(s)))))
    rw = "likelihood reweighting"
    rows.append((rw, bad("os", rw, f(h["os"]["reweighting"])), MISSING,
                 ss(bad("ss", rw, f(h["ss"]["reweighting"])))))
    return rows


def bad_fit_lines(result: AnalysisResult) -> list[str]:
    """One line per sample whose headline fits include a bad background fit (console, report)."""
    lines = []
    for key in ("os", "ss"):
        bad = [f for f in fit_quality(result.significance[key]) if f["bad_fit"]]
        if bad:
            worst = min(bad, key=lambda f: f["p_saturated"])
            lines.append(
                f"{BAD_FIT_MARK.strip()} bad background fit in {key.upper()}: "
                f"{', '.join(f['fit'] for f in bad)} (worst: {worst['fit']}, chi2/ndf = "
                f"{worst['chi2']:.0f}/{worst['ndf']}, saturated-model p = "
                f"{worst['p_saturated']:.2g}); the polynomial does not describe the sidebands — "
                "do not trust these Z (narrow the window or change stats.degree)")
    return lines


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
        "timings_s": {k: round(v, 2) for k, v in result.timings.items()},
        "cache": result.cache,
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
            levels[0].label = f"no cut: Z = {fmt_z(_z(nc), missing='failed', unit='σ')}"
            files[f"mass_{key}"] = plots.plot_mass_spectra(
                np.asarray(edges), levels, cfg.window, labels, title=title)
        curves = {name: (np.array([r["fpr_sideband"] if r.get("fpr_sideband") else r["fpr"]
                                   for r in scan]),
                         np.array([_z(r) for r in scan]))
                  for name, scan in sig["scans"].items()}
        q = (sig.get("look_elsewhere") or {}).get("max_z_quantiles") or {}
        toys = (q.get("0.5"), q.get("0.95")) if q else None
        files[f"z_vs_fpr_{key}"] = plots.plot_z_vs_fpr(
            curves, labels, reweighting=_z(sig.get("reweighting")), no_cut=_z(nc),
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
    directory.mkdir(parents=True, exist_ok=True)
    for name, fig in files.items():
        plots.save_figure(fig, directory / name)
    return list(files)


_CAPTIONS = {
    "mass_os": "Opposite-sign dimuon mass spectrum without cut and after CATHODE cuts at "
               "sideband false-positive rates, with the sideband polynomial fit, its ±1σ band "
               "and pulls (data − fit)/σ; SR shaded, resonance masses dotted.",
    "mass_ss": "Same-sign control sample, cut with the OS-trained models.",
    "z_vs_fpr_os": "Local significance vs sideband FPR of each method (OS); dashed: likelihood "
                   "reweighting, dotted: no cut; grey band: 68 % / 95 % of the largest Z of "
                   "background-only toys.",
    "z_vs_fpr_ss": "Same-sign control: local significance vs FPR with the OS-trained models.",
    "features_sr": "Features of SR data before and after the best CATHODE cut (Poisson errors), "
                   "with the flow background template.",
    "closure": "Sideband closure: sideband data vs flow samples at the same masses.",
    "roc_sic": "ROC and SIC on SR events with truth labels: CATHODE, idealized anomaly "
               "detector, supervised classifier and single features.",
}


def _table_md(header: list[str], rows: list[tuple]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def _scan_table(sig: dict[str, Any]) -> tuple[list[str], list[tuple]]:
    """Rows FPR, columns methods: the local Z of every cut ("failed" / "—" when unusable)."""
    scans = sig.get("scans", {})
    fprs = list(dict.fromkeys(r["fpr"] for s in scans.values() for r in s
                              if r.get("fpr") is not None))
    rows = []
    for f in fprs:
        cells = []
        for scan in scans.values():
            r = _at(scan, f)
            if not r:
                cells.append(MISSING)
            elif not r.get("converged"):
                cells.append("failed")
            elif not r.get("usable", True):
                cells.append(f"({fmt_z(r.get('Z'))})")
            else:
                cells.append(fmt_z(r.get("Z")) + (BAD_FIT_MARK if r.get("bad_fit") else ""))
        rows.append((fmt_fpr(f), *cells))
    return ["sideband FPR", *scans], rows


def _explain_headline(result: AnalysisResult) -> str:
    n = result.config.stats.n_toys
    return (
        "Local Z: the discovery significance of the sideband fit at one cut. A method's best "
        "cut is the largest local Z over the FPR grid, so it is biased upward; the global Z "
        "(in parentheses, from "
        f"{n} background-only pseudo-experiments analysed with the same grid) corrects for "
        "that look-elsewhere effect; '>' marks a best cut beyond every toy (more toys, "
        "stats.n_toys, give the value). The *random* baseline keeps events at random, so it "
        "keeps the signal-to-background ratio: its local Z is about the no-cut Z times √FPR. Its "
        "global Z is not zero because the toys contain no signal while the OS sample contains "
        "the resonance (the no-cut excess): a random cut measures 'is there an excess at all', "
        "not 'does the method improve on no cut' — compare methods to it and to the no-cut Z. "
        "SS: the same-sign control, cut with the OS-trained models, where no resonance is "
        f"expected. '{BAD_FIT_MARK.strip()}' marks a bad background fit."
    )


def conclusion(result: AnalysisResult) -> str:
    """The one-paragraph summary on top of the report: the best method with its local and
    global Z against the no-cut Z, what the same-sign and random-cut controls say, and the
    quality of the background fits."""
    w = result.config.window
    h = {k: headline(result.significance[k]) for k in ("os", "ss")}
    os_ = h["os"]
    parts = []
    cands = {k: v for k, v in os_["methods_best"].items() if k != "random" and is_number(v["Z"])}
    no_cut = fmt_z(os_["no_cut"], missing="failed", unit="σ")
    if cands:
        best = max(cands, key=lambda k: cands[k]["Z"])
        b = cands[best]
        g = _global_text(b)
        parts.append(
            f"In the opposite-sign sample the largest excess in the {w.sr_left:g}–{w.sr_right:g} "
            f"GeV signal region is found by **{best}**: local Z = {fmt_z(b['Z'], unit='σ')} at a "
            f"sideband FPR of {fmt_fpr(b['fpr'])}{g}, against {no_cut} without any cut"
            + (f" and {fmt_z(os_['reweighting'], unit='σ')} with likelihood reweighting"
               if is_number(os_["reweighting"]) else "") + ".")
    else:
        parts.append(f"No method gave a usable cut in the opposite-sign sample (no cut: {no_cut}).")
    ss = h["ss"]
    if ss["skipped"]:
        parts.append(f"The same-sign control was not analysed ({ss['skipped']}).")
    else:
        sc = {k: v for k, v in ss["methods_best"].items() if is_number(v["Z"])}
        if sc:
            k = max(sc, key=lambda k: sc[k]["Z"])
            zg = sc[k].get("Z_global")
            excess = is_number(zg) and zg >= 2 or (zg is None and sc[k]["Z"] >= 3)
            parts.append(
                "The same-sign control, cut with the OS-trained models, "
                + ("**shows an excess** — check the background model: " if excess else
                   "shows no significant excess: ")
                + f"its largest local Z is {fmt_z(sc[k]['Z'], unit='σ')} ({k}"
                + (f", global {_zg(sc[k])}" if "Z_global" in sc[k] else "") + ").")
    rnd = os_["methods_best"].get("random")
    if rnd and is_number(rnd["Z"]):
        parts.append(f"The random-cut baseline reaches {fmt_z(rnd['Z'], unit='σ')} locally"
                     + (f" (global {_zg(rnd)})" if "Z_global" in rnd else "")
                     + ", as expected from the no-cut excess kept at the same S/B.")
    fits = [f for k in ("os", "ss") for f in h[k]["fit_quality"]]
    bad = [f for f in fits if f["bad_fit"]]
    ps = [f for f in fits if is_number(f["p_saturated"])]
    if bad:
        parts.append(f"**{len(bad)} of {len(fits)} background fits are bad** (saturated-model p "
                     f"< {_bad_p():g}: {', '.join(f['fit'] for f in bad)}); do not trust their Z.")
    elif ps:
        worst = min(ps, key=lambda f: f["p_saturated"])
        parts.append(f"All {len(fits)} background fits describe the sidebands (worst "
                     f"saturated-model p = {fmt_p(worst['p_saturated'])}, {worst['fit']}).")
    auc = result.closure.get("auc_mean")
    if is_number(auc):
        parts.append(f"The flow reproduces the sidebands with a closure AUC of {auc:.3f} "
                     "(0.5 = indistinguishable).")
    if result.data.notes:
        parts.append(f"See the {len(report_notes(result))} note(s) below before using these "
                     "numbers.")
    return " ".join(parts)


def _zg(entry: dict[str, Any]) -> str:
    zg = entry.get("Z_global")
    if not is_number(zg):
        return MISSING
    return (">" if entry.get("Z_global_is_lower_limit") else "") + fmt_z(zg, unit="σ")


def _global_text(entry: dict[str, Any]) -> str:
    if "Z_global" not in entry:
        return " (no look-elsewhere toys run)"
    zg = _zg(entry)
    zg = zg if zg.startswith(">") else f"= {zg}"
    return f" (global Z {zg} after the look-elsewhere effect over the FPR grid)"


def _sections(result: AnalysisResult, res: dict[str, Any],
              figures: list[str], workspaces: list[str]) -> list[dict[str, Any]]:
    """The report's sections: ``id``, ``title`` and ``blocks`` — ("p", text), ("table",
    header, rows) or ("fig", name) — each figure beside the numbers it shows."""
    d = result.data
    hl = res["headline"]
    figs = set(figures)

    def fig(*names: str) -> list[tuple]:
        return [("fig", n) for n in names if n in figs]

    sections = [{
        "id": "significance", "title": "Significance of each method",
        "blocks": [("p", _explain_headline(result)),
                   ("table", ["method", "OS local Z (global Z)", "OS best FPR",
                              "SS local Z (global Z)"], headline_rows(result)),
                   *fig("z_vs_fpr_os", "z_vs_fpr_ss")]}]
    nc = res["significance"]["os"]["no_cut"]
    sections.append({
        "id": "fits", "title": "Mass spectra and background fits",
        "blocks": [
            ("p", "No-cut fit of the opposite-sign spectrum (signal yield S and background B "
                  "in the signal region, σ_B its uncertainty from the sideband fit):"),
            ("table", ["S fit", "B fit (SR)", "σ_B", "Z", "p-value"],
             [(fmt_num(nc.get("s_fit")), fmt_num(nc.get("b_fit")), fmt_num(nc.get("b_fit_unc")),
               fmt_z(nc.get("Z"), missing="failed"), fmt_p(nc.get("p_value")))]),
            ("p", _degree_note(result.config.stats.degree, hl["os"]["fit_quality"])
             + f" '{BAD_FIT_MARK.strip()}' marks a saturated-model p below {_bad_p():g}."),
            ("table", ["sample", "fit", "χ²/ndf", "saturated p", "degree", "flag"],
             [(k.upper(), f["fit"], f"{fmt_num(f['chi2'])}/{f['ndf']}",
               fmt_p(f["p_saturated"]), f["degree"] if f["degree"] is not None else MISSING,
               "bad fit !" if f["bad_fit"] else "ok")
              for k in ("os", "ss") for f in hl[k]["fit_quality"]]),
            *fig("mass_os", "mass_ss")]})
    scan_blocks: list[tuple] = [("p", "Local Z of every method at every cut of the grid "
                                      "(parentheses: a cut left out of the best-cut search, "
                                      "too few sideband events).")]
    for key in ("os", "ss"):
        if result.significance[key].get("skipped"):
            continue
        header, rows = _scan_table(result.significance[key])
        scan_blocks += [("p", f"**{key.upper()}**"), ("table", header, rows)]
    sections.append({"id": "scans", "title": "Z vs false-positive rate, every method",
                     "blocks": scan_blocks})
    if any("look_elsewhere" in result.significance[k] for k in ("os", "ss")):
        title, header, rows, note = _look_elsewhere_table(result)
        sections.append({"id": "look-elsewhere", "title": title,
                         "blocks": [("p", note), ("table", header, rows)]})
    sel: list[tuple] = []
    if d.skim_cutflow:
        first = next(iter(d.skim_cutflow.values())) or 1
        sel += [("p", f"Skim ({d.skim_run_dir}/cutflow.json):"),
                ("table", ["skim cut", "events", "of all"],
                 [(k, fmt_count(v), fmt_fpr(v / first)) for k, v in d.skim_cutflow.items()])]
    else:
        sel.append(("p", "The skim's cutflow is not available (no cutflow.json beside it)."))
    sel += [("p", "Analysis selection on the skim:"),
            ("table", ["analysis cut", "events"], [(c, fmt_count(n)) for c, n in d.cutflow]),
            ("table", ["sample", "SBL", "SR", "SBR", "total"],
             [(k.upper(), *[fmt_count(res["counts"][k][b]) for b in ("SBL", "SR", "SBR",
                                                                      "total")])
              for k in ("os", "ss")])]
    sections.append({"id": "selection", "title": "Event selection", "blocks": sel})
    sections.append({
        "id": "flows", "title": "Flows, sideband closure and selected events",
        "blocks": [("table", ["seed", "epochs", "best epoch", "val. loss", "closure AUC"],
                    [(f["seed"], f["epochs"], f["best_epoch"], fmt_num(f["best_val_loss"]),
                      fmt_num(a)) for f, a in zip(result.flows, result.closure["auc"],
                                                  strict=True)]),
                   *fig("closure", "features_sr")]})
    refs = {k: v for k, v in result.references.items() if isinstance(v, dict)}
    if refs:
        sections.append({
            "id": "truth", "title": "Truth references (synthetic sample)",
            "blocks": [("p", "SR, OS; idealized: half the SR data vs the true background of the "
                             "other half. SIC = ε_S/√ε_B, maximum over cuts keeping at least 50 "
                             "background events (as plotted)."),
                       ("table", ["method", "AUC", "max SIC (≥ 50 bkg)", "SIC at ε_S = 0.2"],
                        [(k, fmt_num(v["auc"]), fmt_num(v["max_sic"]),
                          fmt_num(v["sic_at_eps_s_0.2"])) for k, v in refs.items()]),
                       *fig("roc_sic")]})
    sections.append({"id": "provenance", "title": "Outputs and provenance",
                     "blocks": _provenance_blocks(res, figures, workspaces)})
    sections.append({"id": "timing", "title": "Wall time per stage",
                     "blocks": [("table", ["stage", "seconds", "cache"],
                                 [(k, f"{v:.1f}", _cache_note(result.cache.get(k)))
                                  for k, v in result.timings.items()])]})
    return sections


def _provenance_blocks(res: dict[str, Any], figures: list[str],
                       workspaces: list[str]) -> list[tuple]:
    pv = res.get("provenance") or {}
    inp = pv.get("inputs") or {}
    rows = [("toolkit", f"dimuon-ad {pv.get('version', MISSING)}"),
            ("git commit", pv.get("git_commit") or "unknown (not a git checkout)"),
            ("command", f"`{pv.get('command', MISSING)}`"),
            ("configuration", f"sha256 {str(pv.get('config_sha256', ''))[:16]}… (full: "
                              "results.json → config)"),
            ("input", f"`{inp.get('source', MISSING)}`: {inp.get('n_files', 0)} parquet file(s), "
                      f"combined sha256 {str(inp.get('combined', ''))[:16]}…")]
    for name in ("cutflow.json", "summary.json"):
        if name in inp:
            rows.append((f"skim {name}", f"sha256 {inp[name][:16]}…"))
    rows += [("date (UTC)", pv.get("date", MISSING)),
             ("python", f"{pv.get('python', '')} on {pv.get('platform', '')}")]
    links = ["[results.json](results.json) — every number, the configuration and the full "
             "hashes"]
    links += [f"[plots/{n}.png](plots/{n}.png), [PDF](plots/{n}.pdf)" for n in figures]
    if workspaces:
        links.append(f"pyhf workspaces, one per fit, with bin edges in `<name>.meta.json`: "
                     f"[workspaces/](workspaces/) ({len(workspaces)} files, e.g. "
                     f"[{workspaces[0]}](workspaces/{workspaces[0]}))")
    return [("table", ["", ""], rows), ("links", links)]


def _look_elsewhere_table(result: AnalysisResult) -> tuple[str, list[str], list, str]:
    """Best local Z, global p and global Z per method and sample."""
    rows = []
    notes = []
    for key in ("os", "ss"):
        le = result.significance[key].get("look_elsewhere")
        if not le:
            continue
        q = le["max_z_quantiles"]
        notes.append(f"{key.upper()}: {le['n_toys'] - le['n_failed']} toys, median/95 % of the "
                     f"largest Z {fmt_z(q.get('0.5'))}/{fmt_z(q.get('0.95'))}"
                     + (f" ({le['error']})" if le["error"] else ""))
        for name, g in le["methods"].items():
            p = g["p_global"]
            p_txt = MISSING if not is_number(p) else (
                f"<{fmt_p(p)}" if g["limit"] else f"{fmt_p(p)} ± {fmt_p(g['p_global_err'])}")
            zg = g["Z_global"]
            z_txt = MISSING if not is_number(zg) else f"{'>' if g['limit'] else ''}{zg:.2f}"
            rows.append((key.upper(), name, fmt_z(g["Z_local"]), fmt_fpr(g["fpr"]), p_txt,
                         z_txt))
    note = ("The best cut of a method is the largest local Z over the FPR grid. Global p: the "
            "fraction of background-only pseudo-experiments (masses drawn from the no-cut "
            "background fit, scores independent of the mass, the same grid, binning and minimum "
            "sideband count) whose largest Z reaches it; '<'/'>' mark a best cut beyond every "
            "toy (p set to 0.5/(n+1): more toys, stats.n_toys, resolve it). "
            + "; ".join(notes) + ".")
    return ("Look-elsewhere effect (global significance of the best cut)",
            ["sample", "method", "best local Z", "FPR", "global p", "global Z"], rows, note)


def _cache_note(entry: dict[str, Any] | None) -> str:
    if not entry:
        return ""
    return f"{entry['hits']} hit / {entry['computed']} computed"


def _degree_note(degree: Any, quality: list[dict[str, Any]]) -> str:
    """How the background degree was chosen (stats.degree), with the no-cut fit's reason."""
    if not isinstance(degree, str):
        return f"Background: Bernstein polynomial of fixed degree {degree} (stats.degree)."
    rule = {"spurious": "the lowest degree passing the F-test, the SR-uncertainty cap and the "
                        "spurious-signal check", "auto": "the F-test"}.get(degree, degree)
    no_cut = next((f for f in quality if f["fit"] == "no cut"), None)
    reason = f" OS no cut: {no_cut['degree_reason']}" if no_cut and no_cut.get(
        "degree_reason") else ""
    return f"Background degree chosen per spectrum by {rule} (stats.degree: {degree}).{reason}"


def _bad_p() -> float:
    from stats.gof import BAD_FIT_P_VALUE

    return BAD_FIT_P_VALUE


def _intro(result: AnalysisResult, res: dict[str, Any]) -> str:
    cfg = result.config
    w = cfg.window
    return (
        f"Window **{w.name}**: sidebands {w.sb_left:g}–{w.sr_left:g} and {w.sr_right:g}–"
        f"{w.sb_right:g} GeV, signal region {w.sr_left:g}–{w.sr_right:g} GeV. "
        f"Features {', '.join(result.data.features)} conditioned on {cfg.features.condition}. "
        f"Profile **{cfg.profile}**: {cfg.flow.n_seeds} flow seed(s) × ≤{cfg.flow.max_epochs} "
        f"epochs, {cfg.classifier.n_models} {cfg.classifier.kind} model(s) per fold, "
        f"{cfg.n_folds} folds. Input: `{result.data.source}`"
        + (" (with truth)" if result.data.has_truth else "")
        + (f"; {result.data.labels.describe()}." if result.data.labels is not None else ".")
    )


def report_notes(result: AnalysisResult) -> list[str]:
    """What a reader must know before trusting the numbers: bad background fits, skipped
    samples, an incomplete skim analysed on request, files left out, unchecked duplicates —
    shown on top of the report and in the console."""
    return bad_fit_lines(result) + list(result.data.notes)


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
    sections = _sections(result, res, names, ws_files)
    notes = report_notes(result)
    concl = conclusion(result)
    toc = [("conclusion", "Conclusion")] + ([("notes", "Notes")] if notes else []) + [
        (sec["id"], sec["title"]) for sec in sections]

    md = [f"# {title}", "", _intro(result, res), "", "## Conclusion", "", concl, ""]
    if notes:
        md += ["## Notes", "", *[f"- {n}" for n in notes], ""]
    md += ["**Contents:** " + " · ".join(f"[{t}](#{i})" for i, t in toc), ""]
    for sec in sections:
        md += [f'<a id="{sec["id"]}"></a>', "", f"## {sec['title']}", ""]
        for block in sec["blocks"]:
            md += [*_block_md(block), ""]
    md_path = atomic_write_text(out / "report.md", "\n".join(md))

    body = [f"<h1>{html.escape(title)}</h1>", f"<p>{_md_inline(_intro(result, res))}</p>",
            '<h2 id="conclusion">Conclusion</h2>', f'<p class="concl">{_md_inline(concl)}</p>']
    if notes:
        body.append('<h2 id="notes">Notes</h2><ul>'
                    + "".join(f"<li>{html.escape(n)}</li>" for n in notes) + "</ul>")
    body.append('<nav><b>Contents</b><ol>' + "".join(
        f'<li><a href="#{i}">{html.escape(t)}</a></li>' for i, t in toc) + "</ol></nav>")
    for sec in sections:
        body.append(f'<h2 id="{sec["id"]}">{html.escape(sec["title"])} '
                    f'<a class="anchor" href="#{sec["id"]}">¶</a></h2>')
        blocks = sec["blocks"]
        i = 0
        while i < len(blocks):  # consecutive figures side by side
            if blocks[i][0] == "fig":
                j = i
                while j < len(blocks) and blocks[j][0] == "fig":
                    j += 1
                body.append('<div class="figs">' + "".join(
                    _block_html(b, plot_dir) for b in blocks[i:j]) + "</div>")
                i = j
            else:
                body.append(_block_html(blocks[i], plot_dir))
                i += 1
    page = (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>"
        "body{font-family:sans-serif;max-width:1150px;margin:2em auto;padding:0 1em;color:#222}"
        "table{border-collapse:collapse;margin:0.5em 0 1.5em}"
        "td,th{border:1px solid #ccc;padding:3px 10px;text-align:right}"
        "th{background:#eee}td:first-child{text-align:left}"
        ".concl{background:#f3f7fb;border-left:4px solid #2a6099;padding:0.6em 1em}"
        "nav{background:#fafafa;border:1px solid #ddd;padding:0.3em 1em;display:inline-block}"
        "a.anchor{color:#bbb;text-decoration:none;font-size:70%}"
        ".figs{display:flex;flex-wrap:wrap;gap:1em}.figs figure{flex:1 1 480px;margin:0.5em 0}"
        "img{max-width:100%}figcaption{color:#555;font-size:90%}"
        "</style></head><body>" + "\n".join(body) + "</body></html>"
    )
    html_path = atomic_write_text(out / "report.html", page)
    log.info("report written to %s", html_path)
    return {"html": html_path, "md": md_path, "json": json_path, "plots": plot_dir,
            "workspaces": ws_dir}


def _block_md(block: tuple) -> list[str]:
    kind = block[0]
    if kind == "p":
        return [block[1]]
    if kind == "table":
        return [_table_md(block[1], block[2])]
    if kind == "links":
        return [f"- {x}" for x in block[1]]
    n = block[1]
    return [f"[![{n}](plots/{n}.png)](plots/{n}.pdf)", "", f"*{_CAPTIONS.get(n, n)}*"]


def _md_links(text: str) -> str:
    """``[text](href)`` of already-escaped text as HTML links."""
    import re

    return re.sub(r"\[([^\]]+)\]\(([^)\s]+)\)", r'<a href="\2">\1</a>', text)


def _block_html(block: tuple, plot_dir: Path) -> str:
    kind = block[0]
    if kind == "p":
        return f"<p>{_md_inline(block[1])}</p>"
    if kind == "links":
        return "<ul>" + "".join(f"<li>{_md_links(_md_inline(x))}</li>" for x in block[1]) + \
            "</ul>"
    if kind == "table":
        head = "".join(f"<th>{html.escape(h)}</th>" for h in block[1])
        rows = "".join("<tr>" + "".join(f"<td>{_md_inline(str(c))}</td>" for c in r) + "</tr>"
                       for r in block[2])
        return f"<table><tr>{head}</tr>{rows}</table>" if any(block[1]) else \
            f"<table>{rows}</table>"
    n = block[1]
    b64 = base64.b64encode((plot_dir / f"{n}.png").read_bytes()).decode("ascii")
    return (f'<figure id="fig-{n}"><a href="plots/{n}.pdf"><img alt="{n}" '
            f'src="data:image/png;base64,{b64}"></a>'
            f"<figcaption>{html.escape(_CAPTIONS.get(n, n))} (<a href='plots/{n}.png'>PNG</a>, "
            f"<a href='plots/{n}.pdf'>PDF</a>)</figcaption></figure>")


def _md_inline(text: str) -> str:
    import re

    text = html.escape(text, quote=False)
    text = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", text)
    text = re.sub(r"(?<![\w*])\*([^*\s][^*]*?)\*(?![\w*])", r"<i>\1</i>", text)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", text)
