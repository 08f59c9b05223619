"""Observables and the lumi mask on hand-written inputs with known answers."""

from pathlib import Path

import awkward as ak
import numpy as np
import pytest

from processors.lumimask import LumiMask
from processors.observables import (
    MUON_MASS,
    delta_phi,
    delta_pt,
    delta_r,
    dimuon_kinematics,
    four_momentum,
    leading_jet,
)

DATA = Path(__file__).parent / "data"


def test_back_to_back_5gev_muons_make_10gev():
    out = dimuon_kinematics([5.0], [0.0], [0.0], [5.0], [0.0], [np.pi])
    expected = 2 * np.sqrt(25.0 + MUON_MASS**2)  # 10.0022 GeV
    assert out["mass"][0] == pytest.approx(expected, rel=1e-9)
    assert out["mass"][0] == pytest.approx(10.0, abs=3e-3)
    assert out["pt"][0] == pytest.approx(0.0, abs=1e-9)


def test_dimuon_kinematics_known_values():
    # two collinear muons: pT adds, eta and phi are the muons'
    out = dimuon_kinematics([3.0], [1.0], [0.5], [4.0], [1.0], [0.5], mass=0.0)
    assert out["pt"][0] == pytest.approx(7.0)
    assert out["eta"][0] == pytest.approx(1.0)
    assert out["phi"][0] == pytest.approx(0.5)
    assert out["mass"][0] == pytest.approx(0.0, abs=1e-6)
    # works on awkward input too
    out = dimuon_kinematics(
        ak.Array([5.0]),
        ak.Array([0.0]),
        ak.Array([0.0]),
        ak.Array([5.0]),
        ak.Array([0.0]),
        ak.Array([np.pi / 2]),
        mass=0.0,
    )
    assert out["mass"][0] == pytest.approx(np.sqrt(2 * 25 * (1 - 0)) * 1.0, rel=1e-9)


def test_four_momentum():
    px, py, pz, e = four_momentum([2.0], [0.0], [np.pi / 2], mass=0.0)
    assert px[0] == pytest.approx(0.0, abs=1e-12) and py[0] == pytest.approx(2.0)
    assert pz[0] == 0.0 and e[0] == pytest.approx(2.0)


def test_delta_phi_is_folded_into_zero_pi():
    dphi = delta_phi([3.0, 0.1, -np.pi, 0.0], [-3.0, 0.3, np.pi, 7 * np.pi])
    np.testing.assert_allclose(dphi, [2 * np.pi - 6.0, 0.2, 0.0, np.pi], atol=1e-12)
    assert np.all((dphi >= 0) & (dphi <= np.pi))


def test_delta_r_and_delta_pt():
    assert delta_r([0.0], [3.0], [0.0], [-3.0])[0] == pytest.approx(2 * np.pi - 6.0)
    assert delta_r([1.0], [0.0], [-2.0], [0.0])[0] == pytest.approx(3.0)
    assert delta_r([0.0], [-2.0], [3.0], [2.0])[0] == pytest.approx(np.hypot(3.0, 2 * np.pi - 4.0))
    assert delta_r([0.0], [0.0], [3.0], [4.0 - 2 * np.pi])[0] == pytest.approx(
        np.hypot(3.0, 2 * np.pi - 4.0)
    )
    np.testing.assert_allclose(delta_pt([20.0, 9.0], [8.0, 9.0]), [12.0, 0.0])


def test_leading_jet_nan_without_jets():
    jets = ak.zip({"pt": [[50.0, 20.0], [], [30.0]], "btagDeepFlavB": [[0.9, 0.1], [], [0.2]]})
    out = leading_jet(jets, fields=("pt", "btagDeepFlavB"))
    np.testing.assert_array_equal(out["n_jets"], [2, 0, 1])
    np.testing.assert_array_equal(out["jet0_pt"][[0, 2]], [50.0, 30.0])
    assert np.isnan(out["jet0_pt"][1]) and np.isnan(out["jet0_btagDeepFlavB"][1])
    assert len(leading_jet(jets[:0], fields=("pt",))["jet0_pt"]) == 0


def test_lumi_mask_tiny_golden_json():
    mask = LumiMask.from_source(DATA / "golden_tiny.json")
    run = [1, 1, 1, 1, 1, 2, 2, 3]
    lumi = [1, 10, 11, 20, 21, 4, 7, 1]
    np.testing.assert_array_equal(
        mask(run, lumi), [True, True, False, True, False, False, True, False]
    )


def test_lumi_mask_bad_inputs(tmp_path):
    with pytest.raises(FileNotFoundError, match="golden JSON .*nope.json not found"):
        LumiMask.from_source(tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"1": [[1]]}')
    with pytest.raises(ValueError, match=r"run '1' has \[\[1\]\]; expected \[\[first, last\]"):
        LumiMask.from_source(bad)
    bad.write_text("not json")
    with pytest.raises(ValueError, match="is not valid JSON"):
        LumiMask.from_source(bad)
    assert not LumiMask({})([1], [1]).any()
