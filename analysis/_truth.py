"""Truth-process names and codes (``toymc.truth.Process``; the contract's codes as fallback)."""

from __future__ import annotations

import difflib

__all__ = ["process_code", "process_codes"]

# The codes fixed in the team contract; used only if toymc is not importable.
_CONTRACT_CODES = {
    "DRELL_YAN": 0,
    "HEAVY_FLAVOUR": 1,
    "DECAY_IN_FLIGHT": 2,
    "JPSI": 10,
    "PSI2S": 11,
    "UPSILON_1S": 12,
    "UPSILON_2S": 13,
    "UPSILON_3S": 14,
    "Z": 15,
    "INJECTED": 20,
}


def _codes() -> dict[str, int]:
    try:
        from toymc.truth import Process
    except ImportError:
        return dict(_CONTRACT_CODES)
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
        raise KeyError(
            f"{source}: unknown truth process {name!r}{hint}; expected one of {', '.join(codes)}"
        )
    return codes[name]


def process_codes(names: tuple[str, ...] | list[str]) -> list[int]:
    """Codes of several process names."""
    return [process_code(n) for n in names]
