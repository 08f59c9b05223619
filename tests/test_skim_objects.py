"""Object-list skim (``--objects``) and its streaming loader (ml.objects): columns equal the input
file's muons and jets, resumed runs equal uninterrupted ones, padded arrays round-trip the lists."""

import json

import awkward as ak
import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import uproot
from conftest import shared_file, toy_fileset

from dimuon_ad.errors import ConfigError, InputError
from ml.objects import ObjectLayout, iter_object_batches, load_objects
from processors.columns import SKIM_COLUMNS
from processors.config import PRESETS, make_config
from processors.objects import OBJECT_COLUMNS, OBJECT_FIELDS, object_branches
from run_skim import main

N_EVENTS = 6_000


def _skim(fileset, out, *extra, dataset="toy"):
    argv = ["--fileset", str(fileset), "--dataset", dataset, "--output-dir", str(out),
            "--no-progress", "-q", "--chunk-size", "2000"]
    return main(argv + list(extra))


def _table(out):
    """The whole skim as one arrow table in event order."""
    table = pq.read_table(out / "skim")
    return table.take(pc.sort_indices(table, [("event", "ascending")]))


@pytest.fixture(scope="module")
def fileset(tmp_path_factory):
    return toy_fileset(tmp_path_factory.mktemp("objects"), n_events=N_EVENTS, seed=11,
                       metadata={"is_data": False, "synthetic": True})


@pytest.fixture(scope="module")
def skim(fileset, tmp_path_factory):
    out = tmp_path_factory.mktemp("skim")
    assert _skim(fileset, out, "--objects") == 0
    return out


def test_objects_option_parses_and_is_validated():
    assert make_config(overrides={"objects": "true"}).objects is True
    assert make_config().objects is False
    assert make_config(overrides={"objects": True}).digest() != make_config().digest()
    # without objects the chunk ids are those of skims made before the option existed
    assert {name: make_config(name).digest() for name in PRESETS} == {
        "upsilon_antiiso": "31c7e045f665", "inclusive": "89c65027661e",
        "kinematics_only": "7d14d6691c87"}
    with pytest.raises(ConfigError, match="objects"):
        make_config(overrides={"objects": "maybe"})


def test_object_columns_are_the_input_objects(fileset, skim):
    table = _table(skim)
    assert table.column_names == [*SKIM_COLUMNS, *OBJECT_COLUMNS, "dataset"]
    summary = json.loads((skim / "summary.json").read_text())
    assert summary["config"]["objects"] is True
    frame = ak.from_arrow(table)
    with uproot.open(fileset.parent / "toy.root") as handle:
        events = handle["Events"].arrays(["event", *object_branches()])
    rows = np.searchsorted(events["event"].to_numpy(), frame["event"].to_numpy())
    assert (events["event"].to_numpy()[rows] == frame["event"].to_numpy()).all()
    for coll, (prefix, fields) in OBJECT_FIELDS.items():
        for field, suffix in fields.items():
            expected = events[f"{coll}_{field}"][rows]
            assert ak.all(frame[f"{prefix}_{suffix}"] == expected), f"{prefix}_{suffix}"
    assert (ak.num(frame["muon_pt"]).to_numpy() == frame["n_muons"].to_numpy()).all()
    assert (ak.num(frame["jet_pt"]).to_numpy() == frame["n_jets"].to_numpy()).all()
    has_jet = frame["n_jets"].to_numpy() > 0
    np.testing.assert_array_equal(ak.to_numpy(ak.firsts(frame["jet_pt"][has_jet])),
                                  frame["jet0_pt"].to_numpy()[has_jet])
    assert table.schema.field("muon_tightId").type.value_type == "bool"
    assert table.schema.field("muon_charge").type.value_type == "int32"


