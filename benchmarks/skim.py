"""Skim throughput and memory against the uproot read floor on LZMA synthetic NanoAOD.

For each sample size (default 1 M and 4 M events, generated once into ``--cache-dir`` with
``toymc.write_nanoaod(..., compression="lzma")``, as CMS writes its files), each in a fresh
subprocess so peak RSS is per measurement:

(a) floor: uproot reads and decompresses only the branches the skim needs, chunk by chunk;
(b) skim: ``processors.skim.run_skim`` (iterative executor, one process) with parquet + hist
    outputs.

Printed side by side: seconds, events/s, peak RSS, the ratio (b)/(a) (target <= 1.5), the rate
(target >= 150 k events/s per core where the floor allows it) and RSS at 1 M vs 4 M events
(target <= 1.5 GB and flat: streaming). Then the Dask executor on 2 local workers.

Usage: ``python -m benchmarks.skim [--sizes 1000000 4000000] [--cache-dir output/benchmarks/skim]``
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

log = logging.getLogger(__name__)

PRESET = "upsilon_antiiso"


def _sample(cache_dir: Path, n_events: int) -> Path:
    """The LZMA sample of ``n_events`` events in the cache (generated on first use)."""
    path = cache_dir / f"DoubleMuon_synthetic_lzma_{n_events}.root"
    if not path.is_file():
        import toymc

        log.info("generating %s (once; LZMA is slow to write)", path)
        cache_dir.mkdir(parents=True, exist_ok=True)
        toymc.write_nanoaod(path, n_events=n_events, seed=1, compression="lzma")
    return path


def _peak_rss_mb() -> float:
    """Peak resident memory of this process, MB.

    Linux keeps ``ru_maxrss`` across fork + exec (a child would report its parent's peak), so the
    address-space high-water mark ``VmHWM`` of ``/proc/self/status`` is used where it exists.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # kB on Linux


def measure_floor(path: str, chunk_size: int) -> dict:
    """Read + decompress the skim's branches with uproot in the skim's chunks (no processing)."""
    from processors.config import PRESETS
    from processors.inputs import entry_ranges, inspect_file, open_tree

    info = inspect_file(path, "Events", PRESETS[PRESET])
    start = time.perf_counter()
    handle, tree = open_tree(path, "Events")
    n = 0
    for lo, hi in entry_ranges(info.num_entries, chunk_size, info.boundaries):
        arrays = tree.arrays(
            list(info.branches), entry_start=lo, entry_stop=hi, library="ak", how=dict
        )
        n += hi - lo
        del arrays
    handle.close()
    return {"events": n, "seconds": time.perf_counter() - start, "n_branches": len(info.branches)}


def measure_skim(path: str, chunk_size: int, executor: str = "iterative", workers: int = 1) -> dict:
    """The full skim of one file into a temporary output directory."""
    from processors.config import PRESETS
    from processors.fileset import Dataset
    from processors.skim import run_skim

    dataset = Dataset(
        "DoubleMuon_synthetic", {path: "Events"}, {"is_data": False, "synthetic": True}
    )
    with tempfile.TemporaryDirectory(prefix="skim-bench-") as out:
        start = time.perf_counter()
        summary = run_skim(
            [dataset],
            PRESETS[PRESET],
            out,
            executor=executor,
            workers=workers,
            chunk_size=chunk_size,
            progress=False,
        )
        seconds = time.perf_counter() - start
    ds = summary["datasets"]["DoubleMuon_synthetic"]
    return {"events": ds["events_in"], "selected": ds["events_out"], "seconds": seconds}


def _in_subprocess(kind: str, path: Path, chunk_size: int, workers: int = 1) -> dict:
    """Run one measurement in a fresh interpreter; returns its numbers and peak RSS."""
    cmd = [
        sys.executable,
        "-m",
        "benchmarks.skim",
        "--_measure",
        kind,
        "--_path",
        str(path),
        "--chunk-size",
        str(chunk_size),
        "--workers",
        str(workers),
    ]
    done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _worker_entry(args) -> int:
    if args._measure == "floor":
        result = measure_floor(args._path, args.chunk_size)
    elif args._measure == "skim":
        result = measure_skim(args._path, args.chunk_size)
    else:
        result = measure_skim(args._path, args.chunk_size, executor="dask", workers=args.workers)
    result["peak_rss_mb"] = _peak_rss_mb()
    print(json.dumps(result))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Measure and print the skim benchmark; returns 0."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.skim",
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--sizes",
        type=int,
        nargs="+",
        default=[1_000_000, 4_000_000],
        help="sample sizes in events",
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=Path("output/benchmarks/skim"),
        help="where generated LZMA samples are kept",
    )
    parser.add_argument("--chunk-size", type=int, default=250_000, help="events per chunk")
    parser.add_argument("--workers", type=int, default=2, help="Dask LocalCluster workers")
    parser.add_argument("--no-dask", action="store_true", help="skip the Dask measurement")
    parser.add_argument("--_measure", choices=["floor", "skim", "dask"], help=argparse.SUPPRESS)
    parser.add_argument("--_path", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args._measure:
        return _worker_entry(args)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    rows = []
    for size in args.sizes:
        path = _sample(args.cache_dir, size)
        floor = _in_subprocess("floor", path, args.chunk_size)
        skim = _in_subprocess("skim", path, args.chunk_size)
        rows.append((size, path, floor, skim))
    print(
        f"skim benchmark — preset {PRESET}, LZMA synthetic NanoAOD, "
        f"chunk size {args.chunk_size:,}, "
        f"one process each (cores on this machine: {os.cpu_count()}, shared with other jobs)"
    )
    print(
        f"{'events':>10} {'MB':>7} | {'floor s':>8} {'floor ev/s':>11} {'RSS MB':>7} | "
        f"{'skim s':>7} {'skim ev/s':>10} {'RSS MB':>7} {'selected':>9} | {'skim/floor':>10}"
    )
    for size, path, floor, skim in rows:
        print(
            f"{size:>10,} {path.stat().st_size / 1e6:>7.0f} | {floor['seconds']:>8.2f} "
            f"{floor['events'] / floor['seconds']:>11,.0f} {floor['peak_rss_mb']:>7.0f} | "
            f"{skim['seconds']:>7.2f} {skim['events'] / skim['seconds']:>10,.0f} "
            f"{skim['peak_rss_mb']:>7.0f} {skim['selected']:>9,} | "
            f"{skim['seconds'] / floor['seconds']:>10.2f}"
        )
    if len(rows) > 1:
        first, last = rows[0][3], rows[-1][3]
        print(
            f"peak RSS of the skim, {rows[-1][0]:,} vs {rows[0][0]:,} events: "
            f"{last['peak_rss_mb']:.0f} / {first['peak_rss_mb']:.0f} MB = "
            f"{last['peak_rss_mb'] / first['peak_rss_mb']:.2f} (streaming: ≈ 1)"
        )
    if not args.no_dask:
        size, path, floor, skim = rows[-1]
        dask = _in_subprocess("dask", path, args.chunk_size, args.workers)
        print(
            f"dask LocalCluster, {args.workers} workers, {size:,} events: {dask['seconds']:.2f} s "
            f"({dask['events'] / dask['seconds']:,.0f} ev/s incl. cluster start-up) vs iterative "
            f"{skim['seconds']:.2f} s: speed-up {skim['seconds'] / dask['seconds']:.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
