"""Methods of the sensitivity harness: one small adapter per method, ``z(pseudo) -> float``.

An adapter has a ``name`` and returns the signed significance of one pseudo-dataset
(:class:`analysis.pseudo.PseudoDataset`): ``Z_signed`` of the method's discovery test, negative
for a deficit, NaN when the test failed. Its p-value ``1 - Φ(Z)`` is then uniform without
signal. A new method plugs in with one registration::

    from analysis.sensitivity_methods import SensitivityMethod, register_sensitivity

    @register_sensitivity("my_test")
    class MyTest(SensitivityMethod):
        def z(self, pseudo):
            return my_significance(pseudo.X, pseudo.m)

The adapters reuse the analysis: scores from the method registry (:mod:`analysis.methods`), the
CATHODE chain of :func:`analysis.pipeline.build_chain`, the fits of :mod:`stats.significance`.
Every cut is placed by a rule fixed before any pseudo-experiment (no best-of-grid choice, so no
trials factor): the score methods cut at one sideband false-positive rate
(``SensitivitySettings.fpr``); the best single-feature cut is the (feature, side, FPR) with the
highest truth SIC on the whole pool, chosen once in :meth:`BestSingleFeature.prepare`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from analysis.methods import METHODS, Method, MethodInput
from dimuon_ad.errors import ConfigError

__all__ = [
    "SENSITIVITY_METHODS",
    "SensitivityMethod",
    "build_sensitivity_methods",
    "register_sensitivity",
]

log = logging.getLogger(__name__)

#: Adapter factories by name: ``factory(context) -> list of SensitivityMethod``.
SENSITIVITY_METHODS: dict[str, Callable[[Any], list[SensitivityMethod]]] = {}


class SensitivityMethod:
    """One method of the harness (subclass, then :func:`register_sensitivity`).

    Attributes
    ----------
    name : str
        Row of the tables and legend of the plot.
    uses : tuple of str
        Keys of ``pseudo.memo`` whose CPU time counts towards this method's cost.
    """

    uses: tuple[str, ...] = ()

    def __init__(self, name: str, context: Any = None) -> None:
        self.name = name
        self.context = context

    def prepare(self, pool: Any, cache: Any) -> None:
        """Work done once, before the pseudo-experiments (default: nothing)."""

    def settings(self) -> dict[str, Any]:
        """Everything the result depends on besides the data (cache key, JSON table)."""
        return {}

    def z(self, pseudo: Any) -> float:
        """Signed significance of ``pseudo`` (NaN if the test failed)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


def register_sensitivity(name: str) -> Callable:
    """Register an adapter class (or a factory ``context -> list``) under ``name``."""

    def deco(obj: Any) -> Any:
        if name in SENSITIVITY_METHODS:
            raise ValueError(f"sensitivity method {name!r} is registered twice")
        if isinstance(obj, type) and issubclass(obj, SensitivityMethod):
            SENSITIVITY_METHODS[name] = lambda ctx, _cls=obj: [_cls(name, ctx)]
        else:
            SENSITIVITY_METHODS[name] = obj
        return obj

    return deco


def build_sensitivity_methods(names: tuple[str, ...], context: Any) -> list[SensitivityMethod]:
    """The adapters of ``names`` in order; unknown names raise :class:`ConfigError`."""
    unknown = [n for n in names if n not in SENSITIVITY_METHODS]
    if unknown:
        raise ConfigError(f"--methods: unknown sensitivity method(s) {unknown}; expected some of "
                          f"{', '.join(SENSITIVITY_METHODS)}")
    out = [m for n in names for m in SENSITIVITY_METHODS[n](context)]
    return out


# ----------------------------------------------------------------------------- shared pieces
def remember(pseudo: Any, key: str, fn: Callable[[], Any]) -> Any:
    """``pseudo.memo[key]``, computed once per pseudo-dataset; its CPU seconds are recorded."""
    if key not in pseudo.memo:
        t0 = time.process_time()
        pseudo.memo[key] = fn()
        pseudo.memo_seconds[key] = time.process_time() - t0
    return pseudo.memo[key]


def _fit_kwargs(stats: Any) -> dict[str, Any]:
    from analysis.significance import degree_options

    return {"degree": stats.degree, "n_sr_edges": stats.n_sr_edges, "return_workspace": False,
            **degree_options(stats)}


