"""run_skim CLI on a small generated sample: executors agree, outputs, bad inputs, resume."""

import json
import logging
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import awkward as ak
import coffea.util
import numpy as np
import pandas as pd
import pyarrow.dataset as pads
import pytest
import uproot

from processors.columns import SKIM_COLUMNS
from processors.integrity import IncompleteSkimError, check_skim_complete
from run_skim import main

REPO = Path(__file__).resolve().parents[1]
N_EVENTS = 20_000


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    """A 20k-event synthetic NanoAOD file and a fileset pointing at it."""
    toymc = pytest.importorskip("toymc")
    folder = tmp_path_factory.mktemp("synthetic")
    toymc.write_nanoaod(folder / "toy.root", n_events=N_EVENTS, seed=7)
    fileset = folder / "fileset.json"
    fileset.write_text(
        json.dumps(
            {
                "toy": {
                    "files": {"toy.root": "Events"},
                    "metadata": {"is_data": False, "synthetic": True},
                }
            }
        )
    )
    return fileset


def _run(fileset, out, *extra):
    argv = [
        "--fileset",
        str(fileset),
        "--dataset",
        "toy",
        "--output-dir",
        str(out),
        "--no-progress",
        "-q",
    ]
    return main(argv + list(extra))


def _outputs(out):
    """Everything a run produces that must not depend on executor or interruption."""
    hists = coffea.util.load(out / "histograms.coffea")
    frame = pd.read_parquet(out / "skim")
    return {
        "hists": {name: h.values(flow=True) for name, h in hists.items()},
        "axes": {
            name: [list(ax) if ax.traits.discrete else ax.edges.tolist() for ax in h.axes]
            for name, h in hists.items()
        },
        "cutflow": json.loads((out / "cutflow.json").read_text()),
        "skim": frame.sort_values("event", kind="stable").reset_index(drop=True),
        "parts": sorted(p.name for p in (out / "skim").rglob("*.parquet")),
    }


def _assert_same(a, b):
    assert a["cutflow"] == b["cutflow"]
    assert a["parts"] == b["parts"]
    assert a["axes"] == b["axes"]
    assert a["hists"].keys() == b["hists"].keys()
    for name in a["hists"]:
        np.testing.assert_array_equal(a["hists"][name], b["hists"][name], err_msg=name)
    pd.testing.assert_frame_equal(a["skim"], b["skim"])


@pytest.fixture(scope="module")
def reference(sample, tmp_path_factory):
    out = tmp_path_factory.mktemp("reference")
    assert _run(sample, out, "--chunk-size", "5000") == 0
    return out


def test_outputs_layout_and_readers(reference):
    summary = json.loads((reference / "summary.json").read_text())
    toy = summary["datasets"]["toy"]
    assert toy["events_in"] == N_EVENTS and toy["chunks"]["total"] == 4 and toy["bad_files"] == []
    cutflow = json.loads((reference / "cutflow.json").read_text())["toy"]
    assert list(cutflow) == ["all", "two_tightId_muons", "trigger", "muon_pt", "isolation"]
    assert cutflow["all"] == N_EVENTS and toy["events_out"] == cutflow["isolation"] > 0
    assert list(cutflow.values()) == sorted(cutflow.values(), reverse=True)
    frame = pd.read_parquet(reference / "skim")
    assert len(frame) == toy["events_out"] and set(frame["dataset"]) == {"toy"}
    assert list(frame.columns) == [*SKIM_COLUMNS, "dataset"]  # the contract, in order
    assert (frame[["mu0_iso04", "mu1_iso04"]] >= 0.55).all().all()
    assert (frame["mu0_pt"] >= 17).all() and (frame["mu1_pt"] >= 8).all()
    assert "truth_process" in frame and frame["truth_process"].dtype == np.int32
    assert frame["opposite_sign"].any() and (~frame["opposite_sign"]).any()  # OS and SS kept
    assert pads.dataset(reference / "skim", partitioning="hive").count_rows() == len(frame)
    assert len(ak.from_parquet(reference / "skim" / "dataset=toy")) == len(frame)
    hists = coffea.util.load(reference / "histograms.coffea")
    assert [ax.name for ax in hists["mass"].axes] == ["dataset", "charge", "isolation", "mass"]
    assert hists["mass"].sum(flow=True) == len(frame) == hists["mass_upsilon"].sum(flow=True)
    assert hists["mass_upsilon"].sum() == frame["dimu_mass"].between(5, 16, inclusive="left").sum()
    os_count = int(frame["opposite_sign"].sum())
    with uproot.open(reference / "histograms.root") as handle:
        assert handle["toy/mass_OS"].values(flow=True).sum() == os_count
        assert handle["toy/mass_OS_antiiso"].values(flow=True).sum() == os_count
        assert handle["toy/dimu_pt_SS"].values(flow=True).sum() == len(frame) - os_count


