"""Run every benchmark (``make bench``) or a chosen subset.

Each benchmark module ``benchmarks/<name>.py`` exposes ``main(argv) -> int`` and prints the numbers
it measured side by side in one run, with their ratios. Usage::

    python -m benchmarks                 # all of them
    python -m benchmarks skim stats      # a subset
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import time
from collections.abc import Sequence

#: Benchmarks in the order they run (cheapest first).
BENCHMARKS = ("stats", "toymc", "flows", "bdt", "pfn", "skim", "diphoton", "cathode",
              "analysis")

log = logging.getLogger("benchmarks")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the named benchmarks (default: all) and return a non-zero code if any failed."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("names", nargs="*", default=list(BENCHMARKS), help="benchmarks to run")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    unknown = [n for n in args.names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; expected some of {list(BENCHMARKS)}")
    failed = []
    for name in args.names:
        try:
            module = importlib.import_module(f"benchmarks.{name}")
        except ModuleNotFoundError as err:
            log.warning("benchmark %r not available (%s); skipped", name, err)
            continue
        sys.stdout.write(f"\n===== benchmark: {name} =====\n")
        sys.stdout.flush()
        start = time.perf_counter()
        code = module.main([])
        sys.stdout.write(f"===== {name}: exit {code}, {time.perf_counter() - start:.1f} s =====\n")
        if code:
            failed.append(name)
    if failed:
        log.error("benchmarks failed: %s", ", ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