def _signed(res: Any, min_sb: int = 0) -> float:
    if not res.converged or res.n_sb < min_sb:
        return float("nan")
    return float(res.Z_signed)


def no_cut_fit(pseudo: Any, context: Any) -> Any:
    """The no-cut sideband fit of ``pseudo`` (memoised: reweighting needs its μ)."""
    from analysis.significance import stats_window
    from dimuon_ad.logs import quiet_logger
    from stats.significance import significance

    def fit() -> Any:
        with quiet_logger("stats", logging.ERROR):
            return significance(pseudo.m, window=stats_window(pseudo.window),
                                **_fit_kwargs(context.config.stats))

    return remember(pseudo, "no_cut_fit", fit)


def cut_z(pseudo: Any, score: np.ndarray, high: bool, fpr: float, context: Any) -> float:
    """Signed Z after cutting ``score`` at sideband false-positive rate ``fpr``."""
    from analysis.significance import stats_window
    from dimuon_ad.logs import quiet_logger
    from stats.significance import scan_cut

    st = context.config.stats
    with quiet_logger("stats", logging.ERROR):
        res = scan_cut(pseudo.m, np.asarray(score, dtype=np.float64),
                       window=stats_window(pseudo.window), fprs=[float(fpr)],
                       higher_is_signal=high, **_fit_kwargs(st))[0]
    return _signed(res, st.min_sideband_events)


# ----------------------------------------------------------------------------- adapters
@register_sensitivity("no_cut")
class NoCutBumpHunt(SensitivityMethod):
    """The sideband bump hunt on the uncut spectrum (the yardstick of every ratio)."""

    def __init__(self, name: str, context: Any = None) -> None:
        super().__init__("no-cut bump hunt", context)

    uses = ("no_cut_fit",)

    def z(self, pseudo: Any) -> float:
        return _signed(no_cut_fit(pseudo, self.context))


@register_sensitivity("best_single_feature")
class BestSingleFeature(SensitivityMethod):
    """One feature cut, chosen once on the truth of the whole pool (a fixed rule).

    Among the columns of ``features.baseline_cuts()``, both sides (high and low values: a
    displaced signal wants high ip3d, a prompt one low), and the FPRs of ``stats.fprs`` that are
    >= ``fpr_min``, the (feature, side, FPR) with the highest SIC ε_S/√ε_B of truth signal vs
    truth background in the pool's SR (thresholds from the pool's sideband background, as the
    analysis places them on sideband data). The choice is made before the pseudo-experiments
    and never looks at them, so their Z needs no look-elsewhere correction; it uses truth, so it
    is the best a single-feature analyst could design from simulation (an optimistic baseline).
    """

    fpr_min = 0.01

    def __init__(self, name: str, context: Any = None) -> None:
        super().__init__("best single-feature cut", context)
        self.choice_: dict[str, Any] = {}

    def prepare(self, pool: Any, cache: Any) -> None:
        from analysis.data import band_masks
        from stats.significance import cut_thresholds

        bands = band_masks(pool.m, pool.window)
        sb, sr = bands["SBL"] | bands["SBR"], bands["SR"]
        fprs = [f for f in self.context.config.stats.fprs if self.fpr_min <= f < 1.0]
        best = None
        columns = dict.fromkeys(c for c, _ in self.context.config.features.baseline_cuts())
        for col, side in ((c, s) for c in columns for s in ("high", "low")):
            x, high = pool.columns[col], side == "high"
            for fpr, thr in zip(fprs, cut_thresholds(x[sb & ~pool.is_signal], fprs,
                                                     higher_is_signal=high), strict=True):
                if thr is None:
                    continue
                keep = x >= thr if high else x <= thr
                eps_s = keep[sr & pool.is_signal].mean()
                eps_b = keep[sr & ~pool.is_signal].mean()
                sic = eps_s / np.sqrt(eps_b) if eps_b > 0 else 0.0
                if best is None or sic > best["sic"]:
                    best = {"column": col, "side": side, "fpr": float(fpr), "sic": float(sic),
                            "eps_s": float(eps_s), "eps_b": float(eps_b)}
        if best is None:
            raise ConfigError("best_single_feature: no feature cut keeps sideband events; check "
                              "features.single_feature_cuts")
        self.choice_ = best
        log.info("best single-feature cut (fixed in advance): %s", best)

    def settings(self) -> dict[str, Any]:
        return dict(self.choice_)

    def z(self, pseudo: Any) -> float:
        c = self.choice_
        return cut_z(pseudo, pseudo.columns[c["column"]], c["side"] == "high", c["fpr"],
                     self.context)


