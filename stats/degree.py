"""Per-spectrum choice of the background polynomial degree by a Fisher F-test (``degree="auto"``).

A fixed degree-5 polynomial (the published choice, reference §5) has 6 free coefficients; after a
tight cut leaves a few hundred sideband events it can bend down under the SR and underestimate the
background there, which inflates Z.  Resonance searches with a sideband or full-spectrum fit pick
the number of parameters per spectrum instead: the lowest one that more parameters do not improve
significantly by a Fisher F-test (e.g. the CMS dijet searches, arXiv:1611.03568 and
arXiv:1806.00843).  :func:`choose_degree_fits` does that for one binned spectrum: each candidate
degree is fitted (:func:`stats.significance.significance_from_counts`); starting from the lowest
degree that fits, the next degree is accepted while the F-test of its sideband deviance against
the previous accepted one (:func:`stats.gof.f_test`) has ``p < alpha``, and the search stops at the
first degree that does not improve.  The sideband deviance is that of the free fit, whose signal
term only touches the SR, so it is the background-only fit of the sidebands.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from stats.gof import f_test

log = logging.getLogger(__name__)

__all__ = ["AUTO", "DEFAULT_DEGREES", "DEFAULT_ALPHA", "check_degree", "choose_degree_fits"]

#: The value of ``degree`` that asks for the F-test choice.
AUTO = "auto"
#: Candidate degrees of ``degree="auto"``.
DEFAULT_DEGREES: tuple[int, ...] = (1, 2, 3, 4, 5)
#: F-test p-value below which the next degree is taken.
DEFAULT_ALPHA = 0.05


def check_degree(
    degree: int | str, degrees: Sequence[int] = DEFAULT_DEGREES, alpha: float = DEFAULT_ALPHA
) -> int | str:
    """Validate a ``degree`` argument (an integer ``>= 0`` or ``"auto"``) and the auto settings.

    Raises
    ------
    ValueError
        On anything else, naming the value and what is expected.
    """
    if isinstance(degree, str):
        if degree != AUTO:
            raise ValueError(f"degree = {degree!r}; expected an integer >= 0 or 'auto'")
        if len(degrees) == 0 or any(
            isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 0 for d in degrees
        ):
            raise ValueError(
                f"degrees = {list(degrees)!r}; expected a non-empty list of integers >= 0"
            )
        if not 0.0 < float(alpha) < 1.0:
            raise ValueError(f"F-test alpha = {alpha!r}; expected a p-value in (0, 1)")
        return AUTO
    if isinstance(degree, bool) or not isinstance(degree, (int, np.integer)) or degree < 0:
        raise ValueError(f"degree = {degree!r}; expected an integer >= 0 or 'auto'")
    return int(degree)


def choose_degree_fits(
    fit: Callable[[int], Any],
    degrees: Sequence[int] = DEFAULT_DEGREES,
    alpha: float = DEFAULT_ALPHA,
) -> tuple[Any | None, list[dict[str, Any]]]:
    """Fit each candidate degree and keep the lowest one that higher degrees do not improve.

    Parameters
    ----------
    fit : callable
        ``fit(degree) -> SignificanceResult`` (with ``converged`` and ``gof``: ``deviance`` and
        ``ndf`` of the sideband bins).
    degrees : sequence of int
        Candidate degrees, tried in increasing order.
    alpha : float
        F-test p-value below which the next degree is taken.

    Returns
    -------
    result : SignificanceResult or None
        The fit of the chosen degree; None when no degree could be fitted.
    table : list of dict
        Per degree tried: ``degree``, ``deviance``, ``ndf``, ``p_f_test`` (against the previously
        accepted degree; NaN for the first or a failed fit) and ``message`` of a failed fit.
        Degrees above the first one that does not improve are not fitted.
    """
    chosen = None
    table: list[dict[str, Any]] = []
    for deg in sorted({int(d) for d in degrees}):
        res = fit(deg)
        if not res.converged:
            table.append({"degree": deg, "deviance": math.nan, "ndf": -1, "p_f_test": math.nan,
                          "message": res.message})
            continue
        dev, ndf = float(res.gof["deviance"]), int(res.gof["ndf"])
        row = {"degree": deg, "deviance": dev, "ndf": ndf, "p_f_test": math.nan, "message": ""}
        table.append(row)
        if chosen is None:
            chosen = res
            continue
        n_bins = ndf + deg + 1
        prev = int(chosen.info["degree"])
        if ndf <= 0:
            row["message"] = "no degrees of freedom left"
            break
        row["p_f_test"] = f_test(float(chosen.gof["deviance"]), prev + 1, dev, deg + 1, n_bins)
        if row["p_f_test"] < alpha:
            chosen = res
        else:
            break
    if chosen is not None:
        log.debug("F-test chose degree %s (tried %s)", chosen.info["degree"],
                  [r["degree"] for r in table])
    return chosen, table
