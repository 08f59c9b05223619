"""Reference selection on generated arrays, to check the synthetic sample against the paper.

A minimal numpy/awkward re-statement of the published anti-isolated Υ selection
(arXiv:2502.14036; reference §2): first two tight muons, both pfRelIso04_all ≥ 0.55,
mu0 pT ≥ 17 GeV, mu1 pT ≥ 8 GeV, HLT_TrkMu15_DoubleTrkMu5NoFiltersNoVtx. It validates the
generator only; the analysis selection lives in ``processors``, whose published preset
(``processors.config.PRESETS["upsilon_antiiso"]``) gives the cut values, and the window edges
are ``stats.binning.WINDOWS["upsilon"]``.
"""

from __future__ import annotations

from collections.abc import Mapping

import awkward as ak
import numpy as np

from processors.config import PRESETS
from processors.observables import dimuon_kinematics
from stats.binning import WINDOWS
from toymc.truth import Process

__all__ = ["leading_tight_pair", "reference_yields", "UPSILON_WINDOW"]

#: Υ windows in GeV: sideband-left, SR-left, SR-right, sideband-right (reference §3).
UPSILON_WINDOW = WINDOWS["upsilon"].as_tuple()
#: the published selection (muon pT in GeV, isolation threshold, trigger)
_PUBLISHED = PRESETS["upsilon_antiiso"]
_FIELDS = ("pt", "eta", "phi", "charge", "pfRelIso04_all", "ip3d")


def leading_tight_pair(events: Mapping[str, object]) -> dict[str, np.ndarray]:
    """Observables of the first two tight muons for every event (NaN where fewer than two).

    Parameters
    ----------
    events : mapping
        Output of :func:`toymc.generate_events` (NanoAOD branch names).

    Returns
    -------
    dict of str to ndarray (n_events,)
        ``has_pair``, ``mu0_<f>``/``mu1_<f>`` for f in pt, eta, phi, charge, pfRelIso04_all,
        ip3d; ``dimu_mass`` and ``dimu_pt`` (GeV).
    """
    tight = ak.Array(events["Muon_tightId"])
    out: dict[str, np.ndarray] = {"has_pair": ak.to_numpy(ak.sum(tight, axis=1) >= 2)}
    for field in _FIELDS:
        values = ak.Array(events[f"Muon_{field}"])[tight]
        padded = ak.fill_none(ak.pad_none(ak.values_astype(values, np.float64), 2, clip=True), np.nan)
        arr = ak.to_numpy(padded)
        out[f"mu0_{field}"], out[f"mu1_{field}"] = arr[:, 0], arr[:, 1]
    dimu = dimuon_kinematics(
        out["mu0_pt"], out["mu0_eta"], out["mu0_phi"], out["mu1_pt"], out["mu1_eta"], out["mu1_phi"]
    )
    out["dimu_mass"], out["dimu_pt"] = dimu["mass"], dimu["pt"]
    return out


def reference_yields(
    events: Mapping[str, object], *, anti_isolated: bool = True, window=UPSILON_WINDOW
) -> dict[str, float]:
    """Event counts of the published selection in the Υ window, split OS/SS and by region.

    Parameters
    ----------
    events : mapping
        Output of :func:`toymc.generate_events`.
    anti_isolated : bool
        Require both muons pfRelIso04_all ≥ 0.55 (the published cut); False drops it.
    window : tuple of 4 floats
        (sideband-left, SR-left, SR-right, sideband-right) in GeV.

    Returns
    -------
    dict
        ``os``, ``ss`` (whole window), ``os_sbl``, ``os_sr``, ``os_sbh``, ``ss_sr``, ``sr_signal``
        (truth Υ or injected among OS SR events), ``sr_background`` and ``s_over_b``.
    """
    pair = leading_tight_pair(events)
    with np.errstate(invalid="ignore"):
        sel = (
            pair["has_pair"]
            & (pair["mu0_pt"] >= _PUBLISHED.mu0_pt_min)
            & (pair["mu1_pt"] >= _PUBLISHED.mu1_pt_min)
        )
        if anti_isolated:
            iso = _PUBLISHED.iso_cut
            sel &= (pair["mu0_pfRelIso04_all"] >= iso) & (pair["mu1_pfRelIso04_all"] >= iso)
    (trigger,) = _PUBLISHED.triggers
    sel &= np.asarray(events[trigger])
    m = pair["dimu_mass"]
    sbl, srl, srr, sbh = window
    in_window = sel & (m > sbl) & (m < sbh)
    os_ = in_window & (pair["mu0_charge"] + pair["mu1_charge"] == 0)
    ss = in_window & ~os_
    sr = (m > srl) & (m < srr)
    truth = np.asarray(events["Truth_process"])
    signal = Process.is_upsilon(truth) | (truth == Process.INJECTED)
    s = int(np.sum(os_ & sr & signal))
    b = int(np.sum(os_ & sr & ~signal))
    return {
        "os": int(os_.sum()),
        "ss": int(ss.sum()),
        "os_sbl": int(np.sum(os_ & (m < srl))),
        "os_sr": int(np.sum(os_ & sr)),
        "os_sbh": int(np.sum(os_ & (m > srr))),
        "ss_sr": int(np.sum(ss & sr)),
        "sr_signal": s,
        "sr_background": b,
        "s_over_b": s / b if b else float("nan"),
    }
