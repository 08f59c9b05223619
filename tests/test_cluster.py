"""A real Dask cluster of separate processes whose workers lack the toolkit (and import another
``processors``): the code is sent to them, the skim gives the in-process numbers, and what goes
wrong (no worker, an import error, a failing task) is one line."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import tiny_analysis
from distributed import Client

from dimuon_ad.errors import error_line
from dimuon_ad.workers import TaskError, WorkerError, code_hash, ship_code

REPO = Path(__file__).resolve().parents[1]
N_EVENTS = 4_000


@pytest.fixture(scope="module")
def fileset(tmp_path_factory):
    import toymc

    folder = tmp_path_factory.mktemp("cluster-sample")
    toymc.write_nanoaod(folder / "toy.root", n_events=N_EVENTS, seed=11)
    path = folder / "fileset.json"
    files = {"files": {"toy.root": "Events"}, "metadata": {"is_data": False, "synthetic": True}}
    path.write_text(json.dumps({"toy": files}))
    return path


def _skim_cli(fileset, out, *extra) -> subprocess.CompletedProcess:
    argv = [sys.executable, str(REPO / "run_skim.py"), "--fileset", str(fileset), "--dataset",
            "toy", "--output-dir", str(out), "--chunk-size", "1000", *extra]  # fmt: skip
    return subprocess.run(argv, capture_output=True, text=True, timeout=180, cwd=out.parent)


def _table(out: Path) -> pd.DataFrame:
    df = pd.read_parquet(out / "skim")
    return df.sort_values(["event"]).reset_index(drop=True)


def test_skim_on_workers_without_the_toolkit_equals_the_in_process_skim(
    fileset, dask_cluster_address, tmp_path
):
    with Client(dask_cluster_address) as client:  # the workers' own processors, not ours
        assert set(client.run(lambda: __import__("processors").__dict__.get("OTHER")).values()) == {
            True
        }
    local = _skim_cli(fileset, tmp_path / "local", "-q")
    assert local.returncode == 0, local.stderr
    remote = _skim_cli(
        fileset, tmp_path / "remote", "--scheduler", dask_cluster_address, "--workers", "2"
    )
    assert remote.returncode == 0, remote.stderr
    assert f"attached to Dask scheduler {dask_cluster_address}; dashboard http" in remote.stderr
    assert "sending the toolkit's code" in remote.stderr
    pd.testing.assert_frame_equal(_table(tmp_path / "local"), _table(tmp_path / "remote"))
    cutflow = [json.loads((tmp_path / d / "cutflow.json").read_text()) for d in ("local", "remote")]
    assert cutflow[0] == cutflow[1]
    # the code is there now (same hash): no second upload, and -q says nothing at all
    quiet = _skim_cli(fileset, tmp_path / "quiet", "-q", "--scheduler", dask_cluster_address)
    assert quiet.returncode == 0 and quiet.stderr == ""
    with Client(dask_cluster_address) as client:
        assert not ship_code(client, ["processors.chunks"], n_workers=2)


def test_worker_import_error_is_one_line_naming_worker_and_module(dask_cluster_address):
    with Client(dask_cluster_address) as client:
        with pytest.raises(WorkerError, match=r"Dask worker tcp://127\.0\.0\.1:\d+: cannot import "
                           r"ml\.no_such_module \(ModuleNotFoundError") as err:  # fmt: skip
            ship_code(client, ["ml.no_such_module"], n_workers=2)
    assert "\n" not in error_line("prog", err.value)


def test_failing_task_is_one_line_with_the_traceback_in_a_log(dask_cluster_address, tmp_path):
    from analysis.parallel import TaskRunner

    log = tmp_path / "errors.log"
    with TaskRunner(dask_cluster_address, log_file=log) as runner:
        assert runner.map(math.sqrt, [(4.0,)]) == [2.0]
        with pytest.raises(TaskError, match="Dask task sqrt #1 failed: ValueError: math domain"):
            runner.map(math.sqrt, [(1.0,), (-1.0,)])
    assert "Traceback" in log.read_text() and "ValueError" in log.read_text()


def test_no_worker_within_the_timeout_is_one_line(tmp_path):
    from servers import dask_cluster

    from analysis.parallel import TaskRunner

    with dask_cluster(tmp_path, n_workers=0) as address:
        t0 = time.perf_counter()
        with pytest.raises(WorkerError, match=r"0 Dask worker\(s\) joined the scheduler within 2"):
            TaskRunner(address, worker_timeout=2)
        assert time.perf_counter() - t0 < 15


def test_code_hash_is_of_the_source():
    assert len(code_hash()) == 64 and code_hash() == code_hash()
    assert code_hash(("processors",)) != code_hash(("ml",))


# two flow seeds x 2 epochs, 1 BDT per fold, 3 folds, 2 FPRs, 10 toys
TINY = yaml.safe_dump(tiny_analysis(n_seeds=2, n_toys=10))


@pytest.mark.slow  # ~55 s: the workers import torch and pyro the first time
def test_analysis_on_workers_without_the_toolkit_gives_the_in_process_numbers(
    dask_cluster_address, tmp_path
):
    import numpy as np

    import toymc
    from analysis.config import load_config
    from analysis.parallel import TaskRunner
    from analysis.pipeline import run_pipeline
    from run_skim import main as skim

    toymc.write_nanoaod(tmp_path / "toy.root", n_events=30_000, seed=3)
    files = {"files": {"toy.root": "Events"}, "metadata": {"is_data": False, "synthetic": True}}
    (tmp_path / "fileset.json").write_text(json.dumps({"Tiny": files}))
    argv = ["--fileset", str(tmp_path / "fileset.json"), "--dataset", "Tiny", "--output-dir",
            str(tmp_path / "skim"), "--no-progress", "-q"]  # fmt: skip
    assert skim(argv) == 0
    (tmp_path / "tiny.yaml").write_text(TINY)
    config = load_config(tmp_path / "tiny.yaml")
    local = run_pipeline(tmp_path / "skim", config, tmp_path / "local", use_cache=False)
    with TaskRunner(dask_cluster_address, 2, log_file=tmp_path / "errors.log") as runner:
        remote = run_pipeline(
            tmp_path / "skim", config, tmp_path / "remote", runner=runner, use_cache=False
        )
    np.testing.assert_allclose(remote.scores["os"], local.scores["os"], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(remote.scores["ss"], local.scores["ss"], rtol=1e-6, atol=1e-9)


def _corrupt_copy(source: Path, target: Path) -> Path:
    """``source`` with zeros in the middle: it passes the pre-flight, a chunk cannot be read."""
    data = bytearray(source.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 2000] = bytes(2000)
    target.write_bytes(bytes(data))
    return target


def test_bad_chunk_on_workers_is_one_line_or_skipped(fileset, dask_cluster_address, tmp_path):
    bad = _corrupt_copy(fileset.parent / "toy.root", tmp_path / "bad.root")
    files = {"files": {str(bad): "Events"}, "metadata": {"is_data": False, "synthetic": True}}
    (tmp_path / "bad.json").write_text(json.dumps({"toy": files}))
    failed = _skim_cli(tmp_path / "bad.json", tmp_path / "out", "-q", "--scheduler",
                       dask_cluster_address)  # fmt: skip
    assert failed.returncode == 2
    assert failed.stderr.count("\n") == 1 and "bad.root failed (" in failed.stderr
    skipped = _skim_cli(tmp_path / "bad.json", tmp_path / "skip", "-q", "--skip-bad-files",
                        "--scheduler", dask_cluster_address)  # fmt: skip
    assert skipped.returncode == 0, skipped.stderr
    summary = json.loads((tmp_path / "skip" / "summary.json").read_text())
    assert [f["path"] for f in summary["skipped_files"]] == [str(bad)]


def _broken_chunk(task):
    raise RuntimeError(f"bug in chunk {task.chunk_id}")


def test_failing_chunk_on_dask_is_one_line_with_a_log(fileset, tmp_path, monkeypatch):
    from distributed import LocalCluster

    import processors.skim
    from processors.config import load_config
    from processors.fileset import load_fileset
    from processors.skim import run_skim

    monkeypatch.setattr(processors.skim, "run_chunk", _broken_chunk)
    datasets = list(load_fileset(fileset).values())
    config = load_config("upsilon_antiiso", None, {})
    expected = (
        r"chunk \w+ of .*toy\.root \(entries 0-\d+\) failed: RuntimeError: bug in chunk "
        r".*traceback in .*errors\.log"
    )
    with LocalCluster(n_workers=1, processes=False, dashboard_address=":0") as cluster:
        address = cluster.scheduler_address
        with pytest.raises(TaskError, match=expected) as err:
            run_skim(datasets, config, tmp_path / "out", executor="dask", scheduler=address,
                     progress=False)  # fmt: skip
    assert "\n" not in str(err.value)
    assert "RuntimeError: bug in chunk" in (tmp_path / "out" / "errors.log").read_text()
