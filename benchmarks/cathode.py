"""CATHODE on the analysis-like toy: closure, SIC vs the idealized detector, no-signal check, time.

For each seed: a toy of ``--n-sr`` SR background events (+ ~3x as many sideband events) with a
narrow prompt resonance at S/B = ``--signal-fraction`` in the SR (ml.diagnostics.make_resonant_toy);
CATHODE with the default flow; the idealized anomaly detector (SR data vs a 5x sample of the
true SR background, same classifier, same folds scheme) and the fully supervised classifier; all
evaluated on an independent SR test set. Prints per seed and the median over seeds:
sideband-closure AUC (mean +- std over closure seeds), SIC at eps_S = 0.2 and max SIC (>= 50 test
background events) of CATHODE and of the idealized detector and their ratios, and wall time of
each stage. Then, without injected signal, for CATHODE, LaCATHODE and a CATHODE whose template is
the true background (the reference): the SR pass counts at SB-measured FPRs against the sideband
interpolation (ml.excess.sideband_excess_test), the naive KS p-value of SR vs all SB scores (not a
valid null test for CATHODE: its scores move with m through the features) and the out-of-fold AUC
of SR data vs template.

    python -m benchmarks.cathode [--seeds 5] [--n-sr 10000] [--max-epochs N]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

import numpy as np
from scipy import stats
from sklearn.metrics import roc_auc_score

from ml.cathode import Cathode, LaCathode, default_flow
from ml.classifiers import XGBEnsembleClassifier
from ml.diagnostics import (
    TOY_WINDOW,
    idealized_scores,
    make_resonant_toy,
    roc_sic,
    supervised_scores,
    toy_background,
    toy_signal,
)
from ml.excess import sideband_excess_test


def _test_set(n_sig, n_bkg, seed):
    rng = np.random.default_rng(seed)
    m_b = rng.uniform(TOY_WINDOW[1], TOY_WINDOW[2], n_bkg)
    X_s, m_s = toy_signal(n_sig, rng)
    X = np.vstack([X_s, toy_background(m_b, rng)])
    return (
        X,
        np.clip(np.r_[m_s, m_b], TOY_WINDOW[1], TOY_WINDOW[2]),
        np.r_[np.ones(n_sig, bool), np.zeros(n_bkg, bool)],
    )


def _flow(args, seed):
    flow = default_flow(random_state=seed)
    if args.max_epochs:
        flow.set_params(max_epochs=args.max_epochs)
    return flow


def _run_seed(args, seed):
    toy = make_resonant_toy(args.n_sr, args.signal_fraction, random_state=seed)
    sr = toy.sr_mask
    clf = XGBEnsembleClassifier(n_models=args.n_models)
    t = time.perf_counter()
    cath = Cathode(
        flow=_flow(args, seed),
        classifier=clf,
        closure_seeds=args.closure_seeds,
        n_jobs=args.torch_threads,
        random_state=seed,
    )
    cath.fit(toy.X, toy.m, sr)
    t_cath = time.perf_counter() - t
    rng = np.random.default_rng(1000 + seed)
    X_bkg = toy_background(rng.uniform(TOY_WINDOW[1], TOY_WINDOW[2], 5 * int(sr.sum())), rng)
    t = time.perf_counter()
    ideal = idealized_scores(
        toy.X[sr],
        X_bkg,
        classifier=clf,
        sample_weight=np.r_[np.ones(sr.sum()), np.full(len(X_bkg), 0.2)],
        random_state=seed,
    )
    t_ideal = time.perf_counter() - t
    sup = supervised_scores(
        toy_signal(5000, rng)[0], X_bkg[:25000], classifier=clf, random_state=seed
    )
    X_t, m_t, lab = _test_set(args.test_signal, args.test_background, 2000 + seed)
    r = {
        name: roc_sic(s, lab)
        for name, s in (
            ("cathode", cath.score(X_t, m_t)),
            ("ideal", ideal.score(X_t)),
            ("sup", sup.score(X_t)),
        )
    }
    return {
        "n_sr": int(sr.sum()),
        "n_sb": int((~sr).sum()),
        "n_sig": int(toy.is_signal.sum()),
        "closure": cath.closure_.auc_mean,
        "closure_std": cath.closure_.auc_std,
        "ks_max": float(cath.closure_.ks_distance.max()),
        "sic02": r["cathode"].sic_at(0.2),
        "sic02_ideal": r["ideal"].sic_at(0.2),
        "maxsic": r["cathode"].max_sic,
        "maxsic_ideal": r["ideal"].max_sic,
        "maxsic_sup": r["sup"].max_sic,
        "t_cathode": t_cath,
        "t_ideal": t_ideal,
        **{f"t_{k}": v for k, v in cath.timings_.items()},
        "epochs": len(cath.flow_.history_[0]["val_loss"]),
    }


class _TruthTemplateCathode(Cathode):
    """Reference only: CATHODE whose SR template is the toy's true background at the template
    masses (the flow is trained but unused). What a perfect density estimator would give."""

    def _make_template(self, m_template, seed):
        return toy_background(m_template, seed)


def _no_signal(args, seed, cls):
    """No injected signal: SR pass counts vs the sideband interpolation (ml.excess), the naive
    SR-vs-all-SB KS p-value, and the out-of-fold AUC of SR data vs template."""
    toy = make_resonant_toy(args.n_sr, 0.0, random_state=100 + seed)
    flow = _flow(args, seed)
    if cls is _TruthTemplateCathode:
        flow.set_params(max_epochs=1)
    est = cls(
        flow=flow,
        classifier=XGBEnsembleClassifier(n_models=args.n_models),
        n_jobs=args.torch_threads,
        random_state=seed,
    ).fit(toy.X, toy.m, toy.sr_mask)
    sr, s = toy.sr_mask, est.scores_
    tests = sideband_excess_test(s, toy.m, sr, fprs=(0.1, 0.05, 0.01))
    n_t = len(est.template_scores_)
    auc = roc_auc_score(
        np.r_[np.ones(int(sr.sum())), np.zeros(n_t)], np.r_[s[sr], est.template_scores_]
    )
    return tests, stats.ks_2samp(s[sr], s[~sr]).pvalue, auc


def _print_median(med):
    print(
        f"median: closure AUC {med['closure']:.4f}, SIC(0.2) ratio {med['ratio02']:.3f}, "
        f"max-SIC ratio {med['ratiomax']:.3f} (CATHODE {med['maxsic']:.2f}, idealized "
        f"{med['maxsic_ideal']:.2f}, supervised {med['maxsic_sup']:.2f}), "
        f"CATHODE fit {med['t_cathode']:.0f} s (flow {med['t_flow']:.0f} s, "
        f"closure {med['t_closure']:.0f} s, classifiers {med['t_classifier']:.0f} s)"
    )
    print(
        f"targets: closure AUC <= 0.52: {med['closure'] <= 0.52}; SIC ratios >= 0.9: "
        f"{med['ratio02'] >= 0.9 and med['ratiomax'] >= 0.9}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CATHODE benchmark and print the measured numbers; returns 0."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.cathode",
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--n-sr", type=int, default=10_000, help="expected SR background events")
    parser.add_argument("--signal-fraction", type=float, default=0.02, help="S/B in the SR")
    parser.add_argument("--n-models", type=int, default=10, help="XGB members per fold")
    parser.add_argument("--closure-seeds", type=int, default=3)
    parser.add_argument("--max-epochs", type=int, default=0, help="flow epochs (0: default flow's)")
    parser.add_argument("--no-signal-seeds", type=int, default=5)
    parser.add_argument("--torch-threads", type=int, default=1)
    parser.add_argument("--test-signal", type=int, default=20_000)
    parser.add_argument("--test-background", type=int, default=100_000)
    args = parser.parse_args(argv)
    print(f"torch threads {args.torch_threads}; flow {_flow(args, 0).get_params()}")
    hdr = (
        f"{'seed':>4} {'SR':>6} {'SB':>6} {'S':>4} {'closureAUC':>14} {'KSmax':>6} "
        f"{'SIC.2':>6} {'ideal':>6} {'ratio':>6} {'maxSIC':>7} {'ideal':>6} {'ratio':>6} "
        f"{'sup':>6} "
        f"{'epochs':>6} {'t_flow':>7} {'t_clf':>6} {'t_total':>7}"
    )
    print(hdr)
    rows = []
    for seed in range(args.seeds):
        r = _run_seed(args, seed)
        r["ratio02"], r["ratiomax"] = r["sic02"] / r["sic02_ideal"], r["maxsic"] / r["maxsic_ideal"]
        rows.append(r)
        print(
            f"{seed:4d} {r['n_sr']:6d} {r['n_sb']:6d} {r['n_sig']:4d} "
            f"{r['closure']:7.4f}+-{r['closure_std']:.4f} "
            f"{r['ks_max']:6.3f} {r['sic02']:6.2f} {r['sic02_ideal']:6.2f} {r['ratio02']:6.2f} "
            f"{r['maxsic']:7.2f} {r['maxsic_ideal']:6.2f} {r['ratiomax']:6.2f} "
            f"{r['maxsic_sup']:6.2f} "
            f"{r['epochs']:6d} {r['t_flow']:7.1f} {r['t_classifier']:6.1f} {r['t_cathode']:7.1f}",
            flush=True,
        )
    if rows:
        _print_median({k: float(np.median([r[k] for r in rows])) for k in rows[0]})
    zs = {}
    for seed in range(args.no_signal_seeds):
        for cls in (Cathode, LaCathode, _TruthTemplateCathode):
            tests, ks_p, auc = _no_signal(args, seed, cls)
            name = {"_TruthTemplateCathode": "truth-template"}.get(cls.__name__, cls.__name__)
            zs.setdefault(name, []).extend(t.z for t in tests)
            cells = "; ".join(
                f"FPR {t.fpr:g}: {t.observed} obs / {t.expected:.1f} exp, z {t.z:+.2f}"
                for t in tests
            )
            print(
                f"no signal, {name:14s} seed {seed}: {cells}; "
                f"naive KS p (SR vs all SB) {ks_p:.4f}; "
                f"SR data vs template AUC {auc:.4f}",
                flush=True,
            )
    for name, z in zs.items():
        print(
            f"no signal, {name}: sideband-interpolation z over seeds x FPRs: "
            f"mean {np.mean(z):+.2f}, "
            f"max {np.max(z):+.2f}, min {np.min(z):+.2f} (target: no z > 3)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
