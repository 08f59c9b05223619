"""A window the data do not cover is an error (stats.binning.check_coverage), never a Z.

Reproduces the tester's finding: a preset window reaching outside the data's mass range gave
Z = 63 with ``converged=True`` (the polynomial dives to 0 where the data stop and the SR
background is underestimated).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from stats.binning import (
    COVERAGE_EDGE_BINS,
    CoverageError,
    Window,
    check_coverage,
    coverage_problem,
    make_bins,
)
from stats.significance import scan_cut, significance, significance_from_counts


def _falling(seed: int, n: int, low: float = 5.0, high: float = 16.0, tau: float = 3.5):
    rng = np.random.default_rng(seed)
    m = low + rng.exponential(tau, 4 * n)
    return m[m < high][:n]


def test_covered_sample_passes():
    check_coverage(_falling(0, 12000), "upsilon")
    check_coverage(_falling(0, 12000), (5.0, 9.0, 10.6, 16.0))
    check_coverage(_falling(0, 12000), Window(5.0, 9.0, 10.6, 16.0))


def test_window_outside_the_data_is_an_error():
    m = _falling(1, 12000)  # 5-16 GeV
    with pytest.raises(CoverageError, match=r"no events in the sidebands.*span 5-16 GeV"):
        check_coverage(m, "z")
    with pytest.raises(ValueError, match=r"window \(11, 12, 13.6, 17\) GeV is not covered"):
        check_coverage(m, "control")  # right sideband 13.6-17: the data stop at 16 GeV


def test_data_starting_inside_the_left_sideband():
    m = _falling(2, 12000)
    m = m[m > 7.0]  # a hard edge at 7 GeV, e.g. a skim cut
    with pytest.raises(CoverageError) as err:
        check_coverage(m, "upsilon")
    msg = str(err.value)
    assert "(5, 9, 10.6, 16) GeV" in msg and "start abruptly at 6.964 GeV" in msg
    assert "span 7-16 GeV" in msg and "choose a window inside the data's mass range" in msg
    # the fit refuses too: a failed result, not a Z
    res = significance(m, window="upsilon")
    assert not res.converged and math.isnan(res.Z) and "start abruptly" in res.message
    with pytest.raises(CoverageError):
        scan_cut(m, np.ones(m.size), window="upsilon", fprs=(0.5,))


def test_one_empty_sideband_never_gives_a_z():
    b = make_bins("upsilon")
    counts = np.zeros(b.n_bins)
    counts[b.n_sb_left :] = 200.0  # SR and right sideband full, left sideband empty
    res = significance_from_counts(counts, b)
    assert not res.converged and "no events in the left sideband [5.073, 9) GeV" in res.message
    counts = np.zeros(b.n_bins)
    counts[: b.n_sb_left + 11] = 200.0
    res = significance_from_counts(counts, b)
    assert not res.converged and "no events in the right sideband" in res.message
    assert "the events occupy 5.073-10.6 GeV" in res.message


def test_edge_rule_known_answers():
    b = make_bins("upsilon")
    n = np.full(b.n_bins, 50.0)
    assert coverage_problem(n, b) == ""
    k = COVERAGE_EDGE_BINS
    n[:k] = 0  # exactly the tolerated gap
    assert coverage_problem(n, b) == ""
    n[: k + 1] = 0  # one bin more, with 150 events next to it: a data edge
    assert "4 empty bins above the lower edge" in coverage_problem(n, b)
    sparse = np.full(b.n_bins, 50.0)
    sparse[-12:] = 0
    sparse[-15:-12] = [3.0, 0.0, 2.0]  # a thinning tail: 5 events before the gap
    assert coverage_problem(sparse, b) == ""
    sparse[-15:-12] = [4.0, 3.0, 3.0]  # 10 events: the data stop
    assert "stop abruptly" in coverage_problem(sparse, b)


def test_small_and_steep_spectra_are_covered():
    # 30-80 steeply falling events (tight cuts) leave the top of the window empty by chance: the
    # edge rule never fires; only a sideband without any event is refused
    b = make_bins("upsilon")
    empty = 0
    for seed in range(200):
        rng = np.random.default_rng(seed)
        m = _falling(seed, int(rng.integers(30, 80)), tau=2.0)
        problem = coverage_problem(b.histogram(m), b)
        assert problem == "" or "no events in the right sideband" in problem, problem
        empty += bool(problem)
    assert 0 < empty < 20  # P(no event above 10.6 GeV) = 1-5 % per spectrum
    for seed in range(5):
        steep = _falling(seed, 20000, tau=1.0)  # falls by e^-11 over the window
        check_coverage(steep, "upsilon")
