"""Skim DoubleMuon NanoAOD into histograms, a cutflow and a parquet skim (thin CLI).

Examples
--------
Synthetic sample (generate it first with
``python -m toymc --output output/synthetic/DoubleMuon_synthetic.root``)::

    python run_skim.py --output-dir output/skim

The 28 Run2016H files over XRootD on a local Dask cluster (needs fsspec-xrootd)::

    python run_skim.py --dataset DoubleMuon_Run2016H --executor dask --workers 8

The ATLAS Open Data H → γγ skim (synthetic samples of ``fileset_gamgam.json``; generate them
first with ``python -m toymc.gamgam --output-dir output/gamgam_synth``)::

    python run_skim.py --analysis diphoton --output-dir output/gamgam_skim

Re-running into the same ``--output-dir`` resumes: finished chunks are reused.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from dimuon_ad.errors import (
    EXIT_BAD_INPUT,
    ConfigError,
    DimuonADError,
    InputNotFoundError,
    command_failed,
)

log = logging.getLogger("run_skim")

PROG = "run_skim.py"
DEFAULT_DATASET = "DoubleMuon_synthetic"
#: per analysis: default fileset and default datasets
ANALYSES = {
    "dimuon": ("fileset.json", (DEFAULT_DATASET,)),
    "diphoton": ("fileset_gamgam.json", tuple(
        [f"data_{p}_synthetic" for p in "ABCD"]
        + [f"{m}_synthetic" for m in ("ggH", "VBF", "WH", "ZH", "ttH")])),
}


class _Formatter(argparse.ArgumentDefaultsHelpFormatter):
    """Show defaults, except empty ones (None, False, [])."""

    def _get_help_string(self, action):
        if action.default in (None, False, []) or action.default is argparse.SUPPRESS:
            return action.help
        return super()._get_help_string(action)


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (``run_skim.py: error: argument --workers: ...``)."""

    def error(self, message: str):
        sys.stderr.write(f"{self.prog}: error: {message} (see --help)\n")
        sys.exit(EXIT_BAD_INPUT)


