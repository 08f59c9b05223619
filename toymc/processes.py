"""Per-process generation of the dimuon system: parent kinematics and per-muon origin.

Each process fills, for its events, the parent mass, pT, rapidity, the pair's charge pattern and
per-muon properties that the detector stage (``toymc.detector``) turns into NanoAOD quantities:
the muon's origin (prompt, heavy flavour, fake), the hadronic activity of the jet around it relative
to its pT (sets ``pfRelIso``, ``jetRelIso`` and the jet), the decay length cτ behind its impact
parameter and the flavour of its jet. Pure numpy; units GeV and cm.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from toymc.config import InjectedSignal, ToyConfig
from toymc.kinematics import sample_breit_wigner, sample_broken_power_law, sample_hard_pt
from toymc.truth import PDG_MASS_GEV, PDG_WIDTH_GEV, Process

__all__ = ["Origin", "PairSample", "generate_pairs", "CTAU_B_CM", "CTAU_C_CM"]

#: Effective cτ (cm) behind heavy-flavour impact parameters: B hadrons (≈ 455 μm), charm (≈ 150 μm).
CTAU_B_CM = 0.045
CTAU_C_CM = 0.015
#: Effective cτ (cm) of the kinked tracks of π/K decays in flight.
CTAU_DIF_CM = 0.02


class Origin:
    """Integer codes of a muon's origin (drive ID efficiencies)."""

    PROMPT = 0
    HEAVY_FLAVOUR = 1
    FAKE = 2


# Parent shapes: continuum masses as continuous piecewise power laws (segment edges in GeV,
# indices), rising below 2 GeV, falling as m^-1.5 through the onia region and faster above 25 GeV;
# pT shapes as (p0 GeV, power) of ``sample_hard_pt``.
_CONTINUUM_MASS = {
    Process.DRELL_YAN: ((0.25, 2.0, 150.0), (-1.0, 2.2)),
    Process.HEAVY_FLAVOUR: ((0.25, 2.0, 25.0, 200.0), (-1.0, 1.5, 3.5)),
    Process.DECAY_IN_FLIGHT: ((0.25, 2.0, 25.0, 200.0), (-1.0, 1.5, 3.5)),
}
_PT_SHAPE = {
    Process.DRELL_YAN: (10.0, 2.5),
    Process.HEAVY_FLAVOUR: (35.0, 2.5),
    Process.DECAY_IN_FLIGHT: (35.0, 2.5),
    Process.JPSI: (12.0, 3.0),
    Process.PSI2S: (12.0, 3.0),
    Process.UPSILON_1S: (15.0, 3.0),
    Process.UPSILON_2S: (15.0, 3.0),
    Process.UPSILON_3S: (15.0, 3.0),
    Process.Z: (10.0, 2.0),
    Process.INJECTED: (15.0, 3.0),
}
#: pT shape of Υ produced inside jets (harder than the prompt, isolated Υ).
_PT_SHAPE_IN_JET = (70.0, 3.0)
_MAX_RAPIDITY = 2.1


@dataclass
class PairSample:
    """Dimuon systems of ``n`` events (arrays of shape (n,) or (n, 2) for the two muons).

    Attributes
    ----------
    mass, pt, rapidity, phi : ndarray (n,)
        Parent kinematics (GeV, rad).
    same_sign : ndarray of bool (n,)
    origin : ndarray of int8 (n, 2)
        :class:`Origin` code per muon.
    activity : ndarray (n, 2)
        Hadronic pT of the jet around each muon divided by the muon pT (0 for a lone muon).
    shared_jet : ndarray of bool (n,)
        Both muons inside one jet (Υ in jets); its activity is ``activity[:, 0]`` relative to
        the dimuon pT.
    ctau : ndarray (n, 2)
        Effective decay length (cm) behind each muon's impact parameter (0: prompt).
    flavour : ndarray of int8 (n, 2)
        Flavour of each muon's jet: 5 b, 4 c, 21 gluon, 0 light.
    nu_fraction : ndarray (n, 2)
        Neutrino pT / muon pT from semileptonic decays (0 for prompt muons).
    """

    mass: np.ndarray
    pt: np.ndarray
    rapidity: np.ndarray
    phi: np.ndarray
    same_sign: np.ndarray
    origin: np.ndarray
    activity: np.ndarray
    shared_jet: np.ndarray
    ctau: np.ndarray
    flavour: np.ndarray
    nu_fraction: np.ndarray

    @classmethod
    def empty(cls, n: int) -> PairSample:
        """All-zero sample of ``n`` events to be filled process by process."""
        z1, z2 = np.zeros(n), np.zeros((n, 2))
        return cls(
            mass=z1.copy(),
            pt=z1.copy(),
            rapidity=z1.copy(),
            phi=z1.copy(),
            same_sign=np.zeros(n, dtype=bool),
            origin=np.zeros((n, 2), dtype=np.int8),
            activity=z2.copy(),
            shared_jet=np.zeros(n, dtype=bool),
            ctau=z2.copy(),
            flavour=np.zeros((n, 2), dtype=np.int8),
            nu_fraction=z2.copy(),
        )


