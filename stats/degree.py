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

__all__ = [
    "AUTO",
    "SPURIOUS",
    "RULES",
    "DEFAULT_DEGREES",
    "DEFAULT_ALPHA",
    "MAX_UNC_RATIO",
    "SPURIOUS_FRACTION",
    "check_degree",
    "choose_degree_fits",
    "choose_degree_spurious",
]

#: The value of ``degree`` that asks for the F-test choice.
AUTO = "auto"
#: The value of ``degree`` that asks for the F-test + affordability + spurious-signal rule.
SPURIOUS = "spurious"
#: The per-spectrum degree rules.
RULES = (AUTO, SPURIOUS)
#: Largest SR background uncertainty of an affordable polynomial, in units of √B_SR.
MAX_UNC_RATIO = 1.5
#: Largest spurious signal, in units of the chosen fit's SR background uncertainty.
SPURIOUS_FRACTION = 0.5
#: Candidate degrees of ``degree="auto"``.
DEFAULT_DEGREES: tuple[int, ...] = (1, 2, 3, 4, 5)
#: F-test p-value below which the next degree is taken.
DEFAULT_ALPHA = 0.05


def check_degree(
    degree: int | str, degrees: Sequence[int] = DEFAULT_DEGREES, alpha: float = DEFAULT_ALPHA
) -> int | str:
    """Validate a ``degree`` argument (an integer ``>= 0``, ``"auto"`` or ``"spurious"``) and the
    settings of the rules.

    Raises
    ------
    ValueError
        On anything else, naming the value and what is expected.
    """
    if isinstance(degree, str):
        if degree not in RULES:
            raise ValueError(
                f"degree = {degree!r}; expected an integer >= 0, 'auto' or 'spurious'"
            )
        if len(degrees) == 0 or any(
            isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 0 for d in degrees
        ):
            raise ValueError(
                f"degrees = {list(degrees)!r}; expected a non-empty list of integers >= 0"
            )
        if not 0.0 < float(alpha) < 1.0:
            raise ValueError(f"F-test alpha = {alpha!r}; expected a p-value in (0, 1)")
        return degree
    if isinstance(degree, bool) or not isinstance(degree, (int, np.integer)) or degree < 0:
        raise ValueError(f"degree = {degree!r}; expected an integer >= 0, 'auto' or 'spurious'")
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


