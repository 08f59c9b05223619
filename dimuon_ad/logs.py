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

__all__ = ["LOG_DATEFMT", "LOG_FORMAT", "CollapseRepeats", "configure_logging", "quiet_logger"]


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


#: The one log-line format of every command (run_skim, run_analysis, toymc, dimuon-ad).
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
LOG_DATEFMT = "%H:%M:%S"


class CollapseRepeats(logging.Filter):
    """Let the first record of each (logger, level, message template) through and count the
    repeats; :meth:`summary_lines` gives one line per repeated message with its count.

    Records below ``min_level`` (default WARNING) always pass.
    """

    def __init__(self, min_level: int = logging.WARNING) -> None:
        super().__init__()
        self.min_level = min_level
        self.counts: dict[tuple[str, int, str], int] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < self.min_level:
            return True
        key = (record.name, record.levelno, str(record.msg))
        self.counts[key] = self.counts.get(key, 0) + 1
        return self.counts[key] == 1

    def summary_lines(self) -> list[str]:
        """``'<message template>' repeated N more times`` for each collapsed message."""
        return [f"{logging.getLevelName(level)} {name}: the message above ('{msg[:80]}') "
                f"was repeated {n - 1} more time(s)"
                for (name, level, msg), n in self.counts.items() if n > 1]

    def flush(self, logger: logging.Logger | None = None) -> None:
        """Log the :meth:`summary_lines` (at WARNING on ``logger``, default root) and reset."""
        lines = self.summary_lines()
        self.counts.clear()
        for line in lines:
            (logger or logging.getLogger()).warning("%s", line)
        self.counts.clear()  # the summaries themselves are not counted


def configure_logging(verbose: bool = False, quiet: bool = False) -> CollapseRepeats:
    """The CLIs' logging: one format (:data:`LOG_FORMAT`) on stderr, DEBUG with ``verbose``,
    WARNING with ``quiet``, INFO otherwise; repeated warnings collapsed (call ``.flush()`` on
    the returned filter at the end of the command to print the counts)."""
    import sys

    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(LOG_FORMAT, datefmt=LOG_DATEFMT))
    collapse = CollapseRepeats()
    handler.addFilter(collapse)
    root = logging.getLogger()
    for h in [h for h in root.handlers if getattr(h, "_dimuon_ad", False)]:
        root.removeHandler(h)
    handler._dimuon_ad = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    return collapse
