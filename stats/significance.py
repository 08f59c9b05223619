"""Discovery significance of a bump: no cut, cuts at sideband false-positive rates, reweighting.

Implements the statistics of arXiv:2502.14036 (reference §5) on a pyhf model
(:class:`stats.model.BumpModel`): sideband bins + one SR counting bin, a degree-5 Bernstein
polynomial background and a signal ``s = mu * s_nominal`` in the SR.  ``q0`` (arXiv:1007.1727
eq. 12) compares the profile likelihood at ``s = 0`` with the free fit, ``Z = √q0`` (0 for a
deficit) and ``p = 1 - Φ(Z)``.  ``Z_signed`` keeps the sign of the fitted excess; its p-value
``1 - Φ(Z_signed)`` is uniform under the background-only hypothesis.

A failed fit never returns a number that looks valid: ``converged=False``, ``Z``/``p_value`` NaN
and ``message`` says why.  A spectrum that does not cover its window's sidebands (an empty
sideband, or data that stop short of an outer window edge: :func:`stats.binning.coverage_problem`)
is such a failure, never a Z; :func:`scan_cut` raises :class:`stats.binning.CoverageError` when
the uncut sample does not cover the window.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
from scipy.stats import norm

from stats.background import bernstein_bin_integrals
from stats.binning import Binning, Window, check_coverage, coverage_problem, make_bins
from stats.degree import (
    DEFAULT_ALPHA,
    DEFAULT_DEGREES,
    MAX_UNC_RATIO,
    RULES,
    SPURIOUS,
    SPURIOUS_FRACTION,
    check_degree,
    choose_degree_fits,
    choose_degree_spurious,
)
from stats.direct import direct_discovery
from stats.gof import describe_gof, goodness_of_fit
from stats.model import POI, BumpModel
from stats.result import SignificanceResult, check_masses, failed_result
from stats.reweighting import check_weights, effective_scale, likelihood_ratio_weights
from stats.spurious import smooth_template
from stats.workspace import make_workspace

log = logging.getLogger(__name__)

__all__ = [
    "SignificanceResult",
    "DEFAULT_FPRS",
    "significance",
    "significance_from_counts",
    "scan_cut",
    "reweighted_significance",
    "cut_thresholds",
]

#: Sideband false-positive rates of the published scans: logspace(0, -3, 25) ∪ {1, .25, .1, .05,
#: .01, .005, .001}, unique, decreasing (28 values).
DEFAULT_FPRS: tuple[float, ...] = tuple(
    float(x)
    for x in np.unique(
        np.round(
            np.concatenate([np.logspace(0, -3, 25), [1, 0.25, 0.1, 0.05, 0.01, 0.005, 0.001]]), 12
        )
    )[::-1]
)


def significance_from_counts(
    counts: np.ndarray,
    binning: Binning,
    *,
    degree: int | str = 5,
    degrees: Sequence[int] = DEFAULT_DEGREES,
    f_test_alpha: float = DEFAULT_ALPHA,
    weight_scale: float = 1.0,
    background: str = "bernstein",
    sr_fine: bool = False,
    signal_shape: np.ndarray | None = None,
    positive_coefficients: bool = False,
    model: BumpModel | None = None,
    return_workspace: bool = True,
    random_state: int | None = 0,
) -> SignificanceResult:
    """Discovery test on binned counts (all bins of ``binning``).

    Parameters
    ----------
    counts : array_like
        Counts (or sums of weights) per bin.
    binning : Binning
        From :func:`stats.binning.make_bins`.
    degree : int, "auto" or "spurious"
        Bernstein polynomial degree; ``"auto"``: the lowest of ``degrees`` that the next higher
        one does not improve by a Fisher F-test on the sideband fit at ``f_test_alpha``;
        ``"spurious"``: at least that, the most flexible degree whose SR background uncertainty
        is <= 1.5 √B, raised while its spurious signal on a smooth background-only template
        exceeds 0.2 √(B + σ_B²) (:func:`stats.degree.choose_degree_spurious`; calibrated on
        background-only toys where ``"auto"`` is not).  The chosen degree is ``info["degree"]``,
        why ``info["degree_reason"]`` and the per-degree table ``info["degree_table"]``.
    degrees : sequence of int
        Candidate degrees of ``degree="auto"``/``"spurious"``.
    f_test_alpha : float
        F-test p-value below which ``degree="auto"`` takes the next degree.
    weight_scale : float
        ``k = E[w²]/E[w]`` of weighted counts: the fit uses effective counts ``counts/k`` and the
        fitted S and B are reported times ``k``.
    background : {"bernstein", "exp_poly", "dijet"}
        Background shape; non-linear shapes use :func:`stats.direct.direct_discovery` (then no
        workspace).
    sr_fine : bool
        Fit the SR fine bins separately (pyhf path only).
    signal_shape : array_like, optional
        Signal fractions per fine SR bin (``sr_fine=True``).
    positive_coefficients : bool
        Always bound the Bernstein coefficients at 0 (default: only when the free fit ends with a
        non-positive expectation; the bounds used are written into the workspace, so pyhf alone
        reproduces Z; :class:`stats.model.BumpModel`).
    model : BumpModel or mapping of int to BumpModel, optional
        Re-use a model built for this binning (toys); else one is built for these counts. With
        ``degree="auto"``, a mapping degree → model (or one model, used for its own degree).
    return_workspace : bool
        Attach the pyhf workspace (costs a schema validation).
    random_state : int, optional
        Seed for the retry starting points.
    """
    counts = np.asarray(counts, dtype=np.float64)
    if counts.shape != (binning.n_bins,):
        raise ValueError(
            f"counts must have one entry per bin ({binning.n_bins}), got shape {counts.shape}"
        )
    if np.any(counts < 0) or not np.all(np.isfinite(counts)):
        raise ValueError("counts must be finite and >= 0 (negative weights are not supported)")
    degree = check_degree(degree, degrees, f_test_alpha)
    if degree in RULES:
        return _auto_degree(
            counts, binning, rule=degree, degrees=degrees, alpha=f_test_alpha,
            weight_scale=weight_scale,
            background=background, sr_fine=sr_fine, signal_shape=signal_shape,
            positive_coefficients=positive_coefficients, model=model,
            return_workspace=return_workspace, random_state=random_state,
        )
    if isinstance(model, Mapping):
        model = model.get(degree)
    k = float(weight_scale)
    info = {"degree": int(degree), "background": background, "weight_scale": k}
    n_sr, n_sb = float(counts[binning.sr_mask].sum()), float(counts[binning.sb_mask].sum())
    base = {"n_sr": n_sr, "n_sb": n_sb, "info": info}
    if not (math.isfinite(k) and k > 0):
        return failed_result(f"weight scale k = {k}: all weights are zero", **base)
    eff = counts / k
    n_par = (degree + 1) if background == "bernstein" else 0
    if problem := coverage_problem(eff, binning):
        return failed_result(problem, **base)
    if np.count_nonzero(eff[binning.sb_mask]) < n_par:
        return failed_result(
            f"only {np.count_nonzero(eff[binning.sb_mask])} non-empty sideband bins for a "
            f"degree-{degree} "
            f"polynomial ({n_par} parameters): loosen the cut or lower the degree",
            **base,
        )

    if background != "bernstein":
        fit = direct_discovery(eff, binning, background, random_state=random_state)
        if not fit.converged:
            return failed_result(fit.message, **base)
        zs = math.copysign(math.sqrt(fit.t0), eff[binning.sr_mask].sum() - fit.b_sr)
        z = max(zs, 0.0)
        gof = goodness_of_fit(eff[binning.sb_mask], fit.sideband_expected, len(fit.theta_free))
        return SignificanceResult(
            Z=z,
            p_value=float(norm.sf(z)),
            s_fit=(fit.n_sr - fit.b_sr) * k,
            b_fit=fit.b_sr * k,
            b_fit_unc=float("nan"),
            params={f"theta_{i}": float(v) for i, v in enumerate(fit.theta_free)},
            workspace=None,
            converged=True,
            Z_signed=zs,
            q0=z * z,
            gof=gof,
            bad_fit=gof["bad_fit"],
            message=_gof_note("", gof),
            params_bkg_only={f"theta_{i}": float(v) for i, v in enumerate(fit.theta_bkg)},
            **base,
        )

    if model is None:
        model = BumpModel.from_counts(
            binning,
            eff,
            degree,
            sr_fine=sr_fine,
            signal_shape=signal_shape,
            positive_coefficients=positive_coefficients,
        )
    elif model.binning is not binning and not np.array_equal(model.binning.edges, binning.edges):
        raise ValueError("model was built for a different binning")
    data = model.data_vector(eff)
    out = model.fit(data, random_state=random_state)
    if not out.converged:
        return failed_result(out.message, **base)
    mu_hat = float(out.pars_free[model.poi_index])
    zs = math.copysign(math.sqrt(out.t0), mu_hat)
    z = max(zs, 0.0)
    names = model.par_names
    gof = goodness_of_fit(eff[binning.sb_mask], model.sideband_expected(out.pars_free), degree + 1)
    ws = None
    if return_workspace:
        # the fit's bounds and the free optimum as inits: pyhf.infer.test_statistics.q0 with
        # model.config.suggested_init()/suggested_bounds() of this workspace runs the same fits
        parameters = [
            {"name": n, "bounds": [[float(b[0]), float(b[1])]], "inits": [float(v)]}
            for n, b, v in zip(names, out.bounds, out.pars_free, strict=True)
        ]
        ws = make_workspace(model.spec, model.observations(data), poi=POI, parameters=parameters)
    return SignificanceResult(
        Z=z,
        p_value=float(norm.sf(z)),
        s_fit=mu_hat * float(model.signal_sr.sum()) * k,
        b_fit=model.background_sr(out.pars_free) * k,
        b_fit_unc=model.background_sr_uncertainty(out.pars_free) * k,
        params=dict(zip(names, map(float, out.pars_free), strict=True)),
        workspace=ws,
        converged=True,
        message=_gof_note(out.message, gof),
        Z_signed=zs,
        q0=z * z,
        params_bkg_only=dict(zip(names, map(float, out.pars_bkg), strict=True)),
        gof=gof,
        bad_fit=gof["bad_fit"],
        **base,
    )


def _gof_note(message: str, gof: dict) -> str:
    """``message`` with the bad-fit line appended (and logged) when the fit is bad."""
    if not gof["bad_fit"]:
        return message
    note = describe_gof(gof)
    log.warning("%s", note)
    return f"{message}; {note}" if message else note


def _auto_degree(
    counts: np.ndarray,
    binning: Binning,
    *,
    rule: str,
    degrees: Sequence[int],
    alpha: float,
    model: Any,
    return_workspace: bool,
    **kwargs: Any,
) -> SignificanceResult:
    """:func:`significance_from_counts` at the degree chosen by ``rule`` (:mod:`stats.degree`)."""
    if kwargs.get("background", "bernstein") != "bernstein":
        raise ValueError(
            f"degree={rule!r} needs the 'bernstein' background, got {kwargs['background']!r}"
        )
    models = dict(model) if isinstance(model, Mapping) else (
        {model.degree: model} if model is not None else {}
    )
    cands = sorted({int(d) for d in degrees})
    k = float(kwargs.get("weight_scale", 1.0))
    model_kw = {key: kwargs[key] for key in ("sr_fine", "signal_shape", "positive_coefficients")
                if key in kwargs}
    if rule == SPURIOUS and math.isfinite(k) and k > 0:
        # every candidate's model is needed for the templates (its normalisation scales)
        for d in cands:
            if models.get(d) is None:
                models[d] = BumpModel.from_counts(binning, counts / k, d, **model_kw)

    def fit(deg: int) -> SignificanceResult:
        with _candidate_logs():
            return significance_from_counts(
                counts, binning, degree=deg, model=models.get(deg), return_workspace=False,
                **kwargs,
            )

    def template_of(result: SignificanceResult) -> np.ndarray:
        """Per-bin expectation (effective counts) of a candidate's background fit."""
        t = models[int(result.info["degree"])]
        theta = np.array([result.params[f"bkg_c{j}"] for j in range(t.degree + 1)])
        basis = bernstein_bin_integrals(binning.edges, t.degree, binning.low, binning.high)
        return np.clip(basis @ (theta * t.scales), 0.0, None)

    def spurious(deg: int, template: np.ndarray) -> tuple[float, float]:
        """The template's SR content and the SR background ``deg`` fits to it."""
        kw = {**kwargs, "weight_scale": 1.0}
        with _candidate_logs():
            res = significance_from_counts(
                template, binning, degree=deg, model=models.get(deg), return_workspace=False,
                **kw,
            )
        return float(template[binning.sr_mask].sum()), (res.b_fit if res.converged else math.nan)

    settings = {
        "degree_rule": "spurious" if rule == SPURIOUS else "f_test",
        "f_test_alpha": float(alpha),
        "degree_candidates": cands,
    }
    if rule == SPURIOUS:
        smooth, smooth_gof = (None, {"usable": False, "message": "weight scale k <= 0"})
        if math.isfinite(k) and k > 0:
            smooth, smooth_gof = smooth_template(counts / k, binning)
        chosen, table, why = choose_degree_spurious(
            fit, spurious, cands, alpha, template_of=template_of, smooth=smooth
        )
        if smooth is None:
            why += f" ({smooth_gof['message']})"
        settings.update(
            max_unc_ratio=MAX_UNC_RATIO, spurious_fraction=SPURIOUS_FRACTION,
            spurious_template="exp_poly" if smooth is not None else "next_degree",
            template_gof={key: v for key, v in smooth_gof.items() if key != "message"},
        )
    else:
        chosen, table = choose_degree_fits(fit, cands, alpha)
        why = "" if chosen is None else (
            f"F-test (alpha {alpha:g}): degree {chosen.info['degree']} is not improved by the "
            "next one"
        )
    rule_info = {**settings, "degree_table": table, "degree_reason": why}
    if chosen is None:
        first = next((r for r in table if r.get("message")), {"message": "no candidate degree"})
        n_sr, n_sb = float(counts[binning.sr_mask].sum()), float(counts[binning.sb_mask].sum())
        return failed_result(
            f"degree={rule!r}: no degree in {cands} could be fitted ({first['message']})",
            n_sr=n_sr, n_sb=n_sb, info={"degree": None, **rule_info},
        )
    deg = int(chosen.info["degree"])
    if return_workspace:
        with _candidate_logs():
            chosen = significance_from_counts(
                counts, binning, degree=deg, model=models.get(deg), return_workspace=True,
                **kwargs,
            )
    if chosen.bad_fit:
        log.warning("degree %d: %s", deg, describe_gof(chosen.gof))
    return dataclasses.replace(chosen, info={**chosen.info, **rule_info})


