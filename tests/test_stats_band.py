"""The fitted background and its ±1σ band per bin (BumpModel.background_band), the one
propagation behind b_fit_unc (SR total) and the plotted band (analysis.significance)."""

from __future__ import annotations

import numpy as np
import pytest

from stats.binning import make_bins
from stats.model import BumpModel


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(3)
    m = 5.0 + rng.exponential(3.5, 20000)
    binning = make_bins("upsilon", 12)
    counts = binning.histogram(m[m < 16.0][:6000])
    model = BumpModel.from_counts(binning, counts, 3)
    out = model.fit(model.data_vector(counts))
    assert out.converged
    return binning, counts, model, out.pars_free


def test_band_evaluates_the_fit_in_every_bin(fitted):
    binning, _, model, pars = fitted
    expected, sigma = model.background_band(pars)
    assert expected.shape == sigma.shape == (binning.n_bins,)
    np.testing.assert_allclose(expected[binning.sb_mask], model.sideband_expected(pars),
                               rtol=1e-12)
    assert expected[binning.sr_mask].sum() == pytest.approx(model.background_sr(pars), rel=1e-12)
    assert np.all(sigma > 0) and np.all(sigma < np.sqrt(expected))  # the fit beats one bin alone


def test_sr_uncertainty_is_the_band_of_the_sr_total(fitted):
    binning, _, model, pars = fitted
    _, sigma = model.background_band(pars)
    unc = model.background_sr_uncertainty(pars)
    # fully correlated bins at most, and more than any single SR bin
    assert sigma[binning.sr_mask].max() < unc <= sigma[binning.sr_mask].sum() * (1 + 1e-12)
    # a degree-0 polynomial: one coefficient fixed by the N sideband events, sigma_SR = B_SR/sqrt(N)
    flat = BumpModel.from_counts(binning, np.full(binning.n_bins, 100.0), 0)
    p0 = np.zeros(len(flat.par_names))
    p0[flat.par_names.index("bkg_c0")] = 1.0
    n_sb = flat.sideband_expected(p0).sum()
    assert flat.background_sr_uncertainty(p0) == pytest.approx(
        flat.background_sr(p0) / np.sqrt(n_sb), rel=1e-9)


def test_band_scales_as_one_over_sqrt_n(fitted):
    binning, counts, model, pars = fitted
    big = BumpModel.from_counts(binning, 4 * counts, model.degree)
    e1, s1 = model.background_band(pars)
    e4, s4 = big.background_band(pars)  # same shape, 4x the events
    np.testing.assert_allclose(e4, 4 * e1, rtol=1e-9)
    np.testing.assert_allclose(s4 / e4, 0.5 * s1 / e1, rtol=1e-9)
