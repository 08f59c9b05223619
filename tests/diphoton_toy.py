"""A small diphoton skim frame in the parquet contract (processors.diphoton_columns), for tests.

Data: an exponentially falling γγ continuum in 105–160 GeV plus Higgs events (Gaussian peak at
125 GeV, σ = 1.7 GeV) with their production mode in ``truth_mode``; MC: the five modes with
mode-specific jets/leptons/MET and signed weights (a fraction negative) normalised to the
expected yields.  Kinematics are caricatures that make the modes separable, nothing more.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from processors.diphoton_columns import DIPHOTON_DTYPES, NON_HIGGS, TRUTH_MODES

#: expected Higgs events per mode (all masses) at the toy's luminosity
YIELDS = {"ggF": 200.0, "VBF": 18.0, "WH": 6.0, "ZH": 4.0, "ttH": 3.0}
MASS, WIDTH = 125.0, 1.7
SAMPLE = {"ggF": "ggH", "VBF": "VBF", "WH": "WH", "ZH": "ZH", "ttH": "ttH"}


def _kinematics(mode: str, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    nan = np.full(n, np.nan)
    ptgg = rng.exponential({"ggF": 25, "VBF": 60, "WH": 70, "ZH": 70, "ttH": 90}[mode], n)
    n_jets = {"ggF": rng.poisson(0.6, n), "VBF": 2 + rng.poisson(0.3, n),
              "WH": rng.poisson(1.0, n), "ZH": rng.poisson(1.2, n),
              "ttH": 3 + rng.poisson(1.5, n)}[mode]
    mjj = np.where(n_jets >= 2, rng.lognormal({"VBF": 6.5}.get(mode, 4.5), 0.5, n), nan)
    deta = np.where(n_jets >= 2, np.abs(rng.normal({"VBF": 4.2}.get(mode, 1.2), 1.0, n)), nan)
    n_b = {"ttH": rng.binomial(2, 0.75, n)}.get(mode, rng.binomial(1, 0.02, n))
    n_lep = {"WH": rng.binomial(1, 0.6, n), "ZH": 2 * rng.binomial(1, 0.3, n),
             "ttH": rng.binomial(1, 0.4, n)}.get(mode, np.zeros(n, int))
    met = rng.exponential({"WH": 45, "ZH": 40, "ttH": 50}.get(mode, 15), n)
    eta0, eta1 = rng.normal(0, 1.0, n), rng.normal(0, 1.0, n)
    return {
        "ptgg": ptgg, "n_jets": n_jets,
        "jet0_pt": np.where(n_jets >= 1, 30 + rng.exponential(40, n), nan),
        "jet0_eta": np.where(n_jets >= 1, rng.normal(0, 2.5 if mode == "VBF" else 1.5, n), nan),
        "jet1_pt": np.where(n_jets >= 2, 25 + rng.exponential(25, n), nan),
        "jet1_eta": np.where(n_jets >= 2, rng.normal(0, 2.5 if mode == "VBF" else 1.5, n), nan),
        "mjj": mjj, "deta_jj": deta, "n_bjets": np.minimum(n_b, n_jets),
        "n_leptons": n_lep,
        "lep0_pt": np.where(n_lep >= 1, 15 + rng.exponential(40, n), nan),
        "lep0_eta": np.where(n_lep >= 1, rng.normal(0, 1.2, n), nan),
        "met_et": met, "photon0_eta": eta0, "photon1_eta": eta1,
    }


def _frame(mgg: np.ndarray, kin: dict, rng: np.random.Generator, **cols) -> pd.DataFrame:
    n = mgg.size
    out = {"mgg": mgg,
           "photon0_pt": np.maximum(0.36 * mgg, 0.5 * mgg + 0.5 * kin["ptgg"]),
           "photon0_phi": rng.uniform(-np.pi, np.pi, n),
           "photon1_pt": 0.3 * mgg + rng.exponential(5, n),
           "photon1_phi": rng.uniform(-np.pi, np.pi, n),
           **kin, "runNumber": np.full(n, 300000), "eventNumber": np.arange(n),
           **cols}
    frame = pd.DataFrame(out)
    return frame[list(DIPHOTON_DTYPES)].astype(
        {k: v for k, v in DIPHOTON_DTYPES.items() if v is not object})


def diphoton_frame(seed: int = 0, *, n_background: int = 20000, mc_per_mode: int = 3000,
                   signal_scale: float = 1.0, neg_fraction: float = 0.1) -> pd.DataFrame:
    """Data (continuum + Poisson Higgs events of ``signal_scale`` × :data:`YIELDS`) and weighted
    MC (``mc_per_mode`` events per mode, a ``neg_fraction`` of negative weights)."""
    rng = np.random.default_rng(seed)
    parts = []
    m_bkg = 105.0 + rng.exponential(1 / 0.032, 4 * n_background)
    m_bkg = m_bkg[m_bkg < 160.0][:n_background]
    bkg_kin = _kinematics("ggF", m_bkg.size, rng)
    parts.append(_frame(m_bkg, bkg_kin, rng, weight=1.0, mc_weight_sign=1, sample="data_A",
                        truth_mode=NON_HIGGS, channelNumber=0, is_data=True))
    for mode, code in TRUTH_MODES.items():
        n_sig = rng.poisson(signal_scale * YIELDS[mode])
        m = rng.normal(MASS, WIDTH, n_sig)
        parts.append(_frame(m, _kinematics(mode, n_sig, rng), rng, weight=1.0, mc_weight_sign=1,
                            sample="data_A", truth_mode=code, channelNumber=0, is_data=True))
        m = rng.normal(MASS, WIDTH, mc_per_mode)
        sign = np.where(rng.random(mc_per_mode) < neg_fraction, -1, 1)
        w = sign * YIELDS[mode] / (mc_per_mode * (1 - 2 * neg_fraction))
        parts.append(_frame(m, _kinematics(mode, mc_per_mode, rng), rng, weight=w,
                            mc_weight_sign=sign, sample=SAMPLE[mode], truth_mode=code,
                            channelNumber=1000 + code, is_data=False))
    frame = pd.concat(parts, ignore_index=True)
    return frame[(frame["mgg"] >= 105.0) & (frame["mgg"] <= 160.0)].reset_index(drop=True)
