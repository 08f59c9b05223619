"""Sample assembly: seeded blocks of simulated events → NanoAOD branches, in chunks.

Block ``b`` of :data:`BLOCK_SIZE` events draws from ``numpy.random.default_rng([seed, b])``, so a
sample is identical for any write chunking and its first blocks do not depend on the sample size.
An injected signal replaces events at positions drawn from a separate stream and is simulated
from its own stream, so the other events are the same with and without injection. Padded
per-object arrays (``toymc.simulate``) become jagged awkward arrays with ``nMuon``/``nJet``
counters; collections the toy does not simulate are written empty so that every NanoAODSchema
cross-reference resolves.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import awkward as ak
import numpy as np

from dimuon_ad.errors import ConfigError
from toymc.config import InjectedSignal, ToyConfig
from toymc.simulate import simulate_events
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
_SIGNAL_STREAM = 0x5161
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
    out = simulate_events(rng, process, config, None)
    out.update(_event_ids(rng, start + np.arange(n, dtype=np.int64)))
    rows = positions[(positions >= start) & (positions < start + n)] - start
    if rows.size:
        srng = np.random.default_rng([seed, _SIGNAL_STREAM, b])
        sig = simulate_events(srng, np.full(rows.size, int(Process.INJECTED)), config, signal)
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
        raise ConfigError(f"n_events={n_events!r}; expected a positive integer, e.g. 100000")
    return int(n_events)


def _check_seed(seed: int) -> int:
    if isinstance(seed, bool) or int(seed) != seed or seed < 0:
        raise ConfigError(f"seed={seed!r}; expected a non-negative integer, e.g. 1")
    return int(seed)
