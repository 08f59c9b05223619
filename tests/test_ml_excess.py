"""Tests of ml.excess.sideband_excess_test on hand-made scores with known pass fractions."""

from __future__ import annotations

import numpy as np
import pytest

from ml.excess import sideband_excess_test

SR = (9.0, 10.6)


def _sample(n=60_000, trend=0.0, sr_boost=0.0, seed=0):
    """Masses uniform on 6.5-13 GeV; scores uniform, shifted up by ``trend`` per GeV and by
    ``sr_boost`` for a random 10 % of SR events (an excess)."""
    rng = np.random.default_rng(seed)
    m = rng.uniform(6.5, 13.0, n)
    sr = (m >= SR[0]) & (m < SR[1])
    s = rng.random(n) + trend * (m - 9.8)
    s[sr & (rng.random(n) < 0.1)] += sr_boost
    return s, m, sr


def test_flat_scores_give_no_excess_and_the_right_counts():
    s, m, sr = _sample()
    res = sideband_excess_test(s, m, sr, fprs=(0.1, 0.01))
    for r in res:
        assert abs(r.expected - r.fpr * sr.sum()) < 4 * np.sqrt(r.fpr * sr.sum())
        assert abs(r.z) < 3 and r.pvalue > 1e-3
        assert r.observed == int((s[sr] > r.cut).sum())


def test_mass_dependent_scores_are_interpolated_not_compared_to_the_whole_sideband():
    """Pass fraction rising with m: the SR sits between the sidebands, so no excess, although
    the SR fraction differs from the SB fraction (more SB events at low m here)."""
    s, m, sr = _sample(trend=0.05, seed=1)
    keep = ~sr & (m > 11) & (np.random.default_rng(2).random(len(m)) < 0.5)  # thin right SB
    sel = ~keep
    s, m, sr = s[sel], m[sel], sr[sel]
    (r,) = sideband_excess_test(s, m, sr, fprs=(0.1,))
    assert r.observed / sr.sum() > 0.1 + 5 * np.sqrt(0.09 / sr.sum())  # naive test would flag it
    assert abs(r.z) < 3


def test_sr_excess_is_found():
    s, m, sr = _sample(sr_boost=1.0, seed=3)
    (r,) = sideband_excess_test(s, m, sr, fprs=(0.05,))
    assert r.z > 10 and r.pvalue < 1e-10


def test_bad_input_messages():
    s, m, sr = _sample(n=1000)
    with pytest.raises(ValueError, match="sr_mask must be a boolean"):
        sideband_excess_test(s, m, sr.astype(int))
    with pytest.raises(ValueError, match="fpr=1.5"):
        sideband_excess_test(s, m, sr, fprs=(1.5,))
    with pytest.raises(ValueError, match="finite"):
        sideband_excess_test(np.r_[s[:-1], np.nan], m, sr)
    with pytest.raises(ValueError, match="SB events"):
        sideband_excess_test(s[:20], m[:20], sr[:20])
