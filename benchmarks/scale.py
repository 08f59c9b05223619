"""Scaling of the skim (and of the analysis' flow seeds) from 1 to 2 workers.

The skim of an LZMA-compressed synthetic sample (4 M events by default, generated once into
``--work-dir``) with the futures executor, a Dask LocalCluster, a cluster of separate processes
(``dask scheduler`` + ``dask worker`` processes that do not have the toolkit, as in
tests/test_cluster.py) and, with the futures executor, over a local XRootD server (when
``xrootd`` is installed). Start-up (pool/cluster start, code upload, pre-flight) is measured
separately, as the wall time of the same run on a 5 000-event sample, and taken off the big run's
time before events/s per worker and the scaling efficiency (rate on 2 workers / 2 × rate on 1)
are computed. The flow seeds: the analysis' ``flow`` stage with 2 seeds on 1 and 2 LocalCluster
workers. Not part of ``make bench`` (it takes minutes)::

    python -m benchmarks.scale --events 4000000
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

log = logging.getLogger("benchmarks.scale")


def _sample(work: Path, name: str, n_events: int) -> Path:
    path = work / f"{name}.root"
    if not path.exists():
        import toymc

        t0 = time.perf_counter()
        toymc.write_nanoaod(path, n_events=n_events, seed=4, compression="lzma", progress=False)
        log.info("generated %s (%d events) in %.0f s", path, n_events, time.perf_counter() - t0)
    path.chmod(0o644)
    return path


def _datasets(url: str):
    from processors.fileset import Dataset

    return [Dataset("bench", {url: "Events"}, {"is_data": False, "synthetic": True})]


def _skim(url: str, executor: str, workers: int, scheduler: str | None) -> tuple[float, int]:
    from processors.config import load_config
    from processors.skim import run_skim

    out = Path(tempfile.mkdtemp(prefix="dimuon-ad-scale-"))
    try:
        t0 = time.perf_counter()
        summary = run_skim(_datasets(url), load_config("upsilon_antiiso", None, {}), out,
                           executor=executor, workers=workers, scheduler=scheduler,
                           chunk_size=250_000, progress=False)  # fmt: skip
        return time.perf_counter() - t0, summary["datasets"]["bench"]["events_in"]
    finally:
        shutil.rmtree(out, ignore_errors=True)


def _row(mode: str, workers: int, big: tuple[float, int], small: float) -> dict:
    seconds, events = big
    busy = max(seconds - small, 1e-9)
    rate = events / busy / workers
    return {"mode": mode, "workers": workers, "events": events, "wall_s": round(seconds, 1),
            "startup_s": round(small, 1), "ev_per_s_per_worker": rate}  # fmt: skip


def _modes(work: Path, big: Path, small: Path):
    """(name, executor, scheduler factory, big url, small url) for every mode available."""
    sys.path.insert(0, str(REPO / "tests"))
    from servers import dask_cluster, open_folder, xrootd_server

    yield "futures", "futures", lambda n: contextlib.nullcontext(None), str(big), str(small)
    yield "LocalCluster", "dask", lambda n: contextlib.nullcontext("local"), str(big), str(small)

    @contextlib.contextmanager
    def separate(n):
        with tempfile.TemporaryDirectory() as folder, dask_cluster(Path(folder), n) as address:
            yield address

    yield "separate processes", "dask", separate, str(big), str(small)
    if shutil.which("xrootd"):
        stack = contextlib.ExitStack()
        folder = stack.enter_context(open_folder())
        port = stack.enter_context(xrootd_server(work, folder / "server"))
        with stack:
            urls = [f"root://127.0.0.1:{port}/{p}" for p in (big, small)]
            yield "XRootD + futures", "futures", lambda n: contextlib.nullcontext(None), *urls


def _flow_seeds(work: Path, big: Path) -> list[dict]:
    """The analysis' flow stage (2 seeds) on 1 and 2 LocalCluster workers."""
    from analysis.config import load_config
    from analysis.parallel import TaskRunner
    from analysis.pipeline import run_pipeline
    from run_skim import main as skim

    fileset = work / "flow_fileset.json"
    files = {"files": {str(big): "Events"}, "metadata": {"is_data": False, "synthetic": True}}
    fileset.write_text(json.dumps({"bench": files}))
    if not (work / "skim" / "summary.json").exists():
        skim(["--fileset", str(fileset), "--dataset", "bench", "--output-dir", str(work / "skim"),
              "--executor", "futures", "--workers", "2", "--no-progress", "-q"])  # fmt: skip
    (work / "flow.yaml").write_text(
        "profile: fast\nflow: {n_seeds: 2, max_epochs: 10, early_stopping: null}\n"
        "stats: {n_toys: 10}\n"
    )
    config = load_config(work / "flow.yaml")
    rows = []
    for n in (1, 2):
        with TaskRunner("local", n) as runner:
            result = run_pipeline(work / "skim", config, work / f"flow{n}", runner=runner,
                                  use_cache=False, progress=False)  # fmt: skip
        rows.append({"workers": n, "flow_stage_s": round(result.timings["flow"], 1)})
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scale", description=__doc__)
    parser.add_argument("--events", type=int, default=4_000_000, help="events of the big sample")
    parser.add_argument("--work-dir", default=str(REPO / "output" / "bench_scale"))
    parser.add_argument("--no-flows", action="store_true", help="skip the flow-seed measurement")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("processors", "dimuon_ad", "analysis", "distributed"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    work = Path(args.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    work.chmod(0o755)
    big = _sample(work, f"lzma_{args.events}", args.events)
    small = _sample(work, "lzma_small", 5_000)
    rows = []
    for name, executor, cluster, big_url, small_url in _modes(work, big, small):
        for n in (1, 2):
            with cluster(n) as scheduler:
                small_s, _ = _skim(small_url, executor, n, scheduler)
                rows.append(_row(name, n, _skim(big_url, executor, n, scheduler), small_s))
            log.info("%s", rows[-1])
    print(f"\nskim of {args.events:,} LZMA events (chunks of 250k), start-up (a 5k-event run) "
          "taken off:")  # fmt: skip
    print(f"{'mode':<20} {'workers':>7} {'wall s':>8} {'start-up s':>10} {'ev/s/worker':>12} "
          f"{'efficiency':>10}")  # fmt: skip
    for row in rows:
        one = next(r for r in rows if r["mode"] == row["mode"] and r["workers"] == 1)
        eff = row["ev_per_s_per_worker"] / one["ev_per_s_per_worker"]
        print(f"{row['mode']:<20} {row['workers']:>7} {row['wall_s']:>8} {row['startup_s']:>10} "
              f"{row['ev_per_s_per_worker']:>12,.0f} {eff:>10.2f}")  # fmt: skip
    if not args.no_flows:
        print("\nanalysis flow stage, 2 seeds:", _flow_seeds(work, big))
    return 0


if __name__ == "__main__":
    sys.exit(main())
