"""The diphoton skim's parquet contract: column names, dtypes and label codes.

Every column of a diphoton skim parquet, in order. Energies and momenta in GeV (the ATLAS
``mini`` ntuples store MeV; :mod:`processors.diphoton` converts). Jets are the file's jets with
pT > 25 GeV and |eta| < 4.5; ``n_bjets`` counts those with MV2c10 > 0.83 (the 77 % b-tagging
working point). Columns of a missing object (no second jet, no lepton) are NaN.

``weight`` is the full event weight: ``mcWeight`` x scale factors x ``XSection`` / ``SumWeights``
x luminosity for simulation, 1 for data. ``truth_mode`` uses :data:`TRUTH_MODES`; -1 marks a
non-Higgs (background or real data) event; in the synthetic data-like sample the injected Higgs
events carry their mode.
"""

from __future__ import annotations

import numpy as np

#: Higgs production mode codes of ``truth_mode`` (and of the synthetic ntuples' truth branch)
TRUTH_MODES: dict[str, int] = {"ggF": 0, "VBF": 1, "WH": 2, "ZH": 3, "ttH": 4}
#: ``truth_mode`` of events that are no Higgs boson (continuum, fakes, unlabelled data)
NON_HIGGS: int = -1

#: column name -> numpy dtype, in the parquet's order (the contract h16b's analysis reads)
DIPHOTON_DTYPES: dict[str, type] = {
    "mgg": np.float32,
    "photon0_pt": np.float32,
    "photon0_eta": np.float32,
    "photon0_phi": np.float32,
    "photon1_pt": np.float32,
    "photon1_eta": np.float32,
    "photon1_phi": np.float32,
    "ptgg": np.float32,
    "n_jets": np.int32,
    "jet0_pt": np.float32,
    "jet0_eta": np.float32,
    "jet1_pt": np.float32,
    "jet1_eta": np.float32,
    "mjj": np.float32,
    "deta_jj": np.float32,
    "n_bjets": np.int32,
    "n_leptons": np.int32,
    "lep0_pt": np.float32,
    "lep0_eta": np.float32,
    "met_et": np.float32,
    "weight": np.float64,
    "mc_weight_sign": np.int8,
    "sample": np.str_,
    "truth_mode": np.int32,
    "runNumber": np.int64,
    "eventNumber": np.int64,
    "channelNumber": np.int32,
    "is_data": np.bool_,
}

#: Every column of the diphoton skim parquet, in order.
DIPHOTON_COLUMNS: tuple[str, ...] = tuple(DIPHOTON_DTYPES)

#: ``sample`` labels of the five Higgs MC samples, by dataset channel number
MC_SAMPLES: dict[int, str] = {
    343981: "ggH", 345041: "VBF", 345318: "WH", 345319: "ZH", 341081: "ttH"
}

#: ``truth_mode`` of each Higgs MC sample, by dataset channel number
CHANNEL_MODES: dict[int, int] = {343981: 0, 345041: 1, 345318: 2, 345319: 3, 341081: 4}
