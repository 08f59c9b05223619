"""Remote inputs against real servers on 127.0.0.1: an XRootD server (Debian's xrootd-server,
read through fsspec-xrootd and the XRootD client), a port that refuses, a listener that never
answers, and the golden JSON from an HTTP server — the same outputs as local files, or one line
within the timeout."""

from __future__ import annotations

import json
import shutil
import socket
import time

import numpy as np
import pandas as pd
import pytest
from servers import free_port, http_server, open_folder, silent_listener, xrootd_server

from processors.lumimask import LumiMask
from processors.remote import RemoteError, check_xrootd_server
from run_skim import main

N_EVENTS = 4_000


def _fileset(path, url: str, *, is_data: bool = False):
    meta = {"is_data": is_data, "synthetic": False}
    path.write_text(json.dumps({"toy": {"files": {url: "Events"}, "metadata": meta}}))
    return path


def _skim(fileset, out, *extra) -> int:
    argv = ["--fileset", str(fileset), "--dataset", "toy", "--output-dir", str(out),
            "--no-progress", "-q", "--chunk-size", "1500", *extra]  # fmt: skip
    return main(argv)


def _table(out) -> pd.DataFrame:
    return pd.read_parquet(out / "skim").sort_values("event").reset_index(drop=True)


@pytest.fixture(scope="module")
def served():
    """A NanoAOD file in a folder exported by a local xrootd server; (path, root:// URL)."""
    if shutil.which("xrootd") is None:
        pytest.skip("the xrootd server is not installed (apt-get install xrootd-server)")
    pytest.importorskip(
        "XRootD.client", reason="XRootD Python bindings missing (pip install xrootd)"
    )
    pytest.importorskip("fsspec_xrootd", reason="fsspec-xrootd missing (pip install fsspec-xrootd)")
    import toymc

    with open_folder() as folder:
        data = folder / "data"
        data.mkdir(mode=0o755)
        data.chmod(0o755)
        toymc.write_nanoaod(data / "toy.root", n_events=N_EVENTS, seed=5)
        (data / "toy.root").chmod(0o644)
        with xrootd_server(data, folder / "server") as port:
            yield data / "toy.root", f"root://127.0.0.1:{port}/{data / 'toy.root'}"


def test_skim_over_xrootd_writes_the_local_outputs(served, tmp_path):
    path, url = served
    assert _skim(_fileset(tmp_path / "local.json", str(path)), tmp_path / "local") == 0
    assert (
        _skim(_fileset(tmp_path / "remote.json", url), tmp_path / "remote", "--timeout", "5") == 0
    )
    pd.testing.assert_frame_equal(_table(tmp_path / "local"), _table(tmp_path / "remote"))
    cutflows = [
        json.loads((tmp_path / d / "cutflow.json").read_text()) for d in ("local", "remote")
    ]
    assert cutflows[0] == cutflows[1]
    summary = json.loads((tmp_path / "remote" / "summary.json").read_text())
    assert summary["complete"] and summary["datasets"]["toy"]["events_in"] == N_EVENTS


def test_xrootd_url_of_a_missing_file_is_one_line(served, tmp_path, capsys):
    _, url = served
    fileset = _fileset(tmp_path / "fs.json", url.replace("toy.root", "nope.root"))
    assert _skim(fileset, tmp_path / "out", "--timeout", "5") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nope.root" in err


def test_closed_port_is_one_line(tmp_path, capsys):
    url = f"root://127.0.0.1:{free_port()}//data/toy.root"
    t0 = time.perf_counter()
    assert _skim(_fileset(tmp_path / "fs.json", url), tmp_path / "out", "--timeout", "3") == 2
    err = capsys.readouterr().err
    assert time.perf_counter() - t0 < 10
    assert err.count("\n") == 1 and url in err and "refused" in err


def test_server_that_never_answers_fails_within_the_timeout(tmp_path, capsys):
    with silent_listener() as port:
        url = f"root://127.0.0.1:{port}//data/toy.root"
        t0 = time.perf_counter()
        rc = _skim(_fileset(tmp_path / "fs.json", url), tmp_path / "out", "--timeout", "2")
        elapsed = time.perf_counter() - t0
    err = capsys.readouterr().err
    assert rc == 2 and 2 <= elapsed < 10, elapsed
    assert err.count("\n") == 1 and "did not answer the XRootD handshake within 2 s" in err


def test_unknown_host_is_one_line_without_a_repr(monkeypatch):
    # no DNS query leaves the machine: the resolver's failure is simulated
    def fail(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", fail)
    with pytest.raises(RemoteError, match=r"host 'no\.such\.host' not found") as err:
        check_xrootd_server("root://no.such.host//store/file.root", timeout=1)
    assert "\n" not in str(err.value) and "object at 0x" not in str(err.value)


def test_golden_json_over_http_equals_the_local_file(tmp_path, monkeypatch):
    golden = {"284035": [[1, 50], [60, 70]], "284043": [[5, 9]]}
    (tmp_path / "golden.json").write_text(json.dumps(golden))
    runs = np.array([284035, 284035, 284035, 284043, 284044])
    lumis = np.array([1, 55, 65, 9, 1])
    local = LumiMask.from_source(tmp_path / "golden.json")
    with http_server(tmp_path) as base:
        remote = LumiMask.from_source(f"{base}/golden.json")
        monkeypatch.setenv("DIMUON_AD_REMOTE_TIMEOUT", "3")
        with pytest.raises(OSError, match=r"cannot fetch golden JSON .*/missing\.json.*404") as err:
            LumiMask.from_source(f"{base}/missing.json")
    assert "\n" not in str(err.value)
    assert remote.digest == local.digest
    np.testing.assert_array_equal(remote(runs, lumis), [True, False, True, True, False])


def test_skim_with_a_golden_json_url_that_fails_is_one_line(tmp_path, capsys):
    import toymc

    toymc.write_nanoaod(tmp_path / "toy.root", n_events=500, seed=2)
    fileset = _fileset(tmp_path / "fs.json", str(tmp_path / "toy.root"), is_data=True)
    capsys.readouterr()  # the generator's progress bar
    with http_server(tmp_path) as base:
        rc = _skim(fileset, tmp_path / "out", "--lumi-mask", f"{base}/nope.json", "--timeout", "3")
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "nope.json" in err
