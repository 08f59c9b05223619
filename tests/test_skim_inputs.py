"""Pre-flight checks of the skim inputs on files built here: truncated files, duplicate entries,
branches of the wrong type, and the optional columns of the kinematics_only preset."""

import json
import os
import re
import shutil
import struct

import awkward as ak
import numpy as np
import pandas as pd
import pytest
import uproot

from processors.checks import check_baskets_inside, expected_type, root_header_end
from processors.config import PRESETS
from processors.fileset import Dataset, check_duplicate_files
from processors.inputs import BadFileError, inspect_file
from processors.skim import preflight
from run_skim import main

toymc = pytest.importorskip("toymc")
N_EVENTS = 4000


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    """A 4000-event synthetic NanoAOD file (baskets of 1000 events)."""
    path = tmp_path_factory.mktemp("toy") / "toy.root"
    toymc.write_nanoaod(path, n_events=N_EVENTS, seed=3, chunk_size=1000, progress=False)
    return path


def _fileset(tmp_path, datasets, name="fs.json"):
    path = tmp_path / name
    path.write_text(
        json.dumps(
            {ds: {"files": {str(f): "Events" for f in files}} for ds, files in datasets.items()}
        )
    )
    return path


def _main(fileset, out, *extra):
    return main(["--fileset", str(fileset), "--output-dir", str(out), "--no-progress", *extra])


def _error_line(capsys):
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines and lines[-1].startswith("run_skim.py: error: "), lines
    return lines[-1]


def _truncate(source, target, keep=0.8):
    data = source.read_bytes()
    target.write_bytes(data[: int(len(data) * keep)])
    return target


# --- truncated files -------------------------------------------------------------------------


def test_root_header_end_is_the_file_size_of_a_complete_file(toy, tmp_path):
    assert root_header_end(str(toy)) == os.path.getsize(toy)
    cut = _truncate(toy, tmp_path / "cut.root", keep=0.5)
    assert root_header_end(str(cut)) == os.path.getsize(toy) > os.path.getsize(cut)
    (tmp_path / "text.root").write_text("not a root file at all")
    assert root_header_end(str(tmp_path / "text.root")) is None


def test_truncated_file_is_found_in_the_preflight(toy, tmp_path, capsys):
    cut = _truncate(toy, tmp_path / "cut.root", keep=0.8)  # uproot still opens its TTree
    with uproot.open(cut) as handle:
        assert handle["Events"].num_entries == N_EVENTS
    out = tmp_path / "out"
    assert _main(_fileset(tmp_path, {"toy": [cut]}), out, "--dataset", "toy") == 2
    line = _error_line(capsys)
    size, full = os.path.getsize(cut), os.path.getsize(toy)
    assert f"input file {cut} is truncated: {size:,} bytes" in line and f"{full:,}" in line
    assert not (out / "_partials").exists()  # found before any chunk ran


def test_baskets_beyond_the_end_are_found_when_the_header_is_consistent(toy, tmp_path):
    with uproot.open(toy) as handle:  # cut in the middle of Muon_pt's last basket
        branch = handle["Events"]["Muon_pt"]
        last = branch.num_baskets - 1
        seek = int(branch.member("fBasketSeek")[last])
        end = seek + int(branch.member("fBasketBytes")[last])
    cut = tmp_path / "cut.root"
    cut.write_bytes(toy.read_bytes()[: seek + 100])
    with open(cut, "r+b") as handle:  # patch fEND to the truncated size: the header looks fine
        (version,) = struct.unpack(">i", handle.read(8)[4:8])
        assert version < 1_000_000
        handle.seek(12)
        handle.write(struct.pack(">i", os.path.getsize(cut)))
    assert root_header_end(str(cut)) == os.path.getsize(cut)
    with uproot.open(cut) as handle:
        tree = handle["Events"]
        with pytest.raises(
            BadFileError,
            match=rf"is truncated: {seek + 100:,} bytes, but the baskets of branch Muon_pt end "
            rf"at byte {end:,}",
        ):
            check_baskets_inside(tree, ["Muon_pt"], str(cut), os.path.getsize(cut))
    with pytest.raises(BadFileError, match=rf"{re.escape(str(cut))} is truncated"):
        inspect_file(str(cut), "Events", PRESETS["inclusive"])


