"""Detector response of the synthetic GamGam sample: truth objects (GeV) → ``mini`` branches (MeV).

Photons get a calorimeter energy resolution (12 %/√E ⊕ 1.1 %, worse for conversions and in the
1.37–1.52 crack), a tight identification (≈90 % for prompt photons, 30 % for jet fakes), trigger
matching and isolation energies in MeV: ``ptcone30`` is exactly zero for 75 % of the prompt
photons (no track above threshold; 15 % of fakes) and otherwise exponential (mean 1.2 GeV; 6 GeV
for fakes), ``etcone20`` is Gaussian (0 ± 1 GeV prompt, 4 ± 4 GeV fakes, negative values allowed
as in the calorimeter). The relative cuts keep ≈97 % of prompt photons, while the seed's raw-MeV
cuts (< 0.065 MeV) keep ≈37 %: ≈14 % of prompt pairs, as the seed's Higgs MC yield with that cut
(70.3 events at 10.6 fb⁻¹) is of the expected ≈480. Jets get a 5 % ⊕
80 %/√pT resolution and an MV2c10 score (77 % of b jets and 1 % of light jets above 0.83); leptons
a 2 % resolution; MET is the neutrinos' vector sum plus 8 GeV of soft-term noise per component.
"""

from __future__ import annotations

import awkward as ak
import numpy as np

from toymc.gamgam.fourvec import pt_eta_phi
from toymc.gamgam.processes import BOTTOM, TruthObjects

MEV = 1000.0
#: (min pT GeV, max |eta|) of objects written to the file
PHOTON_ACCEPT, JET_ACCEPT, LEPTON_ACCEPT = (10.0, 2.5), (20.0, 4.9), (7.0, 2.5)


def _jagged(event, n_events, columns, order_key):
    """Per-event lists sorted by decreasing ``order_key``: dict name → awkward array."""
    order = np.lexsort((-order_key, event))
    counts = np.bincount(event, minlength=n_events)
    return {k: ak.unflatten(np.asarray(v)[order], counts) for k, v in columns.items()}, counts


def _photons(col, n_events, rng):
    ph = col.merged("photon")
    extra = np.flatnonzero(rng.uniform(size=n_events) < 0.05)  # a soft third (fake) photon
    k = len(extra)
    pt_x, eta_x = 10.0 + rng.exponential(8.0, k), rng.uniform(-2.5, 2.5, k)
    pt, eta, phi = pt_eta_phi(ph["p4"])
    pt, eta = np.concatenate([pt, pt_x]), np.concatenate([eta, eta_x])
    phi = np.concatenate([phi, rng.uniform(-np.pi, np.pi, k)])
    real = np.concatenate([ph["real"].astype(bool), np.zeros(k, bool)])
    event = np.concatenate([ph["event"], extra])
    n = len(pt)
    conv = np.where(rng.uniform(size=n) < 0.7, 0, rng.integers(1, 6, n))
    crack = (np.abs(eta) > 1.37) & (np.abs(eta) < 1.52)
    energy = pt * np.cosh(eta)
    rel = np.hypot(0.12 / np.sqrt(energy), 0.011) * np.where(conv > 0, 1.2, 1.0)
    rel = rel * np.where(crack, 2.0, 1.0)
    scale = rng.normal(1.0, rel)
    pt, energy = pt * scale, energy * scale
    keep = (pt > PHOTON_ACCEPT[0]) & (np.abs(eta) < PHOTON_ACCEPT[1])
    barrel = np.abs(eta) < 1.37
    tight = rng.uniform(size=n) < np.where(real, np.where(barrel, 0.92, 0.88), 0.30)
    trig = rng.uniform(size=n) < np.where(pt > 25.0, 0.97, 0.30)
    no_track = rng.uniform(size=n) < np.where(real, 0.75, 0.15)
    ptcone = np.where(no_track, 0.0, rng.exponential(np.where(real, 1.2, 6.0)))
    etcone = rng.normal(np.where(real, 0.0, 4.0), np.where(real, 1.0, 4.0))
    cols = {
        "truthMatched": real, "trigMatched": trig, "pt": pt * MEV, "eta": eta, "phi": phi,
        "E": energy * MEV, "isTightID": tight, "ptcone30": ptcone * MEV, "etcone20": etcone * MEV,
        "convType": conv, "pt_syst": 0.005 * pt * MEV,
    }
    cols = {k: v[keep] for k, v in cols.items()}
    return _jagged(event[keep], n_events, cols, pt[keep])


