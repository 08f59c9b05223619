"""The diphoton processor: MeV → GeV, the H → γγ presets on known-answer events, cutflows,
weighted-yield closure against the generator's truth, and one-line errors for bad files."""

from __future__ import annotations

import json

import awkward as ak
import numpy as np
import pandas as pd
import pytest

from processors.diphoton import DiphotonProcessor, check_mev
from processors.diphoton_columns import DIPHOTON_COLUMNS
from processors.diphoton_config import PRESETS, make_diphoton_config
from processors.diphoton_physics import (
    jet_columns,
    leading_pair,
    mc_event_weight,
    pair_mass_gev,
)
from run_skim import main
from toymc.gamgam.generator import mc_chunks
from toymc.gamgam.production import generate_samples
from toymc.gamgam.samples import MC
from toymc.gamgam.writer import write_mini

LUMI_FB = 10.0


# --- pure functions ----------------------------------------------------------------------------
def test_back_to_back_photons_of_62p5_gev_make_125_gev():
    m = pair_mass_gev(62_500.0, 0.0, 0.0, 62_500.0, 62_500.0, 0.0, np.pi, 62_500.0)
    assert m == pytest.approx(125.0)


def test_leading_pair_sorts_each_event_by_pt():
    pt = ak.Array([[1.0, 3.0, 2.0], [5.0], [], [4.0, 6.0]])
    tag = ak.Array([[10.0, 30.0, 20.0], [50.0], [], [40.0, 60.0]])
    (pt0, pt1), (t0, t1), (b0, b1) = leading_pair(pt, tag, pt > 2)
    np.testing.assert_array_equal(pt0, [3.0, 5.0, np.nan, 6.0])
    np.testing.assert_array_equal(t1, [20.0, np.nan, np.nan, 40.0])
    np.testing.assert_array_equal(b1, [False, False, False, True])


def test_jet_columns_in_gev_with_thresholds_and_btag():
    pt = ak.Array([[60_000.0, 40_000.0, 20_000.0], [30_000.0]])  # MeV; 20 GeV jet dropped
    eta = ak.Array([[2.0, -2.0, 0.0], [4.6]])  # |eta| 4.6 jet dropped
    phi = ak.Array([[0.0, 0.0, 0.0], [0.0]])
    e = pt * np.cosh(eta)
    mv2 = ak.Array([[0.9, 0.5, 0.99], [0.95]])
    cols = jet_columns(pt, eta, phi, e, mv2, pt_min=25.0, abs_eta_max=4.5, btag_min=0.83)
    np.testing.assert_array_equal(cols["n_jets"], [2, 0])
    np.testing.assert_array_equal(cols["n_bjets"], [1, 0])
    assert cols["jet0_pt"][0] == pytest.approx(60.0) and cols["deta_jj"][0] == pytest.approx(4.0)
    # massless, same phi: m² = 2 pT0 pT1 (cosh Δη − 1)
    assert cols["mjj"][0] == pytest.approx(np.sqrt(2 * 60 * 40 * (np.cosh(4.0) - 1)), rel=1e-6)
    assert np.isnan(cols["jet0_pt"][1]) and np.isnan(cols["mjj"][1])


def test_mc_weight_is_normalised_to_the_luminosity():
    w = mc_event_weight([2.0, -1.0], [[0.5, 0.5]], [0.1, 0.1], [4.0, 4.0], lumi_fb=10.0)
    np.testing.assert_allclose(w, [2.0 * 0.5 * 0.1 / 4 * 1e4, -1.0 * 0.5 * 0.1 / 4 * 1e4])


