"""Truth-level physics of the synthetic GamGam sample (GeV): Higgs production modes with their
associated objects, and the diphoton continuum with jet fakes.

Every function adds truth objects to a :class:`TruthObjects` collector, keyed by event index:

- ggF: the Higgs recoils against initial-state jets (one hard recoil jet when pT(H) is large);
- VBF: two forward tag jets in opposite hemispheres (large Δη_jj and m_jj);
- WH (W⁺H): W → ℓν (e, μ; MET), τν (a τ jet and MET) or qq̄' (a dijet near m_W);
- ZH: Z → ℓℓ, νν (MET), ττ or qq̄ (a dijet near m_Z);
- ttH: two b jets and two W decays (jets, leptons, MET);
- continuum: γγ with the seed's falling m_γγ and a fraction of γ-jet events whose "photon" is a
  jet (non-prompt: rarely tight, poorly isolated).

The photons of H → γγ come from an isotropic decay of the boosted Higgs boson.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from toymc.gamgam.fourvec import from_pt_eta_phi, from_pt_y_phi_m, two_body_decay
from toymc.gamgam.samples import SEED_DATA_HIST

M_H, M_W, M_Z, W_W, W_Z = 125.0, 80.38, 91.19, 2.09, 2.50
#: branching fractions used for the vector-boson decays (PDG)
W_DECAYS = {"lnu": 0.216, "taunu": 0.108, "qq": 0.676}
Z_DECAYS = {"ll": 0.0673, "nunu": 0.200, "tautau": 0.0337, "qq": 0.699}
#: Higgs transverse momentum Γ(shape, scale GeV) and rapidity width per mode
HIGGS_PT = {"ggF": (1.5, 20.0), "VBF": (2.0, 35.0), "WH": (2.5, 30.0), "ZH": (2.5, 30.0),
            "ttH": (3.0, 35.0)}
HIGGS_Y_WIDTH = {"ggF": 1.6, "VBF": 1.3, "WH": 1.2, "ZH": 1.2, "ttH": 1.0}
#: m_γγ range of the generated continuum, GeV (wider than the 105–160 GeV selection)
CONTINUUM_RANGE = (95.0, 175.0)
LIGHT, CHARM, BOTTOM, TAU = 0, 4, 5, 15


@dataclass
class TruthObjects:
    """Truth objects by kind (``photon``, ``jet``, ``lep``, ``nu``), each a list of parts."""

    parts: dict[str, list[dict]] = field(
        default_factory=lambda: {"photon": [], "jet": [], "lep": [], "nu": []}
    )

    def add(self, kind: str, event: np.ndarray, p4: np.ndarray, **extra) -> None:
        """Add objects of ``kind`` to events ``event`` with four-vectors ``p4`` (GeV)."""
        self.parts[kind].append({"event": np.asarray(event, np.int64), "p4": p4, **extra})

    def merged(self, kind: str) -> dict[str, np.ndarray]:
        """All objects of ``kind`` as flat arrays (``event``, ``p4``, extras)."""
        parts = self.parts[kind]
        if not parts:
            return {"event": np.zeros(0, np.int64), "p4": np.zeros((0, 4))}
        keys = set().union(*parts) - {"event", "p4"}
        out = {"event": np.concatenate([p["event"] for p in parts]),
               "p4": np.concatenate([p["p4"] for p in parts])}
        for key in keys:
            out[key] = np.concatenate([p.get(key, np.zeros(len(p["event"]), int)) for p in parts])
        return out


def _jets(col, events, pt, eta, phi, flav=LIGHT):
    col.add("jet", events, from_pt_eta_phi(pt, eta, phi), flav=np.full(len(events), flav))


def _extra_jets(col, events, rng, mean):
    """Initial-state / underlying jets: Poisson(``mean``) per event, pT 20 GeV + exp(15 GeV)."""
    counts = rng.poisson(mean, len(events))
    idx = np.repeat(events, counts)
    n = len(idx)
    _jets(col, idx, 20.0 + rng.exponential(15.0, n), rng.normal(0.0, 2.0, n),
          rng.uniform(-np.pi, np.pi, n))


def _boson(pt, y, phi, mass, width, rng):
    m = mass + width / 2 * np.tan(np.pi * rng.uniform(-0.45, 0.45, len(pt)))  # truncated BW
    return from_pt_y_phi_m(pt, y, phi, m)


def _decay_vector_boson(col, events, boson, kind, rng, charge=1):
    """Decay W (``charge`` ±1) or Z four-vectors into truth objects by the PDG fractions."""
    table = W_DECAYS if kind == "W" else Z_DECAYS
    names = list(table)
    probs = np.array(list(table.values()))
    channel = rng.choice(len(names), size=len(events), p=probs / probs.sum())
    a, b = two_body_decay(boson, rng)
    for k, name in enumerate(names):
        sel = channel == k
        ev = events[sel]
        if name in ("qq",):
            for d in (a[sel], b[sel]):
                col.add("jet", ev, d, flav=np.full(sel.sum(), LIGHT))
        elif name == "lnu":
            flavour = rng.choice([11, 13], size=sel.sum())
            col.add("lep", ev, a[sel], type=flavour, charge=np.full(sel.sum(), charge))
            col.add("nu", ev, b[sel])
        elif name == "ll":
            flavour = rng.choice([11, 13], size=sel.sum())
            col.add("lep", ev, a[sel], type=flavour, charge=np.full(sel.sum(), 1))
            col.add("lep", ev, b[sel], type=flavour, charge=np.full(sel.sum(), -1))
        elif name == "nunu":
            col.add("nu", ev, a[sel])
            col.add("nu", ev, b[sel])
        else:  # tau decays: a tau jet with 60 % of the tau momentum, the rest invisible
            col.add("jet", ev, a[sel] * 0.6, flav=np.full(sel.sum(), TAU))
            col.add("nu", ev, a[sel] * 0.4)
            if name == "tautau":
                col.add("jet", ev, b[sel] * 0.6, flav=np.full(sel.sum(), TAU))
                col.add("nu", ev, b[sel] * 0.4)
            else:
                col.add("nu", ev, b[sel])


def higgs_events(mode: str, events: np.ndarray, rng: np.random.Generator,
                 col: TruthObjects) -> None:
    """Add H → γγ events of production ``mode`` (``ggF``, ``VBF``, ``WH``, ``ZH``, ``ttH``)."""
    n = len(events)
    shape, scale = HIGGS_PT[mode]
    pt = rng.gamma(shape, scale, n)
    y = rng.normal(0.0, HIGGS_Y_WIDTH[mode], n)
    phi = rng.uniform(-np.pi, np.pi, n)
    higgs = from_pt_y_phi_m(pt, y, phi, np.full(n, M_H))
    g1, g2 = two_body_decay(higgs, rng)
    col.add("photon", events, g1, real=np.ones(n, bool))
    col.add("photon", events, g2, real=np.ones(n, bool))
    recoil_phi = phi + np.pi + rng.normal(0.0, 0.3, n)
    if mode == "ggF":
        hard = pt > 20.0
        _jets(col, events[hard], pt[hard] * rng.normal(1.0, 0.15, hard.sum()).clip(0.3),
              rng.normal(0.0, 1.8, hard.sum()), recoil_phi[hard])
        _extra_jets(col, events, rng, 0.4)
    elif mode == "VBF":
        side = rng.choice([-1.0, 1.0], n)
        for sign in (1.0, -1.0):
            eta = sign * side * np.abs(rng.normal(2.4, 0.9, n))
            _jets(col, events, 20.0 + rng.gamma(2.0, 25.0, n), eta,
                  rng.uniform(-np.pi, np.pi, n))
        _extra_jets(col, events, rng, 0.3)
    elif mode in ("WH", "ZH"):
        kind = "W" if mode == "WH" else "Z"
        mass, width = (M_W, W_W) if kind == "W" else (M_Z, W_Z)
        boson = _boson(pt, y + rng.normal(0.0, 1.0, n), recoil_phi, mass, width, rng)
        _decay_vector_boson(col, events, boson, kind, rng, charge=1)
        _extra_jets(col, events, rng, 0.3)
    elif mode == "ttH":
        for charge in (1, -1):
            _jets(col, events, 20.0 + rng.gamma(2.0, 30.0, n), rng.normal(0.0, 1.3, n),
                  rng.uniform(-np.pi, np.pi, n), flav=BOTTOM)
            w = _boson(rng.gamma(2.0, 35.0, n), rng.normal(0.0, 1.2, n),
                       rng.uniform(-np.pi, np.pi, n), M_W, W_W, rng)
            _decay_vector_boson(col, events, w, "W", rng, charge=charge)
        _extra_jets(col, events, rng, 0.5)
    else:
        raise ValueError(f"unknown Higgs production mode '{mode}'")


def continuum_shape() -> np.polynomial.Polynomial:
    """log(events per GeV) of the seed's data histogram as a quadratic in m_γγ (GeV)."""
    counts = np.asarray(SEED_DATA_HIST, dtype=float)
    edges = np.linspace(105.0, 160.0, len(counts) + 1)
    centres = 0.5 * (edges[1:] + edges[:-1])
    return np.polynomial.Polynomial.fit(centres, np.log(counts), 2, w=np.sqrt(counts))


