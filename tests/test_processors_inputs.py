"""Chunking, reading and executors: small known cases."""

import math

import awkward as ak
import numpy as np
import pytest
import uproot

from processors.config import PRESETS
from processors.executors import execute
from processors.inputs import (
    TreeCache,
    entry_ranges,
    inspect_file,
    optional_branches,
    read_events,
    required_branches,
)


def test_entry_ranges_follow_basket_boundaries():
    assert entry_ranges(1000, 300) == [(0, 300), (300, 600), (600, 1000)]  # no 100-event tail
    assert entry_ranges(1000, 100, [0, 1, 2, 1000]) == [(i, i + 100) for i in range(0, 1000, 100)]
    # baskets of 200 entries: chunks of ~250 snap to basket edges
    edges = list(range(0, 1001, 200))
    assert entry_ranges(1000, 250, edges) == [
        (0, 200),
        (200, 400),
        (400, 600),
        (600, 800),
        (800, 1000),
    ]
    # one basket per file: no edge near the target, cut evenly
    assert entry_ranges(2000, 400, [0, 2000]) == [
        (0, 400),
        (400, 800),
        (800, 1200),
        (1200, 1600),
        (1600, 2000),
    ]
    assert entry_ranges(0, 100) == []
    with pytest.raises(ValueError, match="chunk size must be a positive number of events, got 0"):
        entry_ranges(10, 0)


def test_required_branches_per_preset():
    assert required_branches(PRESETS["kinematics_only"]) == [
        "Muon_pt",
        "Muon_eta",
        "Muon_phi",
        "Muon_charge",
    ]
    full = required_branches(PRESETS["upsilon_antiiso"])
    assert {
        "run",
        "Muon_tightId",
        "Muon_pfRelIso04_all",
        "Muon_ip3d",
        "Jet_btagDeepFlavB",
        "PV_npvsGood",
        "HLT_TrkMu15_DoubleTrkMu5NoFiltersNoVtx",
    } <= set(full)
    assert "HLT_TrkMu15_DoubleTrkMu5NoFiltersNoVtx" not in required_branches(PRESETS["inclusive"])
    # kinematics_only reads event ids and the per-muon skim branches when a file has them
    optional = optional_branches(PRESETS["kinematics_only"])
    assert optional[:3] == ["run", "luminosityBlock", "event"] and optional[-1] == "Truth_process"
    assert {"Muon_pfRelIso04_all", "Muon_ip3d", "Muon_dxy", "Muon_dz"} <= set(optional)
    assert optional_branches(PRESETS["upsilon_antiiso"]) == ["Truth_process"]


@pytest.fixture
def tiny_file(tmp_path):
    path = tmp_path / "tiny.root"
    muons = ak.zip(
        {
            "pt": [[20.0, 10.0], [], [5.0]],
            "eta": [[0.1, 0.2], [], [1.0]],
            "phi": [[0.0, 3.0], [], [1.0]],
            "charge": [[1, -1], [], [1]],
        }
    )
    with uproot.recreate(path) as handle:
        tree = handle.mktree("Events", {"Muon": muons.type.content, "HLT_Mu8": "bool"})
        tree.extend({"Muon": muons, "HLT_Mu8": np.array([True, False, True])})
    return path


def test_read_events_builds_nanoaod_layout(tiny_file):
    info = inspect_file(str(tiny_file), "Events", PRESETS["kinematics_only"])
    assert info.num_entries == 3 and info.boundaries == (0, 3) and info.uuid
    cache = TreeCache(capacity=1)
    tree = cache.get(str(tiny_file), "Events")
    assert cache.get(str(tiny_file), "Events") is tree  # reused, not reopened
    events = read_events(tree, [*info.branches, "HLT_Mu8"], 1, 3)
    assert ak.fields(events) == ["Muon", "HLT"]
    assert events.Muon.pt.tolist() == [[], [5.0]] and events.HLT.Mu8.tolist() == [False, True]
    cache.clear()


def _sqrt(x):
    return math.sqrt(x)


def _check(outcomes):
    results = {item: (result, error) for item, result, error in outcomes}
    assert results[4.0] == (2.0, None) and results[9.0] == (3.0, None)
    assert results[-1.0][0] is None and isinstance(results[-1.0][1], ValueError)


def test_iterative_executor_reports_each_item():
    # the futures executor runs the skim in test_run_skim.py
    items = [4.0, -1.0, 9.0]
    _check(execute(items, _sqrt, executor="iterative"))
    assert list(execute([], _sqrt, executor="futures", workers=2)) == []
    with pytest.raises(ValueError, match="unknown executor 'spark'"):
        execute(items, _sqrt, executor="spark")


def test_dask_executor_attaches_to_a_scheduler():
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0"
    ) as cluster:
        _check(
            execute([4.0, -1.0, 9.0], _sqrt, executor="dask", scheduler=cluster.scheduler_address)
        )


def test_code_zip_holds_the_toolkit_and_its_hash():
    import io
    import zipfile

    from dimuon_ad.workers import code_hash, code_zip

    name, data = code_zip()
    names = set(zipfile.ZipFile(io.BytesIO(data)).namelist())
    assert {"processors/chunks.py", "ml/cathode.py", "analysis/pipeline.py"} <= names
    assert f"_dimuon_ad_code_{code_hash()[:16]}.py" in names and name.endswith(".zip")
