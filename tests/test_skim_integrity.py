"""Completeness and integrity of skim outputs: summary.json records, check_skim_complete, resumes
that recompute truncated parts and partials, and files that break part-way through a run."""

import json
import logging
import re
import shutil
import struct

import pandas as pd
import pytest
import uproot

from processors.integrity import (
    CorruptChunkError,
    IncompleteSkimError,
    check_skim_complete,
    verified_rows,
)
from processors.outputs import CorruptPartialError, merge_partials
from run_skim import main

toymc = pytest.importorskip("toymc")
N_EVENTS = 8000
CHUNK = "2000"  # 4 chunks per file


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Two synthetic files (baskets of 2000 events) and a fileset holding both."""
    folder = tmp_path_factory.mktemp("integrity")
    paths = []
    for seed in (11, 12):
        path = folder / f"toy{seed}.root"
        toymc.write_nanoaod(path, n_events=N_EVENTS, seed=seed, chunk_size=2000, progress=False)
        paths.append(path)
    return paths


def _fileset(folder, paths):
    fileset = folder / "fs.json"
    fileset.write_text(json.dumps({"toy": {"files": {str(p): "Events" for p in paths}}}))
    return fileset


def _run(fileset, out, *extra):
    argv = ["--fileset", str(fileset), "--dataset", "toy", "--output-dir", str(out)]
    return main([*argv, "--chunk-size", CHUNK, "--no-progress", "-q", *extra])


def _snapshot(out):
    frame = pd.read_parquet(out / "skim").sort_values(["run", "event"]).reset_index(drop=True)
    return json.loads((out / "cutflow.json").read_text()), frame


@pytest.fixture(scope="module")
def reference(files, tmp_path_factory):
    out = tmp_path_factory.mktemp("reference")
    assert _run(_fileset(out, files), out / "skim") == 0
    return out / "skim"


def test_complete_summary_records_plan_parts_and_command(files, reference):
    summary = check_skim_complete(reference)
    assert summary["complete"] is True
    assert summary["chunks"] == {"planned": 8, "done": 8, "skipped": 0}
    assert summary["command"][:2] == ["python", "run_skim.py"]
    assert "--chunk-size" in summary["command"]
    toy = summary["datasets"]["toy"]
    per_file = {"events": N_EVENTS, "chunks_planned": 4, "chunks_done": 4, "events_done": N_EVENTS}
    assert toy["inputs"] == {str(p): per_file for p in files}
    assert len(toy["parts"]) == 8 and sum(toy["parts"].values()) == toy["events_out"] > 0
    assert summary["skipped_files"] == [] and summary["inputs"]["events"] == 2 * N_EVENTS


def test_check_skim_complete_names_what_is_wrong(reference, tmp_path):
    with pytest.raises(IncompleteSkimError, match=r"skim .*nowhere does not exist"):
        check_skim_complete(tmp_path / "nowhere")
    copy = tmp_path / "copy"
    shutil.copytree(reference, copy)
    (copy / "summary.json").rename(tmp_path / "summary.json")
    with pytest.raises(
        IncompleteSkimError,
        match=r"has no summary.json .*; re-run `python run_skim.py --output-dir .*copy` to "
        r"finish it, or pass --allow-incomplete to analyse it anyway",
    ):
        check_skim_complete(copy)
    summary = json.loads((tmp_path / "summary.json").read_text())
    (copy / "summary.json").write_text(json.dumps(summary))
    assert check_skim_complete(copy)["complete"]
    # a part another run left behind is contamination
    parts = sorted((copy / "skim" / "dataset=toy").glob("*.parquet"))
    extra = parts[0].with_name("part-0123456789abcdef.parquet")
    shutil.copy(parts[0], extra)
    with pytest.raises(
        IncompleteSkimError, match=r"holds 1 parquet part\(s\) its summary does not list"
    ):
        check_skim_complete(copy)
    extra.unlink()
    # a part swapped for another with a different row count
    rows = summary["datasets"]["toy"]["parts"]
    small, big = sorted(parts, key=lambda p: rows[p.name])[:: len(parts) - 1]
    assert rows[small.name] != rows[big.name]
    saved = small.read_bytes()
    shutil.copy(big, small)
    with pytest.raises(
        IncompleteSkimError,
        match=rf"parquet part skim/dataset=toy/{small.name} with {rows[big.name]} rows, its "
        rf"summary recorded {rows[small.name]}",
    ):
        check_skim_complete(copy)
    small.write_bytes(saved)
    small.unlink()
    with pytest.raises(IncompleteSkimError, match=r"lacks 1 parquet part\(s\) its summary lists"):
        check_skim_complete(copy)
    assert check_skim_complete(copy, check_parts=False)["complete"]
    summary.update(complete=False, chunks={"planned": 100, "done": 73})
    summary["command"] = ["python", "run_skim.py", "--output-dir", "out dir"]
    (copy / "summary.json").write_text(json.dumps(summary))
    with pytest.raises(
        IncompleteSkimError,
        match=r"is incomplete: 73 of 100 chunks done; re-run `python run_skim.py --output-dir "
        r"'out dir'` to finish it",
    ):
        check_skim_complete(copy)
    assert issubclass(IncompleteSkimError, ValueError)


def _cut(path, keep=0.5):
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


@pytest.mark.parametrize("victim", ["part", "partial"])
def test_resume_recomputes_truncated_parts_and_partials(
    files, reference, tmp_path, caplog, victim
):
    out = tmp_path / "out"
    fileset = _fileset(tmp_path, files)
    assert _run(fileset, out, "--max-chunks", "3") == 0
    part = sorted((out / "skim" / "dataset=toy").glob("*.parquet"))[0]
    chunk_id = part.stem[len("part-") :]
    partial = out / "_partials" / f"{chunk_id}.pkl"
    target = part if victim == "part" else partial
    _cut(target)
    with pytest.raises(CorruptChunkError, match=re.escape(str(target))):
        verified_rows(out, "toy", chunk_id)
    with caplog.at_level(logging.WARNING, logger="processors.integrity"):
        assert _run(fileset, out) == 0
    assert str(target) in caplog.text and "recomputing that chunk" in caplog.text
    chunks = check_skim_complete(out)["datasets"]["toy"]["chunks"]
    assert chunks == {"total": 8, "reused": 2, "processed": 6, "failed": 0}
    cutflow, frame = _snapshot(out)
    ref_cutflow, ref_frame = _snapshot(reference)
    assert cutflow == ref_cutflow
    pd.testing.assert_frame_equal(frame, ref_frame)


def test_merge_names_an_unreadable_partial(reference, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(reference, copy)
    partial = sorted((copy / "_partials").glob("*.pkl"))[0]
    _cut(partial, keep=0.3)
    with pytest.raises(
        CorruptPartialError, match=rf"chunk partial {re.escape(str(partial))} cannot be read"
    ):
        merge_partials(copy, [partial.stem])


def _corrupt_last_basket(source, target, branch="Muon_charge"):
    """Copy ``source`` with the compression header of ``branch``'s (compressed) last basket
    overwritten: the file passes the pre-flight, and reading its last entries fails."""
    shutil.copy(source, target)
    with uproot.open(target) as handle:
        b = handle["Events"][branch]
        seek = int(b.member("fBasketSeek")[b.num_baskets - 1])
    with open(target, "r+b") as handle:
        handle.seek(seek + 14)  # TKey: fNbytes, fVersion, fObjlen, fDatime, then fKeylen
        (keylen,) = struct.unpack(">h", handle.read(2))
        handle.seek(seek + keylen)
        handle.write(b"XX")
    return target


def test_a_file_breaking_part_way_leaves_an_incomplete_summary(files, tmp_path, capsys):
    out = tmp_path / "out"
    broken = _corrupt_last_basket(files[1], tmp_path / "broken.root")
    assert _run(_fileset(tmp_path, [files[0]]), out) == 0
    assert check_skim_complete(out)["complete"]
    # the next run into the same directory fails on its last chunk: the old summary must go
    assert _run(_fileset(tmp_path, [files[0], broken]), out) == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert f"reading entries 6000-8000 of {broken} failed" in line
    summary = json.loads((out / "summary.json").read_text())
    assert summary["complete"] is False and summary["chunks"] == {
        "planned": 8,
        "done": 7,
        "skipped": 0,
    }
    with pytest.raises(
        IncompleteSkimError,
        match=r"is incomplete: 7 of 8 chunks done \(stopped by: reading entries 6000-8000 .*\); "
        r"re-run `python run_skim.py --fileset",
    ):
        check_skim_complete(out)


def test_skip_bad_files_drops_every_chunk_of_a_file_breaking_part_way(files, reference, tmp_path):
    out = tmp_path / "out"
    broken = _corrupt_last_basket(files[1], tmp_path / "broken.root")
    assert _run(_fileset(tmp_path, [files[0], broken]), out, "--skip-bad-files") == 0
    summary = check_skim_complete(out)
    (skipped,) = summary["skipped_files"]
    assert skipped["path"] == str(broken) and skipped["events"] == N_EVENTS
    assert "reading entries 6000-8000" in skipped["reason"]
    assert summary["chunks"] == {"planned": 8, "done": 4, "skipped": 4}
    toy = summary["datasets"]["toy"]
    assert toy["files"] == [str(files[0])] and toy["events_in"] == N_EVENTS
    assert toy["inputs"][str(broken)]["chunks_done"] == 0
    assert summary["inputs"]["events_skipped"] == N_EVENTS
    # what is left is exactly the good file's skim
    only_good = tmp_path / "good"
    assert _run(_fileset(tmp_path, [files[0]]), only_good) == 0
    cutflow, frame = _snapshot(out)
    good_cutflow, good_frame = _snapshot(only_good)
    assert cutflow == good_cutflow and len(frame) == toy["events_out"]
    pd.testing.assert_frame_equal(frame, good_frame)
    assert len(list((out / "_partials").glob("*.pkl"))) == 4


def test_a_run_stopped_in_its_preflight_does_not_leave_the_old_complete_summary(files, tmp_path):
    out = tmp_path / "out"
    assert _run(_fileset(tmp_path, [files[0]]), out) == 0
    truncated = tmp_path / "truncated.root"
    truncated.write_bytes(files[1].read_bytes()[:100_000])
    assert _run(_fileset(tmp_path, [files[0], truncated]), out) == 2
    with pytest.raises(
        IncompleteSkimError,
        match=rf"incomplete: its last run stopped before planning its chunks \(stopped by: input "
        rf"file {re.escape(str(truncated))} is truncated: 100,000 bytes.*\); re-run `python",
    ):
        check_skim_complete(out)
    # re-running the good fileset reuses every chunk and makes it complete again
    assert _run(_fileset(tmp_path, [files[0]]), out) == 0
    assert check_skim_complete(out)["datasets"]["toy"]["chunks"]["reused"] == 4
