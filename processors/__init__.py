"""Coffea processors and pure selection/observable functions for the dimuon skim.

Public API: :class:`DimuonProcessor`, :class:`SkimConfig`, :data:`PRESETS`, :func:`load_config`,
:func:`run_skim` (chunked, resumable execution on iterative / futures / dask executors),
:func:`load_fileset`, and :func:`check_skim_complete` / :class:`IncompleteSkimError` for readers
of a skim output directory.
"""

from processors.config import PRESETS, SkimConfig, load_config, make_config
from processors.dimuon import DimuonProcessor
from processors.fileset import Dataset, load_fileset
from processors.integrity import IncompleteSkimError, check_skim_complete
from processors.skim import run_skim

__all__ = [
    "PRESETS",
    "Dataset",
    "DimuonProcessor",
    "IncompleteSkimError",
    "SkimConfig",
    "check_skim_complete",
    "load_config",
    "load_fileset",
    "make_config",
    "run_skim",
]
