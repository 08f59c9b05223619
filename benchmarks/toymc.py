"""Benchmark of the synthetic NanoAOD generator: events/minute and bytes/event per codec.

``python -m benchmarks.toymc [--n-events N] [--n-lzma N]`` measures, in one run and one process:
generation alone (arrays in memory), generation + write with the default codec (lz4), with
zstd, LZMA level 1 (the ``--compression lzma`` default) and LZMA level 9 (CMS's setting), and
prints rates per CPU second and per wall second (the machine may be shared) with ratios.
Target (issue 2 §2): ≥ 1 M events/minute on one core with the default codec.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from toymc.generator import iter_event_chunks
from toymc.writer import write_nanoaod


def _timed(fn) -> tuple[float, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    fn()
    return time.process_time() - cpu, time.perf_counter() - wall


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print one line per configuration; returns 0."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.toymc", description=__doc__)
    parser.add_argument("--n-events", type=int, default=1_000_000, help="events for fast codecs")
    parser.add_argument("--n-lzma", type=int, default=200_000, help="events for LZMA level 1")
    parser.add_argument("--n-lzma9", type=int, default=50_000, help="events for LZMA level 9")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)

    rows: list[tuple[str, int, float, float, float]] = []
    with tempfile.TemporaryDirectory(prefix="bench_toymc_") as tmp:

        def generate() -> None:
            for _ in iter_event_chunks(args.n_events, 200_000, seed=args.seed):
                pass

        cpu, wall = _timed(generate)
        rows.append(("generate only (no file)", args.n_events, cpu, wall, float("nan")))
        configs = [
            ("write lz4 (default)", "lz4", None, args.n_events),
            ("write zstd", "zstd", None, args.n_events),
            ("write lzma level 1", "lzma", None, args.n_lzma),
            ("write lzma level 9 (CMS)", "lzma", 9, args.n_lzma9),
        ]
        for label, codec, level, n in configs:
            path = Path(tmp) / f"{codec}{level or ''}.root"
            cpu, wall = _timed(
                lambda p=path, c=codec, lv=level, n=n: write_nanoaod(
                    p, n, seed=args.seed, compression=c, compression_level=lv, progress=False
                )
            )
            rows.append((label, n, cpu, wall, os.path.getsize(path) / n))
            path.unlink()

    base_rate = rows[1][1] / rows[1][2]
    print(f"{'configuration':28s} {'events':>9s} {'cpu s':>7s} {'wall s':>7s} "
          f"{'Mev/min cpu':>11s} {'Mev/min wall':>12s} {'B/event':>8s} {'rate/lz4':>8s}")  # fmt: skip
    for label, n, cpu, wall, size in rows:
        rate = n / cpu
        print(
            f"{label:28s} {n:9d} {cpu:7.1f} {wall:7.1f} {rate * 60 / 1e6:11.2f} "
            f"{n / wall * 60 / 1e6:12.2f} {size:8.0f} {rate / base_rate:8.2f}"
        )
    lz4_rate = rows[1][1] / rows[1][2] * 60 / 1e6
    print(f"target >= 1 M events/min/core with the default codec: {lz4_rate:.2f} M/min "
          f"({'met' if lz4_rate >= 1.0 else 'NOT met'})")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
