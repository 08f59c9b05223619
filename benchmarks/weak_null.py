"""Null checks of CWoLa hunting and the mass-bin test on the synthetic skim without the Υ.

With the truth Υ events removed from the opposite-sign events of the Υ window (5-16 GeV), for
``--seeds`` seeds (new folds, splits and classifier seeds on the same events):

* mass-bin test (bins of ``--width`` GeV): the Kolmogorov-Smirnov p-value of uniform pair
  p-values per scan and over all scans pooled (pairs of different seeds share events, so the
  pooled value is indicative), the global Z per scan, and the agreement of the normal-tail
  p-value with the permutation p-value;
* CWoLa hunting, raw features and mass-decorrelated features (``--degrees``): the largest local
  Z over the FPR grid of the analysis fit, and the sculpting check (flatness p of the
  sideband-measured cut efficiency over 1-GeV bins, SR-to-sideband efficiency ratio at FPR
  0.1 and 0.02);

and the same CWoLa numbers with the Υ kept, to show what the decorrelation costs. First, with
``--calibration N``: the standard deviation of the standardised AUC on N pairs of identical
Gaussian classes (450 + 450 events, 3 features, the scan's BDT) for the held-out split of
:mod:`ml.massbin` and for 5-fold out-of-fold scores (per-fold rank sums, summed, with the
permutation variance of each fold) -- the measurement behind the module's choice of a held-out
split (1 is calibrated).

    python -m benchmarks.weak_null [--seeds 5] [--width 1.0] [--calibration 200]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

import numpy as np

from analysis.config import AnalysisConfig
from benchmarks.injection_weak import _fit_options, small_bdt
from ml.cwola import cut_efficiency_by_mass, cwola_scores
from ml.massbin import ks_uniformity, massbin_scan

__all__ = ["main"]


def _cwola_row(X, m, config, fprs, decorrelate, seed) -> dict:
    from stats.significance import scan_cut

    w = config.window
    sr = (m >= w.sr_left) & (m < w.sr_right)
    res = cwola_scores(X, m, sr, classifier=small_bdt(), n_folds=config.n_folds,
                       decorrelate=decorrelate, random_state=seed)
    scan = scan_cut(m, res.scores, fprs=list(fprs), **_fit_options(config))
    eff = cut_efficiency_by_mass(m, res.scores, ~sr, [0.1, 0.02], np.arange(5.0, 16.01, 1.0))
    ratio = []
    for f in (0.1, 0.02):
        from stats.significance import cut_thresholds

        thr = cut_thresholds(res.scores[~sr], [f])[0]
        ratio.append(float(np.mean(res.scores[sr] >= thr) / f))
    return {"z_max": max((r.Z for r in scan if r.converged), default=float("nan")),
            "z": [r.Z for r in scan], "p_flat": eff["p_flat"], "sr_sb_ratio": ratio}


def _kfold_z(X, y, seed) -> float:
    """Standardised stratified rank sum of 5-fold out-of-fold scores (per-fold ranks)."""
    from scipy import stats as sps

    from ml.kfold import out_of_fold_scores
    from ml.massbin import default_classifier

    res = out_of_fold_scores(X, y, classifier=default_classifier(), n_folds=5,
                             random_state=seed)
    u = mean = var = 0.0
    for k in range(5):
        r, yk = sps.rankdata(res.scores[res.fold == k]), y[res.fold == k].astype(bool)
        n1, n = yk.sum(), len(yk)
        u += r[yk].sum()
        mean += n1 * (n + 1) / 2
        var += n1 * (n - n1) / (n - 1) * r.var()
    return float((u - mean) / np.sqrt(var))


def calibration(n_trials: int, seed: int = 0) -> dict[str, float]:
    """Standard deviation of the null Z of the held-out and of the k-fold statistic."""
    from ml.massbin import auc_test, default_classifier, pair_scores

    rng = np.random.default_rng(seed)
    held, kfold = [], []
    y = np.r_[np.zeros(450, dtype=np.int64), np.ones(450, dtype=np.int64)]
    for i in range(n_trials):
        X = rng.normal(size=(900, 3))
        s, yt = pair_scores(X[:450], X[450:], default_classifier(), 0.5, i)
        held.append(auc_test(s, yt, n_null=0).z)
        kfold.append(_kfold_z(X, y, i))
    return {"held_out_std": float(np.std(held)), "kfold_std": float(np.std(kfold)),
            "held_out_frac_above_1.645": float(np.mean(np.array(held) > 1.645)),
            "kfold_frac_above_1.645": float(np.mean(np.array(kfold) > 1.645))}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the null checks and print them."""
    from analysis.data import load_skim
    from toymc.truth import Process

    p = argparse.ArgumentParser(prog="python -m benchmarks.weak_null",
                                description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--skim", default="output/skim")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--width", type=float, default=1.0)
    p.add_argument("--degrees", type=int, nargs="*", default=[1, 2])
    p.add_argument("--fprs", type=float, nargs="+", default=[0.5, 0.2, 0.1, 0.05, 0.02, 0.01])
    p.add_argument("--calibration", type=int, default=0,
                   help="Gaussian null pairs for the held-out vs k-fold calibration (0: skip)")
    args = p.parse_args(argv)
    if args.calibration:
        c = calibration(args.calibration)
        print(f"null calibration on {args.calibration} Gaussian pairs: std of Z held-out "
              f"{c['held_out_std']:.3f} (fraction > 1.645: "
              f"{c['held_out_frac_above_1.645']:.3f}), 5-fold out-of-fold "
              f"{c['kfold_std']:.3f} ({c['kfold_frac_above_1.645']:.3f}); calibrated: 1 "
              "(0.050)", flush=True)
    config = AnalysisConfig()
    os_ = load_skim(args.skim, config).os
    no_sig = ~Process.is_upsilon(os_.truth)
    X0, m0 = os_.X[no_sig], os_.m[no_sig]
    print(f"OS window without Υ: {len(m0)} events; with: {len(os_.m)}")

    t0 = time.process_time()
    pooled, zg, dp = [], [], []
    for seed in range(args.seeds):
        scan = massbin_scan(X0, m0, width=args.width, n_null=1000, random_state=seed)
        pooled.append(scan.p)
        zg.append(scan.z_global)
        dp.append(np.nanmax(np.abs(scan.p - scan.p_perm)))
        print(f"mass-bin seed {seed}: KS p of uniform pair p-values {ks_uniformity(scan.p):.3f} "
              f"({int(scan.tested.sum())} pairs), global Z {scan.z_global:.2f}, smallest p "
              f"{np.nanmin(scan.p):.3f}, max |p - p_perm| {dp[-1]:.3f}")
    ks = ks_uniformity(np.concatenate(pooled))
    print(f"mass-bin pooled over {args.seeds} seeds: KS p {ks:.3f}, global Z median "
          f"{np.median(zg):.2f}, max {np.max(zg):.2f}; CPU "
          f"{(time.process_time() - t0) / args.seeds:.2f} s per scan (1000 permutations/pair)")

    for label, (X, m) in (("without Υ", (X0, m0)), ("with Υ", (os_.X, os_.m))):
        for dec in (None, *args.degrees):
            rows = [_cwola_row(X, m, config, args.fprs, dec, seed) for seed in range(args.seeds)]
            name = "raw features" if dec is None else f"decorrelated (degree {dec})"
            print(f"CWoLa {label}, {name}: largest local Z per seed "
                  f"{[round(r['z_max'], 2) for r in rows]}; flatness p at FPR 0.1 / 0.02 "
                  f"(median) {np.median([r['p_flat'][0] for r in rows]):.3g} / "
                  f"{np.median([r['p_flat'][1] for r in rows]):.3g}; SR/SB efficiency ratio "
                  f"at 0.1 / 0.02 (median) {np.median([r['sr_sb_ratio'][0] for r in rows]):.2f}"
                  f" / {np.median([r['sr_sb_ratio'][1] for r in rows]):.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