class RegistryMethod(SensitivityMethod):
    """A method of :mod:`analysis.methods` on a pseudo-dataset: ``kind = "cut"`` scores cut at
    the fixed FPR, ``kind = "reweighting"`` scores weight the no-cut fit's spectrum (μ from that
    fit; a no-cut deficit gives the no-cut Z, as the weights are then undefined)."""

    def __init__(self, method: Method, context: Any) -> None:
        super().__init__(method.name, context)
        self.method = method
        self.uses = tuple(f"chain:{c}" for c in method.needs) + (
            ("chain:base",) if set(method.needs) - {"CWoLa"} else ()) + (
            ("no_cut_fit",) if method.kind == "reweighting" else ())

    def settings(self) -> dict[str, Any]:
        return {"method": repr(self.method), "fpr": self.context.settings.fpr}

    def z(self, pseudo: Any) -> float:
        chains = {c: self.context.chains.scores(pseudo, c) for c in self.method.needs}
        score, high = self.method.scores(
            MethodInput(sample=pseudo, name="os", chain_scores=chains, seed=pseudo.seed))
        if self.method.kind != "reweighting":
            return cut_z(pseudo, score, high, self.context.settings.fpr, self.context)
        nocut = no_cut_fit(pseudo, self.context)
        if not nocut.converged:
            return float("nan")
        if nocut.s_fit <= 0:
            return float(nocut.Z_signed)
        from analysis.significance import stats_window
        from dimuon_ad.logs import quiet_logger
        from stats.significance import reweighted_significance

        mu = nocut.s_fit / (nocut.s_fit + nocut.b_fit)
        with quiet_logger("stats", logging.ERROR):
            res = reweighted_significance(pseudo.m, score, window=stats_window(pseudo.window),
                                          mu=float(mu), **_fit_kwargs(self.context.config.stats))
        return _signed(res)


def _registry_factory(name: str) -> Callable[[Any], list[SensitivityMethod]]:
    def factory(context: Any) -> list[SensitivityMethod]:
        methods = METHODS[name](context.config)
        if any(c for m in methods for c in m.needs):
            context.chains.require(*(c for m in methods for c in m.needs))
        return [RegistryMethod(m, context) for m in methods]

    return factory


for _name in ("CATHODE", "LaCATHODE", "reweighting", "CWoLa", "random"):
    register_sensitivity(_name)(_registry_factory(_name))


@register_sensitivity("cluster_scan")
class ClusterScanMethod(SensitivityMethod):
    """Cluster scanning (arXiv:2402.17714, :func:`ml.cluster_scan.cluster_scan`).

    ``Z`` is the local significance (``z_local_tail``: a generalised-Pareto tail of the pooled
    resampled null, since the empirical one stops at ``1/(n_bootstrap + 1)`` and the Gaussian
    extrapolation overstates Z > 3) of the sliding window whose centre is nearest the SR
    centre, the same hypothesis as the fixed-window methods; the look-elsewhere-corrected
    ``z_global`` of the whole scan is kept in ``pseudo.notes``. Defaults: the scan covers the
    analysis window, windows as wide as the SR moved by a quarter of it, k = 50,
    5 clusterings, 100 resamplings; any of them can be overridden by
    ``SensitivitySettings.cluster_scan``.
    """

    def __init__(self, name: str, context: Any = None) -> None:
        super().__init__("cluster scanning", context)

    def options(self, window: Any) -> dict[str, Any]:
        width = window.sr_right - window.sr_left
        return {"mass_range": (window.sb_left, window.sb_right), "window_width": width,
                "step": width / 4, "k": 50, "n_clusterings": 5, "n_bootstrap": 100,
                **dict(self.context.settings.cluster_scan)}

    def settings(self) -> dict[str, Any]:
        return self.options(self.context.config.window)

    def z(self, pseudo: Any) -> float:
        from ml.cluster_scan import cluster_scan

        w = pseudo.window
        res = cluster_scan(pseudo.X, pseudo.m, seed=pseudo.seed, **self.options(w))
        pseudo.notes[self.name] = {"z_global": float(res.z_global),
                                   "best_window": [float(x) for x in res.best_window]}
        k = int(np.argmin(np.abs(res.centers - 0.5 * (w.sr_left + w.sr_right))))
        return float(res.z_local_tail[k])