@pytest.mark.parametrize("executor", ["futures", "dask"])
def test_executors_give_identical_outputs(sample, reference, tmp_path, executor):
    assert (
        _run(sample, tmp_path, "--chunk-size", "5000", "--executor", executor, "--workers", "2")
        == 0
    )
    _assert_same(_outputs(tmp_path), _outputs(reference))


def test_resume_reuses_finished_chunks(sample, reference, tmp_path):
    assert _run(sample, tmp_path, "--chunk-size", "5000", "--max-chunks", "2") == 0
    first = json.loads((tmp_path / "summary.json").read_text())["datasets"]["toy"]
    assert first["chunks"] == {"total": 2, "reused": 0, "processed": 2, "failed": 0}
    # debris of a run killed mid-write: a temporary file and a part without its partial
    part = next((tmp_path / "skim" / "dataset=toy").glob("part-*.parquet"))
    (part.parent / f".{part.name}.999.tmp").write_bytes(b"half a parquet file")
    (tmp_path / "_partials" / f"{part.stem[5:]}.pkl").unlink()
    assert _run(sample, tmp_path, "--chunk-size", "5000") == 0
    toy = json.loads((tmp_path / "summary.json").read_text())["datasets"]["toy"]
    assert toy["chunks"] == {"total": 4, "reused": 1, "processed": 3, "failed": 0}
    assert not list(tmp_path.rglob("*.tmp"))
    _assert_same(_outputs(tmp_path), _outputs(reference))
    # other settings into the same directory: old parts are removed, nothing is mixed
    assert _run(sample, tmp_path, "--chunk-size", "5000", "--preset", "inclusive") == 0
    inclusive = json.loads((tmp_path / "cutflow.json").read_text())["toy"]
    assert len(pd.read_parquet(tmp_path / "skim")) == inclusive["two_tightId_muons"]


