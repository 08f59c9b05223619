"""Event assembly: processes + detector response → NanoAOD-named arrays, in seeded blocks.

Events are simulated in blocks of :data:`BLOCK_SIZE` with fixed-width (padded) per-object arrays:
muon slots 0–1 hold the dimuon pair, slot 2 an optional soft extra muon; jet slots 0–2 hold the
jets around those muons, slots 3–6 extra jets. Objects are then pT-ordered, cross-references
(``Muon_jetIdx``, ``Jet_muonIdx1/2``) remapped, and the padded arrays turned into jagged awkward
arrays named as in NanoAOD. Block ``b`` draws from ``numpy.random.default_rng([seed, b])``, so a
sample is identical for any chunking and the first blocks do not depend on the sample size.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import awkward as ak
import numpy as np

from toymc import detector
from toymc.config import InjectedSignal, ToyConfig
from toymc.kinematics import MUON_MASS_GEV, two_body_decay
from toymc.processes import CTAU_B_CM, generate_pairs
from toymc.triggers import emulate_triggers
from toymc.truth import Process

__all__ = ["BLOCK_SIZE", "RUN_RANGE", "iter_event_chunks", "generate_events"]

log = logging.getLogger(__name__)

BLOCK_SIZE = 50_000
#: First and last run of the 2016H era (the synthetic runs lie in this range).
RUN_RANGE = (281613, 284044)
_EVENTS_PER_RUN = 20_000
_EVENTS_PER_LUMI = 500
_RUN_STEP = 47
_N_RUNS = (RUN_RANGE[1] - RUN_RANGE[0]) // _RUN_STEP + 1
_N_ISR_MAX = 4
_SIGNAL_STREAM = 0x5161
_MUON_JAGGED = (
    "pt eta phi mass charge tightId mediumId looseId softId pfRelIso03_all pfRelIso04_all "
    "jetRelIso jetIdx fsrPhotonIdx ip3d sip3d dxy dz"
).split()
_JET_JAGGED = (
    "pt eta phi mass btagDeepFlavB btagDeepB btagCSVV2 nConstituents nMuons muonIdx1 muonIdx2 "
    "electronIdx1 electronIdx2 qgl chHEF neHEF chEmEF neEmEF muEF"
).split()
# Collections the toy does not simulate; written empty so NanoAODSchema's cross-references resolve.
_EMPTY_COLLECTIONS = {
    "Electron": {"pt": "f4", "eta": "f4", "phi": "f4", "mass": "f4", "charge": "i4",
                 "jetIdx": "i4", "photonIdx": "i4"},
    "LowPtElectron": {"pt": "f4", "eta": "f4", "phi": "f4", "mass": "f4", "charge": "i4",
                      "electronIdx": "i4", "photonIdx": "i4"},
    "Photon": {"pt": "f4", "eta": "f4", "phi": "f4", "electronIdx": "i4", "jetIdx": "i4"},
    "FsrPhoton": {"pt": "f4", "eta": "f4", "phi": "f4", "muonIdx": "i4"},
    "Tau": {"pt": "f4", "eta": "f4", "phi": "f4", "mass": "f4", "charge": "i4", "jetIdx": "i4"},
    "FatJet": {"pt": "f4", "eta": "f4", "phi": "f4", "mass": "f4", "subJetIdx1": "i4",
               "subJetIdx2": "i4"},
    "SubJet": {"pt": "f4", "eta": "f4", "phi": "f4", "mass": "f4"},
}  # fmt: skip


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


def _simulate(
    rng: np.random.Generator,
    process: np.ndarray,
    config: ToyConfig,
    signal: InjectedSignal | None,
) -> dict[str, np.ndarray]:
    """Simulate events of the given truth processes; returns padded, pT-ordered arrays."""
    n = process.size
    pairs = generate_pairs(rng, process, config, signal)
    pt2, eta2, phi2 = two_body_decay(rng, pairs.mass, pairs.pt, pairs.rapidity, pairs.phi)
    q0 = np.where(rng.random(n) < 0.5, -1, 1)
    has_extra = rng.random(n) < config.extra_muon_fraction
    pt_true = np.column_stack([pt2, 3.0 + rng.exponential(4.0, n)])
    eta = np.column_stack([eta2, rng.uniform(-2.6, 2.6, n)])
    phi = np.column_stack([phi2, rng.uniform(-np.pi, np.pi, n)])
    charge = np.column_stack(
        [q0, np.where(pairs.same_sign, q0, -q0), np.where(rng.random(n) < 0.5, -1, 1)]
    )
    origin = np.column_stack([pairs.origin, np.full(n, 1, dtype=np.int8)])
    ctau = np.column_stack([pairs.ctau, np.full(n, CTAU_B_CM)])
    activity = np.column_stack([pairs.activity, rng.gamma(2.0, 0.6, n)])
    nu_fraction = np.column_stack([pairs.nu_fraction, rng.uniform(0.1, 0.8, n)])

    npv = 1 + rng.poisson(config.pileup_mean - 1.0, n)
    pileup_pt = rng.gamma(2.0, 0.008 * npv[:, None], (n, 3))
    pt = detector.smear_pt(rng, pt_true, eta)
    valid = (np.abs(eta) < 2.4) & (pt > 3.0)
    valid[:, 2] &= has_extra

    # hadronic activity around each muon; Υ in jets share one jet around the dimuon
    shared = pairs.shared_jet
    hadronic = activity * pt_true
    hadronic[shared, 0] = pairs.activity[shared, 0] * pairs.pt[shared]
    hadronic[shared, 1] = hadronic[shared, 0]
    iso03, iso04 = detector.isolation(rng, pt, hadronic, pileup_pt)
    dxy, dz, ip3d, sip3d = detector.impact_parameters(rng, pt, ctau)
    loose, medium, tight, soft = detector.muon_ids(rng, origin, pt, dxy, dz)

    # jets: slots 0-2 around the muons, 3.. extra jets
    n_jet_slots = 3 + _N_ISR_MAX
    jpt = np.zeros((n, n_jet_slots))
    jeta = np.zeros((n, n_jet_slots))
    jphi = np.zeros((n, n_jet_slots))
    jmu = np.zeros((n, n_jet_slots))  # muon pT inside the jet
    jflav = np.zeros((n, n_jet_slots), dtype=np.int8)
    jexists = np.zeros((n, n_jet_slots), dtype=bool)
    jpt[:, :3] = pt_true + activity * pt_true
    jeta[:, :3] = eta + 0.05 * rng.standard_normal((n, 3))
    jphi[:, :3] = phi + 0.05 * rng.standard_normal((n, 3))
    jmu[:, :3] = pt_true
    jflav[:, :2] = pairs.flavour
    jflav[:, 2] = 5
    jexists[:, :3] = True
    jexists[:, 2] = has_extra
    px = (pt_true[:, :2] * np.cos(phi[:, :2])).sum(axis=1)
    py = (pt_true[:, :2] * np.sin(phi[:, :2])).sum(axis=1)
    pz = (pt_true[:, :2] * np.sinh(eta[:, :2])).sum(axis=1)
    dimu_pt = np.hypot(px, py)
    jpt[shared, 0] = dimu_pt[shared] * (1.0 + pairs.activity[shared, 0])
    jeta[shared, 0] = np.arcsinh(pz[shared] / np.maximum(dimu_pt[shared], 1e-9))
    jphi[shared, 0] = np.arctan2(py[shared], px[shared])
    jmu[shared, 0] = dimu_pt[shared]
    jexists[shared, 1] = False
    mu_jet_slot = np.tile(np.arange(3), (n, 1))
    mu_jet_slot[shared, 1] = 0

    lam = config.isr_jets_mean * np.where(process == Process.HEAVY_FLAVOUR, 1.3, 1.0)
    n_isr = np.minimum(rng.poisson(lam), _N_ISR_MAX)
    isr_shape = (n, _N_ISR_MAX)
    jpt[:, 3:] = 15.0 * (1.0 - rng.random(isr_shape)) ** (-1.0 / 2.5)
    jeta[:, 3:] = 1.8 * rng.standard_normal(isr_shape)
    jphi[:, 3:] = rng.uniform(-np.pi, np.pi, isr_shape)
    u_flav = rng.random(isr_shape)
    jflav[:, 3:] = np.select([u_flav < 0.03, u_flav < 0.08, u_flav < 0.53], [5, 4, 21], 0)
    jexists[:, 3:] = np.arange(_N_ISR_MAX)[None, :] < n_isr[:, None]
    jphi = (jphi + np.pi) % (2.0 * np.pi) - np.pi
    jvalid = jexists & (jpt >= 15.0) & (np.abs(jeta) < 4.7)

    mu_ef = np.clip(jmu / jpt, 0.0, 0.99)
    had_frac = 1.0 - mu_ef
    jmass = jpt * (0.04 + 0.16 * rng.beta(2.0, 3.0, jpt.shape)) * np.sqrt(had_frac)
    jmass[shared, 0] = np.hypot(jmass[shared, 0], 1.05 * pairs.mass[shared])
    deepflav, deep_b, csv = detector.btag_scores(rng, jflav)
    gluon = jflav == 21
    qgl = np.where(gluon, rng.beta(1.5, 3.0, jpt.shape), rng.beta(3.0, 1.5, jpt.shape))
    n_const = 1 + rng.poisson((3.0 + 0.22 * jpt) * np.where(gluon, 1.3, 1.0) * had_frac)
    ch_hef, ne_hef, ch_emef, ne_emef = detector.jet_energy_fractions(rng, mu_ef)

    # pT ordering and cross-references
    morder = _sort_desc(pt, valid)
    jorder = _sort_desc(jpt, jvalid)
    jrank = np.argsort(jorder, axis=1)

    def mtake(a: np.ndarray) -> np.ndarray:
        return np.take_along_axis(a, morder, axis=1)

    def jtake(a: np.ndarray) -> np.ndarray:
        return np.take_along_axis(a, jorder, axis=1)

    slot = mtake(mu_jet_slot)
    mu_valid = mtake(valid)
    jet_idx = np.where(
        np.take_along_axis(jvalid, slot, axis=1), np.take_along_axis(jrank, slot, axis=1), -1
    )
    jet_idx = np.where(mu_valid, jet_idx, -1)
    jet_valid = jtake(jvalid)
    match = (jet_idx[:, None, :] == np.arange(n_jet_slots)[None, :, None]) & mu_valid[:, None, :]
    n_mu_in_jet = match.sum(axis=2)
    first = np.where(n_mu_in_jet >= 1, np.argmax(match, axis=2), -1)
    match_after = match & (np.arange(3)[None, None, :] > first[:, :, None])
    second = np.where(n_mu_in_jet >= 2, np.argmax(match_after, axis=2), -1)

    mpt = mtake(pt)
    miso03, miso04 = mtake(iso03), mtake(iso04)
    jet_pt_of_mu = np.take_along_axis(jpt, np.take_along_axis(mu_jet_slot, morder, axis=1), 1)
    jet_rel_iso = np.where(jet_idx >= 0, jet_pt_of_mu / mpt - 1.0, miso04)
    out: dict[str, np.ndarray] = {
        "Muon__valid": mu_valid,
        "Muon_pt": _truncate(mpt, 23),
        "Muon_eta": _truncate(mtake(eta), 12),
        "Muon_phi": _truncate(mtake(phi), 12),
        "Muon_mass": np.full((n, 3), MUON_MASS_GEV, dtype=np.float32),
        "Muon_charge": mtake(charge).astype(np.int32),
        "Muon_tightId": mtake(tight),
        "Muon_mediumId": mtake(medium),
        "Muon_looseId": mtake(loose),
        "Muon_softId": mtake(soft),
        "Muon_pfRelIso03_all": _truncate(miso03, 6),
        "Muon_pfRelIso04_all": _truncate(miso04, 6),
        "Muon_jetRelIso": _truncate(jet_rel_iso, 8),
        "Muon_jetIdx": jet_idx.astype(np.int32),
        "Muon_fsrPhotonIdx": np.full((n, 3), -1, dtype=np.int32),
        "Muon_ip3d": _truncate(mtake(ip3d), 10),
        "Muon_sip3d": _truncate(mtake(sip3d), 10),
        "Muon_dxy": _truncate(mtake(dxy), 10),
        "Muon_dz": _truncate(mtake(dz), 10),
        "Jet__valid": jet_valid,
        "Jet_pt": _truncate(jtake(jpt), 10),
        "Jet_eta": _truncate(jtake(jeta), 12),
        "Jet_phi": _truncate(jtake(jphi), 12),
        "Jet_mass": _truncate(jtake(jmass), 10),
        "Jet_btagDeepFlavB": _truncate(jtake(deepflav), 10),
        "Jet_btagDeepB": _truncate(jtake(deep_b), 10),
        "Jet_btagCSVV2": _truncate(jtake(csv), 10),
        "Jet_nConstituents": jtake(n_const).astype(np.int32),
        "Jet_nMuons": n_mu_in_jet.astype(np.int32),
        "Jet_muonIdx1": first.astype(np.int32),
        "Jet_muonIdx2": second.astype(np.int32),
        "Jet_electronIdx1": np.full((n, n_jet_slots), -1, dtype=np.int32),
        "Jet_electronIdx2": np.full((n, n_jet_slots), -1, dtype=np.int32),
        "Jet_qgl": _truncate(jtake(qgl), 10),
        "Jet_chHEF": _truncate(jtake(ch_hef), 6),
        "Jet_neHEF": _truncate(jtake(ne_hef), 6),
        "Jet_chEmEF": _truncate(jtake(ch_emef), 6),
        "Jet_neEmEF": _truncate(jtake(ne_emef), 6),
        "Jet_muEF": _truncate(jtake(mu_ef), 6),
    }

    # MET: neutrinos of semileptonic decays plus a resolution growing with the scalar sum
    nu_pt = nu_fraction * pt_true
    nu_phi = phi + 0.2 * rng.standard_normal((n, 3))
    nu_used = np.column_stack([np.ones((n, 2), dtype=bool), has_extra])
    sum_et = (
        np.where(jvalid, jpt, 0.0).sum(axis=1)
        + np.where(valid, pt, 0.0).sum(axis=1)
        + rng.gamma(3.0 + 0.6 * npv, 20.0)
    )
    met_x = (np.where(nu_used, nu_pt * np.cos(nu_phi), 0.0)).sum(axis=1)
    met_y = (np.where(nu_used, nu_pt * np.sin(nu_phi), 0.0)).sum(axis=1)
    met_x += 0.55 * np.sqrt(sum_et) * rng.standard_normal(n)
    met_y += 0.55 * np.sqrt(sum_et) * rng.standard_normal(n)
    out["MET_pt"] = _truncate(np.hypot(met_x, met_y), 10)
    out["MET_phi"] = _truncate(np.arctan2(met_y, met_x), 12)
    out["MET_sumEt"] = _truncate(sum_et, 10)
    out["PV_npvsGood"] = npv.astype(np.int32)
    out["PV_x"] = _truncate(-0.024 + 0.0010 * rng.standard_normal(n), 10)
    out["PV_y"] = _truncate(0.069 + 0.0010 * rng.standard_normal(n), 10)
    out["PV_z"] = _truncate(0.5 + 3.6 * rng.standard_normal(n), 10)
    out.update(
        emulate_triggers(
            rng, mpt, out["Muon_eta"], miso03, out["Muon_dz"], mu_valid
        )
    )
    out["Truth_process"] = process.astype(np.int32)
    return out


def _event_ids(rng: np.random.Generator, index: np.ndarray) -> dict[str, np.ndarray]:
    """run, luminosityBlock and (globally unique) event numbers from the global event index."""
    run_slot = index // _EVENTS_PER_RUN
    run = RUN_RANGE[0] + (run_slot % _N_RUNS) * _RUN_STEP
    lumi = 1 + (index % _EVENTS_PER_RUN) // _EVENTS_PER_LUMI
    lumi += (run_slot // _N_RUNS) * (_EVENTS_PER_RUN // _EVENTS_PER_LUMI)
    event = 1 + 4 * index.astype(np.uint64) + rng.integers(0, 4, index.size).astype(np.uint64)
    return {
        "run": run.astype(np.uint32),
        "luminosityBlock": lumi.astype(np.uint32),
        "event": event.astype(np.uint64),
    }


def _signal_positions(n_total: int, seed: int, signal: InjectedSignal | None) -> np.ndarray:
    """Sorted global indices of the events replaced by the injected signal."""
    if signal is None:
        return np.zeros(0, dtype=np.int64)
    k = signal.count(n_total)
    rng = np.random.default_rng([seed, _SIGNAL_STREAM])
    return np.sort(rng.choice(n_total, size=k, replace=False)).astype(np.int64)


def _block(
    b: int, n_total: int, seed: int, config: ToyConfig, signal: InjectedSignal | None,
    positions: np.ndarray,
) -> dict[str, np.ndarray]:  # fmt: skip
    """Padded arrays of block ``b`` (events ``b*BLOCK_SIZE`` onwards)."""
    start = b * BLOCK_SIZE
    n = min(BLOCK_SIZE, n_total - start)
    rng = np.random.default_rng([seed, b])
    procs, probs = config.process_probabilities()
    process = np.asarray(procs, dtype=np.int32)[rng.choice(len(procs), size=n, p=probs)]
    out = _simulate(rng, process, config, None)
    out.update(_event_ids(rng, start + np.arange(n, dtype=np.int64)))
    rows = positions[(positions >= start) & (positions < start + n)] - start
    if rows.size:
        srng = np.random.default_rng([seed, _SIGNAL_STREAM, b])
        sig = _simulate(srng, np.full(rows.size, int(Process.INJECTED)), config, signal)
        for key, value in sig.items():
            out[key][rows] = value
    return out


def _jagged(padded: dict[str, np.ndarray]) -> dict[str, np.ndarray | ak.Array]:
    """Turn padded per-object arrays into NanoAOD branches (counters + jagged arrays)."""
    n = padded["run"].shape[0]
    branches: dict[str, np.ndarray | ak.Array] = {
        key: padded[key] for key in ("run", "luminosityBlock", "event")
    }
    for coll in ("Muon", "Jet"):
        valid = padded[f"{coll}__valid"]
        counts = valid.sum(axis=1).astype(np.int32)
        branches[f"n{coll}"] = counts
        for key, value in padded.items():
            if key.startswith(coll + "_") and not key.startswith(coll + "__"):
                branches[key] = ak.unflatten(value[valid], counts)
    for key, value in padded.items():
        if value.ndim == 1 and key not in branches:
            branches[key] = value
    zeros = np.zeros(n, dtype=np.int32)
    for coll, fields in _EMPTY_COLLECTIONS.items():
        branches[f"n{coll}"] = zeros
        for field, dtype in fields.items():
            branches[f"{coll}_{field}"] = ak.unflatten(np.zeros(0, dtype=dtype), zeros)
    return branches


def iter_event_chunks(
    n_events: int,
    chunk_size: int,
    *,
    seed: int = 1,
    signal: InjectedSignal | None = None,
    config: ToyConfig | None = None,
) -> Iterator[dict[str, np.ndarray | ak.Array]]:
    """Yield the sample as consecutive chunks of NanoAOD branches (last chunk may be shorter).

    The concatenation of the chunks does not depend on ``chunk_size``.
    """
    config = ToyConfig() if config is None else config
    positions = _signal_positions(n_events, seed, signal)
    buffer: list[dict[str, np.ndarray]] = []
    n_buffered = 0
    n_blocks = -(-n_events // BLOCK_SIZE)
    for b in range(n_blocks):
        buffer.append(_block(b, n_events, seed, config, signal, positions))
        n_buffered += buffer[-1]["run"].shape[0]
        while n_buffered >= chunk_size or (b == n_blocks - 1 and n_buffered > 0):
            merged = {k: np.concatenate([blk[k] for blk in buffer]) for k in buffer[0]}
            take = min(chunk_size, n_buffered)
            yield _jagged({k: v[:take] for k, v in merged.items()})
            rest = {k: v[take:] for k, v in merged.items()}
            n_buffered -= take
            buffer = [rest] if n_buffered else []


def generate_events(
    n_events: int,
    *,
    seed: int = 1,
    signal: InjectedSignal | None = None,
    config: ToyConfig | None = None,
) -> dict[str, np.ndarray | ak.Array]:
    """Generate a synthetic DoubleMuon-like NanoAOD sample in memory (no files).

    Parameters
    ----------
    n_events : int
        Number of events (≥ 1).
    seed : int
        Seed; the same seed gives identical arrays.
    signal : InjectedSignal, optional
        Extra resonance replacing ``signal.count(n_events)`` background events.
    config : ToyConfig, optional
        Process mixture and shapes (default: tuned to the published anti-isolated Υ sample).

    Returns
    -------
    dict
        NanoAOD branch name → numpy array (per event: ``run``, ``MET_pt``, ``HLT_*``,
        ``Truth_process``, ``nMuon``, ...) or awkward jagged array (``Muon_pt``, ``Jet_pt``, ...).
        Units GeV and cm.
    """
    n_events = _check_n_events(n_events)
    seed = _check_seed(seed)
    (chunk,) = iter_event_chunks(n_events, n_events, seed=seed, signal=signal, config=config)
    return chunk


def _check_n_events(n_events: int) -> int:
    if isinstance(n_events, bool) or int(n_events) != n_events or n_events < 1:
        raise ValueError(f"n_events={n_events!r}; expected a positive integer, e.g. 100000")
    return int(n_events)


def _check_seed(seed: int) -> int:
    if isinstance(seed, bool) or int(seed) != seed or seed < 0:
        raise ValueError(f"seed={seed!r}; expected a non-negative integer, e.g. 1")
    return int(seed)
