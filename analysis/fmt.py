"""Numbers as a physicist reads them in a report or on the console: formatted by magnitude,
p-values in scientific notation, FPRs in per cent, counts with thousands separators, and never
``nan`` (a missing number is "—", a failed fit "failed")."""

from __future__ import annotations

import math
from typing import Any

__all__ = ["MISSING", "fmt_count", "fmt_fpr", "fmt_num", "fmt_p", "fmt_z", "is_number"]

#: What a missing or undefined number prints as.
MISSING = "—"
_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def is_number(v: Any) -> bool:
    """True for a finite int or float (not bool, None or nan)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def fmt_num(v: Any, *, missing: str = MISSING) -> str:
    """About three significant digits by magnitude: ``1,538``, ``44.1``, ``2.91``, ``0.123``,
    ``3.4 × 10⁻⁴``; integers keep every digit (``74,355``)."""
    if not is_number(v):
        return missing if v is None or isinstance(v, float) else str(v)
    if isinstance(v, int):
        return f"{v:,}"
    a = abs(v)
    if a >= 100:
        return f"{v:,.0f}"
    if a >= 10:
        return f"{v:.1f}"
    if a >= 1:
        return f"{v:.2f}"
    if a >= 0.01 or a == 0:
        return f"{v:.3f}"
    return _sci(v, 2)


def _sci(v: float, digits: int) -> str:
    mant, exp = f"{v:.{digits - 1}e}".split("e")
    return f"{mant} × 10{str(int(exp)).translate(_SUPERSCRIPT)}"


def fmt_p(p: Any, *, missing: str = MISSING) -> str:
    """A p-value: two significant digits, scientific below 0.01 (``1.8 × 10⁻³``)."""
    if not is_number(p):
        return missing
    if p == 0:
        return "0"
    return f"{p:.2g}" if p >= 0.01 else _sci(float(p), 2)


def fmt_z(z: Any, *, missing: str = MISSING, unit: str = "") -> str:
    """A significance in σ with two decimals (``2.91``, ``2.91σ`` with ``unit="σ"``)."""
    return f"{z:.2f}{unit}" if is_number(z) else missing


def fmt_fpr(f: Any, *, missing: str = MISSING) -> str:
    """A false-positive rate in per cent, two significant digits: ``75 %``, ``2.4 %``,
    ``0.24 %``; 1 reads ``100 %`` (no cut)."""
    if not is_number(f):
        return missing
    pc = 100 * float(f)
    return f"{pc:.0f} %" if pc >= 10 else f"{pc:.2g} %"


def fmt_count(n: Any, *, missing: str = MISSING) -> str:
    """An event count with thousands separators (``1,000,000``); fractional counts (fitted
    yields) round to the integer."""
    return f"{round(n):,}" if is_number(n) else missing
