"""Tests of the synthetic DoubleMuon-like NanoAOD generator (toymc)."""

from __future__ import annotations

import warnings

import awkward as ak
import numpy as np
import pytest
import uproot

import toymc
from processors.observables import dimuon_kinematics
from toymc.cli import main
from toymc.kinematics import MUON_MASS_GEV, two_body_decay
from toymc.triggers import TRIGGERS
from toymc.truth import PDG_MASS_GEV, Process

N_SMALL = 20_000


@pytest.fixture(scope="module")
def events() -> dict:
    return toymc.generate_events(N_SMALL, seed=3)


@pytest.fixture(scope="module")
def clean_events() -> dict:
    """No extra muons: the two muons of a 2-muon event are the generated pair."""
    return toymc.generate_events(N_SMALL, seed=5, config=toymc.ToyConfig(extra_muon_fraction=0.0))


@pytest.fixture(scope="module")
def small_file(tmp_path_factory) -> tuple:
    path = tmp_path_factory.mktemp("toymc") / "small.root"
    toymc.write_nanoaod(path, 3_000, seed=7, chunk_size=700, progress=False)
    return path


def _pair_mass(events: dict, mask: np.ndarray) -> np.ndarray:
    pt = ak.to_numpy(events["Muon_pt"][mask][:, :2])
    eta = ak.to_numpy(events["Muon_eta"][mask][:, :2])
    phi = ak.to_numpy(events["Muon_phi"][mask][:, :2])
    return _mass(pt, eta, phi)


def _mass(pt: np.ndarray, eta: np.ndarray, phi: np.ndarray) -> np.ndarray:
    """Invariant mass of the first two muons (the skim's processors.observables)."""
    return dimuon_kinematics(pt[:, 0], eta[:, 0], phi[:, 0], pt[:, 1], eta[:, 1], phi[:, 1])["mass"]


# --- kinematics --------------------------------------------------------------------------------


def test_sample_uses_the_shared_muon_mass():
    from dimuon_ad.constants import MUON_MASS_GEV as shared
    from processors.observables import MUON_MASS

    assert MUON_MASS_GEV == MUON_MASS == shared == pytest.approx(0.1056583755)


def test_two_body_decay_conserves_mass_and_momentum():
    rng = np.random.default_rng(0)
    mass = np.array([3.0969, 9.4603, 91.1876])
    pt, eta, phi = two_body_decay(rng, mass, np.array([0.0, 20.0, 5.0]), np.zeros(3) + 0.3, np.ones(3))
    np.testing.assert_allclose(_mass(pt, eta, phi), mass, rtol=1e-9)
    px = (pt * np.cos(phi)).sum(axis=1)
    py = (pt * np.sin(phi)).sum(axis=1)
    np.testing.assert_allclose(np.hypot(px, py), [0.0, 20.0, 5.0], atol=1e-9)


# --- determinism and schema ----------------------------------------------------------------------


def test_same_seed_same_arrays_different_seed_differs(events):
    again = toymc.generate_events(N_SMALL, seed=3)
    assert again.keys() == events.keys()
    for key in events:
        assert ak.array_equal(ak.Array(events[key]), ak.Array(again[key])), key
    other = toymc.generate_events(N_SMALL, seed=4)
    assert not ak.array_equal(events["Muon_pt"], other["Muon_pt"])


def test_branches_and_dtypes(events):
    flat = {"run": np.uint32, "luminosityBlock": np.uint32, "event": np.uint64,
            "nMuon": np.int32, "nJet": np.int32, "MET_pt": np.float32, "MET_phi": np.float32,
            "MET_sumEt": np.float32, "PV_npvsGood": np.int32, "PV_x": np.float32,
            "PV_y": np.float32, "PV_z": np.float32, "Truth_process": np.int32}  # fmt: skip
    for key, dtype in flat.items():
        assert events[key].dtype == dtype, key
        assert events[key].shape == (N_SMALL,)
    for name in TRIGGERS:
        assert events[name].dtype == np.bool_
    assert "HLT_TrkMu15_DoubleTrkMu5NoFiltersNoVtx" in events
    assert "HLT_Mu17_TrkIsoVVL_Mu8_TrkIsoVVL_DZ" in events
    muon = {"pt": "float32", "eta": "float32", "phi": "float32", "mass": "float32",
            "charge": "int32", "tightId": "bool", "mediumId": "bool", "looseId": "bool",
            "softId": "bool", "pfRelIso03_all": "float32", "pfRelIso04_all": "float32",
            "jetRelIso": "float32", "jetIdx": "int32", "ip3d": "float32", "sip3d": "float32",
            "dxy": "float32", "dz": "float32"}  # fmt: skip
    jet = {f: "float32" for f in "pt eta phi mass btagDeepFlavB btagDeepB btagCSVV2 qgl chHEF "
           "neHEF chEmEF neEmEF muEF".split()} | {"nConstituents": "int32", "nMuons": "int32"}
    for coll, fields in (("Muon", muon), ("Jet", jet)):
        for field, dtype in fields.items():
            arr = events[f"{coll}_{field}"]
            assert str(ak.type(arr).content.content) == dtype, (coll, field)
            np.testing.assert_array_equal(ak.num(arr), events[f"n{coll}"])


