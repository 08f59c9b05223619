"""BDT ensemble training time per fold on a CATHODE-sized problem, side by side with the MLP.

The problem: ~10^4 SR data events (toy of :mod:`ml.diagnostics`, S/B = 2 %) vs a 5x background
template, split 3/1/1 into train/validation/test as in the out-of-fold scheme. Prints seconds per
fold and per ensemble member for XGBoost ensembles of 1 and ``--n-models`` members (1 and 2
threads), the torch MLP, and the extrapolation to the published 100 models x 5 folds.

    python -m benchmarks.bdt [--n-sr 10000] [--n-models 10]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

import numpy as np
from sklearn.metrics import roc_auc_score

from ml.classifiers import MLPClassifier, XGBEnsembleClassifier
from ml.diagnostics import TOY_WINDOW, make_resonant_toy, toy_background
from ml.kfold import assign_folds, fold_roles


def _problem(n_sr: int, oversampling: int, seed: int):
    toy = make_resonant_toy(n_sr, 0.02, random_state=seed)
    rng = np.random.default_rng(seed + 1)
    X1 = toy.X[toy.sr_mask]
    X0 = toy_background(rng.uniform(TOY_WINDOW[1], TOY_WINDOW[2], oversampling * len(X1)), rng)
    X = np.vstack([X1, X0])
    y = np.r_[np.ones(len(X1), int), np.zeros(len(X0), int)]
    w = np.r_[np.ones(len(X1)), np.full(len(X0), 1.0 / oversampling)]
    fold = assign_folds(y, 5, seed)
    test, val, train = fold_roles(0, 5)
    tr, va, te = np.isin(fold, train), fold == val, fold == test
    sig = np.r_[toy.is_signal[toy.sr_mask], np.zeros(len(X0), bool)]
    return (X[tr], y[tr], w[tr]), (X[va], y[va], w[va]), (X[te], sig[te], y[te])


def _time_fold(clf, train, val, test):
    t = time.perf_counter()
    clf.fit(train[0], train[1], sample_weight=train[2],
            X_val=val[0], y_val=val[1], sample_weight_val=val[2])
    fit_s = time.perf_counter() - t
    p = clf.predict_proba(test[0])[:, 1]
    data = test[2] == 1
    return fit_s, roc_auc_score(test[1][data], p[data])


def main(argv: Sequence[str] | None = None) -> int:
    """Measure and print BDT/MLP training time per fold; returns 0."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bdt",
                                     description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--n-sr", type=int, default=10_000, help="SR background events")
    parser.add_argument("--oversampling", type=int, default=5)
    parser.add_argument("--n-models", type=int, default=10, help="members of the larger ensemble")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    train, val, test = _problem(args.n_sr, args.oversampling, args.seed)
    print(f"fold sizes: train {len(train[0])}, validation {len(val[0])}, "
          f"test {len(test[0])} events")
    print(f"{'classifier':38s} {'s/fold':>8s} {'s/member':>9s} "
          f"{'AUC(sig vs bkg, test SR data)':>30s}")
    rows = {}
    for n_models, n_jobs in ((1, 1), (1, 2), (args.n_models, 1), (args.n_models, 2)):
        clf = XGBEnsembleClassifier(n_models=n_models, n_jobs=n_jobs, random_state=args.seed)
        fit_s, auc = _time_fold(clf, train, val, test)
        rows[(n_models, n_jobs)] = fit_s
        trees = np.mean(clf.best_iterations_) + 1
        name = f"XGB x{n_models}, {n_jobs} thread(s), {trees:.0f} trees"
        print(f"{name:38s} {fit_s:8.2f} {fit_s / n_models:9.3f} {auc:30.3f}")
    clf = MLPClassifier(n_jobs=1, random_state=args.seed)
    fit_s, auc = _time_fold(clf, train, val, test)
    print(f"{'MLP 3x64, 1 thread, ' + str(len(clf.history_[0]['val_loss'])) + ' epochs':38s} "
          f"{fit_s:8.2f} {fit_s:9.3f} {auc:30.3f}")
    best = min(rows[(args.n_models, 1)], rows[(args.n_models, 2)]) / args.n_models
    print(f"ratio 2 threads / 1 thread (x{args.n_models}): "
          f"{rows[(args.n_models, 2)] / rows[(args.n_models, 1)]:.2f}")
    print(f"ratio MLP / XGB single member (1 thread): {fit_s / rows[(1, 1)]:.1f}")
    print(f"extrapolated published setup (100 members x 5 folds): {best * 500:.0f} s "
          f"({best * 100:.1f} s per fold)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
