"""Simulation of one batch of events: dimuon system → muons, jets, MET, vertices, triggers.

Objects live in fixed-width (padded) arrays: muon slots 0–1 hold the dimuon pair, slot 2 an
optional soft non-prompt muon; jet slots 0–2 are the jets around those muons (one shared jet for
Υ produced inside jets), slots 3–6 extra jets. At the end objects are pT-ordered and the
cross-references (``Muon_jetIdx``, ``Jet_muonIdx1/2``) remapped to the ordered indices. Pure numpy;
units GeV and cm. Floats are rounded to the mantissa bits NanoAOD stores (e.g. 10 for jet pT).
"""

from __future__ import annotations

import numpy as np

from toymc import detector
from toymc.config import InjectedSignal, ToyConfig
from toymc.kinematics import MUON_MASS_GEV, two_body_decay
from toymc.processes import CTAU_B_CM, PairSample, generate_pairs
from toymc.triggers import emulate_triggers
from toymc.truth import Process

__all__ = ["simulate_events", "N_MUON_SLOTS", "N_JET_SLOTS"]

N_MUON_SLOTS = 3
_N_EXTRA_JETS = 4
N_JET_SLOTS = 3 + _N_EXTRA_JETS
#: Jets are kept above this pT (GeV) and below this |η|, as in NanoAOD.
JET_PT_MIN, JET_ETA_MAX = 15.0, 4.7


def _truncate(x: np.ndarray, bits: int) -> np.ndarray:
    """Round float32 values to ``bits`` mantissa bits, as NanoAOD stores many branches."""
    x = np.asarray(x, dtype=np.float32)
    if bits >= 23:
        return x
    shift = 23 - bits
    as_int = x.view(np.uint32)
    rounded = (as_int + np.uint32(1 << (shift - 1))) & np.uint32((0xFFFFFFFF << shift) & 0xFFFFFFFF)
    return rounded.view(np.float32)


