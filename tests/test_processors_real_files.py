"""The skim on the real CMS NanoAOD test files of ../shared/data (skipped when absent)."""

import json

import numpy as np
import pandas as pd
import pytest
from conftest import shared_file

from processors.config import PRESETS, make_config
from processors.fileset import Dataset
from processors.inputs import MissingBranchError
from processors.integrity import check_skim_complete
from processors.skim import run_skim

DIMUON_2018 = "nano_dimuon_Run2018A_DoubleMuon_40evts.root"
DY = "nano_dy_DYJetsToLL_MC_40evts.root"
TTBAR_2015 = "nanoAOD_2015_ttbar_MC_200evts.root"
RUN2012 = "Run2012BC_DoubleMuParked_Muons_1000evts.root"


def _dataset(name, path, is_data=False):
    return Dataset(name, {str(path): "Events"}, {"is_data": is_data})


def _skim(tmp_path, name, path, preset, is_data=False, **options):
    out = tmp_path / name
    summary = run_skim(
        [_dataset(name, path, is_data)], PRESETS[preset], out, progress=False, **options
    )
    frame = pd.read_parquet(out / "skim")
    return summary, frame, out


def test_2018_doublemuon_has_27_tight_pairs(tmp_path):
    summary, frame, out = _skim(
        tmp_path, "dimuon2018", shared_file(DIMUON_2018), "inclusive", is_data=True
    )
    cutflow = json.loads((out / "cutflow.json").read_text())["dimuon2018"]
    assert cutflow == {"all": 40, "two_tightId_muons": 27}
    assert len(frame) == 27 and summary["datasets"]["dimuon2018"]["events_out"] == 27
    assert (frame["mu0_pt"] >= frame["mu1_pt"]).all()  # NanoAOD pT order of the tight muons
    np.testing.assert_allclose(frame["mumu_deltapT"], frame["mu0_pt"] - frame["mu1_pt"], rtol=1e-5)
    assert set(frame["dimu_charge"]) <= {-2, 0, 2}
    assert (frame["opposite_sign"] == (frame["dimu_charge"] == 0)).all()
    assert frame["run"].unique().tolist() == [315267]
    assert (frame["dimu_mass"] > 0).all() and frame["mumu_deltaR"].between(0, 10).all()


def test_2018_doublemuon_lacks_the_published_trigger(tmp_path):
    with pytest.raises(
        MissingBranchError,
        match=r"lacks branch\(es\) HLT_TrkMu15_DoubleTrkMu5NoFiltersNoVtx needed by preset "
        r"'upsilon_antiiso'; trigger .* is not in this file \(closest in the file: HLT_TrkMu",
    ):
        _skim(tmp_path, "dimuon2018", shared_file(DIMUON_2018), "upsilon_antiiso", is_data=True)


def test_2018_doublemuon_lumi_mask(tmp_path):
    path = shared_file(DIMUON_2018)
    golden = tmp_path / "golden.json"
    golden.write_text(json.dumps({"315267": [[1, 1]]}))  # certifies no lumi section of this file
    out = tmp_path / "masked"
    summary = run_skim(
        [_dataset("d", path, True)],
        PRESETS["inclusive"],
        out,
        lumi_mask=str(golden),
        progress=False,
    )
    assert summary["datasets"]["d"]["events_out"] == 0
    cutflow = json.loads((out / "cutflow.json").read_text())["d"]
    assert cutflow == {"all": 40, "two_tightId_muons": 27, "lumi_mask": 0}


def test_2015_ttbar_gives_empty_but_valid_output(tmp_path):
    summary, frame, out = _skim(tmp_path, "ttbar", shared_file(TTBAR_2015), "upsilon_antiiso")
    assert len(frame) == 0 and {"dimu_mass", "mu0_ip3d", "jet0_btagDeepFlavB"} <= set(frame.columns)
    cutflow = json.loads((out / "cutflow.json").read_text())["ttbar"]
    assert cutflow["all"] == 200 and cutflow["two_tightId_muons"] == 0 and cutflow["isolation"] == 0
    assert summary["datasets"]["ttbar"]["events_in"] == 200
    import uproot

    with uproot.open(out / "histograms.root") as handle:
        assert handle.keys() == []  # nothing selected, nothing to project
    assert (out / "histograms.coffea").is_file() and (out / "summary.json").is_file()


def test_2012_reduced_nanoaod_needs_kinematics_only(tmp_path):
    path = shared_file(RUN2012)
    with pytest.raises(
        MissingBranchError,
        match=r"Run2012BC.* lacks branch\(es\) Muon_tightId, Muon_pfRelIso04_all, run, "
        r"luminosityBlock, "
        r"event.* needed by preset 'upsilon_antiiso'.*--preset kinematics_only",
    ):
        _skim(tmp_path, "run2012", path, "upsilon_antiiso", is_data=True)
    summary, frame, out = _skim(tmp_path, "run2012", path, "kinematics_only", is_data=True)
    assert summary["datasets"]["run2012"]["events_in"] == 1000
    assert check_skim_complete(out)["chunks"] == {"planned": 1, "done": 1, "skipped": 0}
    cutflow = json.loads((out / "cutflow.json").read_text())["run2012"]
    assert len(frame) == cutflow["two_muons"] > 0
    assert "run" not in frame.columns and "mu0_iso04" not in frame.columns
    assert {"dimu_mass", "dimu_pt", "mumu_deltaR", "mu1_charge", "n_muons"} <= set(frame.columns)
    assert (frame["n_muons"] >= 2).all() and (frame["dimu_mass"] > 0).all()


def test_dy_simulation_runs(tmp_path):
    summary, frame, _ = _skim(tmp_path, "dy", shared_file(DY), "inclusive")
    assert len(frame) == 5 and summary["datasets"]["dy"]["events_out"] == 5
    assert frame["opposite_sign"].all()  # Drell-Yan pairs are opposite sign
    assert frame["dimu_mass"].between(60, 120).sum() >= 4  # the Z peak


@pytest.mark.filterwarnings("ignore:Branch .* already exists:RuntimeWarning")
def test_processor_runs_in_coffea_runner(tmp_path):
    """The same ProcessorABC on coffea NanoEvents gives the histograms of the chunked skim."""
    import coffea.util
    from coffea import processor
    from coffea.nanoevents import NanoAODSchema

    from processors import DimuonProcessor

    path = shared_file(DY)
    _, frame, out = _skim(tmp_path, "dy", path, "inclusive")
    runner = processor.Runner(
        executor=processor.IterativeExecutor(status=False, retries=0), schema=NanoAODSchema
    )
    result = runner(
        {"dy": {"files": [str(path)], "treename": "Events"}},
        DimuonProcessor(make_config("inclusive")),
        treename="Events",
    )
    ours = coffea.util.load(out / "histograms.coffea")
    assert result["cutflow"] == {"dy": {"all": 40, "two_tightId_muons": 5}}
    for name in ("mass", "mass_upsilon", "dimu_pt", "mu0_ip3d"):
        np.testing.assert_array_equal(
            result["hists"][name].values(flow=True), ours[name].values(flow=True)
        )
    np.testing.assert_array_equal(
        result["skim"]["dy"]["dimu_mass"].value, frame["dimu_mass"].to_numpy()
    )
