"""``dimuon-ad``: one command for the whole chain.

    dimuon-ad generate --output output/synthetic/DoubleMuon_synthetic.root   # python -m toymc
    dimuon-ad skim --output-dir output/skim                                  # run_skim.py
    dimuon-ad generate-gamgam --output-dir output/gamgam_synth               # toymc.gamgam
    dimuon-ad skim --analysis diphoton --output-dir output/gamgam_skim       # H -> gamgam
    dimuon-ad analyse --fast                                                 # run_analysis.py
    dimuon-ad sensitivity --strengths 0,25,50,100                            # run_sensitivity.py
    dimuon-ad --version

Each subcommand runs the same ``main(argv)`` as the older entry points, which stay as aliases,
and takes the same options (``dimuon-ad skim --help``). Exit status: 0 success, 2 bad input,
configuration or usage (one line on stderr), 130 interrupted; a bug keeps its traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

from dimuon_ad.errors import EXIT_BAD_INPUT

__all__ = ["COMMANDS", "main", "parse_args"]

PROG = "dimuon-ad"


def parse_args(parser, argv: Sequence[str] | None):
    """``parser.parse_args(argv)``, or the exit status of ``--help`` (0) or of a usage error
    (2, the message already on stderr) — every command returns it instead of exiting."""
    try:
        return parser.parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT_BAD_INPUT


def _generate(argv: Sequence[str], prog: str) -> int:
    from toymc.cli import main as run

    return run(argv, prog=prog)


def _generate_gamgam(argv: Sequence[str], prog: str) -> int:
    from toymc.gamgam.cli import main as run

    return run(argv, prog=prog)


def _skim(argv: Sequence[str], prog: str) -> int:
    from run_skim import main as run

    return run(argv, prog=prog)


def _analyse(argv: Sequence[str], prog: str) -> int:
    from run_analysis import main as run

    return run(argv, prog=prog)


def _sensitivity(argv: Sequence[str], prog: str) -> int:
    from run_sensitivity import main as run

    return run(argv, prog=prog)


#: subcommand -> (runner, one-line description); ``analyze`` is an alias of ``analyse``
COMMANDS: dict[str, tuple[Callable[[Sequence[str], str], int], str]] = {
    "generate": (_generate, "write a synthetic DoubleMuon-like NanoAOD file (python -m toymc)"),
    "generate-gamgam": (
        _generate_gamgam,
        "write synthetic ATLAS Open Data GamGam ntuples (python -m toymc.gamgam)",
    ),
    "skim": (_skim, "skim NanoAOD into parquet, histograms and a cutflow (run_skim.py)"),
    "analyse": (_analyse, "flows, CATHODE and significances from a skim (run_analysis.py)"),
    "sensitivity": (_sensitivity, "signal events each method needs for 3σ/5σ, from pseudo-data "
                                  "of a synthetic skim (run_sensitivity.py)"),
}
ALIASES = {"analyze": "analyse"}


def _usage() -> str:
    width = max(map(len, COMMANDS))
    lines = [
        f"usage: {PROG} [--version] [--help] <command> [options]",
        "",
        "Resonant anomaly detection in CMS Open Data dimuons.",
        "",
        "commands:",
        *(f"  {name:<{width}}  {text}" for name, (_, text) in COMMANDS.items()),
        "",
        f"'{PROG} <command> --help' lists a command's options; 'analyze' = 'analyse'.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``dimuon-ad``; returns the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        sys.stderr.write(_usage())
        sys.stderr.write(f"{PROG}: error: a command is required ({', '.join(COMMANDS)})\n")
        return EXIT_BAD_INPUT
    first, rest = args[0], args[1:]
    if first in ("-h", "--help"):
        sys.stdout.write(_usage())
        return 0
    if first in ("-V", "--version"):
        from dimuon_ad._version import version_string

        print(version_string())
        return 0
    name = ALIASES.get(first, first)
    if name not in COMMANDS:
        sys.stderr.write(
            f"{PROG}: error: unknown command {first!r}; expected one of "
            f"{', '.join(COMMANDS)} (see {PROG} --help)\n"
        )
        return EXIT_BAD_INPUT
    run, _ = COMMANDS[name]
    return run(rest, f"{PROG} {name}")


if __name__ == "__main__":
    sys.exit(main())