def _isolated_activity(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Activity of prompt muons: mostly isolated, 2 % accidentally inside a jet."""
    act = rng.exponential(0.03, shape)
    in_jet = rng.random(shape) < 0.02
    return np.where(in_jet, rng.gamma(2.0, 0.3, shape), act)


def _fill(
    rng: np.random.Generator,
    out: PairSample,
    idx: np.ndarray,
    proc: Process,
    config: ToyConfig,
    signal: InjectedSignal | None,
) -> None:
    """Fill events ``idx`` of ``out`` with process ``proc``."""
    n = idx.size
    if n == 0:
        return
    p0, power = _PT_SHAPE[proc]
    shape2 = (n, 2)
    out.phi[idx] = rng.uniform(-np.pi, np.pi, n)
    out.rapidity[idx] = rng.uniform(-_MAX_RAPIDITY, _MAX_RAPIDITY, n)
    if proc in _CONTINUUM_MASS:
        edges, indices = _CONTINUUM_MASS[proc]
        out.mass[idx] = sample_broken_power_law(rng, n, edges, indices)
    elif proc == Process.INJECTED:
        assert signal is not None
        out.mass[idx] = sample_breit_wigner(rng, n, signal.mass, signal.width)
        p0 *= signal.pt_scale
    elif proc == Process.Z:
        out.mass[idx] = sample_breit_wigner(rng, n, PDG_MASS_GEV[proc], PDG_WIDTH_GEV[proc], 12.0)
    else:
        out.mass[idx] = sample_breit_wigner(rng, n, PDG_MASS_GEV[proc], PDG_WIDTH_GEV[proc])

    if proc == Process.HEAVY_FLAVOUR:
        out.pt[idx] = sample_hard_pt(rng, n, p0, power)
        out.same_sign[idx] = rng.random(n) < config.hf_same_sign_fraction
        out.origin[idx] = Origin.HEAVY_FLAVOUR
        out.activity[idx] = rng.gamma(2.0, 0.6, shape2)
        is_b = rng.random(shape2) < 0.75
        out.ctau[idx] = np.where(is_b, CTAU_B_CM, CTAU_C_CM)
        out.flavour[idx] = np.where(is_b, 5, 4)
        out.nu_fraction[idx] = rng.uniform(0.1, 0.8, shape2)
    elif proc == Process.DECAY_IN_FLIGHT:
        out.pt[idx] = sample_hard_pt(rng, n, p0, power)
        out.same_sign[idx] = rng.random(n) < config.dif_same_sign_fraction
        out.origin[idx] = Origin.FAKE
        out.activity[idx] = rng.gamma(2.0, 0.6, shape2)
        out.ctau[idx] = CTAU_DIF_CM
        out.flavour[idx] = np.where(rng.random(shape2) < 0.5, 21, 0)
        out.nu_fraction[idx] = rng.uniform(0.0, 0.3, shape2)
    elif Process.is_upsilon(int(proc)) or (
        proc == Process.INJECTED and signal is not None and signal.isolation == "antiiso"
    ):
        in_jet = (
            rng.random(n) < config.upsilon_in_jet_fraction
            if proc != Process.INJECTED
            else np.ones(n, dtype=bool)
        )
        j0, jpow = _PT_SHAPE_IN_JET
        if proc == Process.INJECTED:
            j0 = p0 * j0 / _PT_SHAPE[Process.UPSILON_1S][0]
        out.pt[idx] = np.where(
            in_jet, sample_hard_pt(rng, n, j0, jpow), sample_hard_pt(rng, n, p0, power)
        )
        act = _isolated_activity(rng, shape2)
        jet_act = rng.gamma(3.0, 0.6, n)
        act[in_jet, 0] = jet_act[in_jet]
        act[in_jet, 1] = 0.0
        out.activity[idx] = act
        out.shared_jet[idx] = in_jet
        out.flavour[idx] = np.where(in_jet[:, None], 21, 0)
    else:  # Drell-Yan, J/psi, psi(2S), Z, isolated injected signal
        out.pt[idx] = sample_hard_pt(rng, n, p0, power)
        out.activity[idx] = _isolated_activity(rng, shape2)
    if proc == Process.INJECTED and signal is not None and signal.displacement == "displaced":
        out.ctau[idx] = signal.lifetime_cm


def generate_pairs(
    rng: np.random.Generator,
    process: np.ndarray,
    config: ToyConfig,
    signal: InjectedSignal | None = None,
) -> PairSample:
    """Generate the dimuon system of every event given its truth ``process`` code.

    Parameters
    ----------
    rng : numpy.random.Generator
    process : ndarray of int, shape (n,)
        :class:`~toymc.truth.Process` code per event.
    config : ToyConfig
    signal : InjectedSignal, optional
        Needed when ``process`` contains ``Process.INJECTED``.

    Returns
    -------
    PairSample
    """
    process = np.asarray(process)
    out = PairSample.empty(process.size)
    for proc in Process:
        idx = np.flatnonzero(process == proc)
        if idx.size and proc == Process.INJECTED and signal is None:
            raise ValueError("events with Process.INJECTED need an InjectedSignal")
        _fill(rng, out, idx, proc, config, signal)
    return out
