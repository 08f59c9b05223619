"""Unit tests of toymc's pure functions on hand-made inputs with known answers."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest

import toymc
from toymc import detector, generator
from toymc.kinematics import sample_breit_wigner, sample_broken_power_law, sample_hard_pt
from toymc.processes import Origin
from toymc.simulate import _truncate
from toymc.triggers import emulate_triggers
from toymc.truth import Process


def test_process_codes_are_the_contract():
    assert [int(p) for p in Process] == [0, 1, 2, 10, 11, 12, 13, 14, 15, 20]
    assert Process.is_resonance(Process.Z) and not Process.is_resonance(Process.HEAVY_FLAVOUR)
    np.testing.assert_array_equal(
        Process.is_upsilon(np.array([1, 12, 13, 14, 15])), [False, True, True, True, False]
    )
    assert Process.is_continuum(2) and not Process.is_continuum(20)


def test_broken_power_law_uniform_segments_and_continuity():
    rng = np.random.default_rng(0)
    x = sample_broken_power_law(rng, 200_000, (1.0, 2.0, 4.0), (0.0, 0.0))
    assert x.min() >= 1.0 and x.max() <= 4.0
    assert np.mean(x < 2.0) == pytest.approx(1 / 3, abs=0.005)
    # p(x) = C/x on [1, 2] and C·4/x³ on [2, 8] (continuous at 2); C = 1/(ln 2 + 15/32)
    y = sample_broken_power_law(rng, 400_000, (1.0, 2.0, 8.0), (1.0, 3.0))
    c = 1.0 / (np.log(2.0) + 15.0 / 32.0)
    assert np.mean((y > 1.9) & (y < 2.0)) == pytest.approx(c * np.log(2.0 / 1.9), rel=0.03)
    assert np.mean((y > 2.0) & (y < 2.1)) == pytest.approx(c * 2 * (0.25 - 1 / 4.41), rel=0.03)
    assert np.mean(y < 2.0) == pytest.approx(c * np.log(2.0), rel=0.01)
    with pytest.raises(ValueError, match="one longer than indices"):
        sample_broken_power_law(rng, 10, (1.0, 2.0), (1.0, 2.0))


def test_hard_pt_median_and_breit_wigner():
    rng = np.random.default_rng(1)
    p0, power = 10.0, 3.0
    pt = sample_hard_pt(rng, 200_000, p0, power)
    expected = p0 * np.sqrt(2.0 ** (1.0 / (power - 1.0)) - 1.0)  # CDF = 1/2
    assert np.median(pt) == pytest.approx(expected, rel=0.01)
    m = sample_breit_wigner(rng, 200_000, 91.1876, 2.4952, 12.0)
    q25, q75 = np.percentile(m, [25, 75])
    assert q75 - q25 == pytest.approx(2.4952, rel=0.05)  # FWHM = interquartile range
    assert np.all(sample_breit_wigner(rng, 5, 7.0, 0.0) == 7.0)


def test_truncate_mantissa():
    x = np.array([1.0, 0.1, 123.456, -3.3], dtype=np.float32)
    t = _truncate(x, 10)
    np.testing.assert_allclose(t, x, rtol=2.0**-10)
    assert t[0] == 1.0
    assert np.all((t.view(np.uint32) & np.uint32((1 << 13) - 1)) == 0)
    np.testing.assert_array_equal(_truncate(x, 23), x)


def test_resolution_and_ids():
    assert detector.relative_pt_resolution(np.array(10.0), np.array(0.0)) == pytest.approx(0.014)
    assert detector.relative_pt_resolution(np.array(0.0), np.array(2.4)) == pytest.approx(0.025)
    rng = np.random.default_rng(2)
    n = 50_000
    origin = np.repeat(np.array([Origin.PROMPT, Origin.FAKE], dtype=np.int8), n)
    dxy = np.where(np.arange(2 * n) % 10 == 0, 0.3, 0.001)  # 10 % fail the tight |dxy| cut
    loose, medium, tight, soft = detector.muon_ids(rng, origin, np.full(2 * n, 10.0), dxy, dxy)
    assert not np.any(tight & ~medium) and not np.any(medium & ~loose)
    assert not np.any(tight & (dxy > 0.2)) and not np.any(soft & (dxy > 0.3))
    prompt, fake = slice(0, n), slice(n, 2 * n)
    assert tight[prompt].mean() == pytest.approx(0.9 * 0.995 * 0.985 * 0.975, abs=0.01)
    assert tight[fake].mean() < tight[prompt].mean() - 0.1


def test_impact_parameters_prompt_and_displaced():
    rng = np.random.default_rng(3)
    pt = np.full(100_000, 10.0)
    dxy, dz, ip3d, sip3d = detector.impact_parameters(rng, pt, np.zeros_like(pt))
    assert np.std(dxy) == pytest.approx(0.0012 + 0.001, rel=0.02)
    np.testing.assert_allclose(ip3d, np.hypot(dxy, dz))
    assert np.median(sip3d) < 2.0
    _, _, ip3d_b, sip3d_b = detector.impact_parameters(rng, pt, np.full_like(pt, 0.045))
    assert np.median(ip3d_b) == pytest.approx(0.045 * np.log(2), rel=0.05)
    assert np.median(sip3d_b) > 5.0


def test_triggers_on_hand_made_muons():
    rng = np.random.default_rng(4)
    n = 2_000
    # columns: leading, subleading muon; rows repeat one hand-made event each
    cases = {
        "pass_all": ([20.0, 9.0], [0.05, 0.05], [0.0, 0.1]),
        "too_soft": ([14.0, 9.0], [0.05, 0.05], [0.0, 0.0]),
        "anti_iso": ([20.0, 9.0], [1.0, 1.0], [0.0, 0.0]),
        "far_in_z": ([20.0, 9.0], [0.05, 0.05], [0.0, 0.5]),
    }
    rates = {}
    for name, (pt, iso, dz) in cases.items():
        ones = np.ones((n, 1))
        bits = emulate_triggers(
            rng, ones * pt, ones * [0.5, -0.5], ones * iso, ones * dz, np.ones((n, 2), bool)
        )
        rates[name] = {k: v.mean() for k, v in bits.items()}
    nofilter, iso_path = "HLT_TrkMu15_DoubleTrkMu5NoFiltersNoVtx", "HLT_Mu17_TrkIsoVVL_Mu8_TrkIsoVVL"
    dz_path = iso_path + "_DZ"
    assert rates["pass_all"][nofilter] > 0.93 and rates["pass_all"][dz_path] > 0.93
    assert rates["too_soft"][nofilter] == 0.0
    assert rates["anti_iso"][nofilter] > 0.93 and rates["anti_iso"][iso_path] == 0.0
    assert rates["far_in_z"][iso_path] > 0.93 and rates["far_in_z"][dz_path] == 0.0


def test_chunking_and_prefix_independent_of_block_layout(monkeypatch):
    monkeypatch.setattr(generator, "BLOCK_SIZE", 1_000)
    whole = toymc.generate_events(3_500, seed=8)
    chunks = list(generator.iter_event_chunks(3_500, 1_300, seed=8))
    assert [len(c["run"]) for c in chunks] == [1_300, 1_300, 900]
    for key in ("Muon_pt", "Jet_muonIdx1", "event", "Truth_process"):
        joined = ak.concatenate([ak.Array(c[key]) for c in chunks])
        assert ak.array_equal(joined, ak.Array(whole[key])), key
    prefix = toymc.generate_events(2_000, seed=8)  # two full blocks: identical first events
    assert ak.array_equal(prefix["Muon_pt"], whole["Muon_pt"][:2_000])


def test_config_validation():
    with pytest.raises(ValueError, match="cannot contain INJECTED"):
        toymc.ToyConfig(fractions={Process.INJECTED: 1.0})
    with pytest.raises(ValueError, match="sum to 0"):
        toymc.ToyConfig(fractions={Process.Z: 0.0})
    with pytest.raises(ValueError, match="upsilon_in_jet_fraction=1.5"):
        toymc.ToyConfig(upsilon_in_jet_fraction=1.5)
    procs, probs = toymc.ToyConfig(fractions={"Z": 1.0, Process.JPSI: 3.0}).process_probabilities()
    assert procs == (Process.JPSI, Process.Z) and probs == (0.75, 0.25)