def test_skip_bad_files_keeps_nothing_of_a_truncated_file(toy, tmp_path):
    cut = _truncate(toy, tmp_path / "cut.root", keep=0.8)
    out = tmp_path / "out"
    fileset = _fileset(tmp_path, {"toy": [toy, cut]})
    assert _main(fileset, out, "--dataset", "toy", "--skip-bad-files", "-q") == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["complete"] is True
    (skipped,) = summary["skipped_files"]
    assert skipped["path"] == str(cut) and "truncated" in skipped["reason"]
    assert skipped["events"] == N_EVENTS  # its TTree header still says how many it had
    assert summary["inputs"] == {
        "files": 1,
        "events": N_EVENTS,
        "files_skipped": 1,
        "events_skipped": N_EVENTS,
    }
    toy_summary = summary["datasets"]["toy"]
    assert list(toy_summary["inputs"]) == [str(toy)] and toy_summary["events_in"] == N_EVENTS
    assert len(pd.read_parquet(out / "skim")) == toy_summary["events_out"]


# --- duplicate files -------------------------------------------------------------------------


def test_two_spellings_or_a_symlink_of_one_file_are_rejected(toy, tmp_path, capsys):
    (toy.parent / "sub").mkdir(exist_ok=True)
    spelled = str(toy.parent / "sub" / ".." / toy.name)
    link = tmp_path / "link.root"
    link.symlink_to(toy)
    out = tmp_path / "out"
    for other in (spelled, str(link)):
        fileset = _fileset(tmp_path, {"toy": [toy, other]})
        assert _main(fileset, out, "--dataset", "toy") == 2
        line = _error_line(capsys)
        assert f"input file {other} is the same file as {toy}" in line
        assert f"real path {os.path.realpath(toy)}" in line and "dataset 'toy'" in line
        assert "remove one of them from the fileset" in line
    # across datasets: both named
    fileset = _fileset(tmp_path, {"a": [toy], "b": [link]})
    assert _main(fileset, out, "--dataset", "a", "--dataset", "b") == 2
    assert "datasets 'a' and 'b'" in _error_line(capsys)
    assert not out.exists() or not (out / "_partials").exists()


def test_a_copy_of_a_file_has_its_uuid_and_is_rejected(toy, tmp_path):
    copy = tmp_path / "copy.root"
    shutil.copy(toy, copy)
    datasets = [Dataset("a", {str(toy): "Events"}), Dataset("b", {str(copy): "Events"})]
    check_duplicate_files(datasets)  # different real paths
    uuid = inspect_file(str(toy), "Events", PRESETS["inclusive"]).uuid
    with pytest.raises(
        ValueError,
        match=rf"input file {re.escape(str(copy))} is the same file as {re.escape(str(toy))} "
        rf"\(same ROOT file UUID {uuid}\) in the fileset's datasets 'a' and 'b'",
    ):
        preflight(datasets, PRESETS["inclusive"])
    # two different files are fine
    other = tmp_path / "other.root"
    toymc.write_nanoaod(other, n_events=10, seed=4, progress=False)
    both = Dataset("a", {str(toy): "Events", str(other): "Events"})
    good, bad = preflight([both], PRESETS["inclusive"])
    assert [i.num_entries for i in good["a"]] == [N_EVENTS, 10] and bad == []


# --- branch types ----------------------------------------------------------------------------


def _muon_file(path, pt_type, with_ids=False, n=3):
    pt = np.array([20, 10, 30, 9, 12, 4], dtype=pt_type)
    counts = np.array([2, 2, 2])[:n]
    muons = ak.zip(
        {
            "pt": ak.unflatten(pt, counts),
            "eta": ak.unflatten(np.array([0.1, 0.2, -1.0, 1.1, 0.5, -0.5], "f4"), counts),
            "phi": ak.unflatten(np.array([0.0, 3.0, 1.0, -2.0, 0.3, 2.9], "f4"), counts),
            "charge": ak.unflatten(np.array([1, -1, 1, 1, -1, 1], "i4"), counts),
        }
    )
    branches = {"Muon": muons}
    if with_ids:
        branches.update(
            run=np.full(n, 1, "u4"),
            luminosityBlock=np.full(n, 2, "u4"),
            event=np.arange(n, dtype="u8"),
        )
    types = {k: v.type.content if k == "Muon" else v.dtype for k, v in branches.items()}
    with uproot.recreate(path) as handle:
        handle.mktree("Events", types).extend(branches)
    return path


def test_expected_types_of_skim_branches():
    assert expected_type("Muon_pt")[0] == "f" and expected_type("Muon_ip3d")[0] == "f"
    assert expected_type("Jet_btagDeepFlavB")[0] == "f" and expected_type("MET_sumEt")[0] == "f"
    assert expected_type("Muon_charge")[0] == "iu" and expected_type("event")[0] == "iu"
    assert expected_type("Muon_tightId")[0] == "biu" and expected_type("HLT_Mu8")[0] == "biu"


