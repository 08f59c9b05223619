"""One skim at a time per output directory: the lock, its messages, stale locks, real concurrent
runs in subprocesses, and release on errors and SIGTERM."""

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from conftest import toy_fileset

from processors.integrity import check_skim_complete
from processors.lock import LOCK_NAME, OutputLock, OutputLockedError
from run_skim import main

REPO = Path(__file__).resolve().parents[1]
toymc = pytest.importorskip("toymc")


@pytest.fixture(scope="module")
def fileset(tmp_path_factory):
    return toy_fileset(tmp_path_factory.mktemp("lock"), n_events=20_000, seed=5)


def _argv(fileset, out, *extra):
    return ["--fileset", str(fileset), "--dataset", "toy", "--output-dir", str(out), *extra]


def _start(fileset, out, log_path):
    """A run_skim.py process with small chunks (100 of them: several seconds of work)."""
    cmd = [sys.executable, str(REPO / "run_skim.py"), *_argv(fileset, out)]
    cmd += ["--chunk-size", "200", "--no-progress", "-q"]
    with open(log_path, "w") as log:
        return subprocess.Popen(cmd, cwd=REPO, stderr=log, start_new_session=True)


def _wait_for(predicate, proc, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if predicate():
            return True
        time.sleep(0.01)
    return False


def _partials(out):
    folder = out / "_partials"
    return len(list(folder.glob("*.pkl"))) if folder.is_dir() else 0


def test_lock_names_its_holder_and_is_released(tmp_path):
    with OutputLock(tmp_path, ["python", "run_skim.py", "--output-dir", "x"]) as lock:
        holder = json.loads((tmp_path / LOCK_NAME).read_text())
        assert holder["pid"] == os.getpid() and holder["host"] == socket.gethostname()
        with pytest.raises(
            OutputLockedError,
            match=rf"--output-dir {tmp_path} is in use by another skim: pid {os.getpid()} on "
            rf"host {socket.gethostname()} since {holder['started']} \(python run_skim.py "
            r"--output-dir x\); wait for it to finish or choose another --output-dir",
        ):
            OutputLock(tmp_path).acquire()
        assert lock.path.is_file()
    assert not (tmp_path / LOCK_NAME).exists()
    OutputLock(tmp_path).acquire().release()  # free again


def test_stale_lock_of_a_dead_process_is_taken_over(tmp_path, caplog):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = {"pid": dead.pid, "host": socket.gethostname(), "started": "then", "command": ["x"]}
    (tmp_path / LOCK_NAME).write_text(json.dumps(stale))
    with caplog.at_level(logging.WARNING, logger="processors.lock"):
        with OutputLock(tmp_path):
            assert json.loads((tmp_path / LOCK_NAME).read_text())["pid"] == os.getpid()
    assert f"taking over the stale lock of a dead skim in {tmp_path}: pid {dead.pid}" in caplog.text
    # another host's lock cannot be checked from here: never guessed dead
    elsewhere = dict(stale, host="elsewhere.example")
    (tmp_path / LOCK_NAME).write_text(json.dumps(elsewhere))
    with pytest.raises(
        OutputLockedError,
        match=rf"has a lock file of pid {dead.pid} on host elsewhere.example .*; if that run is "
        rf"dead, delete {tmp_path / LOCK_NAME} and re-run",
    ):
        OutputLock(tmp_path).acquire()


def test_cli_fails_fast_on_a_locked_directory(fileset, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    with OutputLock(out, ["python", "run_skim.py", "--preset", "inclusive"]):
        assert main(_argv(fileset, out, "--no-progress")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("run_skim.py: error: --output-dir ")
    assert f"in use by another skim: pid {os.getpid()} on host" in err[0]
    assert "(python run_skim.py --preset inclusive)" in err[0]
    assert sorted(p.name for p in out.iterdir()) == []  # nothing written, nothing removed


def test_second_run_into_a_busy_directory_fails_and_the_first_is_clean(fileset, tmp_path, capsys):
    out = tmp_path / "out"
    first = _start(fileset, out, tmp_path / "first.log")
    try:
        assert _wait_for(lambda: _partials(out) >= 2, first), "first run did not start"
        code = main(_argv(fileset, out, "--preset", "inclusive", "--no-progress", "-q"))
        assert first.poll() is None, "the first run must still be running for this test"
        assert code == 2
        line = capsys.readouterr().err.strip().splitlines()[-1]
        assert f"is in use by another skim: pid {first.pid} on host {socket.gethostname()}" in line
        assert "run_skim.py --fileset" in line and "--chunk-size 200" in line
        assert first.wait(timeout=300) == 0, (tmp_path / "first.log").read_text()
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
            first.wait()
    summary = check_skim_complete(out)
    frame = pd.read_parquet(out / "skim")
    cutflow = json.loads((out / "cutflow.json").read_text())["toy"]
    assert len(frame) == cutflow["isolation"] == summary["datasets"]["toy"]["events_out"]
    assert not frame.duplicated(["run", "luminosityBlock", "event"]).any()
    assert (frame["mu0_pt"] >= 17).all() and (frame[["mu0_iso04", "mu1_iso04"]] >= 0.55).all().all()
    assert not (out / LOCK_NAME).exists()


def test_sigterm_releases_the_lock_and_leaves_an_incomplete_summary(fileset, tmp_path):
    out = tmp_path / "out"
    proc = _start(fileset, out, tmp_path / "run.log")
    try:
        assert _wait_for(lambda: _partials(out) >= 2, proc), "run did not start"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=120) == 130
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert "interrupted; re-run the same command to resume" in (tmp_path / "run.log").read_text()
    assert not (out / LOCK_NAME).exists()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["complete"] is False and summary["error"] == "terminated by signal 15"
    assert 2 <= summary["chunks"]["done"] < summary["chunks"]["planned"] == 100


def test_lock_is_released_after_a_failed_run(tmp_path, capsys):
    fileset = tmp_path / "fs.json"
    fileset.write_text(json.dumps({"toy": {"files": {"absent.root": "Events"}}}))
    out = tmp_path / "out"
    assert main(_argv(fileset, out, "--no-progress")) == 2
    assert "absent.root not found" in capsys.readouterr().err
    assert out.is_dir() and not (out / LOCK_NAME).exists()
