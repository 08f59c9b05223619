"""Generate the default synthetic GamGam samples: the five Higgs MC files and the data-like
periods A–D, with a ``truth.json`` of what was generated and the generator's truth efficiencies.

The data-like continuum is calibrated so that, after the seed's own selection (isolation cut on
raw MeV, preset ``seed_raw_mev``; ``hgg`` on request), its m_γγ spectrum has the seed's shape
and size per GeV (:func:`toymc.gamgam.processes.continuum_shape`): a pilot
of continuum events measures the selection efficiency as a line in m_γγ
(:mod:`toymc.gamgam.validation`), the continuum is generated with the seed's shape divided by it,
and each period gets its luminosity's share (Poisson) of the events that need. Each period also
gets Poisson(μ × XSection × luminosity) Higgs events per production mode (all produced events,
before any selection): the signal of the expected size, labelled by ``truth_mode``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

from dimuon_ad.io import atomic_write_json
from processors.diphoton_columns import NON_HIGGS
from toymc.gamgam.generator import data_chunks, mc_chunks, simulate, stream
from toymc.gamgam.processes import continuum_shape
from toymc.gamgam.samples import MC, PERIOD_LUMI_FB, data_filename
from toymc.gamgam.validation import reference_pass, weighted_pass
from toymc.gamgam.writer import write_mini

log = logging.getLogger(__name__)

#: events generated per MC sample by default (before the pre-skim)
DEFAULT_MC_EVENTS = {"ggH": 200_000, "VBF": 100_000, "WH": 60_000, "ZH": 60_000, "ttH": 100_000}
#: fraction of γ-jet events among the generated continuum
FAKE_FRACTION = 0.8
PILOT_EVENTS = 100_000
SAMPLES = ("data", *MC)


def continuum_target() -> float:
    """Selected continuum events in 105–160 GeV (A–D): the integral of the seed's shape."""
    grid = np.linspace(105.0, 160.0, 5501)
    density = np.exp(continuum_shape()(grid))
    return float(np.sum(0.5 * (density[1:] + density[:-1]) * np.diff(grid)))


def continuum_efficiency(seed: int, n: int = PILOT_EVENTS, preset: str = "hgg",
                         ) -> np.polynomial.Polynomial:
    """Selection efficiency of generated continuum events as a straight line in m_γγ (GeV),
    from a pilot run with the seed's shape: selected events (reference selection) over
    generated ones in 5 GeV bins of 105–160 GeV (relative isolation makes it rise with m)."""
    from toymc.gamgam.generator import _branches
    from toymc.gamgam.processes import CONTINUUM_RANGE, continuum_density
    from toymc.gamgam.validation import reference_selection

    rng = stream(seed, "pilot")
    reco, kept = simulate(np.full(n, NON_HIGGS, np.int32), rng, fake_fraction=FAKE_FRACTION)
    zeros = np.zeros(len(kept))
    event = {"runNumber": zeros, "eventNumber": zeros, "channelNumber": zeros,
             "mcWeight": zeros, "XSection": zeros, "SumWeights": zeros, "truth_mode": zeros}
    passed, mass = reference_selection(_branches(reco, event, rng, is_data=True), preset)
    edges = np.arange(105.0, 160.1, 5.0)
    selected, _ = np.histogram(mass[passed], bins=edges)
    grid = np.linspace(*CONTINUUM_RANGE, 8001)
    density = continuum_density(grid)
    share = np.diff(np.interp(edges, grid, _cumulative(grid, density))) / _cumulative(
        grid, density)[-1]
    centres = 0.5 * (edges[1:] + edges[:-1])
    return np.polynomial.Polynomial.fit(centres, selected / (n * share), 1,
                                        w=np.sqrt(np.maximum(selected, 1)))


def _cumulative(grid, density):
    return np.concatenate([[0.0], np.cumsum(0.5 * (density[1:] + density[:-1]) * np.diff(grid))])


def continuum_events_needed(efficiency) -> float:
    """Continuum events (A–D) to generate with density :func:`continuum_density` so that
    :func:`continuum_target` are selected in 105–160 GeV: ∫ f / ε over the generated range."""
    from toymc.gamgam.processes import CONTINUUM_RANGE, continuum_density

    grid = np.linspace(*CONTINUUM_RANGE, 8001)
    return float(_cumulative(grid, continuum_density(grid, efficiency))[-1])


