"""The Υ analysis step by step from Python: what ``run_analysis.py`` does, without its cache.

1. load the skim (cuts, Υ window, OS/SS split)       analysis.data.load_skim
2. fit the CATHODE chain: flow on the sidebands,      analysis.pipeline.build_chain
   SR background template, out-of-fold BDT            (an ml.cathode.Cathode)
3. significance without cut and after cuts at         stats.significance.significance / scan_cut
   sideband false-positive rates
4. plot Z vs FPR                                      analysis.plots

Run it on a skim made by ``run_skim.py`` (``make demo`` makes ``output/skim``)::

    python examples/analysis_walkthrough.py --skim output/skim --output-dir /tmp/walk

``--epochs``/``--n-estimators`` trade accuracy for speed (the test suite runs it with 3 epochs
and 40 trees on a 150 k-event sample in well under a minute). In a notebook, run the body of
:func:`main` cell by cell.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--skim", default="output/skim", help="run_skim.py output directory")
    p.add_argument("--output-dir", default="output/walkthrough", help="where the plots go")
    p.add_argument("--epochs", type=int, default=40, help="flow training epochs")
    p.add_argument("--n-estimators", type=int, default=200, help="trees per BDT")
    args = p.parse_args(argv)
    from dimuon_ad.logs import configure_logging

    configure_logging(quiet=True)  # the toolkit's log format, warnings and errors only
    logging.getLogger("matplotlib").setLevel(logging.ERROR)  # font substitution notes

    from analysis import plots
    from analysis.config_yaml import config_from_mapping
    from analysis.data import load_skim
    from analysis.pipeline import build_chain
    from stats.binning import Window
    from stats.significance import scan_cut, significance

    # 1. configuration (the same YAML keys as run_analysis.py --config) and the data
    config = config_from_mapping({
        "profile": "fast",
        "flow": {"n_seeds": 1, "max_epochs": args.epochs, "early_stopping": None},
        "classifier": {"n_models": 1, "params": {"n_estimators": args.n_estimators}},
        "n_folds": 3,
    }, source="walkthrough")
    data = load_skim(args.skim, config)
    os_ = data.os  # opposite-sign dimuons in the window: X (GeV, cm), m (GeV), bands
    w = config.window
    print(f"{len(os_.m)} OS events in {w.sb_left:g}-{w.sb_right:g} GeV, "
          f"{int(os_.sr.sum())} in the SR; features {', '.join(data.features)}")

    # 2. CATHODE: flow on the sidebands -> SR template -> out-of-fold classifier scores
    chain = build_chain(config).fit(os_.X, os_.m, os_.sr)
    scores = chain.scores_  # one out-of-fold score per event (SR and sidebands)
    print(f"template: {len(chain.template_)} events; scores in "
          f"[{scores.min():.3f}, {scores.max():.3f}]")

    # 3. significances: no cut, then cuts at sideband false-positive rates
    win = Window(w.sb_left, w.sr_left, w.sr_right, w.sb_right)  # GeV
    no_cut = significance(os_.m, window=win)
    fprs = [0.2, 0.05, 0.01]
    cuts = scan_cut(os_.m, scores, window=win, fprs=fprs)
    print(f"no cut: Z = {no_cut.Z:.2f} (S = {no_cut.s_fit:.0f}, B = {no_cut.b_fit:.0f})")
    for fpr, r in zip(fprs, cuts, strict=True):
        z = f"{r.Z:.2f}" if r.converged else "failed"
        print(f"CATHODE cut at sideband FPR {fpr:g}: Z = {z}")

    # 4. plot: local Z vs the cut's sideband FPR (PNG and PDF)
    out = Path(args.output_dir)
    labels = plots.PlotLabels(text="Walkthrough")
    z = np.array([r.Z if r.converged else np.nan for r in cuts])
    fig = plots.plot_z_vs_fpr({"CATHODE": (np.array(fprs), z)}, labels, no_cut=no_cut.Z,
                              title="opposite sign")
    written = plots.save_figure(fig, out / "z_vs_fpr")
    print("plots:", ", ".join(str(x) for x in written))
    return 0


if __name__ == "__main__":
    sys.exit(main())
