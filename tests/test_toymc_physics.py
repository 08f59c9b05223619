"""Physics targets of the synthetic sample: the published anti-isolated Υ selection.

The default 1 M-event sample should give ≈12.3 k OS and ≈7.2 k SS events in 5–16 GeV, S ≈ 100
over B ≈ 1600 in the 9–10.6 GeV SR (arXiv:2502.14036; reference §2, §6). Here a 200 k-event
sample (a fifth) is checked with tolerances of ≈ 3–4 statistical standard deviations.
"""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest

import toymc
from processors.observables import dimuon_kinematics
from toymc.truth import Process
from toymc.validation import leading_tight_pair, reference_yields

SCALE = 0.2  # 200 k of the default 1 M events


@pytest.fixture(scope="module")
def sample() -> dict:
    return toymc.generate_events(200_000, seed=1)


def test_published_anti_isolated_yields(sample):
    y = reference_yields(sample)
    assert y["os"] == pytest.approx(12_332 * SCALE, rel=0.08)
    assert y["ss"] == pytest.approx(7_168 * SCALE, rel=0.10)
    assert y["os_sbl"] == pytest.approx(6_924 * SCALE, rel=0.10)
    assert y["os_sbh"] == pytest.approx(3_716 * SCALE, rel=0.12)
    assert y["os_sr"] == pytest.approx(1_692 * SCALE, rel=0.15)
    assert y["ss_sr"] == pytest.approx(989 * SCALE, rel=0.25)
    assert y["sr_background"] == pytest.approx(1_600 * SCALE, rel=0.15)
    assert 4 <= y["sr_signal"] <= 40  # ≈ 100 × 0.2 expected, Poisson (see the next test)
    assert y["s_over_b"] < 0.12


def test_expected_anti_isolated_upsilon_signal():
    """Expected Υ yield in the anti-isolated SR of the default 1 M sample: ≈ 100 (S/B ≈ 6 %).

    Measured without Poisson noise from the in-jet production: efficiency of in-jet Υ events ×
    their expected number (fraction of Υ × in-jet fraction × 1 M).
    """
    default = toymc.ToyConfig()
    ups = [Process.UPSILON_1S, Process.UPSILON_2S, Process.UPSILON_3S]
    only_in_jet = toymc.ToyConfig(
        fractions={p: default.fractions[p] for p in ups}, upsilon_in_jet_fraction=1.0
    )
    n = 30_000
    efficiency = reference_yields(toymc.generate_events(n, seed=6, config=only_in_jet))[
        "sr_signal"
    ] / n
    share = sum(default.fractions[p] for p in ups) / sum(default.fractions.values())
    expected = 1_000_000 * share * default.upsilon_in_jet_fraction * efficiency
    assert expected == pytest.approx(100.0, rel=0.15)
    assert 0.05 < expected / 1_600 < 0.075


def test_without_isolation_cut_upsilon_is_large(sample):
    y = reference_yields(sample, anti_isolated=False)
    assert y["os"] == pytest.approx(28_126 * SCALE, rel=0.12)
    assert y["sr_signal"] / np.sqrt(y["sr_background"]) > 10.0  # 28.9σ at 1 M (≈13σ at 0.2 M)


def test_upsilon_in_jets_harder_and_prompt():
    """Selected anti-isolated Υ: harder dimuon pT and ≪ impact parameters than heavy flavour."""
    config = toymc.ToyConfig(upsilon_in_jet_fraction=0.2)
    ev = toymc.generate_events(60_000, seed=2, config=config)
    pair = leading_tight_pair(ev)
    with np.errstate(invalid="ignore"):
        sel = (
            pair["has_pair"] & (pair["mu0_pt"] >= 17) & (pair["mu1_pt"] >= 8)
            & (pair["mu0_pfRelIso04_all"] >= 0.55) & (pair["mu1_pfRelIso04_all"] >= 0.55)
            & (pair["dimu_mass"] > 5) & (pair["dimu_mass"] < 16)
        )  # fmt: skip
    truth = ev["Truth_process"]
    ups = sel & Process.is_upsilon(truth)
    hf = sel & (truth == Process.HEAVY_FLAVOUR)
    assert ups.sum() > 100 and hf.sum() > 500
    assert np.median(pair["dimu_pt"][ups]) > 1.2 * np.median(pair["dimu_pt"][hf])
    for mu in ("mu0", "mu1"):
        assert np.median(pair[f"{mu}_ip3d"][ups]) < 0.25 * np.median(pair[f"{mu}_ip3d"][hf])


def test_resolution_worse_at_high_eta():
    config = toymc.ToyConfig(extra_muon_fraction=0.0, fractions={"UPSILON_1S": 1.0})
    ev = toymc.generate_events(30_000, seed=4, config=config)
    two = ev["nMuon"] == 2
    pt, eta, phi = (ak.to_numpy(ev[f"Muon_{f}"][two]) for f in ("pt", "eta", "phi"))
    m = dimuon_kinematics(pt[:, 0], eta[:, 0], phi[:, 0], pt[:, 1], eta[:, 1], phi[:, 1])["mass"]
    central = np.all(np.abs(eta) < 0.9, axis=1)
    forward = np.all(np.abs(eta) > 1.5, axis=1)

    def width(x: np.ndarray) -> float:
        q16, q84 = np.percentile(x, [16, 84])
        return 0.5 * (q84 - q16) / np.median(x)

    assert 0.007 < width(m[central]) < 0.013
    assert 0.013 < width(m[forward]) < 0.025
