"""run_sensitivity.py — how many signal events each method needs for 3σ and 5σ.

Splits the truth-labelled events of a synthetic skim into disjoint background blocks, injects
each strength of truth signal into every block, runs the selected methods on each pseudo-dataset
and writes ``sensitivity.json`` (median Z and 68 % band vs S, S needed for 3σ/5σ, zero-injection
p-value uniformity and false-positive rate, CPU per pseudo-experiment) and ``sensitivity.png``.
Pseudo-experiments are cached in ``<output-dir>/cache``.

Examples::

    python run_sensitivity.py --skim output/skim --strengths 0,25,50,100 --n-pseudo 10
    python run_sensitivity.py --window-edges 5,6.6,7.4,9 --signal INJECTED --strengths 0,20,40
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from dimuon_ad.errors import (
    ConfigError,
    DimuonADError,
    command_failed,
)

__all__ = ["build_parser", "main"]

log = logging.getLogger("run_sensitivity")

PROG = "run_sensitivity.py"


def _floats(text: str, flag: str, n: int | None = None) -> tuple[float, ...]:
    try:
        vals = tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise ConfigError(f"{flag} {text!r}: expected comma-separated numbers") from None
    if n is not None and len(vals) != n:
        raise ConfigError(f"{flag} {text!r}: expected {n} comma-separated numbers (GeV)")
    return vals


def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    """The command-line interface (defaults shown in ``--help``)."""
    from analysis.presets import PROFILES, WINDOW_PRESETS
    from analysis.sensitivity import SensitivitySettings
    from analysis.sensitivity_chains import PROFILES as CHAIN_PROFILES
    from analysis.sensitivity_methods import SENSITIVITY_METHODS

    d = SensitivitySettings()
    p = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[1].replace("\n", " "),
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--skim", default="output/skim", help="run_skim.py output of a synthetic sample")
    p.add_argument("--dataset", default=None, help="dataset partition of the skim")
    p.add_argument("--output-dir", default="output/sensitivity",
                   help="where sensitivity.json, sensitivity.png/.pdf and cache/ go")
    p.add_argument("--config", metavar="YAML", default=None,
                   help="YAML of the analysis configuration (features, flow, classifier, stats)")
    p.add_argument("--profile", choices=sorted(PROFILES), default="fast",
                   help="analysis profile the configuration starts from")
    p.add_argument("--window", choices=sorted(WINDOW_PRESETS), default=None,
                   help="mass-window preset (default: the config's, else upsilon)")
    p.add_argument("--window-edges", metavar="SBL,SRL,SRR,SBR", default=None,
                   help="a window of your own in GeV, e.g. 5,6.6,7.4,9 for a 7 GeV signal")
    p.add_argument("--signal", default=",".join(d.signal_processes),
                   help="truth processes injected as signal (toymc.truth.Process names)")
    p.add_argument("--background", default=",".join(d.background_processes),
                   help="truth processes that make the background blocks")
    p.add_argument("--strengths", default=",".join(map(str, d.strengths)),
                   help="injected signal events (OS window sample), increasing")
    p.add_argument("--n-pseudo", type=int, default=d.n_pseudo,
                   help="pseudo-datasets per strength = disjoint background blocks")
    p.add_argument("--methods", default=",".join(d.methods),
                   help=f"comma-separated, of: {', '.join(SENSITIVITY_METHODS)}")
    p.add_argument("--fpr", type=float, default=d.fpr,
                   help="sideband false-positive rate of every score cut, fixed in advance")
    p.add_argument("--chain-profile", choices=CHAIN_PROFILES, default=d.chain_profile,
                   help="cheap: flows trained once and shared; full: flows per pseudo-dataset")
    p.add_argument("--flow-seeds", type=int, default=None, help="flows per chain (config's)")
    p.add_argument("--flow-epochs", type=int, default=None, help="flow epochs (config's)")
    p.add_argument("--n-models", type=int, default=None, help="BDTs per fold (config's)")
    p.add_argument("--seed", type=int, default=d.seed, help="master seed")
    p.add_argument("--scheduler", metavar="local|ADDRESS", default=None,
                   help="run the pseudo-experiments on a Dask cluster")
    p.add_argument("--workers", type=int, default=None, help="workers of --scheduler local")
    p.add_argument("--no-cache", action="store_true", help="recompute everything, store nothing")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    verb = p.add_mutually_exclusive_group()
    verb.add_argument("-v", "--verbose", action="store_true", help="debug logging, tracebacks")
    verb.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only")
    return p


def _config(args: argparse.Namespace):
    """Analysis configuration and harness settings from the flags (validated)."""
    from dataclasses import replace

    from analysis._truth import process_codes
    from analysis.config import load_config, validate
    from analysis.presets import MassWindow
    from analysis.sensitivity import SensitivitySettings

    config = load_config(args.config, profile=args.profile, window=args.window)
    if args.window_edges:
        edges = _floats(args.window_edges, "--window-edges", 4)
        config = replace(config, window=MassWindow("custom", *edges))
    flow = config.flow
    if args.flow_seeds is not None:
        flow = replace(flow, n_seeds=args.flow_seeds)
    if args.flow_epochs is not None:
        flow = replace(flow, max_epochs=args.flow_epochs)
    clf = config.classifier
    if args.n_models is not None:
        clf = replace(clf, n_models=args.n_models)
    config = validate(replace(config, flow=flow, classifier=clf, references=False))
    names = {flag: tuple(x.strip() for x in text.split(",") if x.strip())
             for flag, text in (("--signal", args.signal), ("--background", args.background),
                                ("--methods", args.methods))}
    for flag in ("--signal", "--background"):
        process_codes(list(names[flag]))  # unknown names: one line naming the known ones
    strengths = _floats(args.strengths, "--strengths")
    settings = SensitivitySettings(
        strengths=tuple(int(s) for s in strengths), n_pseudo=args.n_pseudo,
        signal_processes=names["--signal"], background_processes=names["--background"],
        methods=names["--methods"], fpr=args.fpr, chain_profile=args.chain_profile,
        seed=args.seed)
    return config, settings


def _num(x, spec: str) -> str:
    return "-" if x is None else format(x, spec)


def _table(result) -> str:
    s = result.summary
    lines = [f"window {list(result.pool['window'])} GeV, {s['b_sr']:.0f} background events in "
             f"the SR per pseudo-dataset, {result.settings.n_pseudo} pseudo-datasets per strength",
             f"{'method':<26} {'S(3σ)':>7} {'ratio':>6} {'S(5σ)':>7} {'KS p':>6} "
             f"{'Z>3 at S=0':>10} {'CPU s':>7}"]
    for name, e in s["methods"].items():
        n3, n5 = e["s_needed"]["3"]["median"], e["s_needed"].get("5", {}).get("median")
        r3 = e["s_needed_ratio"].get("3")
        null = e.get("null", {})
        ks = null.get("ks_p")
        fp = f"{null['n_z_above_3']}/{null['n']}" if null else "-"
        lines.append(
            f"{name:<26} {_num(n3, '.0f'):>7} {_num(r3, '.2f'):>6} {_num(n5, '.0f'):>7} "
            f"{_num(ks, '.2f'):>6} {fp:>10} {e['cpu_seconds']['median']:>7.2f}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None, *, prog: str = PROG) -> int:
    """Run the harness; returns the exit status (0 success, 2 bad input, 130 interrupted)."""
    from dimuon_ad.cli import parse_args
    from dimuon_ad.logs import configure_logging

    args = parse_args(build_parser(prog), argv)
    if isinstance(args, int):
        return args
    collapse = configure_logging(args.verbose, args.quiet)
    if not args.verbose:
        for name, level in (("stats", logging.ERROR), ("pyhf", logging.CRITICAL),
                            ("matplotlib", logging.WARNING),
                            ("matplotlib.font_manager", logging.ERROR),
                            ("matplotlib.mathtext", logging.ERROR)):
            logging.getLogger(name).setLevel(level)
    t0 = time.perf_counter()
    try:
        from analysis.data import find_skim

        config, settings = _config(args)
        find_skim(args.skim, args.dataset)
        from analysis.parallel import TaskRunner
        from analysis.sensitivity import run_sensitivity, write_sensitivity

        out = Path(args.output_dir)
        with TaskRunner(args.scheduler, args.workers, log_file=out / "errors.log") as runner:
            result = run_sensitivity(args.skim, config, settings, out, dataset=args.dataset,
                                     runner=runner, use_cache=not args.no_cache,
                                     progress=not (args.no_progress or args.quiet))
        paths = write_sensitivity(result, out)
    except (DimuonADError, KeyboardInterrupt) as err:
        return command_failed(prog, err, verbose=args.verbose,
                              interrupted="interrupted; finished pseudo-experiments are "
                                          "cached, re-run to resume")
    collapse.flush(log)
    print(_table(result))
    print(f"wrote {', '.join(str(p) for p in paths)}; elapsed {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
