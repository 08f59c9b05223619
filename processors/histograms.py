"""Histograms of the dimuon skim (``hist``, named axes) and their export to ROOT.

Every histogram has the categorical axes ``dataset``, ``charge`` (OS/SS) and ``isolation``
(iso/antiiso/mixed/unknown) followed by one observable axis in GeV, cm or radians:

- ``mass``: fine log binning, 2000 bins from 0.2 to 200 GeV (≈0.35 % per bin, well below the
  1–2 % dimuon mass resolution);
- ``mass_upsilon``: the Υ window 5–16 GeV in 440 bins of 25 MeV;
- ``mass_upsilon_fit``: the analysis fit binning of the Υ window (``stats.binning.make_bins``:
  0.1455 GeV bins with edges at the SR boundaries 9 and 10.6 GeV) split in
  :data:`FIT_SUBDIVISION`; ``h[{"mass": slice(hist.loc(9.0), hist.loc(10.6))}]`` gives the
  analysis' SR count and ``h[{"mass": hist.rebin(FIT_SUBDIVISION)}]`` its fit bins;
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

#: Fine bins per analysis fit bin in ``mass_upsilon_fit``.
FIT_SUBDIVISION = 5

#: Units of the observables (GeV, cm; the others are dimensionless), recorded in the metadata.
UNITS = {"mgg": "GeV",
         "mass": "GeV", "dimu_mass": "GeV", "dimu_pt": "GeV", "mumu_deltapT": "GeV",
         "mu0_pt": "GeV", "mu1_pt": "GeV", "mu0_ip3d": "cm", "mu1_ip3d": "cm"}

#: ROOT (TLatex) titles of the observable axes for histograms.root.
ROOT_TITLES = {
    "mass": "m_{#mu#mu} [GeV]", "dimu_pt": "dimuon p_{T} [GeV]", "dimu_eta": "dimuon #eta",
    "mumu_deltaR": "#DeltaR_{#mu#mu}", "mumu_deltapT": "p_{T,0} - p_{T,1} [GeV]",
    "mu0_pt": "leading muon p_{T} [GeV]", "mu1_pt": "subleading muon p_{T} [GeV]",
    "mu0_ip3d": "leading muon IP_{3D} [cm]", "mu1_ip3d": "subleading muon IP_{3D} [cm]",
    "mu0_iso04": "leading muon pfRelIso04", "mu1_iso04": "subleading muon pfRelIso04",
    "n_jets": "number of jets", "mgg": "m_{#gamma#gamma} [GeV]",
}

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
        "mass_upsilon_fit": hist.Hist(
            *_category_axes(),
            hist.axis.Variable(fit_edges(), name="mass", label=r"$m_{\mu\mu}$ [GeV]"),
        ),
    }
    for name, (column, bins, low, high, label) in OBSERVABLES.items():
        if column in columns:
            out[name] = hist.Hist(
                *_category_axes(), hist.axis.Regular(bins, low, high, name=column, label=label)
            )
    return out


def fit_edges(window: str = "upsilon", subdivision: int = FIT_SUBDIVISION) -> np.ndarray:
    """Edges (GeV) of the analysis fit binning of ``window`` (``stats.binning.make_bins``), each
    bin split in ``subdivision``: every analysis edge is an edge, bit for bit."""
    from stats.binning import make_bins

    edges = np.asarray(make_bins(window).edges, dtype=np.float64)
    fine = [np.linspace(a, b, subdivision + 1)[:-1] for a, b in zip(edges[:-1], edges[1:],
                                                                     strict=True)]
    return np.concatenate([*fine, edges[-1:]])


def set_metadata(hists: Mapping[str, hist.Hist], **metadata) -> None:
    """Record ``metadata`` (dataset(s), preset, luminosity, toolkit version, …) and the unit of
    each histogram's observable in its ``.metadata`` dict, in place."""
    for h in hists.values():
        column = h.axes[-1].name
        h.metadata = {**metadata, "observable": column, "unit": UNITS.get(column, "")}


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
    """Write 1D projections readable without this package: ``<dataset>/<name>_<charge>[_<iso>]``,
    with ROOT (TLatex) axis titles; empty projections are left out.

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
            title = ROOT_TITLES.get(h.axes[-1].name, h.axes[-1].name)
            if "charge" not in h.axes.name:  # other analyses (diphoton): <dataset>/<name>
                _write_projections(out, name, h, title)
                continue
            for dataset in h.axes["dataset"]:
                for charge in CHARGE_CATEGORIES:
                    base = h[{"dataset": dataset, "charge": charge}]
                    projections = {f"{name}_{charge}": base[{"isolation": sum}]}
                    projections.update({f"{name}_{charge}_{iso}": base[{"isolation": iso}]
                                        for iso in ISOLATION_CATEGORIES})
                    for key, proj in projections.items():
                        if proj.sum() == 0:
                            continue
                        out[f"{dataset}/{key}"] = _root_hist(proj, key, title)


def _write_projections(out, name: str, h: hist.Hist, title: str) -> None:
    """``<dataset>/<name>``: the observable axis of each dataset, other categories summed
    (histograms whose last axis is a category, such as a cutflow, are not written)."""
    if isinstance(h.axes[-1], (hist.axis.StrCategory, hist.axis.IntCategory)):
        return
    for dataset in h.axes["dataset"]:
        proj = h[{"dataset": dataset}].project(h.axes[-1].name)
        if np.any(proj.values() != 0):
            out[f"{dataset}/{name}"] = _root_hist(proj, name, title)


def _root_hist(h: hist.Hist, name: str, xtitle: str):
    """A TH1 of a 1D histogram with ROOT titles: ``name;xtitle;events``."""
    import uproot

    h = h.copy()
    h.axes[0].label = xtitle
    h.label = name
    th1 = uproot.to_writable(h)
    th1._bases[0]._bases[0]._members["fTitle"] = name  # TNamed of the TH1 (uproot's writable)
    th1.member("fYaxis")._bases[0]._members["fTitle"] = "events"
    return th1
