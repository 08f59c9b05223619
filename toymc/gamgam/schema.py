"""The ``mini`` TTree schema of the ATLAS Open Data 13 TeV (2020) ntuples, as the synthetic files
write it: branch name → awkward type, in the release's order, plus the synthetic truth branch.

Flat branches are scalars; object branches are per-event lists (``var * ...``) counted by the
object's ``<prefix>_n`` branch. Energies and momenta (``*_pt``, ``*_E``, ``*_m``, ``met_et``,
``*cone*``, ``*_syst``, ``ditau_m``) are in MeV; ``XSection`` in pb.

uproot cannot write ``std::vector`` branches into a TTree, so the lists are written as ROOT
variable-length arrays (``photon_pt[photon_n]``) whose counters are the schema's ``*_n`` branches
(int32, where the release has UInt_t); uproot and coffea read both as the same jagged arrays.
"""

from __future__ import annotations

SCALE_FACTORS = ("PILEUP", "ELE", "MUON", "PHOTON", "TAU", "BTAG", "LepTRIGGER", "PhotonTRIGGER")
LEP_FIELDS = {
    "truthMatched": "bool", "trigMatched": "bool", "pt": "float32", "eta": "float32",
    "phi": "float32", "E": "float32", "z0": "float32", "charge": "int32", "type": "uint32",
    "isTightID": "bool", "ptcone30": "float32", "etcone20": "float32",
    "trackd0pvunbiased": "float32", "tracksigd0pvunbiased": "float32",
}
JET_FIELDS = {
    "pt": "float32", "eta": "float32", "phi": "float32", "E": "float32", "jvt": "float32",
    "trueflav": "int32", "truthMatched": "bool", "MV2c10": "float32",
}
PHOTON_FIELDS = {
    "truthMatched": "bool", "trigMatched": "bool", "pt": "float32", "eta": "float32",
    "phi": "float32", "E": "float32", "isTightID": "bool", "ptcone30": "float32",
    "etcone20": "float32", "convType": "int32",
}
TAU_FIELDS = {
    "pt": "float32", "eta": "float32", "phi": "float32", "E": "float32", "isTightID": "bool",
    "truthMatched": "bool", "trigMatched": "bool", "nTracks": "int32", "BDTid": "float32",
}
LARGER_FIELDS = {
    "pt": "float32", "eta": "float32", "phi": "float32", "E": "float32", "m": "float32",
    "truthMatched": "int32", "D2": "float32", "tau32": "float32",
}
#: the truth branch of the synthetic files (not in the release): production-mode code,
#: -1 for non-Higgs events (:data:`processors.diphoton_columns.TRUTH_MODES`)
TRUTH_BRANCH = "truth_mode"


def _lists(prefix: str, fields: dict[str, str]) -> dict[str, str]:
    return {f"{prefix}_n": "int32", **{f"{prefix}_{k}": f"var * {v}" for k, v in fields.items()}}


#: branch name → awkward type string, in the order of the release's ``mini`` tree
BRANCHES: dict[str, str] = {
    "runNumber": "int32", "eventNumber": "int32", "channelNumber": "int32", "mcWeight": "float32",
    **{f"scaleFactor_{s}": "float32" for s in SCALE_FACTORS},
    "trigE": "bool", "trigM": "bool", "trigP": "bool",
    **_lists("lep", LEP_FIELDS),
    "met_et": "float32", "met_phi": "float32",
    **_lists("jet", JET_FIELDS),
    **_lists("photon", PHOTON_FIELDS),
    **_lists("tau", TAU_FIELDS),
    "ditau_m": "float32",
    "lep_pt_syst": "var * float32", "met_et_syst": "float32", "jet_pt_syst": "var * float32",
    "photon_pt_syst": "var * float32", "tau_pt_syst": "var * float32",
    "XSection": "float32", "SumWeights": "float32",
    **_lists("largeRjet", LARGER_FIELDS),
    "largeRjet_pt_syst": "var * float32", "tau_charge": "var * int32",
    TRUTH_BRANCH: "int32",
}

#: counter branches (written by uproot from the lists they count)
COUNTERS = tuple(name for name in BRANCHES if name.endswith("_n"))


def counter_of(branch: str) -> str:
    """The ``<prefix>_n`` counter of a list branch (``photon_pt_syst`` → ``photon_n``)."""
    return branch.split("_", 1)[0] + "_n"