def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    """Command-line interface of the skim."""
    from processors.config import PRESETS
    from processors.diphoton_config import PRESETS as DIPHOTON_PRESETS
    from processors.executors import EXECUTORS

    parser = _Parser(
        prog=prog,
        description="Skim NanoAOD dimuon events into hist histograms (coffea + ROOT), a cutflow, "
        "a parquet skim partitioned by dataset, and summary.json. Momenta in GeV, lengths in cm.",
        formatter_class=_Formatter,
    )
    parser.add_argument(
        "--analysis", choices=tuple(ANALYSES), default="dimuon",
        help="dimuon: CMS NanoAOD dimuon skim; diphoton: ATLAS Open Data GamGam (mini ntuples, "
        "MeV in, GeV out) H->gamgam skim with MC weights",
    )
    parser.add_argument(
        "--fileset", default=None,
        help="coffea-style fileset JSON (default: fileset.json; fileset_gamgam.json for "
        "--analysis diphoton)",
    )
    parser.add_argument(
        "--dataset",
        action="append",
        metavar="NAME",
        help=f"dataset of the fileset to skim (repeatable; default: {DEFAULT_DATASET}; the "
        "nine synthetic GamGam datasets for --analysis diphoton)",
    )
    parser.add_argument(
        "--preset",
        choices=None,
        default=None,
        help=f"physics preset: {', '.join(PRESETS)}; diphoton: {', '.join(DIPHOTON_PRESETS)} "
        "(default: the YAML file's preset, else upsilon_antiiso / hgg)",
    )
    parser.add_argument(
        "--config", metavar="YAML", help="YAML file of settings overriding the preset"
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one setting, e.g. --set mu0_pt_min=20 --set triggers=HLT_A,HLT_B "
        "(repeatable)",
    )
    parser.add_argument(
        "--objects",
        action="store_true",
        help="also write every muon and jet of each selected event as list columns (muon_pt, "
        "..., jet_btagDeepFlavB) for per-object classifiers; same as --set objects=true",
    )
    parser.add_argument("--output-dir", default="output/skim", help="output directory (resumable)")
    parser.add_argument(
        "--executor", choices=EXECUTORS, default="iterative", help="how to run chunks"
    )
    parser.add_argument(
        "--scheduler",
        metavar="local|ADDRESS",
        help="run on Dask (implies --executor dask): 'local' starts a LocalCluster, "
        "tcp://host:8786 attaches to a running scheduler (the toolkit's code is sent to its "
        "workers)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="processes of the futures executor or of a local Dask cluster (default 2), or "
        "workers to wait for at a scheduler ADDRESS (default 1)",
    )
    parser.add_argument("--chunk-size", type=int, default=250_000, help="target events per chunk")
    parser.add_argument(
        "--max-files", type=int, default=None, help="at most this many files per dataset"
    )
    parser.add_argument(
        "--max-chunks", type=int, default=None, help="at most this many chunks per dataset"
    )
    parser.add_argument(
        "--skip-bad-files",
        action="store_true",
        help="go on past unreadable files and list them in summary.json",
    )
    parser.add_argument(
        "--lumi-mask",
        metavar="PATH|URL",
        help="golden JSON for data (overrides the fileset's golden_json)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="seconds a remote server (root://, http(s)://) has to answer before the run stops "
        "with one line (default: $DIMUON_AD_REMOTE_TIMEOUT, else 60)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    verbosity = parser.add_mutually_exclusive_group()
    verbosity.add_argument(
        "-v", "--verbose", action="store_true", help="debug logging and tracebacks"
    )
    verbosity.add_argument(
        "-q", "--quiet", action="store_true", help="warnings and errors only, no progress bar"
    )
    return parser


def _positive(name: str, value: int | None) -> None:
    if value is not None and value < 1:
        raise ConfigError(f"{name} must be >= 1, got {value}")


def _check_lumi_mask(source: str | None) -> None:
    if source and "://" not in source and not Path(source).is_file():
        raise InputNotFoundError(
            f"--lumi-mask {source} not found; expected a golden JSON file or an http(s) URL"
        )


def _terminate(signum, frame):  # noqa: ARG001 - signal handler signature
    """SIGTERM unwinds like Ctrl-C, so the output lock is released and the summary says why."""
    raise KeyboardInterrupt(f"terminated by signal {signum}")


def _print_summary(summary: dict) -> None:
    lines = [f"skim finished in {summary['elapsed_s']:.1f} s (preset {summary['preset']}):"]
    if summary.get("skipped_files"):
        totals = summary["inputs"]
        lines.append(
            f"  left out {totals['files_skipped']} bad file(s) "
            f"({totals['events_skipped']:,} events known); see skipped_files in summary.json"
        )
    for name, ds in summary["datasets"].items():
        bad = f", {len(ds['bad_files'])} bad file(s)" if ds["bad_files"] else ""
        lines.append(
            f"  {name}: {ds['events_in']:,} events in, {ds['events_out']:,} selected "
            f"({ds['chunks']['reused']} of {ds['chunks']['total']} chunks reused{bad})"
        )
    for key, path in summary["outputs"].items():
        lines.append(f"  {key}: {path}")
    sys.stderr.write("\n".join(lines) + "\n")


def main(argv: Sequence[str] | None = None, *, prog: str = PROG) -> int:
    """Run the skim CLI; returns the exit status (0 success, 2 bad input, configuration or
    usage, 130 interrupted). Any other exception is a bug and propagates with its traceback."""
    from dimuon_ad.cli import parse_args

    args = parse_args(build_parser(prog), argv)
    if isinstance(args, int):  # --help (0) or a usage error (2), already written to stderr
        return args
    from dimuon_ad.logs import configure_logging

    # the toolkit's one log format; the level holds also when logging was configured before
    configure_logging(args.verbose, args.quiet)
    command = ["python", "run_skim.py", *(sys.argv[1:] if argv is None else argv)]
    from processors.remote import TIMEOUT_ENV

    timeout_before = os.environ.get(TIMEOUT_ENV)
    try:
        previous = signal.signal(signal.SIGTERM, _terminate)
    except ValueError:  # not the main thread: leave signals alone
        previous = None
    try:
        from processors.config import load_config, parse_assignments
        from processors.fileset import load_fileset, select_datasets
        from processors.outputs import check_output_dir
        from processors.skim import run_skim

        for name in ("workers", "chunk_size", "max_files", "max_chunks"):
            _positive("--" + name.replace("_", "-"), getattr(args, name))
        if args.timeout is not None:
            if not 0 < args.timeout < float("inf"):
                raise ConfigError(
                    f"--timeout must be a positive number of seconds, got {args.timeout}"
                )
            # an environment variable: the futures executor's worker processes inherit it
            os.environ[TIMEOUT_ENV] = str(args.timeout)
        check_output_dir(args.output_dir)
        _check_lumi_mask(args.lumi_mask)
        default_fileset, default_datasets = ANALYSES[args.analysis]
        fileset_path = args.fileset or default_fileset
        overrides = parse_assignments(args.overrides)
        if args.analysis == "diphoton":
            from processors.diphoton_config import check_diphoton_datasets, load_diphoton_config

            config = load_diphoton_config(args.preset, args.config, overrides)
        else:
            if args.objects:
                overrides["objects"] = True
            config = load_config(args.preset, args.config, overrides)
        fileset = load_fileset(fileset_path)
        datasets = select_datasets(
            fileset, args.dataset or list(default_datasets), source=fileset_path
        )
        if args.analysis == "diphoton":
            check_diphoton_datasets(datasets)
        executor = "dask" if args.scheduler else args.executor
        remote = args.scheduler not in (None, "local")
        summary = run_skim(
            datasets,
            config,
            Path(args.output_dir),
            executor=executor,
            workers=args.workers or (1 if remote else 2),
            scheduler=args.scheduler,
            chunk_size=args.chunk_size,
            max_files=args.max_files,
            max_chunks=args.max_chunks,
            skip_bad_files=args.skip_bad_files,
            lumi_mask=args.lumi_mask,
            progress=not (args.no_progress or args.quiet),
            command=command,
        )
    except (DimuonADError, KeyboardInterrupt) as err:  # one line, a traceback with -v
        return command_failed(prog, err, verbose=args.verbose,
                              interrupted="interrupted; re-run the same command to resume")
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        if timeout_before is None:
            os.environ.pop(TIMEOUT_ENV, None)
        else:
            os.environ[TIMEOUT_ENV] = timeout_before
    if not args.quiet:
        _print_summary(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