def continuum_density(grid: np.ndarray, efficiency=None) -> np.ndarray:
    """Generated continuum density on ``grid`` (GeV): :func:`continuum_shape`, divided by the
    selection ``efficiency`` polynomial of m_γγ when given (clipped at 0.01), so that the
    *selected* spectrum follows the seed's shape."""
    density = np.exp(continuum_shape()(grid))
    if efficiency is not None:
        density = density / np.clip(efficiency(grid), 0.01, None)
    return density


def sample_continuum_mass(n: int, rng: np.random.Generator, efficiency=None) -> np.ndarray:
    """m_γγ (GeV) of continuum events, distributed as :func:`continuum_density` on
    :data:`CONTINUUM_RANGE` (inverse-CDF sampling on a fine grid)."""
    grid = np.linspace(*CONTINUUM_RANGE, 2001)
    density = continuum_density(grid, efficiency)
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (density[1:] + density[:-1]))])
    return np.interp(rng.uniform(0.0, cdf[-1], n), cdf, grid)


def continuum_events(events: np.ndarray, rng: np.random.Generator, col: TruthObjects,
                     fake_fraction: float, efficiency=None) -> np.ndarray:
    """Add continuum diphoton events (masses: :func:`sample_continuum_mass`); a
    ``fake_fraction`` of them are γ-jet events whose second "photon" is a jet. Returns the
    per-event number of fake photons (0 or 1)."""
    n = len(events)
    mass = sample_continuum_mass(n, rng, efficiency)
    pt = rng.gamma(1.3, 15.0, n)
    system = from_pt_y_phi_m(pt, rng.normal(0.0, 1.3, n), rng.uniform(-np.pi, np.pi, n), mass)
    g1, g2 = two_body_decay(system, rng)
    fake = rng.uniform(size=n) < fake_fraction
    swap = rng.uniform(size=n) < 0.5  # which photon is the fake
    col.add("photon", events, g1, real=~(fake & swap))
    col.add("photon", events, g2, real=~(fake & ~swap))
    _extra_jets(col, events, rng, 0.6)
    return fake.astype(np.int32)
