"""Histograms of the dimuon skim (``hist``, named axes) and their export to ROOT.

Every histogram has the categorical axes ``dataset``, ``charge`` (OS/SS) and ``isolation``
(iso/antiiso/mixed/unknown) followed by one observable axis in GeV, cm or radians:

- ``mass``: fine log binning, 2000 bins from 0.2 to 200 GeV (≈0.35 % per bin, well below the
  1–2 % dimuon mass resolution);
- ``mass_upsilon``: the Υ window 5–16 GeV in 440 bins of 25 MeV;
- the main observables (``dimu_pt``, ``mumu_deltaR``, ``mu0_ip3d``, ...), filled when the preset
  computes them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import hist
import numpy as np

from processors.selection import CHARGE_CATEGORIES, ISOLATION_CATEGORIES

log = logging.getLogger(__name__)

#: observable histograms: name -> (column, bins, low, high, label)
OBSERVABLES = {
    "dimu_pt": ("dimu_pt", 200, 0.0, 200.0, "dimuon $p_T$ [GeV]"),
    "dimu_eta": ("dimu_eta", 100, -8.0, 8.0, r"dimuon $\eta$"),
    "mumu_deltaR": ("mumu_deltaR", 120, 0.0, 6.0, r"$\Delta R_{\mu\mu}$"),
    "mumu_deltapT": ("mumu_deltapT", 200, 0.0, 200.0, r"$p_{T,0} - p_{T,1}$ [GeV]"),
    "mu0_pt": ("mu0_pt", 200, 0.0, 200.0, "leading muon $p_T$ [GeV]"),
    "mu1_pt": ("mu1_pt", 200, 0.0, 200.0, "subleading muon $p_T$ [GeV]"),
    "mu0_ip3d": ("mu0_ip3d", 200, 0.0, 0.2, "leading muon IP$_{3D}$ [cm]"),
    "mu1_ip3d": ("mu1_ip3d", 200, 0.0, 0.2, "subleading muon IP$_{3D}$ [cm]"),
    "mu0_iso04": ("mu0_iso04", 100, 0.0, 5.0, "leading muon pfRelIso04"),
    "mu1_iso04": ("mu1_iso04", 100, 0.0, 5.0, "subleading muon pfRelIso04"),
    "n_jets": ("n_jets", 20, 0.0, 20.0, "number of jets"),
}


def _category_axes() -> list:
    return [
        hist.axis.StrCategory([], growth=True, name="dataset", label="dataset"),
        hist.axis.StrCategory(list(CHARGE_CATEGORIES), name="charge", label="charge category"),
        hist.axis.StrCategory(list(ISOLATION_CATEGORIES), name="isolation", label="isolation"),
    ]


def make_histograms(columns) -> dict[str, hist.Hist]:
    """Empty histograms for the skim columns available (``columns``: iterable of names)."""
    columns = set(columns)
    out = {
        "mass": hist.Hist(
            *_category_axes(),
            hist.axis.Regular(
                2000,
                0.2,
                200.0,
                transform=hist.axis.transform.log,
                name="mass",
                label=r"$m_{\mu\mu}$ [GeV]",
            ),
        ),
        "mass_upsilon": hist.Hist(
            *_category_axes(),
            hist.axis.Regular(440, 5.0, 16.0, name="mass", label=r"$m_{\mu\mu}$ [GeV]"),
        ),
    }
    for name, (column, bins, low, high, label) in OBSERVABLES.items():
        if column in columns:
            out[name] = hist.Hist(
                *_category_axes(), hist.axis.Regular(bins, low, high, name=column, label=label)
            )
    return out


def fill_histograms(
    hists: Mapping[str, hist.Hist],
    dataset: str,
    columns: Mapping[str, np.ndarray],
    charge_index: np.ndarray,
    iso_index: np.ndarray,
) -> None:
    """Fill ``hists`` in place from selected-event columns, one fill per category pair."""
    for q, charge in enumerate(CHARGE_CATEGORIES):
        for i, iso in enumerate(ISOLATION_CATEGORIES):
            mask = (charge_index == q) & (iso_index == i)
            if not mask.any():
                continue
            for name, h in hists.items():
                column = "dimu_mass" if name.startswith("mass") else OBSERVABLES[name][0]
                h.fill(
                    dataset=dataset,
                    charge=charge,
                    isolation=iso,
                    **{h.axes[-1].name: np.asarray(columns[column])[mask]},
                )


def write_root(hists: Mapping[str, hist.Hist], path) -> None:
    """Write 1D projections readable without this package: ``<dataset>/<name>_<charge>[_<iso>]``.

    Parameters
    ----------
    hists : mapping of str to hist.Hist
        Histograms from :func:`make_histograms` (merged over chunks).
    path : path-like
        Output ROOT file (written with uproot; callers write to a temporary name and rename).
    """
    import uproot

    with uproot.recreate(path) as out:
        for name, h in hists.items():
            for dataset in h.axes["dataset"]:
                for charge in CHARGE_CATEGORIES:
                    base = h[{"dataset": dataset, "charge": charge}]
                    out[f"{dataset}/{name}_{charge}"] = base[{"isolation": sum}]
                    for iso in ISOLATION_CATEGORIES:
                        out[f"{dataset}/{name}_{charge}_{iso}"] = base[{"isolation": iso}]
