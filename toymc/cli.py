"""Command line: ``python -m toymc --output PATH [options]`` writes a synthetic NanoAOD file."""

from __future__ import annotations

import argparse
import logging
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
from toymc.config import InjectedSignal
from toymc.writer import COMPRESSIONS, write_nanoaod

__all__ = ["main", "build_parser"]

log = logging.getLogger(__name__)

PROG = "python -m toymc"


class _UsageError(ConfigError):
    """A command-line usage error (printed with a pointer to ``--help``)."""


class _Parser(argparse.ArgumentParser):
    """ArgumentParser whose usage errors become :class:`_UsageError` (one line from ``main``)."""

    def error(self, message: str):  # type: ignore[override]
        raise _UsageError(f"{message} (see --help)")


def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    """Argument parser of ``python -m toymc``."""
    parser = _Parser(
        prog=prog,
        description="Write a synthetic DoubleMuon-like NanoAOD file (TTree Events) with truth.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--output", "-o", required=True, help="output .root file")
    parser.add_argument("--n-events", type=int, default=1_000_000, help="number of events")
    parser.add_argument("--seed", type=int, default=1, help="random seed")
    parser.add_argument(
        "--compression", choices=sorted(COMPRESSIONS), default="lz4",
        help="codec (lzma mimics the CMS files)",
    )  # fmt: skip
    parser.add_argument("--compression-level", type=int, default=None, help="codec level 1-9")
    parser.add_argument("--chunk-size", type=int, default=100_000, help="events per write")
    sig = parser.add_argument_group("signal injection (an extra narrow dimuon resonance)")
    sig.add_argument("--inject-mass", type=float, default=None, help="resonance mass in GeV")
    sig.add_argument("--inject-width", type=float, default=0.0, help="natural width in GeV")
    sig.add_argument("--inject-events", type=int, default=None, help="signal events generated")
    sig.add_argument(
        "--inject-fraction", type=float, default=None, help="or: signal fraction of all events"
    )
    sig.add_argument(
        "--inject-isolation", choices=("antiiso", "iso"), default="antiiso",
        help="inside jets (antiiso) or isolated",
    )  # fmt: skip
    sig.add_argument(
        "--inject-displacement", choices=("prompt", "displaced"), default="prompt",
        help="prompt or displaced (B-like lifetime) muons",
    )  # fmt: skip
    sig.add_argument("--inject-pt-scale", type=float, default=1.0, help="dimuon-pT scale factor")
    verbosity = parser.add_mutually_exclusive_group()
    verbosity.add_argument("-v", "--verbose", action="store_true", help="debug logging, tracebacks")
    verbosity.add_argument("-q", "--quiet", action="store_true", help="no progress bar or info")
    return parser


def _signal_from_args(args: argparse.Namespace) -> InjectedSignal | None:
    injection_given = args.inject_events is not None or args.inject_fraction is not None
    if args.inject_mass is None:
        if injection_given:
            raise ConfigError("--inject-events/--inject-fraction need --inject-mass (GeV)")
        return None
    if not injection_given:
        raise ConfigError("--inject-mass needs --inject-events N or --inject-fraction F")
    return InjectedSignal(
        mass=args.inject_mass,
        width=args.inject_width,
        n_events=args.inject_events,
        fraction=args.inject_fraction,
        isolation=args.inject_isolation,
        displacement=args.inject_displacement,
        pt_scale=args.inject_pt_scale,
    )


def main(argv: Sequence[str] | None = None, *, prog: str = PROG) -> int:
    """Run the CLI; returns the exit status (0 success, 2 bad arguments or output path, 130
    interrupted). Any other exception is a bug and propagates with its traceback."""
    parser = build_parser(prog)
    try:
        args = parser.parse_args(argv)
    except _UsageError as exc:
        print(error_line(prog, exc), file=sys.stderr)
        return EXIT_BAD_INPUT
    except SystemExit as exc:  # --help
        return exc.code if isinstance(exc.code, int) else EXIT_BAD_INPUT
    from dimuon_ad.logs import configure_logging

    configure_logging(args.verbose, args.quiet)
    start = time.perf_counter()
    try:
        signal = _signal_from_args(args)
        if not str(args.output).endswith(".root"):
            raise ConfigError(f"--output {args.output!r} should end in .root")
        try:
            path = write_nanoaod(
                args.output,
                args.n_events,
                seed=args.seed,
                compression=args.compression,
                compression_level=args.compression_level,
                chunk_size=args.chunk_size,
                signal=signal,
                progress=not args.quiet,
            )
        except OSError as exc:  # a folder that is a file, not writable, a full disk
            if isinstance(exc, DimuonADError):
                raise
            raise InputOSError(f"cannot write --output {args.output} ({exc})") from exc
    except (DimuonADError, KeyboardInterrupt) as err:
        return command_failed(prog, err, verbose=args.verbose,
                              interrupted="interrupted; nothing was written, re-run the command")
    if not args.quiet:
        size = path.stat().st_size
        print(
            f"wrote {args.n_events} events to {path} ({size / 1e6:.1f} MB, "
            f"{size / args.n_events:.0f} B/event, {args.compression}) in "
            f"{time.perf_counter() - start:.1f} s",
            file=sys.stderr,
        )
    return 0