def _jets(col, n_events, rng):
    jets = col.merged("jet")
    pt, eta, phi = pt_eta_phi(jets["p4"])
    flav = jets.get("flav", np.zeros(len(pt), int)).astype(np.int32)
    n = len(pt)
    pt = pt * rng.normal(1.0, np.hypot(0.05, 0.8 / np.sqrt(np.maximum(pt, 1.0))))
    keep = (pt > JET_ACCEPT[0]) & (np.abs(eta) < JET_ACCEPT[1])
    is_b = flav == BOTTOM
    tagged = rng.uniform(size=n) < np.where(is_b, 0.77, 0.01)
    mv2 = np.where(tagged, rng.uniform(0.83, 1.0, n), -1.0 + 1.83 * rng.beta(1.2, 3.0, n))
    cols = {
        "pt": pt * MEV, "eta": eta, "phi": phi, "E": 1.02 * pt * np.cosh(eta) * MEV,
        "jvt": rng.uniform(0.6, 1.0, n), "trueflav": flav, "truthMatched": np.ones(n, bool),
        "MV2c10": mv2, "pt_syst": 0.03 * pt * MEV,
    }
    cols = {k: v[keep] for k, v in cols.items()}
    return _jagged(jets["event"][keep], n_events, cols, pt[keep])


def _leptons(col, n_events, rng):
    lep = col.merged("lep")
    pt, eta, phi = pt_eta_phi(lep["p4"])
    n = len(pt)
    pt = pt * rng.normal(1.0, 0.02, n)
    keep = (pt > LEPTON_ACCEPT[0]) & (np.abs(eta) < LEPTON_ACCEPT[1])
    cols = {
        "truthMatched": np.ones(n, bool), "trigMatched": rng.uniform(size=n) < 0.3,
        "pt": pt * MEV, "eta": eta, "phi": phi, "E": pt * np.cosh(eta) * MEV,
        "z0": rng.normal(0.0, 0.05, n), "charge": lep.get("charge", np.ones(n)).astype(np.int32),
        "type": lep.get("type", np.full(n, 11)).astype(np.uint32),
        "isTightID": rng.uniform(size=n) < 0.95, "ptcone30": rng.exponential(300.0, n),
        "etcone20": rng.normal(200.0, 800.0, n), "trackd0pvunbiased": rng.normal(0.0, 0.01, n),
        "tracksigd0pvunbiased": np.abs(rng.normal(0.0, 1.0, n)), "pt_syst": 0.01 * pt * MEV,
    }
    cols = {k: v[keep] for k, v in cols.items()}
    return _jagged(lep["event"][keep], n_events, cols, pt[keep])


def reconstruct(col: TruthObjects, n_events: int, rng: np.random.Generator) -> dict:
    """Reconstructed objects of ``n_events`` events (MeV): ``photon``, ``jet``, ``lep`` dicts
    of per-event awkward lists, ``met_et``/``met_phi`` and the trigger bits."""
    photons, n_ph = _photons(col, n_events, rng)
    jets, _ = _jets(col, n_events, rng)
    leptons, _ = _leptons(col, n_events, rng)
    nu = col.merged("nu")
    px = np.bincount(nu["event"], nu["p4"][:, 0], minlength=n_events)
    py = np.bincount(nu["event"], nu["p4"][:, 1], minlength=n_events)
    px, py = px + rng.normal(0, 8.0, n_events), py + rng.normal(0, 8.0, n_events)
    n_hard = ak.to_numpy(ak.sum(photons["pt"] > 22.0 * MEV, axis=1))
    trig_p = (n_hard >= 2) & (rng.uniform(size=n_events) < 0.985)
    lep_hard = leptons["pt"] > 27.0 * MEV
    trig_e = ak.to_numpy(ak.any(lep_hard & (leptons["type"] == 11), axis=1))
    trig_m = ak.to_numpy(ak.any(lep_hard & (leptons["type"] == 13), axis=1))
    return {
        "photon": photons, "jet": jets, "lep": leptons, "n_photons": n_ph,
        "met_et": np.hypot(px, py) * MEV, "met_phi": np.arctan2(py, px),
        "trigP": trig_p, "trigE": trig_e & (rng.uniform(size=n_events) < 0.9),
        "trigM": trig_m & (rng.uniform(size=n_events) < 0.9),
    }