def _tracked(chunks: Iterator[dict], record: dict) -> Iterator[dict]:
    for chunk in chunks:
        record["n_written"] += len(chunk["runNumber"])
        record["weighted_pass"] += weighted_pass(chunk)
        record["n_pass"] += int(reference_pass(chunk).sum())
        yield chunk


def generate_samples(output_dir: str | Path, *, samples: Sequence[str] = SAMPLES,
                     n_events: dict[str, int] | None = None, seed: int = 1,
                     signal_strength: float = 1.0, seed_selection: str = "seed_raw_mev",
                     progress: bool = True) -> dict:
    """Write the synthetic files into ``output_dir`` and ``truth.json``; returns the truth dict.

    Parameters
    ----------
    samples : sequence of str
        ``"data"`` (periods A–D) and MC labels of :data:`toymc.gamgam.samples.MC`.
    n_events : dict, optional
        Generated events per MC label (default :data:`DEFAULT_MC_EVENTS`).
    signal_strength : float
        μ of the Higgs signal injected into the data-like sample.
    seed_selection : {"hgg", "seed_raw_mev"}
        The selection after which the data-like continuum has the seed's spectrum: the seed's
        raw-MeV isolation with which the seed made it (default: the real data's size, ≈8× more
        continuum after the ATLAS selection than the seed shows, ≈90k events in 105–160 GeV for
        10 fb⁻¹), or the ATLAS one (``"hgg"``: the continuum is then ≈8× smaller than 10 fb⁻¹ of
        real data and S/B ≈8× larger).
    """
    output_dir = Path(output_dir)
    counts = {**DEFAULT_MC_EVENTS, **(n_events or {})}
    truth: dict = {"seed": seed, "lumi_fb": sum(PERIOD_LUMI_FB.values()),
                   "signal_strength": signal_strength, "mc": {}, "data": {}}
    todo = [s for s in samples if s != "data"]
    for label in tqdm(todo, desc="gamgam MC", disable=not progress):
        sample = MC[label]
        n = counts[label]
        record = {"dsid": sample.dsid, "mode": sample.mode, "xsection_pb": sample.xsection_pb,
                  "n_generated": n, "n_written": 0, "n_pass": 0, "weighted_pass": 0.0,
                  "file": sample.filename}
        chunks = _tracked(mc_chunks(sample, n, seed), record)
        write_mini(output_dir / sample.filename, chunks)
        from toymc.gamgam.generator import mc_weights

        record["sum_weights"] = float(np.sum(mc_weights(sample, n, seed), dtype=np.float64))
        record["truth_efficiency"] = record["weighted_pass"] / record["sum_weights"]
        record["expected_yield"] = (sample.xsection_pb * truth["lumi_fb"] * 1000.0
                                    * record["truth_efficiency"])
        truth["mc"][label] = record
    if "data" in samples:
        eff = continuum_efficiency(seed, preset=seed_selection)
        target = continuum_target()
        needed = continuum_events_needed(eff)
        truth["continuum"] = {"seed_selection": seed_selection, "selected_target": target,
                              "generated_expected": needed,
                              "efficiency_at_105_132p5_160": [float(eff(m)) for m in
                                                              (105.0, 132.5, 160.0)],
                              "fake_fraction_generated": FAKE_FRACTION}
        total_lumi = truth["lumi_fb"]
        for period, lumi in tqdm(PERIOD_LUMI_FB.items(), desc="gamgam data", disable=not progress):
            rng = stream(seed, "data", period, "counts")
            n_of = {NON_HIGGS: int(rng.poisson(needed * lumi / total_lumi))}
            for s in MC.values():
                n_of[s.truth_mode] = int(rng.poisson(signal_strength * s.xsection_pb * lumi
                                                     * 1000.0))
            record = {"lumi_fb": lumi, "generated": {str(k): v for k, v in n_of.items()},
                      "n_written": 0, "n_pass": 0, "weighted_pass": 0.0,
                      "file": data_filename(period)}
            chunks = _tracked(data_chunks(period, n_of, seed, FAKE_FRACTION, efficiency=eff),
                              record)
            write_mini(output_dir / data_filename(period), chunks)
            del record["weighted_pass"]  # data carry mcWeight = 0
            truth["data"][period] = record
    atomic_write_json(output_dir / "truth.json", truth)
    return truth
