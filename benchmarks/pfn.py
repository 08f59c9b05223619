"""PFN on the object lists vs BDT on the high-level features: AUC, training time, throughput.

The task (synthetic sample, truth known): Υ(1S, 2S, 3S) events (``truth_process`` 12-14) against
the continuum background (``truth_process`` < 10) in the Υ window 9.0-10.6 GeV of an
``inclusive`` skim written with ``--objects``. Events are split 60/20/20 (stratified, seeded) into
training, validation (early stopping) and test sets; every classifier sees the same events.

- BDT (analysis features): :class:`ml.classifiers.XGBEnsembleClassifier` on ``dimu_pt``,
  ``mu0_ip3d``, ``mu1_ip3d`` (the analysis' default features);
- BDT (all high-level): the same on 26 per-event columns, the dimuon mass among them, and on the
  25 without the mass;
- PFN: :class:`ml.pfn.PFNClassifier` on the muons and jets (:class:`ml.objects.ObjectLayout`
  defaults: 3 muons + 6 jets, 14 features). The object lists hold the muon four-vectors, so the
  PFN can learn the dimuon mass: compare it with the "all high-level" BDT, which has the mass too.

A null check follows: the PFN between two adjacent background-only mass bins
(``--mass-bins``, default 6.0-6.5 vs 6.5-7.0 GeV, ``truth_process`` < 10) with the default layout
and with the muon four-vectors dropped (``ObjectLayout(drop=...)``); an AUC above 0.5 there would
mean the network rebuilds the mass from the muons.

Everything runs on ``--threads`` CPU threads (default 2; the machine may be shared: numbers are
wall-clock). The PFN training throughput (events/s = training events × epochs / fit seconds, the
per-epoch validation pass included) is measured on 1 and ``--threads`` threads over a fixed
``--throughput-epochs`` epochs.

    python -m benchmarks.pfn [--skim DIR] [--n-events 1000000] [--max-epochs 30]

Without ``--skim`` it generates ``--n-events`` toymc events and skims them (inclusive preset,
objects) in a temporary directory.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import torch
from sklearn.metrics import roc_auc_score

from ml.classifiers import XGBEnsembleClassifier, _torch_threads
from ml.objects import ObjectLayout, load_objects
from ml.pfn import PFNClassifier

WINDOW = (9.0, 10.6)
SIGNAL, BACKGROUND_BELOW = (12, 13, 14), 10
ANALYSIS_FEATURES = ("dimu_pt", "mu0_ip3d", "mu1_ip3d")
HIGH_LEVEL = (
    *(f"mu{k}_{s}" for k in (0, 1) for s in ("pt", "eta", "iso04", "ip3d", "sip3d", "dxy", "dz")),
    "dimu_mass", "dimu_pt", "dimu_eta", "mumu_deltaR", "mumu_deltapT", "opposite_sign",
    "n_muons", "n_jets", "jet0_pt", "jet0_btagDeepFlavB", "met_pt", "pv_npvsGood",
)


def _make_skim(folder: Path, n_events: int, seed: int) -> Path:
    import toymc
    from run_skim import main as skim_main

    toymc.write_nanoaod(folder / "toy.root", n_events=n_events, seed=seed, progress=False)
    fileset = folder / "fileset.json"
    fileset.write_text(json.dumps({"toy": {"files": {"toy.root": "Events"},
                                           "metadata": {"is_data": False, "synthetic": True}}}))
    out = folder / "skim"
    code = skim_main(["--fileset", str(fileset), "--dataset", "toy", "--output-dir", str(out),
                      "--preset", "inclusive", "--objects", "--no-progress", "-q"])
    if code:
        raise RuntimeError(f"run_skim.py failed with exit code {code}")
    return out


def _load(skim: Path):
    """Objects, high-level features and labels of the window's signal and background events."""
    mass, truth = pc.field("dimu_mass"), pc.field("truth_process")
    selected = ((mass >= WINDOW[0]) & (mass < WINDOW[1])
                & (truth.isin(list(SIGNAL)) | (truth < BACKGROUND_BELOW)))
    X, flat = load_objects(skim, columns=[*HIGH_LEVEL, "truth_process"], filter=selected,
                           sort_by_event=True)
    y = np.isin(flat["truth_process"], SIGNAL).astype(np.int64)
    high = np.column_stack([flat[c].astype(np.float64) for c in HIGH_LEVEL])
    high = np.where(np.isfinite(high), high, -1.0)  # jet0_* of events without jets
    return X, high, y