# --- the presets on hand-written events ------------------------------------------------------
def _events(photons: list[dict]):
    """Flat ``mini`` events, one per entry of ``photons`` (pt/eta/... lists in MeV)."""
    n = len(photons)
    rec = {f"photon_{k}": [p[k] for p in photons] for k in photons[0]}
    rec.update({"runNumber": [1] * n, "eventNumber": list(range(n)), "channelNumber": [343981] * n,
                "trigP": [True] * n, "met_et": [10_000.0] * n, "mcWeight": [1.0] * n,
                "XSection": [0.1] * n, "SumWeights": [float(n)] * n})
    for name in ("jet_pt", "jet_eta", "jet_phi", "jet_E", "jet_MV2c10", "lep_pt", "lep_eta"):
        rec[name] = [[] for _ in range(n)]
    rec["lep_isTightID"] = [[] for _ in range(n)]
    for sf in ("PILEUP", "PHOTON", "PhotonTRIGGER"):
        rec[f"scaleFactor_{sf}"] = [1.0] * n
    events = ak.Array(rec)
    for name in ("jet_pt", "jet_eta", "jet_phi", "jet_E", "jet_MV2c10", "lep_pt", "lep_eta",
                 "lep_isTightID"):  # typed empty lists, as read from a file
        dtype = bool if name == "lep_isTightID" else np.float32
        empty = ak.unflatten(np.zeros(0, dtype), np.zeros(n, np.int64))
        events = ak.with_field(events, empty, name)
    return ak.with_parameter(events, "metadata", {"dataset": "t", "lumi_fb": LUMI_FB})


def _pair(pt0=70_000.0, pt1=55_000.0, eta1=0.5, tight=True, ptcone1=0.0, etcone1=0.0):
    """Two photons with m ≈ 125 GeV (back to back at η 0 and ``eta1``, in MeV)."""
    # choose pt1 so that m = 125 GeV: m² = 2 pt0 pt1 (cosh(Δη) + 1) for Δφ = π
    pt1 = 125_000.0**2 / (2 * pt0 * (np.cosh(eta1) + 1)) if pt1 is None else pt1
    return {"pt": [pt0, pt1], "eta": [0.0, eta1], "phi": [0.0, np.pi],
            "E": [pt0, pt1 * np.cosh(eta1)], "isTightID": [True, tight],
            "trigMatched": [True, True], "ptcone30": [0.0, ptcone1], "etcone20": [0.0, etcone1]}


KNOWN = [
    ("passes", _pair(pt1=None)),
    ("non-tight", _pair(pt1=None, tight=False)),
    ("crack", _pair(pt1=None, eta1=1.45)),
    ("iso 0.075", {**_pair(pt1=None), "ptcone30": [0.0, 0.075 * 54_000]}),
    ("iso 0.05", _pair(pt1=None, ptcone1=1000.0, etcone1=-500.0)),
    ("pt/m", _pair(pt0=100_000.0, pt1=None, eta1=2.2)),
    ("window", _pair(pt0=90_000.0, pt1=80_000.0)),
]


def test_hgg_preset_on_known_events():
    events = _events([p for _, p in KNOWN])
    out = DiphotonProcessor(PRESETS["hgg"]).process(events)
    flow = out["cutflow"]["t"]
    assert list(flow) == ["all", "trigger", "two_photons", "tight_id", "trigger_match", "eta",
                          "isolation", "pt", "pt_over_mgg", "mass_window"]
    assert [flow[k] for k in ("all", "tight_id", "eta", "isolation", "pt_over_mgg",
                              "mass_window")] == [7, 6, 5, 4, 3, 2]
    skim = {k: v.value for k, v in out["skim"]["t"].items()}
    np.testing.assert_array_equal(skim["eventNumber"], [0, 4])  # passes, relative iso 0.018
    assert list(skim) == list(DIPHOTON_COLUMNS)
    np.testing.assert_allclose(skim["mgg"], 125.0, rtol=1e-5)
    np.testing.assert_allclose(skim["photon0_pt"], 70.0)  # GeV out
    np.testing.assert_array_equal(skim["truth_mode"], [0, 0])  # from the ggF channel number


def test_seed_raw_mev_isolation_rejects_any_track_and_loose_keeps_id_failures():
    events = _events([p for _, p in KNOWN])
    raw = DiphotonProcessor(PRESETS["seed_raw_mev"]).process(events)["cutflow"]["t"]
    assert raw["isolation"] == 3  # the 1 GeV track (0.018 relative) fails 0.065 MeV
    loose = DiphotonProcessor(PRESETS["loose"]).process(events)["cutflow"]["t"]
    assert "tight_id" not in loose and loose["mass_window"] == 4  # + non-tight, 0.075 iso


