"""The numbers a reader looks at first: the headline per sample (no cut, each method's best
cut with local and global Z, reweighting), the quality of the headline fits, the notes and the
one-paragraph conclusion — shared by the report and the console."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from analysis.fmt import MISSING, fmt_fpr, fmt_p, fmt_z, is_number
from analysis.methods import CHAINS
from analysis.pipeline import CATHODE, AnalysisResult
from analysis.significance import best_of_scan

__all__ = [
    "BAD_FIT_MARK",
    "HEADLINE_FPRS",
    "bad_fit_lines",
    "bad_fit_p",
    "conclusion",
    "entry_at",
    "fit_quality",
    "headline",
    "headline_rows",
    "report_notes",
    "usable_z",
]

#: Appended to a Z whose background fit is bad (saturated-model p below the stats threshold).
BAD_FIT_MARK = " !"
#: FPRs shown in the headline table (reference §6).
HEADLINE_FPRS = (0.25, 0.1, 0.05, 0.01, 0.005, 0.001)


def usable_z(entry: dict[str, Any] | None) -> float:
    if not entry or not entry.get("converged") or not entry.get("usable", True):
        return float("nan")
    return float(entry["Z"])


def entry_at(scan: list[dict[str, Any]], fpr: float) -> dict[str, Any]:
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
    out: dict[str, Any] = {"no_cut": usable_z(sig["no_cut"])}
    best = best_of_scan(scans.get(CATHODE, []))
    out["CATHODE_best"] = {"Z": usable_z(best), "fpr": best.get("fpr"), **_global(sig, CATHODE)}
    cathode = scans.get(CATHODE, [])
    out["CATHODE_at_fpr"] = {f"{f:g}": usable_z(entry_at(cathode, f)) for f in HEADLINE_FPRS
                             if entry_at(cathode, f)}
    rw = sig.get("reweighting", {})
    out["reweighting"] = usable_z(rw)
    out["reweighting_message"] = rw.get("message", "")
    out["methods_best"] = {}
    for name, scan in scans.items():
        b = best_of_scan(scan)
        out["methods_best"][name] = {"Z": usable_z(b), "fpr": b.get("fpr"), **_global(sig, name)}
    singles = {k: v for k, v in out["methods_best"].items()
               if k not in (*CHAINS, "random")}
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


def report_notes(result: AnalysisResult) -> list[str]:
    """What a reader must know before trusting the numbers: bad background fits, skipped
    samples, an incomplete skim analysed on request, files left out, unchecked duplicates —
    shown on top of the report and in the console."""
    return bad_fit_lines(result) + list(result.data.notes)


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
                     f"< {bad_fit_p():g}: {', '.join(f['fit'] for f in bad)}); "
                     "do not trust their Z.")
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


def bad_fit_p() -> float:
    from stats.gof import BAD_FIT_P_VALUE

    return BAD_FIT_P_VALUE
