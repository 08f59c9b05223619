"""Synthetic DoubleMuon-like NanoAOD: a seeded, vectorized generator of the dimuon processes of
the CMS anti-isolated Υ analysis (arXiv:2502.14036), written in the NanoAOD schema.

Processes (truth in ``Truth_process``, see :class:`Process`): Drell-Yan (isolated, prompt), heavy
flavour (muons in b/c jets: anti-isolated, displaced, OS and SS), decays in flight (OS ≈ SS),
J/ψ, ψ(2S), Υ(1S, 2S, 3S) and Z (opposite sign, prompt, 1–2 % mass resolution), a small
fraction of Υ inside jets (anti-isolated, harder dimuon pT) and an optional injected resonance.
The default mixture gives, with the published cuts, roughly the published anti-isolated sample
(≈12 k OS and ≈7 k SS events in 5–16 GeV per 1 M events; Υ S/B ≈ 6 % in 9–10.6 GeV).

Examples
--------
>>> import toymc
>>> events = toymc.generate_events(10_000, seed=1)            # dict of numpy/awkward arrays
>>> toymc.write_nanoaod("toy.root", 10_000, progress=False)   # doctest: +SKIP
>>> signal = toymc.InjectedSignal(mass=7.0, width=0.0, n_events=500)
>>> injected = toymc.generate_events(10_000, seed=1, signal=signal)

Units: GeV and cm.
"""

from toymc.config import InjectedSignal, ToyConfig
from toymc.generator import generate_events
from toymc.truth import Process
from toymc.writer import write_nanoaod

__all__ = ["InjectedSignal", "Process", "ToyConfig", "generate_events", "write_nanoaod"]
