"""Shared pieces of the pseudo-experiments: the background-only truth and mass sampling.

Used by :mod:`stats.toys` (calibration) and :mod:`stats.lee` (look-elsewhere effect).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from dimuon_ad.errors import FitError
from stats.background import bernstein_bin_integrals, bernstein_cdf
from stats.binning import Binning, Window, make_bins
from stats.degree import RULES
from stats.model import BumpModel, FitOutcome
from stats.result import check_masses
from stats.significance import significance_from_counts

log = logging.getLogger(__name__)

__all__ = ["progress_bar", "toy_setup", "sample_masses", "polynomial_bin_counts"]


def progress_bar(iterable, enabled: bool, desc: str):
    """``iterable`` wrapped in a tqdm bar (stderr) when ``enabled``, else unchanged."""
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, desc=desc, leave=False)


def toy_setup(
    masses: np.ndarray,
    window: Window | str,
    degree: int | str,
    n_sr_edges: int,
    partial: str,
    **auto: Any,
) -> tuple[Binning, BumpModel, FitOutcome]:
    """Binning, model and fits of the observed spectrum whose background-only fit is the truth.

    With ``degree="auto"`` or ``"spurious"`` the model has the degree that rule chooses for this
    spectrum (``auto``: ``degrees``, ``f_test_alpha`` of
    :func:`stats.significance.significance_from_counts`).

    Raises
    ------
    ValueError
        When the spectrum cannot be fitted (empty or too sparse sidebands, failed fit).
    """
    m = check_masses(masses)
    binning = make_bins(window, n_sr_edges, partial=partial)
    counts = binning.histogram(m)
    if degree in RULES:
        check = significance_from_counts(
            counts, binning, degree=degree, return_workspace=False, **auto
        )
        if not check.converged:
            raise FitError(f"background fit of the input spectrum failed: {check.message}")
        degree = int(check.info["degree"])
    model = BumpModel.from_counts(binning, counts, degree)
    # the input checks of the significance API (empty or too sparse sidebands) apply here too
    check = significance_from_counts(
        counts, binning, degree=degree, model=model, return_workspace=False
    )
    if not check.converged:
        raise FitError(f"background fit of the input spectrum failed: {check.message}")
    fit = model.fit(model.data_vector(counts))
    if not fit.converged:
        raise FitError(f"background fit of the input spectrum failed: {fit.message}")
    return binning, model, fit


def polynomial_bin_counts(model: BumpModel, pars: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """The fitted background polynomial of ``model`` integrated over bins ``edges`` (GeV), events.

    ``edges`` must lie inside the model's binned range (the polynomial's domain).
    """
    b = model.binning
    theta = np.asarray(pars, dtype=np.float64)[model._bkg_idx] * model.scales
    return bernstein_bin_integrals(np.asarray(edges), model.degree, b.low, b.high) @ theta


def sample_masses(
    model: BumpModel, pars: np.ndarray, n: int, rng: np.random.Generator
) -> np.ndarray:
    """Draw ``n`` masses (GeV) from the fitted background polynomial over the binned range.

    Inverse-CDF sampling on a grid of 4096 points with linear interpolation.  The fit keeps the
    polynomial's integral over every bin positive; a dip below zero inside a bin (possible with
    free coefficients) is flattened (the CDF is made non-decreasing).
    """
    b = model.binning
    grid = np.linspace(b.low, b.high, 4097)
    theta = np.asarray(pars)[model._bkg_idx] * model.scales
    cdf = bernstein_cdf(grid, model.degree, b.low, b.high) @ theta
    cdf = np.maximum.accumulate(cdf - cdf[0])
    cdf /= cdf[-1]
    return np.interp(rng.uniform(size=int(n)), cdf, grid)
