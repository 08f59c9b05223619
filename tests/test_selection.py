"""Selection functions on hand-written arrays with known answers."""

import awkward as ak
import numpy as np
import pytest

from processors.selection import (
    abs_eta_mask,
    charge_category,
    dimuon_charge,
    has_pair,
    is_opposite_sign,
    isolation_category,
    isolation_mask,
    leading_pair_indices,
    pt_mask,
    take_pair,
    trigger_mask,
)


def test_leading_pair_takes_first_two_passing_muons():
    # event 0: muons 0..2, only 1 and 2 tight; event 1: one muon; event 2: none; event 3: 3 tight
    tight = ak.Array([[False, True, True], [True], [], [True, True, True]])
    counts = ak.num(tight)
    idx0, idx1 = leading_pair_indices(counts, ak.flatten(tight))
    np.testing.assert_array_equal(idx0, [1, 3, -1, 4])
    np.testing.assert_array_equal(idx1, [2, -1, -1, 5])
    np.testing.assert_array_equal(has_pair(idx1), [True, False, False, True])


def test_leading_pair_without_id_and_empty_input():
    idx0, idx1 = leading_pair_indices([2, 0, 1])
    np.testing.assert_array_equal(idx0, [0, -1, 2])
    np.testing.assert_array_equal(idx1, [1, -1, -1])
    idx0, idx1 = leading_pair_indices(np.array([], dtype=int), np.array([], dtype=bool))
    assert len(idx0) == len(idx1) == 0


def test_take_pair_fills_missing_muons():
    pt = ak.Array([[30.0, 20.0, 10.0], [5.0]])
    idx0, idx1 = leading_pair_indices(ak.num(pt))
    pt0, pt1 = take_pair(ak.flatten(pt), idx0, idx1)
    np.testing.assert_array_equal(pt0, [30.0, 5.0])
    assert pt1[0] == 20.0 and np.isnan(pt1[1])
    q0, q1 = take_pair(np.array([], dtype=np.int32), np.array([-1]), np.array([-1]), fill=0)
    assert q0[0] == 0 and q1[0] == 0


def test_charge_categories():
    q0 = np.array([1, -1, 1, -1])
    q1 = np.array([-1, 1, 1, -1])
    np.testing.assert_array_equal(dimuon_charge(q0, q1), [0, 0, 2, -2])
    np.testing.assert_array_equal(is_opposite_sign(q0, q1), [True, True, False, False])
    np.testing.assert_array_equal(charge_category(q0, q1), [0, 0, 1, 1])


def test_isolation_mask_modes():
    iso0 = np.array([0.6, 0.6, 0.1, 0.55, np.nan])
    iso1 = np.array([0.9, 0.2, 0.1, 0.55, 0.9])
    np.testing.assert_array_equal(
        isolation_mask(iso0, iso1, "antiiso", 0.55), [True, False, False, True, False]
    )
    np.testing.assert_array_equal(
        isolation_mask(iso0, iso1, "iso", 0.15), [False, False, True, False, False]
    )
    assert isolation_mask(iso0, iso1, "none", 0.55).all()
    with pytest.raises(ValueError, match="unknown isolation mode 'loose'"):
        isolation_mask(iso0, iso1, "loose", 0.5)


def test_isolation_category():
    iso0 = np.array([0.1, 0.6, 0.1, np.nan])
    iso1 = np.array([0.05, 0.7, 0.7, 0.1])
    cat = isolation_category(iso0, iso1, iso_cut=0.15, antiiso_cut=0.55)
    np.testing.assert_array_equal(cat, [0, 1, 2, 3])


def test_pt_and_eta_cuts():
    pt0 = np.array([17.0, 16.9, 30.0, np.nan])
    pt1 = np.array([8.0, 10.0, 7.9, 9.0])
    np.testing.assert_array_equal(pt_mask(pt0, pt1, 17.0, 8.0), [True, False, False, False])
    eta0 = np.array([0.5, -2.5, 1.0])
    eta1 = np.array([-2.3, 0.1, 2.39])
    np.testing.assert_array_equal(abs_eta_mask(eta0, eta1, 2.4), [True, False, True])
    assert abs_eta_mask(eta0, eta1, None).all()


def test_trigger_mask_by_name():
    hlt = ak.zip(
        {"TrkMu15_DoubleTrkMu5NoFiltersNoVtx": [True, False, False], "Mu17": [False, False, True]}
    )
    np.testing.assert_array_equal(
        trigger_mask(hlt, ["HLT_TrkMu15_DoubleTrkMu5NoFiltersNoVtx"]), [True, False, False]
    )
    np.testing.assert_array_equal(
        trigger_mask(hlt, ["HLT_TrkMu15_DoubleTrkMu5NoFiltersNoVtx", "HLT_Mu17"]),
        [True, False, True],
    )
    with pytest.raises(KeyError, match="HLT_Mu8 not found"):
        trigger_mask(hlt, ["HLT_Mu8"])


def test_leading_pair_matches_a_python_loop():
    rng = np.random.default_rng(5)
    counts = rng.integers(0, 6, size=500)
    passes = rng.random(counts.sum()) < 0.6
    idx0, idx1 = leading_pair_indices(counts, passes)
    start = 0
    for event, count in enumerate(counts):
        chosen = [start + k for k in range(count) if passes[start + k]] + [-1, -1]
        assert (idx0[event], idx1[event]) == (chosen[0], chosen[1])
        start += count