def test_weighted_cutflow_sums_the_mc_weights():
    events = _events([p for _, p in KNOWN])
    out = DiphotonProcessor().process(events)
    h = out["hists"]["cutflow_weighted"]
    per_event = 0.1 / 7 * LUMI_FB * 1000  # mcWeight 1, SFs 1, XSection 0.1 pb, SumWeights 7
    assert h[{"dataset": "t", "cut": "all"}].value == pytest.approx(7 * per_event)
    assert h[{"dataset": "t", "cut": "mass_window"}].value == pytest.approx(2 * per_event)
    assert out["hists"]["mgg"].sum().value == pytest.approx(2 * per_event)


def test_overrides_are_validated():
    cfg = make_diphoton_config("hgg", {"pt0_min": "40", "scale_factors": "PILEUP"})
    assert cfg.pt0_min == 40.0 and cfg.scale_factors == ("PILEUP",)
    with pytest.raises(ValueError, match="unknown diphoton setting 'pt_min'"):
        make_diphoton_config("hgg", {"pt_min": 1})
    with pytest.raises(ValueError, match="unknown scale factor 'PHOTONS'"):
        make_diphoton_config("hgg", {"scale_factors": "PHOTONS"})


def test_photon_pt_in_gev_is_a_unit_error():
    with pytest.raises(ValueError, match=r"file x\.root: photon_pt has a median of 50, which "
                                         r"looks like GeV"):
        check_mev(ak.Array([[50.0, 40.0], [60.0]]), "x.root")


# --- chunked skim of generated files -----------------------------------------------------------
@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """ggH and WH samples (2500 generated events each) with truth.json and a fileset."""
    out = tmp_path_factory.mktemp("gg")
    truth = generate_samples(out, samples=("ggH", "WH"), n_events={"ggH": 2500, "WH": 2500},
                             seed=9, progress=False)
    fileset = {label: {"files": {str(out / MC[label].filename): "mini"},
                       "metadata": {"is_data": False, "lumi_fb": LUMI_FB, "sample": label}}
               for label in ("ggH", "WH")}
    path = out / "fileset.json"
    path.write_text(json.dumps(fileset))
    return out, truth, path


def _skim(fileset, out, *extra):
    return main(["--analysis", "diphoton", "--fileset", str(fileset), "--output-dir", str(out),
                 "--no-progress", "--chunk-size", "1000", *extra])


def test_weighted_yields_close_on_xsection_times_lumi_times_truth_efficiency(generated, tmp_path):
    _, truth, fileset = generated
    assert _skim(fileset, tmp_path / "skim", "--dataset", "ggH", "--dataset", "WH") == 0
    flow = json.loads((tmp_path / "skim" / "cutflow_weighted.json").read_text())
    raw = json.loads((tmp_path / "skim" / "cutflow.json").read_text())
    df = pd.read_parquet(tmp_path / "skim" / "skim")
    for label in ("ggH", "WH"):
        expected = MC[label].xsection_pb * LUMI_FB * 1000 * truth["mc"][label]["truth_efficiency"]
        assert truth["mc"][label]["expected_yield"] == pytest.approx(expected)
        assert flow[label]["mass_window"]["sum"] == pytest.approx(expected, rel=0.01)
        assert df[df["sample"] == label]["weight"].sum() == pytest.approx(expected, rel=0.01)
        assert raw[label]["mass_window"] == truth["mc"][label]["n_pass"]
    assert list(df.columns[: len(DIPHOTON_COLUMNS)]) == list(DIPHOTON_COLUMNS)
    wh = df[df["sample"] == "WH"]
    assert (wh["n_leptons"] > 0).mean() > 0.05 and set(wh["truth_mode"]) == {2}
    summary = json.loads((tmp_path / "skim" / "summary.json").read_text())
    assert summary["complete"] and summary["config"]["analysis"] == "diphoton"


def _rewrite(source, target, change):
    import uproot

    arrays = uproot.open(source)["mini"].arrays(library="ak")
    chunk = {k: arrays[k] for k in arrays.fields if not k.endswith("_n")}
    write_mini(target, [change(chunk)])