def choose_degree_spurious(
    fit: Callable[[int], Any],
    spurious_b: Callable[[Any, int], float],
    degrees: Sequence[int] = DEFAULT_DEGREES,
    alpha: float = DEFAULT_ALPHA,
    *,
    max_unc_ratio: float = MAX_UNC_RATIO,
    spurious_fraction: float = SPURIOUS_FRACTION,
) -> tuple[Any | None, list[dict[str, Any]], str]:
    """The ``degree="spurious"`` rule: F-test floor, affordable flexibility, spurious signal.

    Every candidate degree ``d`` is fitted (``fit(d)``: SR background ``B_d`` and its uncertainty
    ``σ_d`` from the sidebands, in effective counts when ``fit`` says so) and then:

    1. ``d_F``: the F-test choice (:func:`choose_degree_fits` at ``alpha``): the data need at
       least this flexibility;
    2. ``d_cap``: the highest degree whose SR interpolation uncertainty is affordable,
       ``σ_d <= max_unc_ratio √B_d`` (1.5): Z scales as ``S/√(B + σ²)``, and a more flexible
       polynomial bends under the SR and absorbs the peak (degree 5 on an 8-12 GeV window has
       ``σ ≈ 6 √B``; on the 5-16 GeV Υ window ``1.1 √B``);
    3. ``d = max(d_F, d_cap)``, then the spurious-signal check (ATLAS H→γγ, arXiv:1408.7084,
       with the next degree's sideband fit as the smooth background-only template, whose own
       statistical noise relaxes the criterion as ATLAS does with the template's MC statistics):
       degree ``d`` is fitted with free signal to the Asimov spectrum ``T`` of the degree-
       ``d+1`` fit; ``S_spur = T_SR - B_d(T)`` must satisfy
       ``max(|S_spur| - 2 √(σ_{d+1}² - σ_d²), 0) <= spurious_fraction σ_d`` (0.5); else
       ``d + 1`` is taken.  The highest candidate is not checked (no template above it).

    Only sideband information enters the choice (``B``, ``σ`` and the templates come from the
    sideband fits), so choosing does not look at the SR count.

    Parameters
    ----------
    fit : callable
        ``fit(degree) -> SignificanceResult`` (``converged``, ``gof``, ``b_fit``, ``b_fit_unc``,
        ``info["weight_scale"]``).
    spurious_b : callable
        ``spurious_b(template_result, degree) -> float``: the SR background (effective counts)
        that ``degree`` fits to the Asimov spectrum of ``template_result``.
    degrees : sequence of int
        Candidate degrees.
    alpha : float
        F-test p-value below which the next degree is taken.
    max_unc_ratio, spurious_fraction : float
        The thresholds of steps 2 and 3.

    Returns
    -------
    result : SignificanceResult or None
        The fit of the chosen degree (None when no degree could be fitted).
    table : list of dict
        Per candidate: ``degree``, ``deviance``, ``ndf``, ``p_f_test``, ``b_sr``, ``b_sr_unc``,
        ``unc_ratio`` (σ/√B), ``s_spur``, ``s_spur_noise``, ``spurious_ok`` and ``message``.
    reason : str
        Why this degree, in words.
    """
    cands = sorted({int(d) for d in degrees})
    fits = {d: fit(d) for d in cands}
    chosen_f, f_table = choose_degree_fits(lambda d: fits[d], cands, alpha)
    table: list[dict[str, Any]] = []
    ok = [d for d in cands if fits[d].converged]
    if not ok:
        table = [{"degree": d, "message": fits[d].message} for d in cands]
        return None, table, "no candidate degree could be fitted"
    f_rows = {r["degree"]: r for r in f_table}
    for d in cands:
        r = fits[d]
        k = float(r.info.get("weight_scale", 1.0)) if r.converged else math.nan
        b = r.b_fit / k if r.converged else math.nan
        unc = r.b_fit_unc / k if r.converged else math.nan
        row = f_rows.get(d, {"p_f_test": math.nan, "deviance": math.nan, "ndf": -1})
        table.append({
            "degree": d, "deviance": row.get("deviance", math.nan), "ndf": row.get("ndf", -1),
            "p_f_test": row.get("p_f_test", math.nan), "b_sr": b, "b_sr_unc": unc,
            "unc_ratio": unc / math.sqrt(max(b, 1.0)) if r.converged else math.nan,
            "s_spur": math.nan, "s_spur_noise": math.nan, "spurious_ok": None,
            "message": r.message if not r.converged else "",
        })
    rows = {t["degree"]: t for t in table}
    d_f = int(chosen_f.info["degree"])  # F-test floor
    affordable = [d for d in ok if rows[d]["unc_ratio"] <= max_unc_ratio]
    d_cap = max(affordable) if affordable else ok[0]
    d = max(d_f, d_cap)
    why = (
        f"F-test (alpha {alpha:g}) needs degree >= {d_f}; highest degree with SR background "
        f"uncertainty <= {max_unc_ratio:g} sqrt(B): {d_cap if affordable else 'none'}"
    )
    while True:
        higher = [h for h in ok if h > d]
        if not higher:
            why += f"; degree {d} is the highest candidate (no spurious-signal template above)"
            break
        t = higher[0]
        row, tmpl = rows[d], rows[t]
        s_spur = tmpl["b_sr"] - spurious_b(fits[t], d)
        noise = math.sqrt(max(tmpl["b_sr_unc"] ** 2 - row["b_sr_unc"] ** 2, 0.0))
        passed = max(abs(s_spur) - 2.0 * noise, 0.0) <= spurious_fraction * row["b_sr_unc"]
        row.update(s_spur=s_spur, s_spur_noise=noise, spurious_ok=bool(passed))
        if passed:
            why += (
                f"; spurious signal of degree {d} on the degree-{t} template "
                f"{s_spur:+.3g} (noise {noise:.3g}) within {spurious_fraction:g} x "
                f"{row['b_sr_unc']:.3g}: degree {d}"
            )
            break
        why += f"; spurious signal of degree {d} {s_spur:+.3g} too large, trying {t}"
        d = t
    log.debug("degree rule 'spurious': %s", why)
    return fits[d], table, why
