"""Logging helpers shared by the packages (library code never adds handlers; the CLIs do).

:func:`quiet_logger` raises one logger's level inside a block and restores it afterwards. It is
what library code uses where messages are expected and useless: the start/stop chatter of a Dask
cluster (:mod:`dimuon_ad.dask`), the failed and bad fits of background-only pseudo-experiments
(:func:`analysis.significance.look_elsewhere_toys`). Unlike a level set by a command-line tool,
it also holds on Dask workers, which do not inherit the CLI's logger levels, because it runs
inside the task.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["quiet_logger"]


@contextmanager
def quiet_logger(name: str, level: int = logging.WARNING) -> Iterator[logging.Logger]:
    """Drop the records of logger ``name`` (and of its children) below ``level`` in the block.

    The logger's level becomes ``level`` unless it is already quieter (a higher effective
    level, e.g. set by ``-q``), and is restored on exit, also after an exception.

    Parameters
    ----------
    name : str
        Logger name, e.g. ``"stats"`` or ``"distributed"``.
    level : int
        Lowest level still emitted (default ``logging.WARNING``).
    """
    logger = logging.getLogger(name)
    before = logger.level
    logger.setLevel(max(int(level), logger.getEffectiveLevel()))
    try:
        yield logger
    finally:
        logger.setLevel(before)
