"""dimuon_ad.io: the one atomic-write implementation (temporary file, fsync, rename, cleanup)."""

from __future__ import annotations

import json
import os
import stat

import pytest

from dimuon_ad.io import (
    FILE_MODE,
    atomic_open,
    atomic_path,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
)


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_atomic_write_text_creates_parents_and_leaves_no_temporary(tmp_path):
    path = atomic_write_text(tmp_path / "sub" / "a.txt", "hello")
    assert path.read_text() == "hello"
    assert [p.name for p in path.parent.iterdir()] == ["a.txt"]


def test_atomic_write_bytes_replaces_and_uses_the_usual_file_mode(tmp_path):
    path = tmp_path / "a.bin"
    path.write_bytes(b"old")
    atomic_write_bytes(path, b"new")
    assert path.read_bytes() == b"new"
    assert _mode(path) == FILE_MODE  # not mkstemp's 0600


def test_atomic_write_json_passes_dumps_options(tmp_path):
    path = atomic_write_json(tmp_path / "a.json", {"b": 1, "a": 2}, sort_keys=True)
    assert path.read_text() == '{\n  "a": 2,\n  "b": 1\n}\n'
    path = atomic_write_json(tmp_path / "p.json", {"p": tmp_path}, indent=None, default=str)
    assert json.loads(path.read_text()) == {"p": str(tmp_path)}


def test_failure_keeps_the_old_file_and_removes_the_temporary(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("old")
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_open(path, "w") as fh:
            fh.write("half")
            raise RuntimeError("boom")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_atomic_path_gives_a_hidden_temporary_in_the_same_folder(tmp_path):
    path = tmp_path / "h.root"
    with atomic_path(path) as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".h.root.")
        assert tmp.name.endswith(".tmp")
        tmp.write_bytes(b"x")  # a writer that needs a file name (uproot, coffea, torch)
        assert not path.exists()
    assert path.read_bytes() == b"x"
    assert _mode(path) == FILE_MODE


def test_missing_folder_without_mkdir_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"folder .*nowhere does not exist; create it"):
        atomic_write_bytes(tmp_path / "nowhere" / "a.bin", b"", mkdir=False)


def test_atomic_open_rejects_read_modes(tmp_path):
    with pytest.raises(ValueError, match="expected 'wb' or 'w'"):
        with atomic_open(tmp_path / "a", "r"):
            pass


def test_to_jsonable_makes_results_json_safe():
    import numpy as np

    from dimuon_ad.io import to_jsonable

    data = {1: (np.float32(0.5), np.int64(3)), "a": np.array([1.0, np.nan]), "b": [float("inf")]}
    out = to_jsonable(data)
    assert out == {"1": [0.5, 3], "a": [1.0, None], "b": [None]}
    assert type(out["1"][1]) is int
    json.dumps(out, allow_nan=False)