def _mass_bin_null(skim: Path, edges: Sequence[float], threads: int, max_epochs: int,
                   seed: int) -> None:
    """PFN AUC between two adjacent background-only mass bins, with and without muon p4."""
    mass, truth = pc.field("dimu_mass"), pc.field("truth_process")
    selected = (mass >= edges[0]) & (mass < edges[2]) & (truth < BACKGROUND_BELOW)
    layouts = (("default layout", ObjectLayout()),
               ("muon p4 dropped", ObjectLayout(drop={"muon": ("pt", "eta", "phi", "mass")})))
    for name, layout in layouts:
        X, flat = load_objects(skim, layout, columns=["dimu_mass"], filter=selected,
                               sort_by_event=True)
        y = (flat["dimu_mass"] >= edges[1]).astype(np.int64)
        part = _split(y, seed)
        clf = PFNClassifier(max_epochs=max_epochs, device="cpu", random_state=seed)
        r = _fit_and_score(clf, X, y, part, threads)
        print(f"null: PFN ({name}) [{edges[0]:g}, {edges[1]:g}) vs [{edges[1]:g}, {edges[2]:g})"
              f" GeV background only: {len(y)} events, test AUC {r['auc']:.4f} "
              f"(test {r['n_test']} events), fit {r['fit_s']:.1f} s, "
              f"{len(clf.history_[0]['val_loss'])} epochs")


def _split(y: np.ndarray, seed: int) -> np.ndarray:
    """0 train, 1 validation, 2 test: 60/20/20 per class."""
    rng = np.random.default_rng(seed)
    part = np.empty(len(y), dtype=np.int64)
    for c in (0, 1):
        idx = rng.permutation(np.flatnonzero(y == c))
        part[idx] = np.searchsorted([0.6, 0.8], np.arange(len(idx)) / len(idx), side="right")
    return part


def _fit_and_score(clf, X, y, part, threads: int) -> dict:
    tr, va, te = part == 0, part == 1, part == 2
    with _torch_threads(threads):
        start = time.perf_counter()
        clf.fit(X[tr], y[tr], X_val=X[va], y_val=y[va])
        fit_s = time.perf_counter() - start
        start = time.perf_counter()
        p = clf.predict_proba(X[te])[:, 1]
        predict_s = time.perf_counter() - start
    return {"fit_s": fit_s, "predict_s": predict_s, "auc": roc_auc_score(y[te], p),
            "n_test": int(te.sum())}


def _throughput(X, y, part, threads: int, epochs: int, seed: int) -> float:
    clf = PFNClassifier(max_epochs=epochs, early_stopping=None, device="cpu", random_state=seed)
    result = _fit_and_score(clf, X, y, part, threads)
    return (part == 0).sum() * epochs / result["fit_s"]