def test_event_ids(events):
    assert events["run"].min() >= 281613 and events["run"].max() <= 284044
    assert np.unique(events["event"]).size == N_SMALL
    ids = np.stack([events["run"], events["luminosityBlock"]], axis=1)
    assert np.all(np.diff(ids[:, 0].astype(np.int64)) >= 0)


def test_muons_ordered_and_consistent(events):
    pt = events["Muon_pt"]
    assert ak.all(pt[:, 1:] <= pt[:, :-1])
    assert ak.all(abs(events["Muon_charge"]) == 1)
    assert ak.all(abs(events["Muon_eta"]) < 2.4) and ak.all(pt > 3.0)
    tight, medium, loose = events["Muon_tightId"], events["Muon_mediumId"], events["Muon_looseId"]
    assert not ak.any(tight & ~loose) and not ak.any(medium & ~loose)
    assert not ak.any(tight & (abs(events["Muon_dxy"]) >= 0.2))
    ip3d = np.hypot(ak.flatten(events["Muon_dxy"]), ak.flatten(events["Muon_dz"]))
    np.testing.assert_allclose(ak.flatten(events["Muon_ip3d"]), ip3d, rtol=2e-3, atol=1e-6)
    iso03, iso04 = ak.flatten(events["Muon_pfRelIso03_all"]), ak.flatten(events["Muon_pfRelIso04_all"])
    assert np.all(iso03 <= iso04 * 1.02 + 1e-6)
    assert ak.all(events["Jet_pt"][:, 1:] <= events["Jet_pt"][:, :-1])
    assert ak.all(events["Jet_pt"] >= 15.0)


def test_cross_references_valid(events):
    jet_idx = events["Muon_jetIdx"]
    assert ak.all((jet_idx >= -1) & (jet_idx < events["nJet"]))
    assert ak.any(jet_idx >= 0)
    for key in ("Jet_muonIdx1", "Jet_muonIdx2"):
        assert ak.all((events[key] >= -1) & (events[key] < events["nMuon"]))
    # a jet's first muon points back at that jet; nMuons counts the muons pointing at it
    mu_offsets = np.concatenate([[0], np.cumsum(events["nMuon"])])
    idx1 = events["Jet_muonIdx1"]
    has = ak.to_numpy(ak.flatten(idx1 >= 0))
    event_of_jet = np.repeat(np.arange(N_SMALL), events["nJet"])
    global_mu = mu_offsets[event_of_jet] + ak.to_numpy(ak.flatten(idx1))
    back = ak.to_numpy(ak.flatten(jet_idx))[global_mu[has]]
    np.testing.assert_array_equal(back, ak.to_numpy(ak.flatten(ak.local_index(idx1)))[has])
    counts = ak.sum(jet_idx[:, None, :] == ak.local_index(events["Jet_pt"])[:, :, None], axis=2)
    assert ak.all(counts == events["Jet_nMuons"])
    total = sum(events[k] for k in ("Jet_chHEF", "Jet_neHEF", "Jet_chEmEF", "Jet_neEmEF", "Jet_muEF"))
    assert ak.all(abs(total - 1.0) < 0.05)


# --- physics --------------------------------------------------------------------------------------


