"""Tests of stats.binning: windows, presets and the published sideband/SR binning."""

from __future__ import annotations

import numpy as np
import pytest

from stats.binning import WINDOWS, Window, get_window, make_bins


def test_upsilon_binning_matches_reference():
    b = make_bins(WINDOWS["upsilon"])
    assert b.n_sb_left == 27
    assert b.n_sb_right == 37
    assert int(b.sr_mask.sum()) == 11
    widths = np.diff(b.edges)
    np.testing.assert_allclose(widths, 1.6 / 11, rtol=1e-9)
    assert b.bin_width == pytest.approx(0.14545, abs=5e-5)
    np.testing.assert_allclose(b.sr_edges, np.linspace(9.0, 10.6, 12))
    # the slivers 5.000-5.073 and 15.982-16.000 GeV are left out
    assert b.low == pytest.approx(9.0 - 27 * 1.6 / 11)
    assert b.high == pytest.approx(10.6 + 37 * 1.6 / 11)
    assert 5.0 < b.low < 5.0 + b.bin_width
    assert 16.0 - b.bin_width < b.high < 16.0


def test_partial_keep_reaches_window_edges():
    b = make_bins("upsilon", partial="keep")
    assert b.low == 5.0 and b.high == 16.0
    assert b.n_sb_left == 28 and b.n_sb_right == 38
    assert np.diff(b.edges)[0] < b.bin_width


@pytest.mark.parametrize(("n_edges", "n_sr_bins"), [(8, 7), (12, 11), (16, 15)])
def test_sr_edge_variations(n_edges, n_sr_bins):
    b = make_bins("upsilon", n_edges)
    assert int(b.sr_mask.sum()) == n_sr_bins
    assert np.all(np.diff(b.edges) > 0)
    np.testing.assert_allclose(np.diff(b.edges), (10.6 - 9.0) / n_sr_bins, rtol=1e-9)
    assert b.low >= 5.0 - 1e-12 and b.high <= 16.0 + 1e-12


def test_exact_fit_of_sidebands_keeps_last_bin():
    # sidebands exactly 2 SR bins wide on each side: no sliver, no bin lost to rounding
    b = make_bins(Window(0.7, 0.9, 1.2, 1.4), 4)
    assert b.n_sb_left == 2 and b.n_sb_right == 2
    assert b.low == pytest.approx(0.7) and b.high == pytest.approx(1.4)


@pytest.mark.parametrize("name", sorted(WINDOWS))
def test_every_preset_makes_bins(name):
    w = WINDOWS[name]
    b = make_bins(name)
    assert b.window is w
    assert b.n_sb_left >= 1 and b.n_sb_right >= 1
    assert w.sb_left <= b.low < w.sr_left and w.sr_right < b.high <= w.sb_right


def test_presets_of_reference():
    assert WINDOWS["eta"].as_tuple() == (0.30, 0.525, 0.569, 0.72)
    assert WINDOWS["psi2s"].as_tuple() == (3.17, 3.51, 3.85, 5.0)
    assert WINDOWS["phi"].as_tuple() == (0.82, 0.95, 1.05, 1.5)
    assert WINDOWS["rho_omega"].as_tuple() == (0.57, 0.70, 0.86, 0.95)
    assert WINDOWS["control"].as_tuple() == (11.0, 12.0, 13.6, 17.0)
    # J/psi and Z: the PDG mass inside the SR, the neighbouring resonance outside the window
    assert WINDOWS["jpsi"].sr_left < 3.0969 < WINDOWS["jpsi"].sr_right
    assert WINDOWS["jpsi"].sb_right < 3.6861
    assert WINDOWS["z"].sr_left < 91.1876 < WINDOWS["z"].sr_right


def test_window_validation():
    with pytest.raises(ValueError, match="strictly increasing"):
        Window(5.0, 10.6, 9.0, 16.0)
    with pytest.raises(ValueError, match="finite"):
        Window(5.0, 9.0, float("nan"), 16.0)
    with pytest.raises(TypeError, match="numbers in GeV"):
        Window("a", 9.0, 10.6, 16.0)
    with pytest.raises(KeyError, match="unknown window preset 'upsi'"):
        get_window("upsi")
    with pytest.raises(ValueError, match="n_sr_edges"):
        make_bins("upsilon", 1)
    with pytest.raises(ValueError, match="partial"):
        make_bins("upsilon", partial="merge")
    with pytest.raises(ValueError, match="narrower than one SR bin"):
        make_bins(Window(8.95, 9.0, 10.6, 16.0))


def test_window_is_frozen_and_masks():
    w = Window(5, 9, 10.6, 16)
    with pytest.raises(AttributeError):
        w.sb_left = 4.0  # type: ignore[misc]
    m = np.array([4.0, 5.5, 9.0, 10.0, 10.6, 16.0, 17.0])
    np.testing.assert_array_equal(w.in_sr(m), [0, 0, 1, 1, 0, 0, 0])
    np.testing.assert_array_equal(w.in_sb(m), [0, 1, 0, 0, 1, 1, 0])


def test_histogram_and_masks_known_counts():
    b = make_bins("upsilon")
    m = np.array([5.0, 5.1, 5.1, 9.0, 9.05, 10.59, 10.6, 15.9, 15.99, 20.0])
    counts = b.histogram(m)
    # 5.0 and 15.99 fall in the unbinned slivers, 20 is outside
    assert counts.sum() == 7
    assert counts[0] == 2  # 5.1, 5.1 in [5.0727, 5.2182)
    assert counts[b.sr_mask].sum() == 3
    assert counts[b.sb_mask].sum() == 4
    np.testing.assert_array_equal(b.in_sidebands(m), [0, 1, 1, 0, 0, 0, 1, 1, 0, 0])
    np.testing.assert_array_equal(b.in_signal_region(m), [0, 0, 0, 1, 1, 1, 0, 0, 0, 0])
    w = np.full(m.size, 0.5)
    np.testing.assert_allclose(b.histogram(m, w), counts * 0.5)
