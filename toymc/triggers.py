"""Emulated HLT decisions of the 2016 DoubleMuon triggers from the reconstructed muons.

Each muon is seen online with 98 % efficiency (|η| < 2.4) and an online pT smeared by 2 % from
the offline one. ``NoFiltersNoVtx`` paths only count tracker muons above thresholds; the
``TrkIsoVVL`` paths also need relative tracker isolation < 0.4 (≈ 0.8 × pfRelIso03_all) and the
``_DZ`` variants |Δz| < 0.2 cm between the two muons. Pure numpy on padded (n, k) arrays.
"""

from __future__ import annotations

import numpy as np

__all__ = ["TRIGGERS", "emulate_triggers"]

#: Emulated trigger branches: name → (leading pT, subleading pT, isolated, |Δz| < 0.2 cm).
TRIGGERS: dict[str, tuple[float, float, bool, bool]] = {
    "HLT_TrkMu15_DoubleTrkMu5NoFiltersNoVtx": (15.0, 5.0, False, False),
    "HLT_TrkMu17_DoubleTrkMu8NoFiltersNoVtx": (17.0, 8.0, False, False),
    "HLT_Mu17_TrkIsoVVL_Mu8_TrkIsoVVL": (17.0, 8.0, True, False),
    "HLT_Mu17_TrkIsoVVL_Mu8_TrkIsoVVL_DZ": (17.0, 8.0, True, True),
    "HLT_Mu17_TrkIsoVVL_TkMu8_TrkIsoVVL_DZ": (17.0, 8.0, True, True),
}


def _first_two(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column index of the first and second True per row (-1 when absent)."""
    rank = np.cumsum(mask, axis=1)
    has1 = rank[:, -1] >= 1
    has2 = rank[:, -1] >= 2
    i1 = np.where(has1, np.argmax(mask & (rank == 1), axis=1), -1)
    i2 = np.where(has2, np.argmax(mask & (rank == 2), axis=1), -1)
    return i1, i2


def emulate_triggers(
    rng: np.random.Generator,
    pt: np.ndarray,
    eta: np.ndarray,
    iso03: np.ndarray,
    dz: np.ndarray,
    valid: np.ndarray,
) -> dict[str, np.ndarray]:
    """Trigger bits per event from pT-ordered padded muon arrays.

    Parameters
    ----------
    rng : numpy.random.Generator
    pt, eta, iso03, dz : ndarray, shape (n, k)
        Offline muon pT (GeV), η, pfRelIso03_all and dz (cm), pT-ordered per row.
    valid : ndarray of bool, shape (n, k)
        Which slots hold a reconstructed muon.

    Returns
    -------
    dict of str to ndarray of bool, shape (n,)
        One entry per name in :data:`TRIGGERS`.
    """
    shape = np.shape(pt)
    online = valid & (np.abs(eta) < 2.4) & (rng.random(shape) < 0.98)
    pt_online = pt * (1.0 + 0.02 * rng.standard_normal(shape))
    trk_iso = 0.8 * iso03 * rng.uniform(0.8, 1.2, shape)
    path_eff = rng.random(shape[0])
    out: dict[str, np.ndarray] = {}
    for name, (lead, sub, isolated, dz_cut) in TRIGGERS.items():
        cand = online & (pt_online > sub)
        if isolated:
            cand &= trk_iso < 0.4
        i1, i2 = _first_two(cand)
        ok = i2 >= 0
        rows = np.arange(shape[0])
        lead_pt = np.where(ok, pt_online[rows, np.maximum(i1, 0)], 0.0)
        ok &= lead_pt > lead
        if dz_cut:
            dz1 = dz[rows, np.maximum(i1, 0)]
            dz2 = dz[rows, np.maximum(i2, 0)]
            ok &= np.abs(dz1 - dz2) < 0.2
        out[name] = ok & (path_eff < 0.99)
    return out