def test_resonances_opposite_sign_continuum_both(clean_events):
    events = clean_events
    q = events["Muon_charge"]
    two = (events["nMuon"] == 2)
    os_ = ak.to_numpy(ak.sum(q, axis=1) == 0) & two
    truth = events["Truth_process"]
    res = two & Process.is_resonance(truth)
    assert res.sum() > 1000 and np.all(os_[res])
    hf = two & (truth == Process.HEAVY_FLAVOUR)
    ss_frac = 1.0 - os_[hf].mean()
    assert 0.25 < ss_frac < 0.42
    dif = two & (truth == Process.DECAY_IN_FLIGHT)
    assert 0.4 < 1.0 - os_[dif].mean() < 0.6


@pytest.mark.parametrize("proc", [Process.JPSI, Process.UPSILON_1S, Process.Z])
def test_mass_peaks_at_pdg_mass_with_resolution(clean_events, proc):
    events = clean_events
    mask = (events["Truth_process"] == proc) & (events["nMuon"] == 2)
    m = _pair_mass(events, mask)
    pdg = PDG_MASS_GEV[proc]
    assert np.median(m) == pytest.approx(pdg, rel=0.004)
    if proc != Process.Z:  # the Z's natural width (2.7 %) dominates
        q16, q84 = np.percentile(m, [16, 84])
        resolution = 0.5 * (q84 - q16) / pdg
        assert 0.008 < resolution < 0.02


def test_heavy_flavour_displaced_prompt_not(events):
    truth = np.repeat(events["Truth_process"], events["nMuon"])
    ip3d = ak.to_numpy(ak.flatten(events["Muon_ip3d"]))
    iso = ak.to_numpy(ak.flatten(events["Muon_pfRelIso04_all"]))
    hf = np.median(ip3d[truth == Process.HEAVY_FLAVOUR])
    prompt = np.median(ip3d[(truth == Process.DRELL_YAN) | (truth == Process.JPSI)])
    assert 0.01 < hf < 0.1
    assert prompt < 0.005 and hf > 5 * prompt
    hard = ak.to_numpy(ak.flatten(events["Muon_pt"])) > 10.0
    assert np.median(iso[hard & (truth == Process.HEAVY_FLAVOUR)]) > 0.55
    assert np.median(iso[hard & (truth == Process.DRELL_YAN)]) < 0.06


# --- injection --------------------------------------------------------------------------------------


def test_injected_signal_mass_yield_and_background_untouched(events):
    signal = toymc.InjectedSignal(mass=7.0, width=0.01, n_events=400)
    injected = toymc.generate_events(N_SMALL, seed=3, signal=signal)
    is_sig = injected["Truth_process"] == Process.INJECTED
    assert is_sig.sum() == 400
    # background events are the same as without injection
    keep = ~is_sig
    assert ak.array_equal(injected["Muon_pt"][keep], events["Muon_pt"][keep])
    two = is_sig & (injected["nMuon"] >= 2)
    m = _pair_mass(injected, two)
    assert np.median(m) == pytest.approx(7.0, rel=0.01)
    q = ak.to_numpy(ak.sum(injected["Muon_charge"][two][:, :2], axis=1))
    assert np.mean(q == 0) > 0.95
    # antiiso + prompt profile: anti-isolated, small impact parameters
    assert np.median(ak.to_numpy(injected["Muon_pfRelIso04_all"][two][:, 1])) > 0.55
    assert np.median(ak.to_numpy(injected["Muon_ip3d"][two][:, 0])) < 0.005


def test_injected_signal_fraction_and_profiles():
    signal = toymc.InjectedSignal(mass=25.0, fraction=0.05, isolation="iso", displacement="displaced")
    ev = toymc.generate_events(4_000, seed=2, signal=signal)
    is_sig = ev["Truth_process"] == Process.INJECTED
    assert is_sig.sum() == 200
    two = is_sig & (ev["nMuon"] >= 2)
    assert np.median(ak.to_numpy(ev["Muon_pfRelIso04_all"][two][:, 0])) < 0.15
    assert np.median(ak.to_numpy(ev["Muon_ip3d"][two][:, 0])) > 0.01


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"mass": 0.1, "n_events": 10}, "below the dimuon threshold"),
        ({"mass": 7.0}, "exactly one of n_events"),
        ({"mass": 7.0, "n_events": 10, "fraction": 0.1}, "exactly one of n_events"),
        ({"mass": 7.0, "fraction": 1.5}, "must be in \\(0, 1\\)"),
        ({"mass": 7.0, "n_events": 10, "isolation": "loose"}, "isolation='loose'"),
        ({"mass": 7.0, "n_events": 10, "width": -1.0}, "width=-1.0"),
    ],
)
def test_injected_signal_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        toymc.InjectedSignal(**kwargs)


