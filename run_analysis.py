"""run_analysis.py — from a parquet skim to a significance report (CATHODE, arXiv:2502.14036).

Reads the skim of ``run_skim.py``, trains the sideband flows and the out-of-fold classifier,
computes the discovery significance without cut, with each baseline cut, with CATHODE cuts at
the sideband FPR grid and with likelihood reweighting, for the opposite-sign sample and the
same-sign control, and writes ``report.html``, ``report.md``, ``results.json`` and ``plots/``.
Stages are cached in ``<output-dir>/cache``: a re-run with a new FPR grid or binning does not
retrain, an interrupted run resumes.

Examples::

    python run_analysis.py --fast                       # the demo (Υ window, synthetic skim)
    python run_analysis.py --published --window upsilon # 5 seeds x 400 epochs, 100 BDTs/fold
    python run_analysis.py --config my.yaml --scheduler tcp://127.0.0.1:8786
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from dimuon_ad.errors import (
    EXIT_BAD_INPUT,
    ConfigError,
    DimuonADError,
    command_failed,
    error_line,
)

__all__ = ["main", "build_parser"]

log = logging.getLogger("run_analysis")

PROG = "run_analysis.py"


class _Formatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows defaults, except None/False ones."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default in (None, False):
            return action.help
        return super()._get_help_string(action)


def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    """The command-line interface (defaults shown in ``--help``)."""
    from analysis.presets import PROFILES, WINDOW_PRESETS

    p = argparse.ArgumentParser(
        prog=prog,
        description=__doc__.split("\n\n")[1].replace("\n", " "),
        formatter_class=_Formatter,
    )
    p.add_argument("--analysis", choices=("dimuon", "diphoton"), default="dimuon",
                   help="dimuon: the resonant anomaly detection chain; diphoton: the H→γγ peak, "
                        "production-mode classifier and per-mode signal strengths on a diphoton "
                        "skim (uses --skim, --output-dir, --seed, --allow-incomplete, -v/-q)")
    p.add_argument("--skim", default="output/skim",
                   help="run_skim.py output directory, hive dataset directory or parquet file")
    p.add_argument("--dataset", default=None,
                   help="dataset partition of the skim (needed when it holds several)")
    p.add_argument("--output-dir", default="output/analysis",
                   help="where report.html, report.md, results.json, plots/ and cache/ go")
    p.add_argument("--config", metavar="YAML", default=None,
                   help="YAML overrides of the analysis configuration")
    p.add_argument("--window", choices=sorted(WINDOW_PRESETS), default=None,
                   help="mass-window preset (default: the config's, else upsilon)")
    prof = p.add_mutually_exclusive_group()
    prof.add_argument("--profile", choices=sorted(PROFILES), default=None,
                      help="method-size profile (default: the config's, else 'default')")
    prof.add_argument("--fast", dest="profile", action="store_const", const="fast",
                      help=PROFILES["fast"].notes)
    prof.add_argument("--published", dest="profile", action="store_const", const="published",
                      help=PROFILES["published"].notes)
    p.add_argument("--remove-signal", action="store_true",
                   help="drop the window's truth signal processes (synthetic samples): a check "
                        "that no method finds an excess without signal")
    p.add_argument("--seed", type=int, default=None,
                   help="master random seed, an integer in 0..2^31-1 (config default 0)")
    p.add_argument("--allow-incomplete", action="store_true",
                   help="analyse a skim that did not finish (its summary.json says incomplete); "
                        "the report says so")
    p.add_argument("--scheduler", metavar="local|ADDRESS", default=None,
                   help="run flow seeds, folds and toys on a Dask cluster: 'local' starts one, "
                        "tcp://host:8786 attaches to a running scheduler (the toolkit's code is "
                        "sent to its workers)")
    p.add_argument("--workers", type=int, default=None,
                   help="workers of a --scheduler local cluster (default: cores), or workers to "
                        "wait for at an ADDRESS (default 1)")
    p.add_argument("--no-cache", action="store_true", help="recompute every stage, store nothing")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    verb = p.add_mutually_exclusive_group()
    verb.add_argument("-v", "--verbose", action="store_true", help="debug logging, tracebacks")
    verb.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only")
    return p


def _configure_logging(verbose: bool, quiet: bool):
    """The toolkit's one log format (dimuon_ad.logs), repeated warnings collapsed; returns the
    collapsing filter (flushed at the end: one line per repeated warning with its count)."""
    from dimuon_ad.logs import configure_logging

    collapse = configure_logging(verbose, quiet)
    if not verbose:
        # (the Dask cluster's start/stop chatter is silenced where it starts: dimuon_ad.dask)
        for noisy in ("matplotlib", "ml.diagnostics"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
        # font substitution notes (no cursive font / no glyph for a big radical on a bare
        # machine): the figures render with DejaVu, nothing for the user to act on
        for fonts in ("matplotlib.font_manager", "matplotlib.mathtext"):
            logging.getLogger(fonts).setLevel(logging.ERROR)
        # fits that cannot be done (e.g. too few events after a tight cut) are expected at the
        # low end of the FPR grid; they are listed in results.json with their reason
        logging.getLogger("stats").setLevel(logging.ERROR)
        # pyhf logs every failed minimization with a traceback; stats retries and reports them
        logging.getLogger("pyhf").setLevel(logging.CRITICAL)
    return collapse


def _headline(result, paths, elapsed: float) -> str:
    from analysis.fmt import fmt_fpr, fmt_num, fmt_z
    from analysis.summary import conclusion, headline, headline_rows, report_notes

    rows = headline_rows(result)
    widths = [max(len(str(r[i])) for r in [("method", "OS Z", "FPR", "SS Z"), *rows])
              for i in range(4)]
    fmt = "  ".join(f"{{:{'<' if i == 0 else '>'}{w}}}" for i, w in enumerate(widths))
    d = result.data
    os_c, ss_c = d.os.counts(), d.ss.counts()
    lines = [
        "",
        f"window {result.config.window.name} {result.config.window.edges} GeV, profile "
        f"{result.config.profile}; OS {os_c['total']} events (SR {os_c['SR']}), "
        f"SS {ss_c['total']} (SR {ss_c['SR']})",
        f"sideband closure AUC {fmt_num(result.closure['auc_mean'])}",
        f"conclusion: {conclusion(result).replace('**', '')}",
        fmt.format("method", "OS Z", "FPR", "SS Z"),
        fmt.format(*("-" * w for w in widths)),
        *[fmt.format(*r) for r in rows],
    ]
    if ss_c.get("total") is not None and result.data.ss.skipped:
        lines.append(f"SS: {result.data.ss.skipped}")
    h = headline(result.significance["os"])
    if "look_elsewhere" in h:
        lines.append(f"best cut: local Z over {h['look_elsewhere']['n_tests']} FPR points "
                     f"(global Z from {h['look_elsewhere']['n_toys']} background-only toys)")
    cat = ", ".join(f"{fmt_fpr(float(k))}: {fmt_z(v, missing='failed')}"
                    for k, v in h["CATHODE_at_fpr"].items())
    lines += [f"CATHODE Z at FPR {cat}",
              *[n if n.startswith("!") else f"NOTE: {n}" for n in report_notes(result)
                if n != result.data.ss.skipped],
              f"report: {paths['html']}  (also {paths['md'].name}, {paths['json'].name})",
              f"elapsed {elapsed:.0f} s"]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None, *, prog: str = PROG) -> int:
    """Run the analysis; returns the exit status (0 success, 2 bad input, configuration or
    usage, 130 interrupted). Any other exception is a bug and propagates with its traceback."""
    from dimuon_ad.cli import parse_args

    args = parse_args(build_parser(prog), argv)
    if isinstance(args, int):  # --help (0) or a usage error (2), already written to stderr
        return args
    collapse = _configure_logging(args.verbose, args.quiet)
    if args.analysis == "diphoton":
        return _diphoton_main(args, argv, prog, collapse)
    t0 = time.perf_counter()
    try:
        from dataclasses import replace

        if args.seed is not None and not 0 <= args.seed < 2**31:
            raise ConfigError(f"--seed {args.seed}: expected an integer in 0..{2**31 - 1}")
        if args.workers is not None and args.workers < 1:
            raise ConfigError(f"--workers {args.workers}: expected an integer >= 1")
        if args.workers is not None and args.scheduler is None:
            raise ConfigError("--workers sets the Dask workers of --scheduler local|ADDRESS; add "
                             "--scheduler local or drop --workers")

        from analysis.config import load_config, validate
        from analysis.data import find_skim

        config = load_config(args.config, profile=args.profile, window=args.window)
        if args.seed is not None:
            config = replace(config, random_state=args.seed)
        if args.remove_signal:
            config = validate(replace(config, exclude_processes=tuple(
                dict.fromkeys(config.exclude_processes + config.window.signal_processes))))
        find_skim(args.skim, args.dataset)  # fail fast, before any slow import
    except DimuonADError as err:  # bad input or configuration: one line, traceback with -v
        if args.verbose:
            raise
        print(error_line(prog, err), file=sys.stderr)
        return EXIT_BAD_INPUT

    from analysis.parallel import TaskRunner
    from analysis.pipeline import run_pipeline
    from analysis.report import write_report

    try:
        log_file = Path(args.output_dir) / "errors.log"
        with TaskRunner(args.scheduler, args.workers, log_file=log_file) as runner:
            result = run_pipeline(
                args.skim, config, args.output_dir, dataset=args.dataset, runner=runner,
                use_cache=not args.no_cache, progress=not (args.no_progress or args.quiet),
                allow_incomplete=args.allow_incomplete,
            )
        paths = write_report(result, Path(args.output_dir), command=shlex.join(
            [prog, *(sys.argv[1:] if argv is None else argv)]))
    except (DimuonADError, KeyboardInterrupt) as err:
        return command_failed(prog, err, verbose=args.verbose,
                              interrupted="interrupted; finished stages are cached, re-run "
                                          "to resume")
    collapse.flush(log)
    print(_headline(result, paths, time.perf_counter() - t0))
    return 0


#: options of the dimuon chain that the diphoton analysis does not take
_DIMUON_ONLY = ("dataset", "config", "window", "profile", "remove_signal", "scheduler", "workers",
                "no_cache")


def _diphoton_main(args: argparse.Namespace, argv: Sequence[str] | None, prog: str,
                   collapse) -> int:
    """``--analysis diphoton``: :func:`analysis.diphoton_run.run_diphoton` and its report."""
    t0 = time.perf_counter()
    try:
        given = [f"--{k.replace('_', '-')}" for k in _DIMUON_ONLY if getattr(args, k)]
        if given:
            raise ConfigError(f"--analysis diphoton does not take {', '.join(given)}; it uses "
                              "--skim, --output-dir, --seed and --allow-incomplete")
        seed = 0 if args.seed is None else args.seed
        if not 0 <= seed < 2**31:
            raise ConfigError(f"--seed {seed}: expected an integer in 0..{2**31 - 1}")
        from analysis.diphoton_report import write_diphoton_report
        from analysis.diphoton_run import run_diphoton

        result = run_diphoton(args.skim, random_state=seed,
                              allow_incomplete=args.allow_incomplete)
        paths = write_diphoton_report(result, Path(args.output_dir), command=shlex.join(
            [prog, *(sys.argv[1:] if argv is None else argv)]))
    except (DimuonADError, KeyboardInterrupt) as err:
        return command_failed(prog, err, verbose=args.verbose,
                              interrupted="interrupted")
    collapse.flush(log)
    p, c = result.peak, result.classifier
    truth = f" (injected {p.truth['mu_true']:.3f})" if p.truth else ""
    lines = [
        "",
        f"diphoton: {p.data_counts.sum():.0f} data events in {p.binning.low:g}-"
        f"{p.binning.high:g} GeV; background degree {p.fit.info['degree']}",
        f"Higgs mu = {p.mu:.3f} -{p.mu_err_low:.3f} +{p.mu_err_high:.3f}{truth}, "
        f"Z = {p.z:.2f}",
        f"balanced accuracy {c['model']['weighted']['balanced_accuracy']:.3f} "
        f"(seed-style baseline {c['baseline']['weighted']['balanced_accuracy']:.3f})",
        "expected per-mode mu 68% intervals: " + ", ".join(
            f"{m} -{v['err_low']:.2f}/+{v['err_high']:.2f}"
            for m, v in result.categories["expected_precision"].items()),
        f"report: {paths['html']}  (also {paths['md'].name}, {paths['json'].name})",
        f"elapsed {time.perf_counter() - t0:.0f} s",
    ]
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
