"""Per-object skim columns: every muon and jet of a selected event as a list (jagged parquet).

With ``SkimConfig.objects`` the skim writes, beside its flat columns, one list column per object
field: ``muon_pt``, ``muon_eta``, ..., ``jet_btagDeepFlavB`` — all muons and all jets of the event
in their NanoAOD order (muons and jets are pT-ordered in NanoAOD), so per-object classifiers
(:mod:`ml.objects`, :mod:`ml.pfn`) can read them. Momenta and masses in GeV, impact parameters in
cm, isolation dimensionless; ID flags are booleans, charges int32, the rest float32.

Pure functions of awkward arrays, like :mod:`processors.columns`.
"""

from __future__ import annotations

import awkward as ak
import numpy as np

from processors.checks import MUON_ID_FLAGS
from processors.inputs import JET_BRANCHES, MUON_EXTRA

#: collection -> (column prefix, {NanoAOD field: column suffix}); the order is the column order
OBJECT_FIELDS: dict[str, tuple[str, dict[str, str]]] = {
    "Muon": (
        "muon",
        {
            "pt": "pt",
            "eta": "eta",
            "phi": "phi",
            "mass": "mass",
            "charge": "charge",
            **{flag: flag for flag in MUON_ID_FLAGS},
            **MUON_EXTRA,
        },
    ),
    "Jet": ("jet", {b.removeprefix("Jet_"): b.removeprefix("Jet_") for b in JET_BRANCHES}),
}

#: every list column of the object skim, in the parquet's order (after the flat columns)
OBJECT_COLUMNS: tuple[str, ...] = tuple(
    f"{prefix}_{suffix}" for prefix, fields in OBJECT_FIELDS.values() for suffix in fields.values()
)

#: the muon fields every input has (the ``kinematics_only`` files too)
_ALWAYS = ("Muon_pt", "Muon_eta", "Muon_phi", "Muon_charge")


def object_branches() -> list[str]:
    """NanoAOD branches the object columns read (``Muon_pt``, ..., ``Jet_btagDeepFlavB``)."""
    return [f"{coll}_{field}" for coll, (_, fields) in OBJECT_FIELDS.items() for field in fields]


def required_object_branches(columns: str) -> list[str]:
    """Branches ``objects=True`` needs in every file: all of them with the ``full`` column set;
    with ``kinematics`` only the muon kinematics (the others are written when present)."""
    return object_branches() if columns == "full" else list(_ALWAYS)


def optional_object_branches(columns: str) -> list[str]:
    """Object branches read only when a file has them (the ``kinematics`` column set)."""
    return [] if columns == "full" else [b for b in object_branches() if b not in _ALWAYS]


def _dtype(field: str) -> type:
    if field == "charge":
        return np.int32
    if field in MUON_ID_FLAGS:
        return np.bool_
    return np.float32


def object_columns(events, rows) -> dict[str, ak.Array]:
    """List columns of the muons and jets of the selected events.

    Parameters
    ----------
    events : awkward.Array
        NanoAOD-like events with ``Muon`` (and ``Jet``) collections.
    rows : numpy.ndarray of int
        Indices of the selected events.

    Returns
    -------
    dict of str to awkward.Array
        ``<prefix>_<suffix>`` → ``var * <dtype>`` lists, one entry per selected event, for every
        field of :data:`OBJECT_FIELDS` the events have (GeV, cm).
    """
    rows = np.asarray(rows, dtype=np.int64)
    out: dict[str, ak.Array] = {}
    event_fields = set(ak.fields(events))
    for coll, (prefix, fields) in OBJECT_FIELDS.items():
        if coll not in event_fields:
            continue
        objects = events[coll][rows]
        present = set(ak.fields(objects))
        for field, suffix in fields.items():
            if field not in present:
                continue
            values = ak.values_astype(objects[field], _dtype(field))
            out[f"{prefix}_{suffix}"] = ak.to_packed(ak.without_parameters(values))
    return out
