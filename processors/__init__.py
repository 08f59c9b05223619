"""Coffea processors and pure selection/observable functions for the dimuon skim.

Public API: :class:`DimuonProcessor`, :class:`SkimConfig`, :data:`PRESETS`, :func:`load_config`,
:func:`run_skim` (chunked, resumable execution on iterative / futures / dask executors) and
:func:`load_fileset`.
"""

from processors.config import PRESETS, SkimConfig, load_config, make_config
from processors.dimuon import DimuonProcessor
from processors.fileset import Dataset, load_fileset
from processors.skim import run_skim

__all__ = [
    "PRESETS",
    "Dataset",
    "DimuonProcessor",
    "SkimConfig",
    "load_config",
    "load_fileset",
    "make_config",
    "run_skim",
]