def _sort_desc(key: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Per-row order putting valid entries first by decreasing ``key``."""
    return np.argsort(np.where(valid, -key, np.inf), axis=1, kind="stable")


def _muon_stage(rng: np.random.Generator, pairs: PairSample, config: ToyConfig) -> dict:
    """True and reconstructed muons (padded (n, 3)) with isolation, impact parameters and IDs."""
    n = pairs.mass.size
    pt2, eta2, phi2 = two_body_decay(rng, pairs.mass, pairs.pt, pairs.rapidity, pairs.phi)
    q0 = np.where(rng.random(n) < 0.5, -1, 1)
    has_extra = rng.random(n) < config.extra_muon_fraction
    m: dict = {"has_extra": has_extra}
    m["pt_true"] = np.column_stack([pt2, 3.0 + rng.exponential(4.0, n)])
    m["eta"] = np.column_stack([eta2, rng.uniform(-2.6, 2.6, n)])
    m["phi"] = np.column_stack([phi2, rng.uniform(-np.pi, np.pi, n)])
    m["charge"] = np.column_stack(
        [q0, np.where(pairs.same_sign, q0, -q0), np.where(rng.random(n) < 0.5, -1, 1)]
    )
    origin = np.column_stack([pairs.origin, np.full(n, 1, dtype=np.int8)])
    ctau = np.column_stack([pairs.ctau, np.full(n, CTAU_B_CM)])
    m["activity"] = np.column_stack([pairs.activity, rng.gamma(2.0, 0.6, n)])
    m["nu_fraction"] = np.column_stack([pairs.nu_fraction, rng.uniform(0.1, 0.8, n)])

    m["npv"] = 1 + rng.poisson(config.pileup_mean - 1.0, n)
    pileup_pt = rng.gamma(2.0, 0.008 * m["npv"][:, None], (n, N_MUON_SLOTS))
    m["pt"] = detector.smear_pt(rng, m["pt_true"], m["eta"])
    m["valid"] = (np.abs(m["eta"]) < 2.4) & (m["pt"] > 3.0)
    m["valid"][:, 2] &= has_extra

    # hadronic activity around each muon; Υ in jets share one jet around the dimuon
    shared = pairs.shared_jet
    hadronic = m["activity"] * m["pt_true"]
    hadronic[shared, 0] = pairs.activity[shared, 0] * pairs.pt[shared]
    hadronic[shared, 1] = hadronic[shared, 0]
    m["iso03"], m["iso04"] = detector.isolation(rng, m["pt"], hadronic, pileup_pt)
    m["dxy"], m["dz"], m["ip3d"], m["sip3d"] = detector.impact_parameters(rng, m["pt"], ctau)
    m["loose"], m["medium"], m["tight"], m["soft"] = detector.muon_ids(
        rng, origin, m["pt"], m["dxy"], m["dz"]
    )
    return m


def _jet_stage(
    rng: np.random.Generator, process: np.ndarray, pairs: PairSample, m: dict, config: ToyConfig
) -> dict:
    """Jets (padded (n, 7)): around each muon (shared for Υ in jets) plus extra jets."""
    n = process.size
    shape = (n, N_JET_SLOTS)
    pt_true, eta, phi = m["pt_true"], m["eta"], m["phi"]
    jpt, jeta, jphi, jmu = np.zeros(shape), np.zeros(shape), np.zeros(shape), np.zeros(shape)
    jflav = np.zeros(shape, dtype=np.int8)
    jexists = np.zeros(shape, dtype=bool)
    jpt[:, :3] = pt_true * (1.0 + m["activity"])
    jeta[:, :3] = eta + 0.05 * rng.standard_normal((n, 3))
    jphi[:, :3] = phi + 0.05 * rng.standard_normal((n, 3))
    jmu[:, :3] = pt_true  # muon pT inside the jet
    jflav[:, :2] = pairs.flavour
    jflav[:, 2] = 5
    jexists[:, :2] = True
    jexists[:, 2] = m["has_extra"]
    shared = pairs.shared_jet
    px = (pt_true[:, :2] * np.cos(phi[:, :2])).sum(axis=1)
    py = (pt_true[:, :2] * np.sin(phi[:, :2])).sum(axis=1)
    pz = (pt_true[:, :2] * np.sinh(eta[:, :2])).sum(axis=1)
    dimu_pt = np.hypot(px, py)
    jpt[shared, 0] = dimu_pt[shared] * (1.0 + pairs.activity[shared, 0])
    jeta[shared, 0] = np.arcsinh(pz[shared] / np.maximum(dimu_pt[shared], 1e-9))
    jphi[shared, 0] = np.arctan2(py[shared], px[shared])
    jmu[shared, 0] = dimu_pt[shared]
    jexists[shared, 1] = False
    mu_jet_slot = np.tile(np.arange(N_MUON_SLOTS), (n, 1))
    mu_jet_slot[shared, 1] = 0

    lam = config.isr_jets_mean * np.where(process == Process.HEAVY_FLAVOUR, 1.3, 1.0)
    n_extra = np.minimum(rng.poisson(lam), _N_EXTRA_JETS)
    extra = (n, _N_EXTRA_JETS)
    jpt[:, 3:] = JET_PT_MIN * (1.0 - rng.random(extra)) ** (-1.0 / 2.5)
    jeta[:, 3:] = 1.8 * rng.standard_normal(extra)
    jphi[:, 3:] = rng.uniform(-np.pi, np.pi, extra)
    u_flav = rng.random(extra)
    jflav[:, 3:] = np.select([u_flav < 0.03, u_flav < 0.08, u_flav < 0.53], [5, 4, 21], 0)
    jexists[:, 3:] = np.arange(_N_EXTRA_JETS)[None, :] < n_extra[:, None]
    jphi = (jphi + np.pi) % (2.0 * np.pi) - np.pi

    j: dict = {"pt": jpt, "eta": jeta, "phi": jphi, "mu_jet_slot": mu_jet_slot}
    j["valid"] = jexists & (jpt >= JET_PT_MIN) & (np.abs(jeta) < JET_ETA_MAX)
    j["mu_ef"] = np.clip(jmu / jpt, 0.0, 0.99)
    had_frac = 1.0 - j["mu_ef"]
    j["mass"] = jpt * (0.04 + 0.16 * rng.beta(2.0, 3.0, shape)) * np.sqrt(had_frac)
    j["mass"][shared, 0] = np.hypot(j["mass"][shared, 0], 1.05 * pairs.mass[shared])
    j["deepflav"], j["deep_b"], j["csv"] = detector.btag_scores(rng, jflav)
    gluon = jflav == 21
    j["qgl"] = np.where(gluon, rng.beta(1.5, 3.0, shape), rng.beta(3.0, 1.5, shape))
    j["n_const"] = 1 + rng.poisson((3.0 + 0.22 * jpt) * np.where(gluon, 1.3, 1.0) * had_frac)
    j["ch_hef"], j["ne_hef"], j["ch_emef"], j["ne_emef"] = detector.jet_energy_fractions(
        rng, j["mu_ef"]
    )
    return j


def _ordered_objects(m: dict, j: dict) -> dict[str, np.ndarray]:
    """pT-order muons and jets, remap cross-references, name branches as in NanoAOD."""
    n = m["pt"].shape[0]
    morder = _sort_desc(m["pt"], m["valid"])
    jorder = _sort_desc(j["pt"], j["valid"])
    jrank = np.argsort(jorder, axis=1)

    def mtake(a: np.ndarray) -> np.ndarray:
        return np.take_along_axis(a, morder, axis=1)

    def jtake(a: np.ndarray) -> np.ndarray:
        return np.take_along_axis(a, jorder, axis=1)

    slot = mtake(j["mu_jet_slot"])
    mu_valid = mtake(m["valid"])
    jet_idx = np.where(
        np.take_along_axis(j["valid"], slot, axis=1), np.take_along_axis(jrank, slot, axis=1), -1
    )
    jet_idx = np.where(mu_valid, jet_idx, -1)
    match = (jet_idx[:, None, :] == np.arange(N_JET_SLOTS)[None, :, None]) & mu_valid[:, None, :]
    n_mu_in_jet = match.sum(axis=2)
    first = np.where(n_mu_in_jet >= 1, np.argmax(match, axis=2), -1)
    after_first = match & (np.arange(N_MUON_SLOTS)[None, None, :] > first[:, :, None])
    second = np.where(n_mu_in_jet >= 2, np.argmax(after_first, axis=2), -1)

    mpt = mtake(m["pt"])
    jet_pt_of_mu = np.take_along_axis(j["pt"], slot, axis=1)
    jet_rel_iso = np.where(jet_idx >= 0, jet_pt_of_mu / mpt - 1.0, mtake(m["iso04"]))
    no_index = np.full((n, N_JET_SLOTS), -1, dtype=np.int32)
    return {
        "Muon__valid": mu_valid,
        "Muon_pt": _truncate(mpt, 23),
        "Muon_eta": _truncate(mtake(m["eta"]), 12),
        "Muon_phi": _truncate(mtake(m["phi"]), 12),
        "Muon_mass": np.full((n, N_MUON_SLOTS), MUON_MASS_GEV, dtype=np.float32),
        "Muon_charge": mtake(m["charge"]).astype(np.int32),
        "Muon_tightId": mtake(m["tight"]),
        "Muon_mediumId": mtake(m["medium"]),
        "Muon_looseId": mtake(m["loose"]),
        "Muon_softId": mtake(m["soft"]),
        "Muon_pfRelIso03_all": _truncate(mtake(m["iso03"]), 6),
        "Muon_pfRelIso04_all": _truncate(mtake(m["iso04"]), 6),
        "Muon_jetRelIso": _truncate(jet_rel_iso, 8),
        "Muon_jetIdx": jet_idx.astype(np.int32),
        "Muon_fsrPhotonIdx": np.full((n, N_MUON_SLOTS), -1, dtype=np.int32),
        "Muon_ip3d": _truncate(mtake(m["ip3d"]), 10),
        "Muon_sip3d": _truncate(mtake(m["sip3d"]), 10),
        "Muon_dxy": _truncate(mtake(m["dxy"]), 10),
        "Muon_dz": _truncate(mtake(m["dz"]), 10),
        "Jet__valid": jtake(j["valid"]),
        "Jet_pt": _truncate(jtake(j["pt"]), 10),
        "Jet_eta": _truncate(jtake(j["eta"]), 12),
        "Jet_phi": _truncate(jtake(j["phi"]), 12),
        "Jet_mass": _truncate(jtake(j["mass"]), 10),
        "Jet_btagDeepFlavB": _truncate(jtake(j["deepflav"]), 10),
        "Jet_btagDeepB": _truncate(jtake(j["deep_b"]), 10),
        "Jet_btagCSVV2": _truncate(jtake(j["csv"]), 10),
        "Jet_nConstituents": jtake(j["n_const"]).astype(np.int32),
        "Jet_nMuons": n_mu_in_jet.astype(np.int32),
        "Jet_muonIdx1": first.astype(np.int32),
        "Jet_muonIdx2": second.astype(np.int32),
        "Jet_electronIdx1": no_index,
        "Jet_electronIdx2": no_index.copy(),
        "Jet_qgl": _truncate(jtake(j["qgl"]), 10),
        "Jet_chHEF": _truncate(jtake(j["ch_hef"]), 6),
        "Jet_neHEF": _truncate(jtake(j["ne_hef"]), 6),
        "Jet_chEmEF": _truncate(jtake(j["ch_emef"]), 6),
        "Jet_neEmEF": _truncate(jtake(j["ne_emef"]), 6),
        "Jet_muEF": _truncate(jtake(j["mu_ef"]), 6),
    }


def _event_stage(rng: np.random.Generator, m: dict, j: dict, out: dict) -> None:
    """MET (neutrinos of semileptonic decays + resolution), primary vertex and HLT bits."""
    n = m["pt"].shape[0]
    nu_pt = m["nu_fraction"] * m["pt_true"]
    nu_phi = m["phi"] + 0.2 * rng.standard_normal((n, N_MUON_SLOTS))
    nu_used = np.column_stack([np.ones((n, 2), dtype=bool), m["has_extra"]])
    sum_et = (
        np.where(j["valid"], j["pt"], 0.0).sum(axis=1)
        + np.where(m["valid"], m["pt"], 0.0).sum(axis=1)
        + rng.gamma(3.0 + 0.6 * m["npv"], 20.0)
    )
    met_x = np.where(nu_used, nu_pt * np.cos(nu_phi), 0.0).sum(axis=1)
    met_y = np.where(nu_used, nu_pt * np.sin(nu_phi), 0.0).sum(axis=1)
    met_x += 0.55 * np.sqrt(sum_et) * rng.standard_normal(n)
    met_y += 0.55 * np.sqrt(sum_et) * rng.standard_normal(n)
    out["MET_pt"] = _truncate(np.hypot(met_x, met_y), 10)
    out["MET_phi"] = _truncate(np.arctan2(met_y, met_x), 12)
    out["MET_sumEt"] = _truncate(sum_et, 10)
    out["PV_npvsGood"] = m["npv"].astype(np.int32)
    out["PV_x"] = _truncate(-0.024 + 0.0010 * rng.standard_normal(n), 10)
    out["PV_y"] = _truncate(0.069 + 0.0010 * rng.standard_normal(n), 10)
    out["PV_z"] = _truncate(0.5 + 3.6 * rng.standard_normal(n), 10)
    iso03 = np.take_along_axis(m["iso03"], _sort_desc(m["pt"], m["valid"]), axis=1)
    out.update(
        emulate_triggers(
            rng, out["Muon_pt"], out["Muon_eta"], iso03, out["Muon_dz"], out["Muon__valid"]
        )
    )


def simulate_events(
    rng: np.random.Generator,
    process: np.ndarray,
    config: ToyConfig,
    signal: InjectedSignal | None = None,
) -> dict[str, np.ndarray]:
    """Simulate events of the given truth processes.

    Parameters
    ----------
    rng : numpy.random.Generator
    process : ndarray of int, shape (n,)
        :class:`~toymc.truth.Process` code per event.
    config : ToyConfig
    signal : InjectedSignal, optional
        Needed for ``Process.INJECTED`` events.

    Returns
    -------
    dict of str to ndarray
        Padded, pT-ordered per-object arrays (``Muon_*`` (n, 3), ``Jet_*`` (n, 7), with validity
        masks ``Muon__valid``/``Jet__valid``) and per-event arrays (MET, PV, HLT, Truth_process).
    """
    pairs = generate_pairs(rng, process, config, signal)
    m = _muon_stage(rng, pairs, config)
    j = _jet_stage(rng, process, pairs, m, config)
    out = _ordered_objects(m, j)
    _event_stage(rng, m, j, out)
    out["Truth_process"] = np.asarray(process).astype(np.int32)
    return out