def test_resume_after_killed_run(sample, tmp_path, caplog):
    reference = tmp_path / "reference"
    assert _run(sample, reference, "--chunk-size", "1000") == 0  # 20 chunks
    out = tmp_path / "killed"
    cmd = [
        sys.executable,
        str(REPO / "run_skim.py"),
        "--fileset",
        str(sample),
        "--dataset",
        "toy",
        "--output-dir",
        str(out),
        "--chunk-size",
        "1000",
        "--no-progress",
        "-q",
    ]
    proc = subprocess.Popen(cmd, cwd=REPO, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    partials = out / "_partials"
    while time.monotonic() < deadline and proc.poll() is None:
        if partials.is_dir() and len(list(partials.glob("*.pkl"))) >= 3:
            break
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    finished_at_kill = len(list(partials.glob("*.pkl")))
    assert 3 <= finished_at_kill < 20, "the run must be killed part-way"
    # the killed run left an incomplete marker that names the command finishing it
    marker = json.loads((out / "summary.json").read_text())
    assert marker["complete"] is False and marker["chunks"]["planned"] == 20
    assert marker["command"] == ["python", "run_skim.py", *cmd[2:]]
    with pytest.raises(IncompleteSkimError, match=r"incomplete: \d+ of 20 chunks done; re-run `"):
        check_skim_complete(out)
    assert (out / ".run_skim.lock").is_file()  # kill -9 leaves the lock file (not the flock)
    with caplog.at_level(logging.WARNING, logger="processors.lock"):
        assert _run(sample, out, "--chunk-size", "1000") == 0
    assert "taking over the stale lock of a dead skim" in caplog.text
    assert f"pid {proc.pid} on host" in caplog.text
    assert not (out / ".run_skim.lock").exists()
    assert check_skim_complete(out)["chunks"] == {"planned": 20, "done": 20, "skipped": 0}
    toy = json.loads((out / "summary.json").read_text())["datasets"]["toy"]
    assert toy["chunks"]["reused"] >= finished_at_kill - 1 and toy["chunks"]["total"] == 20
    _assert_same(_outputs(out), _outputs(reference))


def test_limits_and_progress_bar(sample, tmp_path, capsys):
    assert (
        main(
            [
                "--fileset",
                str(sample),
                "--dataset",
                "toy",
                "--output-dir",
                str(tmp_path),
                "--chunk-size",
                "5000",
                "--max-chunks",
                "1",
                "--max-files",
                "1",
            ]
        )
        == 0
    )
    err = capsys.readouterr().err
    assert "skim:" in err and "ev/s" in err and "toy: 5,000 events in" in err
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["datasets"]["toy"]["events_in"] == 5000


def _write_tree(path, branches):
    with uproot.recreate(path) as handle:
        tree = handle.mktree(
            "Events", {name: array.type.content for name, array in branches.items()}
        )
        tree.extend(branches)


def test_bad_inputs_each_give_one_line(sample, tmp_path, capsys):
    def fails(fileset, *extra, match):
        code = main(
            [
                "--fileset",
                str(fileset),
                "--output-dir",
                str(tmp_path / "out"),
                "--no-progress",
                *extra,
            ]
        )
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2
        assert err[-1].startswith("run_skim.py: error: ") and re.search(match, err[-1]), err[-1]

    import re

    def fileset_of(path, name="bad", **meta):
        fs = tmp_path / f"{name}.json"
        fs.write_text(json.dumps({name: {"files": {str(path): "Events"}, "metadata": meta}}))
        return fs

    fails(
        fileset_of(tmp_path / "absent.root"),
        "--dataset",
        "bad",
        match=r"input file .*absent.root not found",
    )
    junk = tmp_path / "junk.root"
    junk.write_bytes(b"this is not a ROOT file" * 100)
    fails(
        fileset_of(junk),
        "--dataset",
        "bad",
        match=r"input file .*junk.root is not a readable ROOT file",
    )
    empty = tmp_path / "empty.root"
    empty.write_bytes(b"")
    fails(
        fileset_of(empty), "--dataset", "bad", match=r"input file .*empty.root is empty \(0 bytes\)"
    )
    notree = tmp_path / "notree.root"
    with uproot.recreate(notree) as handle:
        handle["Other"] = {"x": np.arange(3)}
    fails(fileset_of(notree), "--dataset", "bad", match=r"has no TTree 'Events' \(keys: Other\)")
    rntuple = tmp_path / "rntuple.root"
    with uproot.recreate(rntuple) as handle:
        handle["Events"] = {"x": np.arange(3)}  # uproot >= 5.7 writes an RNTuple here
    fails(fileset_of(rntuple), "--dataset", "bad", match=r"rntuple.root: 'Events' is not a TTree")
    kinematic = tmp_path / "kinematic.root"
    muons = ak.zip(
        {"pt": [[20.0, 10.0]], "eta": [[0.1, 0.2]], "phi": [[0.0, 3.0]], "charge": [[1, -1]]}
    )
    _write_tree(kinematic, {"Muon": muons})
    fails(
        fileset_of(kinematic),
        "--dataset",
        "bad",
        match=r"kinematic.root lacks branch\(es\) Muon_tightId.*preset 'upsilon_antiiso'"
        r".*kinematics_only",
    )
    fails(
        fileset_of(tmp_path / "gone.root", synthetic=True),
        "--dataset",
        "bad",
        match=r"synthetic sample .*gone.root .*python -m toymc --output .*gone.root",
    )
    typo = tmp_path / "typo.json"
    typo.write_text(json.dumps({"toy": {"files": {"a.root": "Events"}, "metdata": {}}}))
    fails(
        typo,
        "--dataset",
        "toy",
        match=rf"unknown key 'metdata' in dataset 'toy' of {re.escape(str(typo))}",
    )
    fails(sample, "--dataset", "toyy", match=r"unknown dataset 'toyy'.*did you mean 'toy'")
    fails(sample, "--dataset", "toy", "--preset", "upsilon", match=r"unknown preset 'upsilon'")
    fails(sample, "--dataset", "toy", "--set", "triggers=Mu17", match=r"unknown trigger 'Mu17'")
    fails(
        sample,
        "--dataset",
        "toy",
        "--set",
        "triggers=HLT_TrkMu15_DoubleTrkMu5NoFilters",
        match=r"lacks branch\(es\) HLT_TrkMu15_DoubleTrkMu5NoFilters needed by "
        r".*closest in the file: "
        r"HLT_TrkMu15_DoubleTrkMu5NoFiltersNoVtx",
    )
    fails(sample, "--dataset", "toy", "--set", "mu0_pt=3", match=r"unknown setting 'mu0_pt'")
    fails(sample, "--dataset", "toy", "--workers", "0", match=r"--workers must be >= 1, got 0")
    with pytest.raises(FileNotFoundError, match="absent.root not found"):  # -v: the real exception
        main(
            [
                "--fileset",
                str(fileset_of(tmp_path / "absent.root")),
                "--dataset",
                "bad",
                "-v",
                "--output-dir",
                str(tmp_path / "out"),
                "--no-progress",
            ]
        )


def test_missing_default_synthetic_sample_names_the_generator(tmp_path, capsys):
    fileset = tmp_path / "fileset.json"
    fileset.write_text((REPO / "fileset.json").read_text())  # relative path resolves under tmp_path
    assert (
        main(["--fileset", str(fileset), "--output-dir", str(tmp_path / "o"), "--no-progress"]) == 2
    )
    err = capsys.readouterr().err
    assert "python -m toymc --output" in err and "DoubleMuon_synthetic.root" in err


def test_skip_bad_files_lists_them(sample, tmp_path):
    junk = tmp_path / "junk.root"
    junk.write_bytes(os.urandom(4096))
    empty = tmp_path / "empty.root"
    empty.touch()
    toy = sample.parent / "toy.root"
    fileset = tmp_path / "fs.json"
    fileset.write_text(
        json.dumps(
            {
                "toy": {
                    "files": {
                        str(toy): "Events",
                        str(junk): "Events",
                        str(tmp_path / "missing.root"): "Events",
                        str(empty): "Events",
                    }
                }
            }
        )
    )
    out = tmp_path / "out"
    assert _run(fileset, out, "--chunk-size", "5000") == 2
    assert _run(fileset, out, "--chunk-size", "5000", "--skip-bad-files") == 0
    toy_summary = json.loads((out / "summary.json").read_text())["datasets"]["toy"]
    assert toy_summary["events_in"] == N_EVENTS and toy_summary["files"] == [str(toy)]
    reasons = {Path(b["path"]).name: b["reason"] for b in toy_summary["bad_files"]}
    assert set(reasons) == {"junk.root", "missing.root", "empty.root"}
    assert (
        "not a readable ROOT file" in reasons["junk.root"]
        and "not found" in reasons["missing.root"]
    )
    assert "empty (0 bytes)" in reasons["empty.root"]
    with open(next((out / "_partials").glob("*.pkl")), "rb") as handle:
        partial = pickle.load(handle)
    assert set(partial) == {"hists", "cutflow", "rows"} and partial["rows"] >= 0
    # complete, but it says what went in and what did not
    summary = check_skim_complete(out)
    assert {Path(b["path"]).name for b in summary["skipped_files"]} == set(reasons)
    assert summary["inputs"] == {
        "files": 1,
        "events": N_EVENTS,
        "files_skipped": 3,
        "events_skipped": 0,
    }