def test_resumed_object_skim_equals_uninterrupted(fileset, skim, tmp_path):
    assert _skim(fileset, tmp_path, "--objects", "--max-chunks", "1") == 0
    assert _skim(fileset, tmp_path, "--objects") == 0
    summary = json.loads((tmp_path / "summary.json").read_text())["datasets"]["toy"]
    assert summary["chunks"]["reused"] == 1 and summary["chunks"]["processed"] == 2
    assert _table(tmp_path).equals(_table(skim))
    # the flat skim of the same directory drops the lists (other settings, other chunks)
    assert _skim(fileset, tmp_path) == 0
    assert _table(tmp_path).column_names == [*SKIM_COLUMNS, "dataset"]


def _untransform(values, how):
    return np.expm1(values) if how == "log1p" else values


def test_loader_round_trips_the_lists(skim):
    layout = ObjectLayout(max_objects={"muon": 2, "jet": 3})
    X, flat = load_objects(skim, layout, columns=["event", "n_jets"], batch_size=1000)
    frame = ak.from_arrow(_table(skim))
    order = np.argsort(flat["event"])
    X = X[order]
    assert X.shape == (len(frame), 5, 2 + len(layout.features)) and X.dtype == np.float32
    names = layout.feature_names
    assert names[:2] == ("is_muon", "is_jet")
    mask = (X != 0).any(axis=-1)
    n_mu = np.minimum(ak.num(frame["muon_pt"]).to_numpy(), 2)
    n_jet = np.minimum(ak.num(frame["jet_pt"]).to_numpy(), 3)
    np.testing.assert_array_equal(mask[:, :2].sum(1), n_mu)
    np.testing.assert_array_equal(mask[:, 2:].sum(1), n_jet)
    for t, (prefix, start, k) in enumerate((("muon", 0, 2), ("jet", 2, 3))):
        padded = ak.fill_none(ak.pad_none(frame[f"{prefix}_pt"], k, clip=True), 0.0)
        np.testing.assert_allclose(
            np.expm1(X[:, start : start + k, names.index("pt")]), ak.to_numpy(padded), rtol=1e-5
        )
        assert (X[:, start : start + k, t][mask[:, start : start + k]] == 1).all()
    eta = ak.to_numpy(ak.fill_none(ak.pad_none(frame["muon_eta"], 2, clip=True), 0.0))
    np.testing.assert_array_equal(X[:, :2, names.index("eta")], eta)
    # a field the type lacks is 0: no b-tag on muons, no isolation on jets
    assert (X[:, :2, names.index("btagDeepFlavB")] == 0).all()
    assert (X[:, 2:, names.index("iso04")] == 0).all()
    # batches of any size give the same rows; a filter selects rows in pyarrow
    whole = np.concatenate([xb for xb, _ in iter_object_batches(skim, layout, batch_size=10**6)])
    small = np.concatenate([xb for xb, _ in iter_object_batches(skim, layout, batch_size=333)])
    np.testing.assert_array_equal(whole, small)
    # dropped muon kinematics are 0, the jets keep theirs
    blind = ObjectLayout(max_objects={"muon": 2, "jet": 3}, drop={"muon": ("pt", "eta")})
    Xb, _ = load_objects(skim, blind, columns=["event"])
    Xb = Xb[order]
    assert (Xb[:, :2, names.index("pt")] == 0).all() and (Xb[:, :2, names.index("eta")] == 0).all()
    np.testing.assert_array_equal(Xb[:, 2:], X[:, 2:])
    np.testing.assert_array_equal(Xb[:, :2, names.index("phi")], X[:, :2, names.index("phi")])
    Xs, fs = load_objects(skim, layout, columns=["n_jets"], filter=pc.field("n_jets") >= 3,
                          sort_by_event=True)
    assert len(Xs) == (frame["n_jets"].to_numpy() >= 3).sum() and (fs["n_jets"] >= 3).all()
    assert (np.diff(fs["event"].astype(np.int64)) > 0).all()


