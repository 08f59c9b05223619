"""Skim columns (the parquet data contract) from events and the selected muon pair.

Pure functions of awkward/numpy arrays; units GeV and cm. Column names and meaning follow the
"Parquet skim" section of the team contract; columns a preset cannot compute are absent.
"""

from __future__ import annotations

import awkward as ak
import numpy as np

from processors.inputs import EVENT_ID_BRANCHES, JET_BRANCHES, MUON_EXTRA
from processors.observables import delta_pt, delta_r, dimuon_kinematics, leading_jet
from processors.selection import dimuon_charge, take_pair

#: suffixes of the per-muon columns ``mu0_<suffix>``, ``mu1_<suffix>``
MUON_SUFFIXES: tuple[str, ...] = ("pt", "eta", "phi", "charge", *MUON_EXTRA.values())
#: fields of the leading jet, columns ``jet0_<field>``
JET_FIELDS: tuple[str, ...] = tuple(b.removeprefix("Jet_") for b in JET_BRANCHES)

#: Every column of the full skim, in the parquet's order: the data contract that the analysis
#: (``analysis.config.SKIM_COLUMNS``) validates against. ``truth_process`` exists for synthetic
#: samples only; the ``kinematics`` column set writes the subset its input has.
SKIM_COLUMNS: tuple[str, ...] = (
    *EVENT_ID_BRANCHES,
    *(f"mu{k}_{suffix}" for k in (0, 1) for suffix in MUON_SUFFIXES),
    *(f"dimu_{name}" for name in ("mass", "pt", "eta", "phi", "charge")),
    "opposite_sign",
    "mumu_deltaR",
    "mumu_deltapT",
    "n_muons",
    "n_jets",
    *(f"jet0_{name}" for name in JET_FIELDS),
    "met_pt",
    "met_sumEt",
    "pv_npvsGood",
    "truth_process",
)


def flat_field(collection, field: str) -> np.ndarray:
    """Flattened numpy content of a jagged collection field (``events.Muon.pt`` → 1D array)."""
    return ak.to_numpy(ak.flatten(collection[field], axis=1))


def skim_columns(events, idx0, idx1, rows, *, columns: str = "full") -> dict[str, np.ndarray]:
    """Skim columns for the selected events.

    Parameters
    ----------
    events : awkward.Array
        NanoAOD-like events (``Muon``, ``Jet``, ``MET``, ``PV`` collections, event ids).
    idx0, idx1 : numpy.ndarray
        Flat muon indices of the pair for every event
        (:func:`processors.selection.leading_pair_indices`).
    rows : numpy.ndarray of int
        Indices of the selected events.
    columns : {"full", "kinematics"}
        ``"kinematics"`` needs only muon pt/eta/phi/charge and adds the event ids and per-muon
        columns (isolation, impact parameters) of the events' fields that are present.

    Returns
    -------
    dict of str to numpy.ndarray
        Ordered skim columns, one entry per selected event.
    """
    rows = np.asarray(rows, dtype=np.int64)
    i0, i1 = np.asarray(idx0)[rows], np.asarray(idx1)[rows]
    muons = events.Muon
    out: dict[str, np.ndarray] = {}
    event_fields = set(ak.fields(events))
    for name in EVENT_ID_BRANCHES:
        if columns == "full" or name in event_fields:
            out[name] = ak.to_numpy(events[name])[rows]
    per_muon = {"pt": "pt", "eta": "eta", "phi": "phi", "charge": "charge"}
    muon_fields = set(ak.fields(muons))
    per_muon.update(
        {f: suffix for f, suffix in MUON_EXTRA.items() if columns == "full" or f in muon_fields}
    )
    values = {}
    for field, suffix in per_muon.items():
        flat = flat_field(muons, field)
        fill = 0 if field == "charge" else np.nan
        values[suffix] = take_pair(flat, i0, i1, fill=fill)
    for k in (0, 1):
        for suffix, pair in values.items():
            dtype = np.int32 if suffix == "charge" else np.float32
            out[f"mu{k}_{suffix}"] = pair[k].astype(dtype)
    (pt0, pt1), (eta0, eta1), (phi0, phi1) = values["pt"], values["eta"], values["phi"]
    dimu = dimuon_kinematics(pt0, eta0, phi0, pt1, eta1, phi1)
    for name in ("mass", "pt", "eta", "phi"):
        out[f"dimu_{name}"] = dimu[name].astype(np.float32)
    charge = dimuon_charge(*values["charge"]).astype(np.int32)
    out["dimu_charge"] = charge
    out["opposite_sign"] = charge == 0
    out["mumu_deltaR"] = delta_r(eta0, phi0, eta1, phi1).astype(np.float32)
    out["mumu_deltapT"] = delta_pt(pt0, pt1).astype(np.float32)
    out["n_muons"] = ak.to_numpy(ak.num(muons, axis=1)).astype(np.int32)[rows]
    if columns == "full":
        jets = leading_jet(events.Jet[rows], JET_FIELDS)
        out.update(jets)
        out["met_pt"] = ak.to_numpy(events.MET.pt)[rows].astype(np.float32)
        out["met_sumEt"] = ak.to_numpy(events.MET.sumEt)[rows].astype(np.float32)
        out["pv_npvsGood"] = ak.to_numpy(events.PV.npvsGood)[rows].astype(np.int32)
    if "Truth" in ak.fields(events) and "process" in ak.fields(events.Truth):
        out["truth_process"] = ak.to_numpy(events.Truth.process)[rows].astype(np.int32)
    return out