def test_integer_muon_pt_is_an_error_naming_branch_type_and_file(tmp_path, capsys):
    path = _muon_file(tmp_path / "intpt.root", "i4")
    with uproot.open(path) as handle:
        assert handle["Events"]["Muon_pt"].typename == "int32_t[]"
    fileset = _fileset(tmp_path, {"ints": [path]})
    assert _main(fileset, tmp_path / "out", "--dataset", "ints", "--preset", "kinematics_only") == 2
    line = _error_line(capsys)
    assert (
        f"branch Muon_pt of file {path} has type int32_t[] (int32); the skim expects a "
        "floating-point type (float32 in NanoAOD)" in line
    )
    # the same file with float pt goes through
    good = _muon_file(tmp_path / "floatpt.root", "f4")
    info = inspect_file(str(good), "Events", PRESETS["kinematics_only"])
    assert info.num_entries == 3


# --- kinematics_only keeps what the file has -------------------------------------------------


def test_kinematics_only_keeps_event_ids_and_muon_columns_when_present(toy, tmp_path):
    out = tmp_path / "out"
    fileset = _fileset(tmp_path, {"toy": [toy]})
    assert _main(fileset, out, "--dataset", "toy", "--preset", "kinematics_only", "-q") == 0
    frame = pd.read_parquet(out / "skim")
    with uproot.open(toy) as handle:
        ids = handle["Events"].arrays(["run", "luminosityBlock", "event", "nMuon"], library="np")
    assert len(frame) == int((ids["nMuon"] >= 2).sum()) > 0
    for name in ("run", "luminosityBlock", "event"):
        assert name in frame.columns
    assert set(frame["event"]) <= set(ids["event"].tolist())
    for k in (0, 1):
        for suffix in ("iso03", "iso04", "jetRelIso", "ip3d", "sip3d", "dxy", "dz"):
            assert f"mu{k}_{suffix}" in frame.columns, f"mu{k}_{suffix}"
    assert frame["mu0_dxy"].notna().all() and (frame["mu0_ip3d"] >= 0).all()
    assert "jet0_pt" not in frame.columns and "truth_process" in frame.columns
    # the first event's leading muon dxy is the file's
    first = frame.sort_values("event").iloc[0]
    with uproot.open(toy) as handle:
        arrays = handle["Events"].arrays(["event", "Muon_dxy"])
    row = int(np.flatnonzero(arrays["event"].to_numpy() == first["event"])[0])
    assert first["mu0_dxy"] == pytest.approx(float(arrays["Muon_dxy"][row][0]), rel=1e-6)


def test_kinematics_only_without_ids_writes_no_id_columns(tmp_path):
    path = _muon_file(tmp_path / "bare.root", "f4")
    with_ids = _muon_file(tmp_path / "ids.root", "f4", with_ids=True)
    for source, has_ids in ((path, False), (with_ids, True)):
        out = tmp_path / f"out-{source.stem}"
        fileset = _fileset(tmp_path, {"m": [source]}, name=f"{source.stem}.json")
        assert _main(fileset, out, "--dataset", "m", "--preset", "kinematics_only", "-q") == 0
        frame = pd.read_parquet(out / "skim")
        assert len(frame) == 3 and ("event" in frame.columns) is has_ids
        assert "mu0_iso04" not in frame.columns
        if has_ids:
            assert sorted(frame["event"]) == [0, 1, 2]


@pytest.fixture
def http_folder(tmp_path):
    """``tmp_path`` served over HTTP (with byte ranges) on localhost: a remote source."""
    import http.server
    import threading

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _body(self):
            path = tmp_path / self.path.lstrip("/")
            if not path.is_file():
                self.send_error(404)
                return None
            data = path.read_bytes()
            match = re.match(r"bytes=(\d+)-(\d*)$", self.headers.get("Range", ""))
            if match:
                start = int(match[1])
                stop = int(match[2]) + 1 if match[2] else len(data)
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{stop - 1}/{len(data)}")
                data = data[start:stop]
            else:
                self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Accept-Ranges", "bytes")
            self.end_headers()
            return data

        def do_HEAD(self):
            self._body()

        def do_GET(self):
            data = self._body()
            if data is not None:
                self.wfile.write(data)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_truncated_remote_file_is_found_from_its_source_size(toy, tmp_path, http_folder):
    pytest.importorskip("aiohttp")
    shutil.copy(toy, tmp_path / "whole.root")
    _truncate(toy, tmp_path / "cut.root", keep=0.8)
    info = inspect_file(f"{http_folder}/whole.root", "Events", PRESETS["inclusive"])
    assert info.num_entries == N_EVENTS
    url = f"{http_folder}/cut.root"
    with pytest.raises(BadFileError, match=rf"input file {re.escape(url)} is truncated: "):
        inspect_file(url, "Events", PRESETS["inclusive"])
