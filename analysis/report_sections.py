"""The report's sections: titles, explanations and tables (cells already formatted), each
figure placed beside the numbers it shows. Rendered by :mod:`analysis.report_render`."""

from __future__ import annotations

from typing import Any

from analysis.fmt import MISSING, fmt_count, fmt_fpr, fmt_num, fmt_p, fmt_z, is_number
from analysis.pipeline import AnalysisResult
from analysis.summary import BAD_FIT_MARK, bad_fit_p, entry_at, headline_rows

__all__ = ["intro", "sections"]


def _scan_table(sig: dict[str, Any]) -> tuple[list[str], list[tuple]]:
    """Rows FPR, columns methods: the local Z of every cut ("failed" / "—" when unusable)."""
    scans = sig.get("scans", {})
    fprs = list(dict.fromkeys(r["fpr"] for s in scans.values() for r in s
                              if r.get("fpr") is not None))
    rows = []
    for f in fprs:
        cells = []
        for scan in scans.values():
            r = entry_at(scan, f)
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


def sections(result: AnalysisResult, res: dict[str, Any],
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
             + f" '{BAD_FIT_MARK.strip()}' marks a saturated-model p below {bad_fit_p():g}."),
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
    if result.cluster_scan is not None:
        from analysis.cluster_scan import report_section

        section = report_section(result.cluster_scan)
        section["blocks"] = [b for b in section["blocks"] if b[0] != "fig" or b[1] in figs]
        sections.append(section)
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
    weak = _weak_blocks(result, res, fig)
    if weak:
        sections.append({"id": "density-free", "title": "CWoLa hunting and the mass-bin "
                                                        "classifier test", "blocks": weak})
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


def _weak_blocks(result: AnalysisResult, res: dict[str, Any], fig) -> list[tuple]:
    """The CWoLa sculpting check and the mass-bin scan, when they ran."""
    blocks: list[tuple] = []
    eff = result.cwola.get("efficiency_by_mass")
    if eff:
        blocks += [
            ("p", "CWoLa hunting (arXiv:1805.02664): an out-of-fold classifier of SR vs sideband "
                  "events; its cuts and fits are in the tables above. Sculpting check: the "
                  "efficiency of each sideband-measured cut in mass bins of the OS window "
                  "(flat at the FPR without mass dependence of the score; a signal raises the "
                  "SR bins). χ² of a flat efficiency over all bins:"),
            ("table", ["FPR", "χ²/ndf", "p (flat)"],
             [(fmt_fpr(f), f"{fmt_num(c)}/{n}", fmt_p(p)) for f, c, n, p in
              zip(eff["fprs"], eff["chi2"], eff["ndf"], eff["p_flat"], strict=True)]),
            *fig("cwola_efficiency")]
    mb = res.get("massbin")
    if mb:
        st = mb["settings"]
        blocks += [
            ("p", f"Mass-bin classifier test over {st['low_gev']:g}–{st['high_gev']:g} GeV "
                  f"(bins of {st['width_gev']:g} GeV, step {st['step_gev']:g} GeV): a BDT per "
                  "pair of adjacent bins, AUC on a held-out "
                  f"{100 * st['test_fraction']:.0f} % of the events, p from the exact "
                  "Mann-Whitney permutation null. Global: "
                  f"Z = {fmt_z(mb['z_global'], missing='n/a', unit='σ')} (Šidák over the "
                  "pairs); Kolmogorov-Smirnov p of uniform pair p-values = "
                  f"{fmt_p(mb['ks_uniformity_p'])}."),
            ("table", ["bin i [GeV]", "bin i+1 [GeV]", "events", "AUC", "local Z", "p"],
             [(f"{p['edges_gev'][0]:g}–{p['edges_gev'][1]:g}",
               f"{p['edges_gev'][1]:g}–{p['edges_gev'][2]:g}",
               f"{p['n_events'][0]} / {p['n_events'][1]}", fmt_num(p["auc"]),
               fmt_z(p["z"], missing="not tested"), fmt_p(p["p"])) for p in mb["pairs"]]),
            *fig("massbin_scan")]
    return blocks


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


def intro(result: AnalysisResult, res: dict[str, Any]) -> str:
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
