"""Signal injection for the methods without a density model: CWoLa hunting and the mass-bin test.

On the synthetic skim (``--skim``, default window Υ, 5-16 GeV, opposite-sign events), the truth
Υ(1S, 2S, 3S) events are the signal pool and all other events the background. For each signal
strength (``--n-signal``: injected Υ events, drawn without replacement from the pool) and each of
``--n-pseudo`` pseudo-datasets (a new draw of the signal events and new classifier, fold and
split seeds; the background events are the same in all of them -- the skim has no more), it
computes

* the no-cut bump hunt Z (the pyhf sideband fit of the analysis, its binning and degree rule),
* CWoLa hunting (:func:`ml.cwola.cwola_scores` with a small BDT, then the same fit after cuts at
  the sideband FPRs ``--fprs``): the best local Z over those FPRs,
* the mass-bin classifier test (:func:`ml.massbin.massbin_scan`, bins of ``--width`` GeV over
  5-16 GeV): the global Z (Sidak over the pairs) and the largest local Z,

and prints the median Z per strength, the fraction of pseudo-datasets above 3 sigma, the signal
events at which the median Z crosses 3 and 5 sigma (linear interpolation between strengths; a
linear extrapolation through the strengths when the largest one stays below, marked as such) and
the CPU seconds per method. The method-running code is plain functions (:func:`run_nocut`,
:func:`run_cwola`, :func:`run_massbin`) that a sensitivity harness can call.

    python -m benchmarks.injection_weak [--n-signal 0 20 40 60 80 110] [--n-pseudo 10]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from analysis.config import AnalysisConfig
from analysis.significance import degree_options, stats_window
from ml.classifiers import XGBEnsembleClassifier
from ml.cwola import cwola_scores
from ml.massbin import massbin_scan

__all__ = ["crossing", "main", "run_cwola", "run_massbin", "run_nocut"]


def _fit_options(config: AnalysisConfig) -> dict:
    st = config.stats
    return {"window": stats_window(config.window), "degree": st.degree,
            "n_sr_edges": st.n_sr_edges, **degree_options(st)}


def run_nocut(m, config: AnalysisConfig) -> float:
    """Z of the no-cut bump hunt of masses ``m`` (GeV) with the analysis fit of ``config``."""
    from stats.significance import significance

    r = significance(m, **_fit_options(config))
    return float(r.Z) if r.converged else float("nan")


def small_bdt(random_state=None) -> XGBEnsembleClassifier:
    """The cheap CWoLa classifier of the injection study: one BDT of <= 100 trees, depth 3."""
    return XGBEnsembleClassifier(n_models=1, n_estimators=100, max_depth=3,
                                 random_state=random_state)


def run_cwola(X, m, config: AnalysisConfig, *, fprs: Sequence[float] = (0.1, 0.05, 0.02, 0.01),
              classifier=None, random_state=0) -> float:
    """Best local Z over ``fprs`` of CWoLa hunting on events ``X`` (GeV, cm) at masses ``m``
    in ``config.window`` (SR vs sidebands, out of fold, the analysis fit after each cut)."""
    from stats.significance import scan_cut

    w = config.window
    sr = (m >= w.sr_left) & (m < w.sr_right)
    res = cwola_scores(X, m, sr, classifier=classifier or small_bdt(), n_folds=config.n_folds,
                       random_state=random_state)
    scan = scan_cut(m, res.scores, fprs=list(fprs), **_fit_options(config))
    sb = int((~sr).sum())
    zs = [r.Z for r in scan if r.converged
          and r.fpr * sb >= config.stats.min_sideband_events]
    return float(max(zs)) if zs else float("nan")


def run_massbin(X, m, *, width: float = 1.0, low: float = 5.0, high: float = 16.0,
                n_null: int = 0, random_state=0):
    """:func:`ml.massbin.massbin_scan` with the analysis defaults; ``.z_global`` and ``.z``."""
    return massbin_scan(X, m, low=low, high=high, width=width, n_null=n_null,
                        random_state=random_state)


def crossing(n_signal: np.ndarray, z: np.ndarray, level: float) -> tuple[float, bool]:
    """Signal events where the median Z first reaches ``level`` (linear interpolation), and
    whether it is a linear extrapolation beyond the largest strength (least squares through
    the strengths with signal)."""
    n, z = np.asarray(n_signal, float), np.asarray(z, float)
    ok = np.isfinite(z)
    n, z = n[ok], z[ok]
    above = np.flatnonzero(z >= level)
    if len(above):
        i = above[0]
        if i == 0:
            return float(n[0]), False
        return float(n[i - 1] + (level - z[i - 1]) * (n[i] - n[i - 1]) / (z[i] - z[i - 1])), False
    slope, icpt = np.polyfit(n[n > 0], z[n > 0], 1) if (n > 0).sum() >= 2 else (np.nan, np.nan)
    return (float((level - icpt) / slope) if slope > 0 else float("inf")), True


def _n_text(n: float, extrapolated: bool, n_max: int) -> str:
    """``N`` or, beyond the largest strength, ``>N_max (~N)`` (a linear extrapolation; far
    beyond ``n_max`` it is only indicative)."""
    return f">{n_max} (~{n:.0f})" if extrapolated else f"{n:6.0f}"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the injection series and print the table (and write ``--json`` if given)."""
    from analysis.data import load_skim
    from toymc.truth import Process

    p = argparse.ArgumentParser(prog="python -m benchmarks.injection_weak",
                                description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--skim", default="output/skim")
    p.add_argument("--n-signal", type=int, nargs="+", default=[0, 20, 40, 60, 80, 110])
    p.add_argument("--n-pseudo", type=int, default=10)
    p.add_argument("--width", type=float, default=1.0, help="mass-bin width (GeV)")
    p.add_argument("--fprs", type=float, nargs="+", default=[0.1, 0.05, 0.02, 0.01])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path, default=None, help="write every Z here")
    args = p.parse_args(argv)

    config = AnalysisConfig()
    data = load_skim(args.skim, config)
    os_ = data.os
    is_sig = Process.is_upsilon(os_.truth)
    bkg, pool = np.flatnonzero(~is_sig), np.flatnonzero(is_sig)
    if max(args.n_signal) > len(pool):
        p.error(f"--n-signal {max(args.n_signal)} exceeds the {len(pool)} truth Υ events of the "
                "skim's OS window; choose at most that many")
    print(f"OS window {config.window.edges} GeV: {len(bkg)} background events, signal pool "
          f"{len(pool)} Υ events")
    rng = np.random.default_rng(args.seed)
    cpu = {"no cut": 0.0, "CWoLa": 0.0, "mass-bin": 0.0}
    rows = []
    for n_sig in args.n_signal:
        for k in range(args.n_pseudo):
            idx = np.r_[bkg, rng.choice(pool, n_sig, replace=False)]
            X, m = os_.X[idx], os_.m[idx]
            seed = int(rng.integers(2**31 - 1))
            t0 = time.process_time()
            z0 = run_nocut(m, config)
            t1 = time.process_time()
            zc = run_cwola(X, m, config, fprs=args.fprs, random_state=seed)
            t2 = time.process_time()
            mb = run_massbin(X, m, width=args.width, random_state=seed)
            t3 = time.process_time()
            cpu["no cut"] += t1 - t0
            cpu["CWoLa"] += t2 - t1
            cpu["mass-bin"] += t3 - t2
            rows.append({"n_signal": n_sig, "pseudo": k, "z_nocut": z0, "z_cwola": zc,
                         "z_massbin_global": mb.z_global,
                         "z_massbin_max_local": float(np.nanmax(mb.z)),
                         "massbin_p": [None if not np.isfinite(v) else float(v) for v in mb.p]})
        last = rows[-args.n_pseudo:]
        print(f"n_signal {n_sig:4d}: median Z no-cut "
              f"{np.nanmedian([r['z_nocut'] for r in last]):5.2f}, CWoLa "
              f"{np.nanmedian([r['z_cwola'] for r in last]):5.2f}, mass-bin global "
              f"{np.nanmedian([r['z_massbin_global'] for r in last]):5.2f} (max local "
              f"{np.nanmedian([r['z_massbin_max_local'] for r in last]):5.2f})", flush=True)
    keys = {"no cut (local)": "z_nocut", "CWoLa (best local over FPRs)": "z_cwola",
            "mass-bin (global, Sidak)": "z_massbin_global",
            "mass-bin (largest local)": "z_massbin_max_local"}
    ns = np.array(args.n_signal)
    print("\nmethod                          " + " ".join(f"{n:>6d}" for n in ns)
          + "   N(3σ)   N(5σ)   (median Z per injected Υ count; N by interpolation; >N_max (~N): "
          "not reached, linear extrapolation)")
    summary = {}
    for label, key in keys.items():
        med = np.array([np.nanmedian([r[key] for r in rows if r["n_signal"] == n]) for n in ns])
        frac3 = [np.mean([r[key] >= 3 for r in rows if r["n_signal"] == n]) for n in ns]
        n3, e3 = crossing(ns, med, 3.0)
        n5, e5 = crossing(ns, med, 5.0)
        summary[label] = {"median_z": med.tolist(), "frac_ge_3": frac3, "n_3sigma": n3,
                          "n_3sigma_extrapolated": e3, "n_5sigma": n5,
                          "n_5sigma_extrapolated": e5}
        print(f"{label:31s} " + " ".join(f"{z:6.2f}" for z in med)
              + f"  {_n_text(n3, e3, ns.max())}  {_n_text(n5, e5, ns.max())}")
        print(f"{'  fraction >= 3σ':31s} " + " ".join(f"{f:6.1f}" for f in frac3))
    n_runs = len(rows)
    print("\nCPU seconds per pseudo-dataset: "
          + ", ".join(f"{k} {v / n_runs:.2f}" for k, v in cpu.items())
          + f" ({n_runs} pseudo-datasets)")
    if args.json is not None:
        from dimuon_ad.io import atomic_write_text

        atomic_write_text(args.json, json.dumps({"rows": rows, "summary": summary,
                                                 "cpu_s": cpu, "args": vars(args)},
                                                default=str, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
