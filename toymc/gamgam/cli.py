"""Command line: ``python -m toymc.gamgam --output-dir DIR`` writes the synthetic GamGam samples."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

from dimuon_ad.errors import (
    EXIT_BAD_INPUT,
    ConfigError,
    DimuonADError,
    InputOSError,
    command_failed,
    error_line,
)

__all__ = ["build_parser", "main"]

PROG = "python -m toymc.gamgam"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # type: ignore[override]
        raise ConfigError(f"{message} (see --help)")


def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    """Argument parser of ``python -m toymc.gamgam``."""
    from toymc.gamgam.production import DEFAULT_MC_EVENTS, SAMPLES

    parser = _Parser(prog=prog, formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                     description="Write synthetic ATLAS Open Data GamGam ntuples (TTree mini, "
                     "MeV): Higgs MC samples and data-like periods A-D, plus truth.json.")
    parser.add_argument("--output-dir", "-o", default="output/gamgam_synth", help="folder")
    parser.add_argument("--samples", default=",".join(SAMPLES),
                        help=f"comma-separated subset of {', '.join(SAMPLES)}")
    parser.add_argument("--n-events", type=int, default=None,
                        help="generated events per MC sample (default: "
                        + ", ".join(f"{k} {v:,}" for k, v in DEFAULT_MC_EVENTS.items()) + ")")
    parser.add_argument("--signal-strength", type=float, default=1.0,
                        help="mu of the Higgs signal in the data-like sample")
    parser.add_argument("--seed-selection", choices=("hgg", "seed_raw_mev"),
                        default="seed_raw_mev",
                        help="selection after which the data-like continuum has the seed's "
                        "spectrum (default seed_raw_mev: the seed's own raw-MeV isolation cut, "
                        "so the ATLAS selection keeps the real data's size; hgg: the ATLAS cut)")
    parser.add_argument("--seed", type=int, default=1, help="random seed")
    verbosity = parser.add_mutually_exclusive_group()
    verbosity.add_argument("-v", "--verbose", action="store_true", help="debug logging, tracebacks")
    verbosity.add_argument("-q", "--quiet", action="store_true", help="no progress bar or info")
    return parser


def main(argv: Sequence[str] | None = None, *, prog: str = PROG) -> int:
    """Run the CLI; returns the exit status (0 success, 2 bad arguments, 130 interrupted)."""
    from toymc.gamgam.production import SAMPLES, generate_samples

    try:
        args = build_parser(prog).parse_args(argv)
    except ConfigError as exc:
        print(error_line(prog, exc), file=sys.stderr)
        return EXIT_BAD_INPUT
    except SystemExit as exc:  # --help
        return exc.code if isinstance(exc.code, int) else EXIT_BAD_INPUT
    from dimuon_ad.logs import configure_logging

    configure_logging(args.verbose, args.quiet)
    start = time.perf_counter()
    try:
        samples = [s.strip() for s in args.samples.split(",") if s.strip()]
        unknown = [s for s in samples if s not in SAMPLES]
        if unknown or not samples:
            raise ConfigError(f"--samples: unknown sample(s) {', '.join(unknown) or '(none)'}; "
                              f"expected a comma-separated subset of {', '.join(SAMPLES)}")
        if args.n_events is not None and args.n_events < 1:
            raise ConfigError(f"--n-events must be >= 1, got {args.n_events}")
        if not 0 <= args.signal_strength < float("inf"):
            raise ConfigError(f"--signal-strength must be >= 0, got {args.signal_strength}")
        n_events = ({s: args.n_events for s in samples if s != "data"}
                    if args.n_events is not None else None)
        try:
            truth = generate_samples(args.output_dir, samples=samples, n_events=n_events,
                                     seed=args.seed, signal_strength=args.signal_strength,
                                     seed_selection=args.seed_selection,
                                     progress=not args.quiet)
        except OSError as exc:
            if isinstance(exc, DimuonADError):
                raise
            raise InputOSError(f"cannot write --output-dir {args.output_dir} ({exc})") from exc
    except (DimuonADError, KeyboardInterrupt) as err:
        return command_failed(prog, err, verbose=args.verbose,
                              interrupted="interrupted; re-run the command")
    if not args.quiet:
        elapsed = time.perf_counter() - start
        lines = [f"wrote GamGam samples to {args.output_dir} in {elapsed:.1f} s"]
        for label, r in truth["mc"].items():
            lines.append(f"  {label}: {r['n_written']:,} of {r['n_generated']:,} events written, "
                         f"expected selected yield {r['expected_yield']:.2f}")
        for period, r in truth["data"].items():
            lines.append(f"  data_{period}: {r['n_written']:,} events, {r['n_pass']:,} selected")
        print("\n".join(lines), file=sys.stderr)
    return 0
