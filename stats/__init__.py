"""Sideband background fits, pyhf workspaces and discovery significances for dimuon bump hunts.

Modules: :mod:`stats.binning` (windows, binning), :mod:`stats.background` (shapes),
:mod:`stats.model` (pyhf model and fits), :mod:`stats.workspace` (JSON workspaces),
:mod:`stats.significance` (Z without/with cuts, reweighting), :mod:`stats.result`,
:mod:`stats.reweighting`,
:mod:`stats.gof` (goodness of fit, F-test), :mod:`stats.degree` (degree rules),
:mod:`stats.spurious` (smooth templates), :mod:`stats.direct` (non-linear shapes),
:mod:`stats.toys` (pseudo-experiments, calibration), :mod:`stats.lee` (look-elsewhere effect).
"""

from stats.binning import WINDOWS, Binning, CoverageError, Window, check_coverage, make_bins
from stats.significance import (
    DEFAULT_FPRS,
    SignificanceResult,
    reweighted_significance,
    scan_cut,
    significance,
)

__all__ = [
    "WINDOWS",
    "Binning",
    "Window",
    "make_bins",
    "CoverageError",
    "check_coverage",
    "DEFAULT_FPRS",
    "SignificanceResult",
    "significance",
    "scan_cut",
    "reweighted_significance",
]
