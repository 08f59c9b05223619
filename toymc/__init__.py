"""Synthetic DoubleMuon-like NanoAOD: a seeded, vectorized generator of the dimuon processes of
the CMS anti-isolated Υ analysis (arXiv:2502.14036), written in the NanoAOD schema.

Public API: :class:`Process` (truth codes), :class:`InjectedSignal`, :class:`ToyConfig`,
:func:`generate_events` (arrays in memory) and :func:`write_nanoaod` (ROOT file). Units GeV, cm.
"""

from toymc.config import InjectedSignal, ToyConfig
from toymc.generator import generate_events
from toymc.truth import Process
from toymc.writer import write_nanoaod

__all__ = ["InjectedSignal", "Process", "ToyConfig", "generate_events", "write_nanoaod"]