def test_loader_errors_name_the_fix(fileset, skim, tmp_path):
    assert _skim(fileset, tmp_path, "--max-chunks", "1") == 0
    with pytest.raises(InputError, match=r"no object list columns .*run_skim.py --objects"):
        load_objects(tmp_path)
    with pytest.raises(ConfigError, match="unknown object feature 'ptt'"):
        ObjectLayout(features=("ptt",))
    with pytest.raises(ConfigError, match="drop=.*unknown type or a feature not in features"):
        ObjectLayout(drop={"muon": ("btag",)})
    with pytest.raises(ConfigError, match="unknown object type"):
        ObjectLayout(max_objects={"electron": 2})
    with pytest.raises(InputError, match="lacks column 'nope'"):
        load_objects(skim, columns=["nope"])


def test_missing_object_branch_is_one_line(fileset, tmp_path, capsys):
    with uproot.open(fileset.parent / "toy.root") as handle:
        tree = handle["Events"]
        keys = [k for k in tree.keys() if not k.startswith("n") and k != "Muon_mass"]
        arrays = tree.arrays(keys, entry_stop=500, how=dict)
    branches = {k: v for k, v in arrays.items() if not k.startswith(("Muon_", "Jet_"))}
    for coll in ("Muon", "Jet"):
        branches[coll] = ak.zip({k[len(coll) + 1 :]: v for k, v in arrays.items()
                                 if k.startswith(coll + "_")})
    with uproot.recreate(tmp_path / "nobtag.root") as handle:
        handle.mktree("Events", {name: a.type.content for name, a in branches.items()})
        handle["Events"].extend(branches)
    fs = tmp_path / "fs.json"
    fs.write_text(json.dumps({"nobtag": {"files": {"nobtag.root": "Events"}}}))
    capsys.readouterr()
    assert _skim(fs, tmp_path / "flat", dataset="nobtag") == 0  # without --objects: fine
    assert _skim(fs, tmp_path / "out", "--objects", dataset="nobtag") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Muon_mass" in err[0] and "objects" in err[0], err


def test_kinematics_only_file_keeps_the_muon_lists(tmp_path):
    path = shared_file("Run2012BC_DoubleMuParked_Muons_1000evts.root")
    fs = tmp_path / "fs.json"
    fs.write_text(json.dumps({"parked": {"files": {str(path): "Events"}}}))
    assert _skim(fs, tmp_path / "out", "--objects", "--preset", "kinematics_only",
                 dataset="parked") == 0
    names = pq.read_schema(next((tmp_path / "out" / "skim").rglob("*.parquet"))).names
    lists = [n for n in names if n in OBJECT_COLUMNS]
    assert lists == ["muon_pt", "muon_eta", "muon_phi", "muon_mass", "muon_charge"]
    X, _ = load_objects(tmp_path / "out", ObjectLayout(max_objects={"muon": 2},
                                                       features=("pt", "eta", "phi", "charge")))
    assert X.shape[1:] == (2, 6) and (X[:, :, 0] == 1).all()  # two muons in every event


@pytest.mark.filterwarnings("ignore:Branch .* already exists:RuntimeWarning")
def test_coffea_runner_gives_the_same_lists(fileset, skim):
    """The processor on coffea NanoEvents (processor.Runner) writes the chunked skim's lists."""
    from coffea import processor
    from coffea.nanoevents import NanoAODSchema

    from processors import DimuonProcessor

    runner = processor.Runner(
        executor=processor.IterativeExecutor(status=False, retries=0), schema=NanoAODSchema,
        chunksize=N_EVENTS,
    )
    result = runner({"toy": {"files": [str(fileset.parent / "toy.root")], "treename": "Events"}},
                    DimuonProcessor(make_config(overrides={"objects": True})), treename="Events")
    lists = {k: v.value for k, v in result["skim"]["toy"].items() if k in OBJECT_COLUMNS}
    assert list(lists) == list(OBJECT_COLUMNS)
    order = np.argsort(result["skim"]["toy"]["event"].value)
    frame = ak.from_arrow(_table(skim))
    for name, values in lists.items():
        assert ak.all(ak.Array(values)[order] == frame[name]), name
