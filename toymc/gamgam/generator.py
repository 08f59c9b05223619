"""Seeded generation of synthetic GamGam ``mini`` events: Higgs MC samples and the data-like sample.

A sample is generated in chunks of at most ``chunk_size`` events, each from its own random stream
(``seed``, sample, chunk), so the same seed gives the same file whatever else is generated.
As in the release, files keep only events with two reconstructed photons of pT > 20 GeV (the
"pre-skim"), while ``SumWeights`` is the sum of ``mcWeight`` over *every* generated event — the
normalisation ``XSection / SumWeights`` then counts the events the pre-skim removed.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator

import awkward as ak
import numpy as np

from processors.diphoton_columns import NON_HIGGS, TRUTH_MODES
from toymc.gamgam.detector import MEV, reconstruct
from toymc.gamgam.processes import TruthObjects, continuum_events, higgs_events
from toymc.gamgam.samples import MC_RUN_NUMBER, PERIOD_RUNS, MCSample
from toymc.gamgam.schema import (
    BRANCHES,
    COUNTERS,
    JET_FIELDS,
    LARGER_FIELDS,
    LEP_FIELDS,
    PHOTON_FIELDS,
    SCALE_FACTORS,
    TAU_FIELDS,
    TRUTH_BRANCH,
)

#: minimum pT (GeV) of the two photons an event needs to be written (the release's pre-skim)
PRESKIM_PT = 20.0


def stream(seed: int, *keys) -> np.random.Generator:
    """Random generator of one (sample, chunk) under ``seed`` (stable across runs)."""
    words = [int(seed)] + [zlib.crc32(str(k).encode()) for k in keys]
    return np.random.default_rng(words)


def mc_weights(sample: MCSample, n: int, seed: int) -> np.ndarray:
    """``mcWeight`` of all ``n`` generated events: |w| ≈ 1 (5 % spread), a sample-dependent
    fraction negative."""
    rng = stream(seed, sample.label, "weights")
    sign = np.where(rng.uniform(size=n) < sample.negative_fraction, -1.0, 1.0)
    return (sign * rng.lognormal(0.0, 0.05, n)).astype(np.float32)


def _empty_lists(n: int, fields: dict[str, str]) -> dict[str, ak.Array]:
    counts = np.zeros(n, np.int64)
    return {k: ak.unflatten(np.zeros(0, dtype=v.split()[-1]), counts) for k, v in fields.items()}


def _scale_factors(reco: dict, n: int, rng: np.random.Generator, is_data: bool) -> dict:
    if is_data:
        return {s: np.ones(n, np.float32) for s in SCALE_FACTORS}
    lep_type = reco["lep"]["type"]
    has_e = ak.to_numpy(ak.any(lep_type == 11, axis=1))
    has_m = ak.to_numpy(ak.any(lep_type == 13, axis=1))
    has_j = ak.to_numpy(ak.num(reco["jet"]["pt"]) > 0)
    sf = {
        "PILEUP": rng.lognormal(0.0, 0.15, n),
        "ELE": np.where(has_e, rng.normal(0.98, 0.01, n), 1.0),
        "MUON": np.where(has_m, rng.normal(0.985, 0.01, n), 1.0),
        "PHOTON": rng.normal(0.97, 0.02, n),
        "TAU": np.ones(n),
        "BTAG": np.where(has_j, rng.normal(1.0, 0.03, n), 1.0),
        "LepTRIGGER": np.ones(n),
        "PhotonTRIGGER": rng.normal(0.99, 0.01, n),
    }
    return {k: v.astype(np.float32) for k, v in sf.items()}


def _branches(reco: dict, event: dict, rng, is_data: bool) -> dict:
    """Every branch of :data:`schema.BRANCHES` (counters excepted) for the kept events."""
    n = len(event["runNumber"])
    out = {name: np.asarray(event[name]) for name in
           ("runNumber", "eventNumber", "channelNumber", "mcWeight")}
    out.update({f"scaleFactor_{k}": v for k, v in _scale_factors(reco, n, rng, is_data).items()})
    out.update(trigE=reco["trigE"], trigM=reco["trigM"], trigP=reco["trigP"])
    for prefix, fields in (("lep", LEP_FIELDS), ("jet", JET_FIELDS), ("photon", PHOTON_FIELDS)):
        out.update({f"{prefix}_{k}": reco[prefix][k] for k in fields})
    out.update(met_et=reco["met_et"], met_phi=reco["met_phi"])
    out.update({f"tau_{k}": v for k, v in _empty_lists(n, TAU_FIELDS).items()})
    out.update(ditau_m=np.zeros(n), met_et_syst=0.02 * reco["met_et"])
    for prefix in ("lep", "jet", "photon"):
        out[f"{prefix}_pt_syst"] = reco[prefix]["pt_syst"]
    out["tau_pt_syst"] = out["tau_pt"]
    out.update(XSection=event["XSection"], SumWeights=event["SumWeights"])
    out.update({f"largeRjet_{k}": v for k, v in _empty_lists(n, LARGER_FIELDS).items()})
    out["largeRjet_pt_syst"] = out["largeRjet_pt"]
    out["tau_charge"] = _empty_lists(n, {"c": "var * int32"})["c"]
    out[TRUTH_BRANCH] = event[TRUTH_BRANCH]
    return {name: _cast(out[name], BRANCHES[name]) for name in BRANCHES if name not in COUNTERS}


def _cast(values, typename: str):
    dtype = typename.split()[-1]
    if typename.startswith("var"):
        return ak.values_astype(values, dtype)
    return np.asarray(values).astype(dtype)


def simulate(truth_modes: np.ndarray, rng: np.random.Generator, *, fake_fraction: float = 0.0,
             efficiency=None) -> tuple[dict, np.ndarray]:
    """Generate and reconstruct events of the given truth modes (-1: continuum, with the
    selection ``efficiency`` polynomial of :func:`toymc.gamgam.processes.continuum_density`).

    Returns the reconstructed objects of the events that pass the pre-skim and their indices.
    """
    n = len(truth_modes)
    col = TruthObjects()
    for mode, code in TRUTH_MODES.items():
        idx = np.flatnonzero(truth_modes == code)
        if len(idx):
            higgs_events(mode, idx, rng, col)
    idx = np.flatnonzero(truth_modes == NON_HIGGS)
    if len(idx):
        continuum_events(idx, rng, col, fake_fraction, efficiency)
    reco = reconstruct(col, n, rng)
    keep = ak.to_numpy(ak.sum(reco["photon"]["pt"] > PRESKIM_PT * MEV, axis=1)) >= 2
    return _take(reco, keep), np.flatnonzero(keep)


def _take(reco: dict, keep: np.ndarray) -> dict:
    return {k: (_take(v, keep) if isinstance(v, dict) else v[keep]) for k, v in reco.items()}


def mc_chunks(sample: MCSample, n_generated: int, seed: int, chunk_size: int = 100_000,
              ) -> Iterator[dict]:
    """Branch dicts of an MC sample's file, chunk by chunk (``n_generated`` events before the
    pre-skim; ``SumWeights`` sums all of them)."""
    weights = mc_weights(sample, n_generated, seed)
    sum_weights = float(np.sum(weights, dtype=np.float64))
    for k, start in enumerate(range(0, n_generated, chunk_size)):
        stop = min(start + chunk_size, n_generated)
        rng = stream(seed, sample.label, k)
        modes = np.full(stop - start, sample.truth_mode, np.int32)
        reco, kept = simulate(modes, rng)
        event = {
            "runNumber": np.full(len(kept), MC_RUN_NUMBER), "eventNumber": start + kept + 1,
            "channelNumber": np.full(len(kept), sample.dsid), "mcWeight": weights[start:stop][kept],
            "XSection": np.full(len(kept), sample.xsection_pb),
            "SumWeights": np.full(len(kept), sum_weights), TRUTH_BRANCH: modes[kept],
        }
        yield _branches(reco, event, rng, is_data=False)


def data_chunks(period: str, counts: dict[int, int], seed: int, fake_fraction: float,
                chunk_size: int = 100_000, efficiency=None) -> Iterator[dict]:
    """Branch dicts of a data-like period file: ``counts`` events per truth mode (-1 continuum),
    shuffled; run numbers spread over the period, ``channelNumber`` = ``runNumber``."""
    shuffle = stream(seed, "data", period, "order")
    modes = np.concatenate([np.full(n, code, np.int32) for code, n in sorted(counts.items())])
    modes = shuffle.permutation(modes)
    first, last = PERIOD_RUNS[period]
    for k, start in enumerate(range(0, len(modes), chunk_size)):
        rng = stream(seed, "data", period, k)
        chunk = modes[start:start + chunk_size]
        reco, kept = simulate(chunk, rng, fake_fraction=fake_fraction, efficiency=efficiency)
        runs = np.sort(rng.integers(first, last + 1, len(chunk)))[kept]
        event = {
            "runNumber": runs, "eventNumber": start + kept + 1, "channelNumber": runs,
            "mcWeight": np.zeros(len(kept)), "XSection": np.zeros(len(kept)),
            "SumWeights": np.zeros(len(kept)), TRUTH_BRANCH: chunk[kept],
        }
        yield _branches(reco, event, rng, is_data=True)
