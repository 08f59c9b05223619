"""Diphoton skim throughput on one core: uproot read floor vs the full skim of a GamGam file.

On a synthetic ``mc_343981.ggH125_gamgam.GamGam.root`` of ≥ 1 M events (generated once into
``--cache-dir`` with ``python -m toymc.gamgam --samples ggH``), measured side by side in one
process:

(a) floor: uproot reads and decompresses only the branches the ``hgg`` preset needs, chunk by
    chunk;
(b) skim: ``processors.skim.run_skim`` (iterative executor) with parquet, hist and cutflow
    outputs.

Printed: events, seconds, events/s and the ratio (b)/(a). Run it niced on a shared machine:
``nice -n 10 python -m benchmarks.diphoton``.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

log = logging.getLogger(__name__)

#: generated events (the pre-skim keeps ≈ 70 %: ≥ 1 M events in the file)
N_GENERATED = 1_500_000


def _sample(cache_dir: Path) -> Path:
    from toymc.gamgam.production import generate_samples
    from toymc.gamgam.samples import MC

    path = cache_dir / MC["ggH"].filename
    if not path.is_file():
        log.info("generating %s (once)", path)
        generate_samples(cache_dir, samples=("ggH",), n_events={"ggH": N_GENERATED}, seed=1)
    return path


def measure_floor(path: str, chunk_size: int) -> dict:
    """Read + decompress the needed branches with uproot in the skim's chunks."""
    from processors.diphoton_config import PRESETS
    from processors.inputs import entry_ranges, inspect_file, open_tree

    info = inspect_file(path, "mini", PRESETS["hgg"])
    start = time.perf_counter()
    handle, tree = open_tree(path, "mini")
    for lo, hi in entry_ranges(info.num_entries, chunk_size, info.boundaries):
        tree.arrays(list(info.branches), entry_start=lo, entry_stop=hi, library="ak", how=dict)
    handle.close()
    return {"events": info.num_entries, "seconds": time.perf_counter() - start}


def measure_skim(path: str, chunk_size: int) -> dict:
    """The full diphoton skim of the file (iterative executor, this process)."""
    from processors.diphoton_config import PRESETS
    from processors.fileset import Dataset
    from processors.skim import run_skim

    dataset = Dataset("ggH", {path: "mini"}, {"is_data": False, "lumi_fb": 10.0})
    with tempfile.TemporaryDirectory(prefix="diphoton-bench-") as out:
        start = time.perf_counter()
        summary = run_skim([dataset], PRESETS["hgg"], out, chunk_size=chunk_size,
                           progress=False)
        seconds = time.perf_counter() - start
    ds = summary["datasets"]["ggH"]
    return {"events": ds["events_in"], "selected": ds["events_out"], "seconds": seconds}


def main(argv: Sequence[str] | None = None) -> int:
    """Measure and print; returns 0."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.diphoton", description=__doc__
                                     .splitlines()[0])
    parser.add_argument("--cache-dir", default="output/benchmarks/diphoton")
    parser.add_argument("--chunk-size", type=int, default=250_000)
    args = parser.parse_args(argv)
    path = str(_sample(Path(args.cache_dir)))
    floor = measure_floor(path, args.chunk_size)
    skim = measure_skim(path, args.chunk_size)
    rate = {k: m["events"] / m["seconds"] for k, m in (("floor", floor), ("skim", skim))}
    print(f"diphoton skim of {path}: {skim['events']:,} events, {skim['selected']:,} selected")
    print(f"  (a) uproot read floor: {floor['seconds']:7.2f} s  {rate['floor']:12,.0f} events/s")
    print(f"  (b) full skim:         {skim['seconds']:7.2f} s  {rate['skim']:12,.0f} events/s")
    print(f"  ratio (b)/(a): {skim['seconds'] / floor['seconds']:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