def main(argv: Sequence[str] | None = None) -> int:
    """Measure and print PFN vs BDT on the Υ task; returns 0."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.pfn",
                                     description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--skim", type=Path, help="a run_skim.py --objects output directory "
                        "(default: generate and skim --n-events toymc events)")
    parser.add_argument("--n-events", type=int, default=1_000_000)
    parser.add_argument("--max-epochs", type=int, default=30, help="PFN epochs at most")
    parser.add_argument("--throughput-epochs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mass-bins", type=float, nargs=3, default=(6.0, 6.5, 7.0),
                        metavar=("LO", "MID", "HI"), help="adjacent bins of the null check, GeV")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="pfn-bench-") as tmp:
        start = time.perf_counter()
        skim = args.skim or _make_skim(Path(tmp), args.n_events, args.seed + 1)
        made = time.perf_counter() - start
        start = time.perf_counter()
        X, high, y = _load(skim)
        load_s = time.perf_counter() - start
        _mass_bin_null(skim, args.mass_bins, args.threads, args.max_epochs, args.seed)
    part = _split(y, args.seed)
    print(f"Υ window {WINDOW[0]}-{WINDOW[1]} GeV: {len(y)} events ({y.sum()} Υ, "
          f"{(y == 0).sum()} background); train {(part == 0).sum()}, validation "
          f"{(part == 1).sum()}, test {(part == 2).sum()}; skim {'given' if args.skim else 'made'}"
          f" in {made:.1f} s, objects loaded in {load_s:.2f} s ({X.shape[1]} objects x "
          f"{X.shape[2]} features); torch {torch.__version__}, {args.threads} thread(s), CPU")
    rows = {}
    hl_idx = [HIGH_LEVEL.index(c) for c in ANALYSIS_FEATURES]
    no_mass = [i for i, c in enumerate(HIGH_LEVEL) if c != "dimu_mass"]
    for name, data in (("BDT analysis features (3)", high[:, hl_idx]),
                       (f"BDT high-level, no mass ({len(no_mass)})", high[:, no_mass]),
                       (f"BDT all high-level ({len(HIGH_LEVEL)})", high)):
        clf = XGBEnsembleClassifier(n_jobs=args.threads, random_state=args.seed)
        rows[name] = _fit_and_score(clf, data, y, part, args.threads)
        rows[name]["size"] = f"{np.mean(clf.best_iterations_) + 1:.0f} trees"
    pfn = PFNClassifier(max_epochs=args.max_epochs, device="cpu", random_state=args.seed)
    name = f"PFN objects ({X.shape[1]}x{X.shape[2]})"
    rows[name] = _fit_and_score(pfn, X, y, part, args.threads)
    epochs = len(pfn.history_[0]["val_loss"])
    rows[name]["size"] = f"{epochs} epochs (best {pfn.history_[0]['best_epoch'] + 1})"
    print(f"{'classifier':30s} {'fit s':>8s} {'predict s':>10s} {'test AUC':>9s}  size")
    for name, r in rows.items():
        print(f"{name:30s} {r['fit_s']:8.2f} {r['predict_s']:10.3f} {r['auc']:9.4f}  {r['size']}")
    bdt_all, bdt3 = rows[f"BDT all high-level ({len(HIGH_LEVEL)})"], rows[
        "BDT analysis features (3)"]
    pfn_row = rows[f"PFN objects ({X.shape[1]}x{X.shape[2]})"]
    print(f"ratio fit time PFN / BDT all high-level: {pfn_row['fit_s'] / bdt_all['fit_s']:.1f}")
    bdt_nomass = rows[f"BDT high-level, no mass ({len(HIGH_LEVEL) - 1})"]
    print(f"AUC PFN - BDT all high-level: {pfn_row['auc'] - bdt_all['auc']:+.4f}; "
          f"PFN - BDT high-level without mass: {pfn_row['auc'] - bdt_nomass['auc']:+.4f}; "
          f"PFN - BDT analysis features: {pfn_row['auc'] - bdt3['auc']:+.4f}")
    n_train = int((part == 0).sum())
    print(f"PFN epoch-average throughput over its {epochs} epochs: "
          f"{n_train * epochs / pfn_row['fit_s']:,.0f} events/s ({args.threads} threads)")
    speed = {t: _throughput(X, y, part, t, args.throughput_epochs, args.seed)
             for t in sorted({1, args.threads})}
    for t, v in speed.items():
        print(f"PFN training throughput, {t} thread(s), {args.throughput_epochs} epochs: "
              f"{v:,.0f} events/s")
    if len(speed) == 2:
        print(f"ratio throughput {args.threads} threads / 1 thread: "
              f"{speed[args.threads] / speed[1]:.2f}")
    print(f"PFN inference: {pfn_row['n_test'] / pfn_row['predict_s']:,.0f} events/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
