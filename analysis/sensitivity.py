"""The sensitivity harness: how many signal events each method needs for 3σ and 5σ.

For each injected strength S (signal events in the opposite-sign window sample) ``n_pseudo``
pseudo-datasets (:mod:`analysis.pseudo`: disjoint background blocks of a truth-labelled skim plus
S truth signal events) are analysed by every selected method
(:mod:`analysis.sensitivity_methods`). The summary (:func:`summarise`) gives per method the median
signed Z and its 68 % band vs S, the S needed for each target Z (linear interpolation of the
median curve), the zero-injection p-values (KS test against uniform) and false-positive rate at
Z > 3, and the CPU seconds per pseudo-experiment. Each pseudo-experiment is one cached task
(:class:`analysis.cache.StageCache`), run in this process or on Dask
(:class:`analysis.parallel.TaskRunner`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from analysis.cache import StageCache, fingerprint
from analysis.parallel import TaskRunner
from analysis.pseudo import CONTINUUM, EventPool, background_blocks, build_pool, draw_pseudo
from analysis.sensitivity_chains import ChainScorer
from analysis.sensitivity_methods import build_sensitivity_methods
from dimuon_ad.errors import ConfigError

__all__ = [
    "SensitivityContext",
    "SensitivityResult",
    "SensitivitySettings",
    "run_pseudo_experiment",
    "run_sensitivity",
    "strength_for_z",
    "summarise",
    "write_sensitivity",
]

log = logging.getLogger(__name__)

#: one-sided p-value of 3σ (the zero-injection false-positive rate expected at Z > 3)
P_3SIGMA = 1.349898031630093e-3


@dataclass(frozen=True)
class SensitivitySettings:
    """What the harness injects and how it tests.

    Attributes
    ----------
    strengths : tuple of int
        Injected signal events (OS window sample, all bands), e.g. ``(0, 25, 50, 100)``.
    n_pseudo : int
        Pseudo-datasets per strength (>= 10 asked by the issue); also the number of disjoint
        background blocks the pool is split into.
    signal_processes, background_processes : tuple of str
        ``toymc.truth.Process`` names of each class.
    methods : tuple of str
        Names of :data:`analysis.sensitivity_methods.SENSITIVITY_METHODS`.
    fpr : float
        Sideband false-positive rate of every score cut, fixed in advance (CATHODE at 10 %
        gave the published 5.13σ, reference §6).
    targets : tuple of float
        Z values whose needed S is reported.
    chain_profile : {"cheap", "full"}
        :mod:`analysis.sensitivity_chains`.
    cluster_scan : tuple of (name, value)
        Keyword arguments of ``ml.cluster_scan.cluster_scan``.
    seed : int
        Master seed (background blocks, signal draws, every method's random steps).
    """

    strengths: tuple[int, ...] = (0, 25, 50, 100)
    n_pseudo: int = 10
    signal_processes: tuple[str, ...] = ("UPSILON_1S", "UPSILON_2S", "UPSILON_3S")
    background_processes: tuple[str, ...] = CONTINUUM
    methods: tuple[str, ...] = ("no_cut", "best_single_feature", "CATHODE", "LaCATHODE",
                                "reweighting")
    fpr: float = 0.1
    targets: tuple[float, ...] = (3.0, 5.0)
    chain_profile: str = "cheap"
    cluster_scan: Any = field(default_factory=dict)
    seed: int = 0

    def __post_init__(self) -> None:
        s = list(self.strengths)
        if not s or any(int(x) != x or x < 0 for x in s) or s != sorted(set(s)):
            raise ConfigError(f"--strengths {s}; expected increasing, distinct integers >= 0")
        if self.n_pseudo < 2:
            raise ConfigError(f"--n-pseudo {self.n_pseudo}; expected >= 2 (the issue asks >= 10)")
        if not 0.0 < self.fpr < 1.0:
            raise ConfigError(f"--fpr {self.fpr}; expected a false-positive rate in (0, 1)")


@dataclass
class SensitivityContext:
    """What the adapters read: analysis configuration, harness settings, CATHODE scorer."""

    config: Any
    settings: SensitivitySettings
    chains: ChainScorer


@dataclass
class SensitivityResult:
    """Rows (one per pseudo-experiment) and their summary (:func:`summarise`)."""

    settings: SensitivitySettings
    pool: dict[str, Any]
    methods: dict[str, dict[str, Any]]
    rows: list[dict[str, Any]]
    summary: dict[str, Any]
    preparation_seconds: dict[str, float]
    cache: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        from dimuon_ad.io import to_jsonable

        return to_jsonable({
            "settings": asdict(self.settings), "pool": self.pool, "methods": self.methods,
            "summary": self.summary, "preparation_cpu_seconds": self.preparation_seconds,
            "cache": self.cache, "pseudo_experiments": self.rows,
        })


def run_pseudo_experiment(
    pool: EventPool, block: np.ndarray, methods: list[Any], n_signal: int, index: int, seed: int
) -> dict[str, Any]:
    """Draw one pseudo-dataset and run every method on it (a Dask-able task).

    Returns
    -------
    dict with ``strength``, ``index``, ``seed``, truth ``s_sr``, ``b_sr``, ``s_over_sqrt_b``,
    ``z`` (method → signed Z) and ``cpu_seconds`` (method → CPU seconds it would cost alone:
    its own time plus the shared steps it uses, e.g. the CATHODE classifier).
    """
    pseudo = draw_pseudo(pool, [block], 0, n_signal, seed)
    pseudo.index = int(index)
    z: dict[str, float] = {}
    cpu: dict[str, float] = {}
    for method in methods:
        before = dict(pseudo.memo_seconds)
        t0 = time.process_time()
        z[method.name] = float(method.z(pseudo))
        new = sum(v for k, v in pseudo.memo_seconds.items() if k not in before)
        own = time.process_time() - t0 - new
        cpu[method.name] = own + sum(pseudo.memo_seconds.get(k, 0.0) for k in method.uses)
    return {"strength": int(n_signal), "index": int(index), "seed": int(seed),
            **pseudo.truth_counts(), "z": z, "cpu_seconds": cpu, "notes": pseudo.notes}


def run_sensitivity(
    skim: str | Path,
    config: Any,
    settings: SensitivitySettings,
    output_dir: str | Path,
    *,
    dataset: str | None = None,
    runner: TaskRunner | None = None,
    use_cache: bool = True,
    progress: bool = False,
) -> SensitivityResult:
    """Run the harness on a truth-labelled skim.

    Parameters
    ----------
    skim : str or Path
        ``run_skim.py`` output of a synthetic sample (needs ``truth_process``).
    config : AnalysisConfig
        Window (GeV), cuts, features, flow/classifier settings, binning and fit degree.
    settings : SensitivitySettings
    output_dir : str or Path
        The cache lives in ``<output_dir>/cache``.
    dataset : str, optional
        Dataset partition of the skim.
    runner : TaskRunner, optional
        Where the pseudo-experiments run (default: this process).
    use_cache : bool
        False recomputes everything and stores nothing.
    progress : bool
        Progress bar of the pseudo-experiments (stderr).
    """
    from analysis.data import load_skim
    from analysis.pipeline import stage_seed

    runner = runner or TaskRunner(None)
    cache = StageCache(Path(output_dir) / "cache", enabled=use_cache)
    chains = ChainScorer(config, settings.chain_profile)
    context = SensitivityContext(config=config, settings=settings, chains=chains)
    methods = build_sensitivity_methods(settings.methods, context)
    data = load_skim(skim, config, dataset, output_dir=output_dir)
    pool = build_pool(data.os, config.window, tuple(config.features.columns),
                      settings.signal_processes, settings.background_processes)
    if settings.strengths[-1] > pool.n_signal:
        raise ConfigError(f"--strengths up to {settings.strengths[-1]} signal events; the pool "
                          f"({data.source}) holds {pool.n_signal}: lower the strengths or "
                          "generate more signal (python -m toymc --inject-events ...)")
    blocks = background_blocks(pool, settings.n_pseudo, stage_seed(settings.seed, "blocks"))
    prep: dict[str, float] = {}
    t0 = time.process_time()
    chains.prepare(pool, cache, blocks[0])
    prep["shared flows"] = time.process_time() - t0
    for m in methods:
        t0 = time.process_time()
        m.prepare(pool, cache)
        prep[m.name] = time.process_time() - t0
    pool_key = fingerprint(pool.X, pool.m, pool.is_signal, pool.columns, config.window,
                           config.stats, settings.n_pseudo, settings.seed)
    method_key = [[m.name, m.settings()] for m in methods] + [chains.settings()]
    jobs = []
    for s in settings.strengths:
        for i in range(settings.n_pseudo):
            seed = stage_seed(settings.seed, "pseudo", i)
            jobs.append((fingerprint("sensitivity", pool_key, method_key, int(s), i, seed),
                         (pool, blocks[i], methods, int(s), i, seed)))
    rows: dict[str, dict[str, Any]] = {}
    for key, _ in jobs:
        ok, value = cache.load("sensitivity", key)
        if ok:
            rows[key] = value
    missing = [j for j in jobs if j[0] not in rows]
    log.info("%d pseudo-experiments (%d cached)", len(jobs), len(jobs) - len(missing))
    for k, value in runner.as_completed(run_pseudo_experiment, [j[1] for j in missing],
                                        desc="pseudo-experiments", progress=progress):
        key = missing[k][0]
        rows[key] = value
        cache.store("sensitivity", key, value,
                    describe={"strength": value["strength"], "index": value["index"]})
    ordered = [rows[key] for key, _ in jobs]
    names = [m.name for m in methods]
    return SensitivityResult(
        settings=settings, pool={**pool.describe(), "source": data.source,
                                 "window": list(config.window.edges)},
        methods={m.name: m.settings() for m in methods} | {"chain": chains.settings()},
        rows=ordered, summary=summarise(ordered, names, settings.targets),
        preparation_seconds=prep, cache=cache.summary(),
    )


def strength_for_z(strengths: Any, z: Any, target: float) -> float | None:
    """Smallest S at which the curve ``z(S)`` reaches ``target`` (linear interpolation).

    The first crossing from below is interpolated between the two strengths around it; a curve
    already at ``target`` at its first strength gives that strength; a curve that never reaches
    it gives None (no extrapolation). NaN points are skipped.
    """
    s, zz = np.asarray(strengths, dtype=float), np.asarray(z, dtype=float)
    ok = np.isfinite(zz)
    s, zz = s[ok], zz[ok]
    above = np.flatnonzero(zz >= target)
    if above.size == 0:
        return None
    k = int(above[0])
    if k == 0:
        return float(s[0])
    s0, s1, z0, z1 = s[k - 1], s[k], zz[k - 1], zz[k]
    return float(s0 + (target - z0) * (s1 - s0) / (z1 - z0))


def _clopper_pearson(k: int, n: int, cl: float = 0.95) -> tuple[float, float]:
    from scipy.stats import beta

    a = (1 - cl) / 2
    lo = 0.0 if k == 0 else float(beta.ppf(a, k, n - k + 1))
    hi = 1.0 if k == n else float(beta.ppf(1 - a, k + 1, n - k))
    return lo, hi


def summarise(
    rows: list[dict[str, Any]], names: list[str], targets: tuple[float, ...] = (3.0, 5.0)
) -> dict[str, Any]:
    """Median Z with its 68 % band per strength, needed S, null tests and CPU per method.

    Returns
    -------
    dict with ``strengths``, ``s_over_sqrt_b`` (mean per strength), ``b_sr`` (mean), and per
    method (``methods[name]``): ``median``/``lo``/``hi`` (16/84 % quantiles) and ``n_failed``
    per strength; ``s_needed`` (target → S of the median curve, and ``band``: S of the 84 % and
    16 % curves); ``s_needed_ratio`` (÷ the no-cut bump hunt's); ``null`` (KS p-value of the
    zero-injection p-values against uniform, the count and rate with Z > 3 and its 95 %
    Clopper-Pearson interval); ``cpu_seconds`` (median per pseudo-experiment).
    """
    from scipy.stats import kstest, norm

    strengths = sorted({int(r["strength"]) for r in rows})
    by_s = {s: [r for r in rows if r["strength"] == s] for s in strengths}
    out: dict[str, Any] = {
        "strengths": strengths,
        "n_pseudo": {str(s): len(by_s[s]) for s in strengths},
        "s_over_sqrt_b": [float(np.mean([r["s_over_sqrt_b"] for r in by_s[s]])) for s in strengths],
        "s_sr": [float(np.mean([r["s_sr"] for r in by_s[s]])) for s in strengths],
        "b_sr": float(np.mean([r["b_sr"] for r in rows])),
        "methods": {},
    }
    for name in names:
        med, lo, hi, failed = [], [], [], []
        for s in strengths:
            z = np.array([r["z"][name] for r in by_s[s]], dtype=float)
            good = z[np.isfinite(z)]
            failed.append(int(z.size - good.size))
            q = np.quantile(good, [0.5, 0.16, 0.84]) if good.size else [np.nan] * 3
            med.append(float(q[0]))
            lo.append(float(q[1]))
            hi.append(float(q[2]))
        need = {f"{t:g}": {"median": strength_for_z(strengths, med, t),
                           "band": [strength_for_z(strengths, hi, t),
                                    strength_for_z(strengths, lo, t)]} for t in targets}
        entry: dict[str, Any] = {"median": med, "lo": lo, "hi": hi, "n_failed": failed,
                                 "s_needed": need}
        if 0 in by_s:
            z0 = np.array([r["z"][name] for r in by_s[0]], dtype=float)
            z0 = z0[np.isfinite(z0)]
            p = norm.sf(z0)
            k = int((z0 > 3.0).sum())
            entry["null"] = {
                "n": int(z0.size), "ks_p": float(kstest(p, "uniform").pvalue) if z0.size else None,
                "n_z_above_3": k, "rate_z_above_3": k / z0.size if z0.size else None,
                "rate_z_above_3_95cl": list(_clopper_pearson(k, z0.size)) if z0.size else None,
                "expected_rate": P_3SIGMA,
            }
        cpu = [r["cpu_seconds"][name] for r in rows]
        entry["cpu_seconds"] = {"median": float(np.median(cpu)), "max": float(np.max(cpu)),
                                "total": float(np.sum(cpu))}
        out["methods"][name] = entry
    ref = next((n for n in names if n == "no-cut bump hunt"), None)
    for name in names:
        ratios = {}
        for t in targets:
            key = f"{t:g}"
            a = out["methods"][name]["s_needed"][key]["median"]
            b = out["methods"][ref]["s_needed"][key]["median"] if ref else None
            ratios[key] = a / b if a is not None and b else None
        out["methods"][name]["s_needed_ratio"] = ratios
    return out


def write_sensitivity(result: SensitivityResult, output_dir: str | Path) -> list[Path]:
    """Write ``sensitivity.json``, the Z-vs-S figure ``sensitivity.png``/``.pdf`` (two or more
    strengths) and the zero-injection p-values ``sensitivity_null.png``/``.pdf`` atomically;
    returns their paths."""
    from analysis.sensitivity_plot import plot_null_pvalues, plot_sensitivity
    from dimuon_ad.io import atomic_write_json

    out = Path(output_dir)
    st = result.settings
    title = (f"signal {'+'.join(st.signal_processes)}\nwindow {result.pool['window']} GeV, "
             f"{st.n_pseudo} pseudo-datasets per S")
    paths = [atomic_write_json(out / "sensitivity.json", result.to_dict())]
    if len(result.settings.strengths) > 1:
        paths += plot_sensitivity(result.summary, out / "sensitivity", title=title)
    if 0 in result.settings.strengths:
        paths += plot_null_pvalues(result.rows, list(result.summary["methods"]),
                                   out / "sensitivity_null", title=title)
    return paths
