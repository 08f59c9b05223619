"""Truth-process names and codes: the members of ``toymc.truth.Process`` (the one definition)."""

from __future__ import annotations

import difflib

from dimuon_ad.errors import ConfigKeyError
from toymc.truth import Process

__all__ = ["process_code", "process_codes"]


def _codes() -> dict[str, int]:
    return {p.name: int(p.value) for p in Process}


def process_code(name: str, source: str = "config") -> int:
    """Integer truth code of a process name (e.g. ``"UPSILON_1S"`` → 12).

    Raises
    ------
    KeyError
        Unknown name; the message lists the known ones.
    """
    codes = _codes()
    if name not in codes:
        close = difflib.get_close_matches(str(name), codes, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigKeyError(
            f"{source}: unknown truth process {name!r}{hint}; expected one of {', '.join(codes)}"
        )
    return codes[name]


def process_codes(names: tuple[str, ...] | list[str]) -> list[int]:
    """Codes of several process names."""
    return [process_code(n) for n in names]
