"""Time of one window's CATHODE fit under an analysis profile (flows, template, classifiers).

Reads a skim like ``run_analysis.py`` (``analysis.data.load_skim``), builds the chain of the
profile (``analysis.pipeline.build_chain``) and fits it on the opposite-sign events of the
window: the profile's flow seeds (as one batched model when the flow is ``stacked``, the
default), the template and the out-of-fold classifiers (the profile's models per fold). Prints
wall and process-CPU seconds per step and the total. ``--compare`` first trains the same flow
seeds one after the other (``stacked=False``) in the same process and prints the ratio, plus the
largest difference of the two runs' best validation losses (they agree up to rounding).

    python -m benchmarks.profile_fit --skim output/skim --profile published [--compare]
        [--config analysis.yaml]

Look-elsewhere toys and the other methods are not part of this time (see ``run_analysis.py``).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence

import numpy as np

log = logging.getLogger(__name__)


class _Clock:
    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def lap(self) -> tuple[float, float]:
        wall, cpu = time.perf_counter(), time.process_time()
        out = (wall - self.wall, cpu - self.cpu)
        self.wall, self.cpu = wall, cpu
        return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile_fit", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--skim", required=True, help="skim directory (as run_analysis.py)")
    parser.add_argument("--profile", default="published", choices=["fast", "default",
                                                                    "published"])
    parser.add_argument("--window", default=None, help="window preset (default: upsilon)")
    parser.add_argument("--config", default=None,
                        help="analysis YAML on top of the profile (as run_analysis.py --config)")
    parser.add_argument("--compare", action="store_true",
                        help="also train the seeds one after the other and print the ratio")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    args = parser.parse_args(argv)

    import tempfile

    import torch

    from analysis.config import load_config
    from analysis.data import load_skim
    from analysis.pipeline import build_chain

    torch.set_num_threads(args.threads)
    config = load_config(args.config, profile=args.profile, window=args.window)
    with tempfile.TemporaryDirectory() as tmp:
        data = load_skim(args.skim, config, output_dir=tmp)
    os_ = data.os
    X, m, sr = os_.X, os_.m, os_.sr
    chain = build_chain(config)
    print(f"profile {args.profile}: {config.flow.n_seeds} flow seeds x <= {config.flow.max_epochs}"
          f" epochs, {config.classifier.n_models} models per fold; OS window events "
          f"{len(m)} (SR {int(sr.sum())}, SB {int((~sr).sum())})")
    clock = _Clock()
    chain.fit_preprocessing(X[~sr], m[~sr])
    tasks = [chain.flow_task(X[~sr], m[~sr], i) for i in range(int(chain.n_flows))]
    if args.compare:
        clock.lap()
        one_by_one = build_chain(config)
        one_by_one.flow.set_params(stacked=False)
        one_by_one.fit_preprocessing(X[~sr], m[~sr])
        alone = one_by_one.train_flows(
            [one_by_one.flow_task(X[~sr], m[~sr], i) for i in range(int(chain.n_flows))])
        wall_seq, cpu_seq = clock.lap()
        print(f"flows one after the other: {wall_seq:8.1f} s wall {cpu_seq:8.1f} s CPU")
    clock.lap()
    flows = chain.train_flows(tasks)
    chain.set_flows(flows)
    wall_flow, cpu_flow = clock.lap()
    print(f"flows {'stacked' if len(tasks) > 1 and chain.flow.stacked else 'one by one'}:"
          f"         {wall_flow:8.1f} s wall {cpu_flow:8.1f} s CPU")
    if args.compare:
        best = [min(f.history_[0]["val_loss"]) for f in flows]
        best_seq = [min(f.history_[0]["val_loss"]) for f in alone]
        print(f"  speed-up (CPU) {cpu_seq / cpu_flow:.2f}x, (wall) {wall_seq / wall_flow:.2f}x; "
              f"best validation loss per seed stacked {np.round(best, 4).tolist()} vs "
              f"{np.round(best_seq, 4).tolist()}")
    chain.fit_template(m[sr])
    wall_t, cpu_t = clock.lap()
    print(f"template:                 {wall_t:8.1f} s wall {cpu_t:8.1f} s CPU")
    chain.fit_classifier(X, m, sr)
    wall_c, cpu_c = clock.lap()
    print(f"classifiers:              {wall_c:8.1f} s wall {cpu_c:8.1f} s CPU")
    total_w, total_c = wall_flow + wall_t + wall_c, cpu_flow + cpu_t + cpu_c
    print(f"total (flows stacked):    {total_w:8.1f} s wall {total_c:8.1f} s CPU "
          f"({total_w / 60:.1f} min)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