def test_bad_arguments():
    with pytest.raises(ValueError, match="n_events=0"):
        toymc.generate_events(0)
    with pytest.raises(ValueError, match="exceeds the sample size"):
        toymc.generate_events(10, signal=toymc.InjectedSignal(mass=7.0, n_events=11))
    with pytest.raises(ValueError, match="unknown process 'TOP'"):
        toymc.ToyConfig(fractions={"TOP": 1.0})


# --- files ------------------------------------------------------------------------------------------


def test_file_content_equals_arrays(small_file):
    expected = toymc.generate_events(3_000, seed=7)
    tree = uproot.open(small_file)["Events"]
    assert tree.num_entries == 3_000
    keys = set(tree.keys())
    assert keys == set(expected)
    got = tree.arrays(library="ak")
    for key, value in expected.items():
        assert ak.array_equal(got[key], ak.Array(value)), key


def test_coffea_reads_without_warnings(small_file):
    from coffea.nanoevents import NanoAODSchema, NanoEventsFactory

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ev = NanoEventsFactory.from_root(
            {str(small_file): "Events"}, schemaclass=NanoAODSchema, mode="eager"
        ).events()
        matched_pt = ak.flatten(ev.Muon.matched_jet.pt)
        jet_muons = ev.Jet.matched_muons
        met, npv = ev.MET.pt, ev.PV.npvsGood
        trigger = ev.HLT.TrkMu15_DoubleTrkMu5NoFiltersNoVtx
    assert not [str(w.message) for w in caught]
    assert len(ev) == len(met) == len(npv) == len(trigger) == 3_000
    # Muon.matched_jet resolves to the jet at Muon_jetIdx (None for -1)
    jet_idx = ak.to_numpy(ak.flatten(ev.Muon.jetIdx))
    jet_offsets = np.concatenate([[0], np.cumsum(ak.to_numpy(ak.num(ev.Jet)))])
    event_of_mu = np.repeat(np.arange(len(ev)), ak.to_numpy(ak.num(ev.Muon)))
    has = jet_idx >= 0
    expected = ak.to_numpy(ak.flatten(ev.Jet.pt))[jet_offsets[event_of_mu[has]] + jet_idx[has]]
    np.testing.assert_array_equal(ak.to_numpy(matched_pt[has]), expected)
    assert ak.all(ak.is_none(matched_pt) == ~has)
    assert ak.sum(ak.count(jet_muons.pt, axis=2)) == ak.sum(ev.Jet.nMuons)


def test_lzma_file_readable(tmp_path):
    path = toymc.write_nanoaod(tmp_path / "lzma.root", 1_000, seed=2, compression="lzma", progress=False)
    tree = uproot.open(path)["Events"]
    expected = toymc.generate_events(1_000, seed=2)
    assert ak.array_equal(tree["Muon_pt"].array(), expected["Muon_pt"])
    assert not list(tmp_path.glob(".*tmp"))


def test_cli_writes_file(tmp_path):
    out = tmp_path / "sub" / "cli.root"
    rc = main(["--output", str(out), "--n-events", "500", "--seed", "4", "-q",
               "--inject-mass", "12", "--inject-events", "50"])  # fmt: skip
    assert rc == 0
    truth = uproot.open(out)["Events"]["Truth_process"].array(library="np")
    assert truth.size == 500 and np.sum(truth == Process.INJECTED) == 50


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["--n-events", "-3"], "n_events=-3"),
        (["--inject-mass", "7"], "--inject-mass needs --inject-events"),
        (["--inject-events", "7"], "need --inject-mass"),
        (["--inject-mass", "0.05", "--inject-events", "7"], "below the dimuon threshold"),
        (["--compression", "gzip"], "invalid choice: 'gzip'"),
        (["--seed", "abc"], "invalid int value: 'abc'"),
        (["--output", "x.txt"], "should end in .root"),
    ],
)
def test_cli_bad_arguments_one_line(tmp_path, capsys, argv, match):
    rc = main(["--output", str(tmp_path / "bad.root"), "-q", *argv])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert len(err.splitlines()) == 1 and err.startswith("python -m toymc: error:")
    assert match in err
    assert not (tmp_path / "bad.root").exists()
