"""Synthetic GamGam ntuples: the release's ``mini`` schema, MeV, seeding, weights, truth."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest
import uproot

from toymc.gamgam.cli import main
from toymc.gamgam.generator import data_chunks, mc_chunks
from toymc.gamgam.production import generate_samples
from toymc.gamgam.samples import MC
from toymc.gamgam.schema import BRANCHES, TRUTH_BRANCH
from toymc.gamgam.writer import write_mini

#: the branches of the 2020 release's mini tree, as the seed notebook lists them
SEED_BRANCHES = """runNumber eventNumber channelNumber mcWeight scaleFactor_PILEUP scaleFactor_ELE
scaleFactor_MUON scaleFactor_PHOTON scaleFactor_TAU scaleFactor_BTAG scaleFactor_LepTRIGGER
scaleFactor_PhotonTRIGGER trigE trigM trigP lep_n lep_truthMatched lep_trigMatched lep_pt lep_eta
lep_phi lep_E lep_z0 lep_charge lep_type lep_isTightID lep_ptcone30 lep_etcone20
lep_trackd0pvunbiased lep_tracksigd0pvunbiased met_et met_phi jet_n jet_pt jet_eta jet_phi jet_E
jet_jvt jet_trueflav jet_truthMatched jet_MV2c10 photon_n photon_truthMatched photon_trigMatched
photon_pt photon_eta photon_phi photon_E photon_isTightID photon_ptcone30 photon_etcone20
photon_convType tau_n tau_pt tau_eta tau_phi tau_E tau_isTightID tau_truthMatched tau_trigMatched
tau_nTracks tau_BDTid ditau_m lep_pt_syst met_et_syst jet_pt_syst photon_pt_syst tau_pt_syst
XSection SumWeights largeRjet_n largeRjet_pt largeRjet_eta largeRjet_phi largeRjet_E largeRjet_m
largeRjet_truthMatched largeRjet_D2 largeRjet_tau32 largeRjet_pt_syst tau_charge""".split()


@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    """Small MC samples (VBF, ttH: 3000 generated events each) with their truth.json."""
    out = tmp_path_factory.mktemp("gamgam")
    truth = generate_samples(out, samples=("VBF", "ttH"), n_events={"VBF": 3000, "ttH": 3000},
                             seed=5, progress=False)
    return out, truth


def _tree(path):
    return uproot.open(path)["mini"]


def test_schema_is_the_seed_list_plus_the_truth_branch():
    assert list(BRANCHES) == [*SEED_BRANCHES, TRUTH_BRANCH]


def test_written_file_has_every_branch_with_its_type(samples):
    out, _ = samples
    tree = _tree(out / MC["VBF"].filename)
    assert set(tree.keys()) == set(BRANCHES)
    typenames = {name: tree[name].typename for name in tree.keys()}
    assert typenames["photon_pt"] == "float[]" and typenames["photon_isTightID"] == "bool[]"
    assert typenames["lep_type"] == "uint32_t[]" and typenames["jet_trueflav"] == "int32_t[]"
    assert typenames["runNumber"] == "int32_t" and typenames["trigP"] == "bool"
    assert typenames["XSection"] == "float" and typenames["photon_n"] == "int32_t"
    counts = tree["photon_n"].array(library="np")
    np.testing.assert_array_equal(counts, ak.num(tree["photon_pt"].array()))


def test_momenta_are_in_mev_and_photons_sorted(samples):
    out, _ = samples
    pt = _tree(out / MC["VBF"].filename)["photon_pt"].array()
    assert np.median(ak.flatten(pt)) > 20_000  # MeV
    assert ak.all(pt[:, :-1] >= pt[:, 1:])
    assert ak.all(ak.num(pt) >= 2)  # the pre-skim: two photons above 20 GeV


def test_weights_xsection_and_sumweights(samples):
    out, truth = samples
    arrays = _tree(out / MC["ttH"].filename).arrays(["mcWeight", "XSection", "SumWeights"],
                                                    library="np")
    negative = np.mean(arrays["mcWeight"] < 0)
    assert 0.18 < negative < 0.32  # aMC@NLO-like ttH: 25 % negative
    assert arrays["XSection"][0] == pytest.approx(0.5071 * 2.27e-3, rel=1e-6)
    # SumWeights sums every generated event, also those the pre-skim dropped
    assert arrays["SumWeights"][0] == pytest.approx(truth["mc"]["ttH"]["sum_weights"], rel=1e-6)
    assert truth["mc"]["ttH"]["n_written"] < truth["mc"]["ttH"]["n_generated"] == 3000


def test_same_seed_same_events_other_seed_other_events():
    a = next(mc_chunks(MC["ggH"], 500, seed=1))
    b = next(mc_chunks(MC["ggH"], 500, seed=1))
    c = next(mc_chunks(MC["ggH"], 500, seed=2))
    assert ak.all(a["photon_pt"] == b["photon_pt"])
    assert len(a["photon_pt"]) != len(c["photon_pt"]) or not ak.all(
        a["photon_pt"] == c["photon_pt"])


def test_data_chunks_carry_truth_modes_and_no_weights(tmp_path):
    counts = {-1: 400, 0: 50, 4: 10}
    path = tmp_path / "data_A.GamGam.root"
    write_mini(path, data_chunks("A", counts, seed=1, fake_fraction=0.8))
    arrays = _tree(path).arrays(["truth_mode", "mcWeight", "runNumber", "channelNumber"],
                                library="np")
    modes = set(np.unique(arrays["truth_mode"]))
    assert modes <= {-1, 0, 4} and {-1, 0} <= modes
    assert np.all(arrays["mcWeight"] == 0)
    assert np.all((arrays["runNumber"] >= 297730) & (arrays["runNumber"] <= 300279))
    np.testing.assert_array_equal(arrays["runNumber"], arrays["channelNumber"])


def test_cli_rejects_an_unknown_sample_in_one_line(tmp_path, capsys):
    assert main(["--output-dir", str(tmp_path), "--samples", "ggH,WZ", "-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown sample(s) WZ" in err[0]