def _one_error_line(capsys):
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("run_skim.py: error: "), lines
    return lines[0]


def test_a_file_in_gev_gets_one_line(generated, tmp_path, capsys):
    out, _, _ = generated
    bad = tmp_path / "gev.root"
    _rewrite(out / MC["WH"].filename, bad, lambda c: {**c, "photon_pt": c["photon_pt"] / 1000})
    fileset = tmp_path / "fs.json"
    fileset.write_text(json.dumps({"x": {"files": {str(bad): "mini"},
                                         "metadata": {"lumi_fb": LUMI_FB}}}))
    assert _skim(fileset, tmp_path / "o", "--dataset", "x") == 2
    assert "looks like GeV; the ATLAS mini schema stores MeV" in _one_error_line(capsys)


def test_a_file_lacking_a_branch_gets_one_line(generated, tmp_path, capsys):
    out, _, _ = generated
    import uproot

    bad = tmp_path / "noid.root"
    arrays = uproot.open(out / MC["WH"].filename)["mini"].arrays(
        ["photon_pt", "photon_eta", "runNumber"], library="ak")
    with uproot.recreate(bad) as f:
        tree = f.mktree("mini", {"photon_pt": "var * float32", "runNumber": "int32"},
                        counter_name=lambda name: "photon_n")
        tree.extend({"photon_pt": arrays["photon_pt"], "runNumber": arrays["runNumber"]})
    fileset = tmp_path / "fs.json"
    fileset.write_text(json.dumps({"x": {"files": {str(bad): "mini"},
                                         "metadata": {"lumi_fb": LUMI_FB}}}))
    assert _skim(fileset, tmp_path / "o", "--dataset", "x") == 2
    line = _one_error_line(capsys)
    assert "lacks branch(es) eventNumber, channelNumber, photon_eta" in line
    assert "ATLAS mini schema" in line


def test_mc_without_luminosity_is_a_config_error(generated, tmp_path, capsys):
    out, _, _ = generated
    fileset = tmp_path / "fs.json"
    fileset.write_text(json.dumps({"x": {"files": {str(out / MC["WH"].filename): "mini"}}}))
    assert _skim(fileset, tmp_path / "o", "--dataset", "x") == 2
    assert "simulated dataset 'x' has no \"lumi_fb\"" in _one_error_line(capsys)


def test_vbf_and_tth_kinematics():
    """Production-mode signatures at reco level (skim columns of 1500 generated events)."""
    out = {}
    for label in ("VBF", "ttH", "ggH"):
        chunk = next(mc_chunks(MC[label], 1500, seed=3))
        events = ak.with_parameter(ak.Array(chunk), "metadata",
                                   {"dataset": label, "lumi_fb": LUMI_FB})
        out[label] = {k: v.value for k, v in
                      DiphotonProcessor().process(events)["skim"][label].items()}
    assert np.nanmedian(out["VBF"]["deta_jj"]) > 3.5 and np.nanmedian(out["VBF"]["mjj"]) > 400
    assert np.nanmedian(out["ggH"]["deta_jj"]) < 3.0
    assert out["ttH"]["n_bjets"].mean() > 1.0 and out["ggH"]["n_bjets"].mean() < 0.1
    assert (out["ttH"]["mc_weight_sign"] < 0).mean() > 0.15


def test_the_seeds_raw_mev_isolation_keeps_about_a_seventh_of_the_higgs(generated, tmp_path):
    """The seed's raw-MeV cut kept 70.3 weighted Higgs events of the ≈480 expected at 10.6 fb⁻¹
    (≈0.15); the synthetic isolation energies are tuned to that."""
    _, _, fileset = generated
    yields = {}
    for preset in ("hgg", "seed_raw_mev"):
        out = tmp_path / preset
        assert _skim(fileset, out, "--dataset", "ggH", "--preset", preset) == 0
        flow = json.loads((out / "cutflow_weighted.json").read_text())
        yields[preset] = flow["ggH"]["mass_window"]["sum"]
    assert 0.10 < yields["seed_raw_mev"] / yields["hgg"] < 0.20