class _DropWarnings(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno < logging.WARNING


@contextmanager
def _candidate_logs():
    """Silence the warnings of candidate-degree fits (only the chosen fit's are shown)."""
    loggers = [logging.getLogger(name) for name in ("stats.result", __name__)]
    drop = _DropWarnings()
    for lg in loggers:
        lg.addFilter(drop)
    try:
        yield
    finally:
        for lg in loggers:
            lg.removeFilter(drop)


def significance(
    masses: np.ndarray,
    *,
    window: Window | str,
    weights: np.ndarray | None = None,
    degree: int | str = 5,
    n_sr_edges: int = 12,
    partial: str = "drop",
    binning: Binning | None = None,
    **kwargs: Any,
) -> SignificanceResult:
    """Discovery significance of the SR excess in a dimuon mass spectrum.

    Parameters
    ----------
    masses : array_like
        Dimuon masses, GeV; events outside the binned window are ignored.
    window : Window or str
        Mass window or preset name (:data:`stats.binning.WINDOWS`).
    weights : array_like, optional
        Per-event weights ``>= 0`` (negative weights raise ``ValueError``); the fit uses effective
        counts ``n/k`` with ``k = E[w²]/E[w]`` over the binned events (reference §5).
    degree : int, "auto" or "spurious"
        Degree of the background polynomial (published: 5); ``"auto"`` (F-test) and
        ``"spurious"`` choose it per spectrum (``degrees``, ``f_test_alpha`` in ``**kwargs``;
        :func:`significance_from_counts`).
    n_sr_edges : int
        SR bin edges (published: 12 → 11 bins).
    partial : {"drop", "keep"}
        Partial sideband bins at the window edges (:func:`stats.binning.make_bins`).
    binning : Binning, optional
        A ready binning (overrides ``n_sr_edges``/``partial``; its window is used).
    **kwargs
        Passed to :func:`significance_from_counts` (``degrees``, ``f_test_alpha``,
        ``background``, ``sr_fine``, ``model``, ``return_workspace``, ``random_state``).

    Returns
    -------
    SignificanceResult
    """
    m = check_masses(masses)
    w = check_weights(weights, m.size)
    binning = binning or make_bins(window, n_sr_edges, partial=partial)
    counts = binning.histogram(m, w)
    k = 1.0 if w is None else effective_scale(w[binning.in_range(m)])
    return significance_from_counts(counts, binning, degree=degree, weight_scale=k, **kwargs)


def cut_thresholds(
    sideband_scores: np.ndarray, fprs: Sequence[float], *, higher_is_signal: bool = True
) -> list[float | None]:
    """Score thresholds that keep a fraction ``fpr`` of the sideband events.

    The threshold for ``fpr`` is the ``round(fpr · N_SB)``-th most signal-like sideband score;
    events with a score at least as signal-like pass.  ``fpr = 1`` keeps everything (threshold
    ``-inf`` / ``+inf``); a rate that keeps no sideband event gives ``None``.
    """
    s = np.sort(np.asarray(sideband_scores, dtype=np.float64))
    if not higher_is_signal:
        s = -s
        s.sort()
    out: list[float | None] = []
    for fpr in fprs:
        fpr = float(fpr)
        if not 0.0 < fpr <= 1.0:
            raise ValueError(f"false-positive rates must be in (0, 1], got {fpr}")
        n_keep = int(round(fpr * s.size))
        if fpr == 1.0:
            thr = -np.inf
        elif n_keep == 0:
            out.append(None)
            continue
        else:
            thr = float(s[s.size - n_keep])
        out.append(thr if higher_is_signal else -thr)
    return out


def scan_cut(
    masses: np.ndarray,
    scores: np.ndarray,
    *,
    window: Window | str,
    fprs: Sequence[float] = DEFAULT_FPRS,
    higher_is_signal: bool = True,
    weights: np.ndarray | None = None,
    degree: int | str = 5,
    n_sr_edges: int = 12,
    partial: str = "drop",
    progress: bool = False,
    **kwargs: Any,
) -> list[SignificanceResult]:
    """Significance after cutting on a score at sideband false-positive rates.

    Parameters
    ----------
    masses : array_like
        Dimuon masses, GeV.
    scores : array_like
        Any per-event score or feature (classifier output, ``dimu_pt``, ``-ip3d`` ...).
    window : Window or str
        Mass window or preset name.
    fprs : sequence of float
        Target fractions of sideband events that pass (default :data:`DEFAULT_FPRS`).
    higher_is_signal : bool
        Keep high scores (True) or low scores (False, e.g. a cut on ``ip3d``).
    weights, degree, n_sr_edges, partial, **kwargs
        As for :func:`significance` (``degree="auto"`` chooses the degree for each cut's
        spectrum separately).
    progress : bool
        Show a tqdm bar on stderr.

    Returns
    -------
    list of SignificanceResult
        One per FPR, in the order of ``fprs``, with ``fpr``, ``threshold`` and ``fpr_sideband`` set.
        A rate that keeps no sideband event gives a failed result (``converged=False``).

    Raises
    ------
    stats.binning.CoverageError
        When the uncut masses do not cover the window's sidebands
        (:func:`stats.binning.check_coverage`).
    """
    m = check_masses(masses)
    sc = np.asarray(scores, dtype=np.float64)
    if sc.shape != m.shape:
        raise ValueError(f"scores must have the shape of masses {m.shape}, got {sc.shape}")
    if not np.all(np.isfinite(sc)):
        raise ValueError(f"scores contain {int(np.sum(~np.isfinite(sc)))} non-finite values")
    w = check_weights(weights, m.size)
    binning = make_bins(window, n_sr_edges, partial=partial)
    check_coverage(m, binning)
    sb = binning.in_sidebands(m)
    thresholds = cut_thresholds(sc[sb], fprs, higher_is_signal=higher_is_signal)
    results = []
    iterator = zip(fprs, thresholds, strict=True)
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(list(iterator), desc="FPR scan", leave=False)
    for fpr, thr in iterator:
        cut = {"fpr": float(fpr), "threshold": thr}
        if thr is None:
            results.append(
                failed_result(
                    f"FPR {fpr:g} keeps none of the {int(sb.sum())} sideband events",
                    fpr_sideband=0.0,
                    **cut,
                )
            )
            continue
        keep = sc >= thr if higher_is_signal else sc <= thr
        res = significance(
            m[keep],
            window=window,
            weights=None if w is None else w[keep],
            degree=degree,
            binning=binning,
            **kwargs,
        )
        results.append(dataclasses.replace(res, fpr_sideband=float(keep[sb].mean()), **cut))
    return results


def reweighted_significance(
    masses: np.ndarray,
    scores: np.ndarray,
    *,
    window: Window | str,
    mu: float | None = None,
    degree: int | str = 5,
    n_sr_edges: int = 12,
    partial: str = "drop",
    **kwargs: Any,
) -> SignificanceResult:
    """Likelihood-reweighting significance (reference §5, arXiv:2502.14036).

    Every event gets ``w = max((LR - (1 - μ))/μ, 0)`` with ``LR = s/(1 - s)``
    (:func:`stats.reweighting.likelihood_ratio_weights`) and the weighted spectrum is fitted with
    effective counts ``n/k``, ``k = E[w²]/E[w]``.

    Parameters
    ----------
    masses : array_like
        Dimuon masses, GeV.
    scores : array_like
        Classifier scores in ``[0, 1]`` (SR data vs background template).
    window : Window or str
        Mass window or preset name.
    mu : float, optional
        Signal fraction ``S/(S + B)`` in the SR; by default from the no-cut fit. A no-cut fit with
        ``S <= 0`` gives a failed result (the weights are undefined).
    degree, n_sr_edges, partial, **kwargs
        As for :func:`significance`.
    """
    m = check_masses(masses)
    sc = np.asarray(scores, dtype=np.float64)
    if sc.shape != m.shape:
        raise ValueError(f"scores must have the shape of masses {m.shape}, got {sc.shape}")
    binning = make_bins(window, n_sr_edges, partial=partial)
    if mu is None:
        nocut = significance(
            m,
            window=window,
            degree=degree,
            binning=binning,
            return_workspace=False,
            **{k: v for k, v in kwargs.items() if k != "return_workspace"},
        )
        if not nocut.converged:
            return failed_result(f"no-cut fit for mu failed: {nocut.message}")
        if nocut.s_fit <= 0:
            return failed_result(
                f"no-cut fit has S = {nocut.s_fit:.3g} <= 0: mu = S/(S+B) undefined; pass mu"
            )
        mu = nocut.s_fit / (nocut.s_fit + nocut.b_fit)
    w = likelihood_ratio_weights(sc, mu)
    res = significance(m, window=window, weights=w, degree=degree, binning=binning, **kwargs)
    return dataclasses.replace(res, info={**res.info, "mu": float(mu)})
