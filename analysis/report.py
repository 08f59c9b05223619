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
from analysis.pipeline import CATHODE, AnalysisResult
from analysis.significance import best_of_scan
from dimuon_ad.io import atomic_write_text, to_jsonable

__all__ = [
    "bad_fit_lines",
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
    entries += [(f"{name} (best cut, FPR {b['fpr']:.3g})", b)
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
    if not np.isfinite(z):
        return "fail"
    if "Z_global" not in entry:
        return f"{z:.2f}"
    zg = entry["Z_global"]
    g = "—" if zg is None or not np.isfinite(zg) else (
        f">{zg:.2f}" if entry.get("Z_global_is_lower_limit") else f"{zg:.2f}")
    return f"{z:.2f} ({g})"


def headline_rows(result: AnalysisResult) -> list[tuple[str, str, str, str]]:
    """Rows (method, OS Z, best FPR, SS Z) of the headline table, as strings; a method's best
    cut reads "local Z (global Z)" when look-elsewhere toys were run."""
    h = {k: headline(result.significance[k]) for k in ("os", "ss")}
    ss_skipped = bool(h["ss"]["skipped"])

    def f(z: float) -> str:
        return "fail" if not np.isfinite(z) else f"{z:.2f}"

    def ss(text: str) -> str:
        return "skipped" if ss_skipped else text

    def bad(key: str, fit: str, text: str) -> str:
        return text + BAD_FIT_MARK if any(b == fit or b.startswith(fit + " (best cut")
                                          for b in h[key]["bad_fits"]) else text

    rows = [("no cut", bad("os", "no cut", f(h["os"]["no_cut"])), "1",
             ss(bad("ss", "no cut", f(h["ss"]["no_cut"]))))]
    for name in h["os"]["methods_best"]:
        o = h["os"]["methods_best"][name]
        s = h["ss"]["methods_best"].get(name, {"Z": float("nan"), "fpr": None})
        fpr = "" if o["fpr"] is None else f"{o['fpr']:.3g}"
        rows.append((f"{name} (best cut)", bad("os", name, _fmt_best(o)), fpr,
                     ss(bad("ss", name, _fmt_best(s)))))
    rw = "likelihood reweighting"
    rows.append((rw, bad("os", rw, f(h["os"]["reweighting"])), "-",
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


def results_dict(result: AnalysisResult, plot_files: list[str] | None = None) -> dict[str, Any]:
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
        "input": {"skim": d.source, "dataset": d.dataset, "has_truth": d.has_truth,
                  "features": list(d.features),
                  "skim_complete": (d.skim_summary or {}).get("complete"),
                  "labels": d.labels.to_dict() if d.labels is not None else None},
        "notes": list(d.notes),
        "config": result.config.to_dict(),
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
    })


def _labels(result: AnalysisResult) -> plots.PlotLabels:
    return plots.PlotLabels.from_sample(result.data.labels)


def _levels(spectra: dict[str, Any]) -> list[plots.SpectrumLevel]:
    out = []
    for label, c in spectra.items():
        z = c.get("Z")
        lab = label if z is None else f"{label}: Z = {z:.2f}σ"
        out.append(plots.SpectrumLevel(lab, c["counts"], c["expected"], c["band"]))
    return out


def make_plots(result: AnalysisResult, directory: Path) -> list[str]:
    """Render every figure to ``directory``; returns the file names."""
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
            levels[0].label = f"no cut: Z = {_z(nc):.2f}σ"
            files[f"mass_{key}.png"] = plots.plot_mass_spectra(
                np.asarray(edges), levels, cfg.window, labels, title=title)
        curves = {name: (np.array([r["fpr_sideband"] if r.get("fpr_sideband") else r["fpr"]
                                   for r in scan]),
                         np.array([_z(r) for r in scan]))
                  for name, scan in sig["scans"].items()}
        files[f"z_vs_fpr_{key}.png"] = plots.plot_z_vs_fpr(
            curves, labels, reweighting=_z(sig.get("reweighting")), no_cut=_z(nc),
            title=f"{title}, window {cfg.window.name}")
    os_ = result.data.os
    best = best_of_scan(result.significance["os"]["scans"].get(CATHODE, []))
    fpr = best.get("fpr") or 0.05
    s = result.scores["os"]
    thr = np.quantile(s[os_.sb], 1 - fpr) if fpr < 1 else -np.inf
    sr = os_.sr
    files["features_sr.png"] = plots.plot_features_sr(
        result.data.features, os_.X[sr], os_.X[sr & (s >= thr)], labels,
        template=result.template, cut_label=f"CATHODE FPR {fpr:.3g}")
    cl = result.closure
    files["closure.png"] = plots.plot_closure(
        result.data.features, os_.X[os_.sb], cl["samples"], labels, auc=cl["auc_mean"],
        ks=cl["ks"])
    curves = {k: (v["eps_s"], v["eps_b"]) for k, v in result.references.items()
              if isinstance(v, dict) and v.get("eps_s")}
    if curves:
        files["roc_sic.png"] = plots.plot_roc_sic(curves, labels, min_background=50)
    directory.mkdir(parents=True, exist_ok=True)
    for name, fig in files.items():
        plots.save_png(fig, directory / name)
    return list(files)


_CAPTIONS = {
    "mass_os.png": "Opposite-sign dimuon mass spectrum without cut and after CATHODE cuts at "
                   "sideband false-positive rates, with the sideband polynomial fit, its ±1σ "
                   "band and pulls; SR shaded, resonance masses dotted.",
    "mass_ss.png": "Same-sign control sample, cut with the OS-trained models.",
    "z_vs_fpr_os.png": "Significance vs sideband FPR of each method (OS); dashed: likelihood "
                       "reweighting, dotted: no cut.",
    "z_vs_fpr_ss.png": "Same-sign control: significance vs FPR with the OS-trained models.",
    "features_sr.png": "Features of SR data before and after the best CATHODE cut, with the flow "
                       "background template.",
    "closure.png": "Sideband closure: sideband data vs flow samples at the same masses.",
    "roc_sic.png": "ROC and SIC on SR events with truth labels: CATHODE, idealized anomaly "
                   "detector, supervised classifier and single features.",
}


def _table_md(header: list[str], rows: list[tuple]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def _sections(result: AnalysisResult, res: dict[str, Any]) -> list[tuple]:
    """(title, header, rows[, note]) of every table."""
    d = result.data
    hl = res["headline"]
    tables = [
        ("Headline: significance Z (σ) before/after each method; best cuts: local Z over the "
         "FPR grid (global Z)",
         ["method", "OS Z", "OS best FPR", "SS Z (OS-trained)"], headline_rows(result)),
        ("CATHODE at the reference false-positive rates",
         ["FPR", "OS Z", "SS Z"],
         [(f, _fmt(hl["os"]["CATHODE_at_fpr"].get(f)), _fmt(hl["ss"]["CATHODE_at_fpr"].get(f)))
          for f in hl["os"]["CATHODE_at_fpr"]]),
        ("Events per band", ["sample", "SBL", "SR", "SBR", "total"],
         [(k.upper(), *[res["counts"][k][b] for b in ("SBL", "SR", "SBR", "total")])
          for k in ("os", "ss")]),
        ("No-cut fit (OS)", ["S fit", "B fit (SR)", "σ_B", "Z", "p-value"],
         [tuple(_fmt(res["significance"]["os"]["no_cut"].get(k))
                for k in ("s_fit", "b_fit", "b_fit_unc", "Z", "p_value"))]),
        ("Background fit quality (sidebands; '!' marks a saturated-model p below "
         f"{_bad_p():g})", ["sample", "fit", "χ²/ndf", "saturated p", "degree", "flag"],
         [(k.upper(), f["fit"], f"{_fmt(f['chi2'], 1)}/{f['ndf']}",
           _fmt_p(f["p_saturated"]), f["degree"] if f["degree"] is not None else "—",
           "bad fit !" if f["bad_fit"] else "ok")
          for k in ("os", "ss") for f in hl[k]["fit_quality"]],
         _degree_note(result.config.stats.degree, hl["os"]["fit_quality"])),
        ("Cutflow", ["cut", "events"], [tuple(c) for c in d.cutflow]),
        ("Flows and sideband closure", ["seed", "epochs", "best epoch", "val. loss",
                                        "closure AUC"],
         [(f["seed"], f["epochs"], f["best_epoch"], _fmt(f["best_val_loss"], 4),
           _fmt(a, 3)) for f, a in zip(result.flows, result.closure["auc"], strict=True)]),
    ]
    if any("look_elsewhere" in result.significance[k] for k in ("os", "ss")):
        tables.append(_look_elsewhere_table(result))
    refs = {k: v for k, v in result.references.items() if isinstance(v, dict)}
    if refs:
        tables.append(("Truth references (SR, OS; idealized: half the SR data vs the true "
                       "background of the other half)",
                       ["method", "AUC", "max SIC (≥ 50 bkg)", "SIC at ε_S = 0.2"],
                       [(k, _fmt(v["auc"], 3), _fmt(v["max_sic"]), _fmt(v["sic_at_eps_s_0.2"]))
                        for k, v in refs.items()]))
    tables.append(("Wall time per stage (s)", ["stage", "seconds", "cache"],
                   [(k, f"{v:.1f}", _cache_note(result.cache.get(k)))
                    for k, v in result.timings.items()]))
    return tables


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
                     f"largest Z {_fmt(q.get('0.5'))}/{_fmt(q.get('0.95'))}"
                     + (f" ({le['error']})" if le["error"] else ""))
        for name, g in le["methods"].items():
            p = g["p_global"]
            p_txt = "—" if not np.isfinite(p) else (
                f"<{p:.3g}" if g["limit"] else f"{p:.3g} ± {g['p_global_err']:.2g}")
            zg = g["Z_global"]
            z_txt = "—" if not np.isfinite(zg) else f"{'>' if g['limit'] else ''}{zg:.2f}"
            fpr = "—" if g["fpr"] is None else f"{g['fpr']:.3g}"
            rows.append((key.upper(), name, _fmt(g["Z_local"]), fpr, p_txt, z_txt))
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


def _fmt_p(p: Any) -> str:
    if p is None or not math.isfinite(p):
        return "—"
    return f"{p:.3f}" if p >= 0.001 else f"{p:.2e}"


def _fmt(v: Any, digits: int = 2) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "—"
    return f"{v:.{digits}f}" if isinstance(v, float) else str(v)


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


def write_report(result: AnalysisResult, output_dir: str | Path) -> dict[str, Path]:
    """Write plots/, results.json, report.md and report.html into ``output_dir``.

    Returns
    -------
    dict of name to path (``html``, ``md``, ``json``, ``plots``).
    """
    out = Path(output_dir)
    plot_dir = out / "plots"
    names = make_plots(result, plot_dir)
    res = results_dict(result, [f"plots/{n}" for n in names])
    json_path = atomic_write_text(out / "results.json", json.dumps(res, indent=1))
    title = f"Resonant anomaly detection — {result.config.window.name} window"
    tables = _sections(result, res)
    notes = report_notes(result)
    md = [f"# {title}", "", _intro(result, res), ""]
    if notes:
        md += ["## Notes", "", *[f"- {n}" for n in notes], ""]
    for name, header, rows, *note in tables:
        md += [f"## {name}", "", *[f"{n}\n" for n in note], _table_md(header, rows), ""]
    md.append("## Figures\n")
    for n in names:
        md += [f"![{n}](plots/{n})", "", f"*{_CAPTIONS.get(n, '')}*", ""]
    md.append("All numbers, with the pyhf workspaces of every fit: `results.json`.\n")
    md_path = atomic_write_text(out / "report.md", "\n".join(md))

    body = [f"<h1>{html.escape(title)}</h1>", f"<p>{_md_inline(_intro(result, res))}</p>"]
    if notes:
        body.append("<h2>Notes</h2><ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in notes)
                    + "</ul>")
    for name, header, rows, *note in tables:
        body.append(f"<h2>{html.escape(name)}</h2>"
                    + "".join(f"<p>{html.escape(n)}</p>" for n in note) + "<table><tr>"
                    + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr>")
        body += ["<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>"
                 for r in rows]
        body.append("</table>")
    body.append("<h2>Figures</h2>")
    for n in names:
        b64 = base64.b64encode((plot_dir / n).read_bytes()).decode("ascii")
        body.append(f'<figure><img alt="{n}" src="data:image/png;base64,{b64}">'
                    f"<figcaption>{html.escape(_CAPTIONS.get(n, n))}</figcaption></figure>")
    body.append("<p>All numbers, with the pyhf workspaces of every fit: "
                "<code>results.json</code>.</p>")
    page = (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>"
        "body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
        "table{border-collapse:collapse;margin:0.5em 0 1.5em}"
        "td,th{border:1px solid #ccc;padding:3px 10px;text-align:right}"
        "th{background:#eee}td:first-child{text-align:left}"
        "img{max-width:100%}figure{margin:1em 0 2em}figcaption{color:#555;font-size:90%}"
        "</style></head><body>" + "\n".join(body) + "</body></html>"
    )
    html_path = atomic_write_text(out / "report.html", page)
    log.info("report written to %s", html_path)
    return {"html": html_path, "md": md_path, "json": json_path, "plots": plot_dir}


def _md_inline(text: str) -> str:
    import re

    text = html.escape(text)
    text = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", text)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", text)
