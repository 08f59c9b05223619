"""The analysis chain: skim → flows → closure → template → classifier → Z.

Stages and their cache keys (each key = hash of the stage's inputs and settings):

=============  ===============================================================================
flow           OS sideband features and masses, flow settings (not n_seeds), seed — one per seed
closure        flow keys, folds, seed
template       flow keys, OS SR masses, template size, KDE bandwidth, seed
classifier     template key, OS SR/SB and SS features, classifier settings, n_folds, seed
references     OS SR features and truth, signal codes, classifier settings (truth only)
cwola          OS features, masses and SR mask, SS features and masses, classifier settings,
               n_folds, seed (only when a method needs the CWoLa scores)
massbin        OS features and masses, the ``massbin_scan`` settings, seed (when enabled)
significance   masses and every score, window, binning, degree, FPR grids
look_elsewhere masses of the sample, window, binning, degree, FPR grid, min. sideband events,
               seed — one entry per chunk of 50 toys, so more toys reuse the first ones
cluster_scan   OS features and masses, cluster_scan settings, window, seed (only when the
               ``cluster_scan:`` section is given; :mod:`analysis.cluster_scan`)
=============  ===============================================================================

So changing the FPR grid, binning or degree only redoes ``significance`` and the toys; adding a
flow seed trains only that seed; new scores (a retrained classifier) reuse the toys, which do not
depend on them. Flow seeds, classifier folds and toy chunks can run on a Dask cluster
(:class:`analysis.parallel.TaskRunner`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from analysis import stages
from analysis._truth import process_codes
from analysis.cache import StageCache, fingerprint
from analysis.config import AnalysisConfig
from analysis.data import AnalysisData, load_skim
from analysis.methods import MethodInput, build_methods
from analysis.parallel import TaskRunner
from analysis.significance import (
    evaluate_sample,
    global_significances,
    look_elsewhere_toys,
    skipped_sample,
)
from ml.cathode import fit_flow, fit_flows, stacks_flows
from ml.cwola import cut_efficiency_by_mass

__all__ = ["AnalysisResult", "build_chain", "run_pipeline", "stage_seed"]

log = logging.getLogger(__name__)

CATHODE = "CATHODE"
CWOLA = "CWoLa"
#: look-elsewhere toys per cache entry / parallel task
LEE_CHUNK = 50


@dataclass
class AnalysisResult:
    """Everything the report needs (arrays included; results.json keeps the numbers).

    Attributes
    ----------
    config : AnalysisConfig
    data : AnalysisData
    flows : list of dict
        Per seed: seed, best epoch, epochs trained, best validation loss.
    closure : dict
        Sideband closure AUC per seed, KS distances, flow samples.
    template : ndarray
        SR background template (physical features).
    scores : dict
        ``os`` and ``ss``: CATHODE score per event of the sample.
    significance : dict
        ``os`` and ``ss``: output of :func:`analysis.significance.evaluate_sample`, plus
        ``look_elsewhere`` (:func:`analysis.significance.global_significances`) when
        ``config.stats.n_toys > 0``.
    references : dict
        ROC/SIC per method (truth only), else empty.
    massbin : ml.massbin.MassBinScan or None
        The mass-bin classifier test of the OS sample (``config.massbin_scan.enabled``).
    cwola : dict
        With the CWoLa method: ``efficiency_by_mass`` of its OS scores
        (:func:`ml.cwola.cut_efficiency_by_mass`, the sculpting check), else empty.
    timings : dict
        Wall seconds per stage.
    cache : dict
        Per-stage cache hits and computations.
    cluster_scan : ml.cluster_scan.ClusterScanResult or None
        The scan of the OS sample over the mass range, when configured.
    """

    config: AnalysisConfig
    data: AnalysisData
    flows: list[dict[str, Any]]
    closure: dict[str, Any]
    template: np.ndarray
    scores: dict[str, np.ndarray]
    significance: dict[str, Any]
    references: dict[str, Any] = field(default_factory=dict)
    massbin: Any = None
    cwola: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    cache: dict[str, Any] = field(default_factory=dict)
    cluster_scan: Any = None


def _save_flow(flow: Any, directory: Path) -> None:
    flow.save(directory / "flow.pt")


def _load_flow(directory: Path) -> Any:
    from ml.flows import ConditionalFlow

    return ConditionalFlow.load(directory / "flow.pt")


def _flow_info(flow: Any, index: int) -> dict[str, Any]:
    hist = flow.history_[0]
    val = hist.get("val_loss", [])
    best = int(hist.get("best_epoch", int(np.argmin(val)) if len(val) else -1))
    return {
        "seed": int(flow.random_state) if flow.random_state is not None else index,
        "flow": index,
        "epochs": len(val),
        "best_epoch": best,
        "best_val_loss": float(val[best]) if len(val) else float("nan"),
    }


class _Timer:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def run(self, name: str, fn: Callable[[], Any]) -> Any:
        t0 = time.perf_counter()
        try:
            return fn()
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - t0
            log.info("stage %s: %.1f s", name, self.seconds[name])


def run_pipeline(
    skim: str | Path,
    config: AnalysisConfig,
    output_dir: str | Path,
    *,
    dataset: str | None = None,
    runner: TaskRunner | None = None,
    use_cache: bool = True,
    progress: bool = False,
    allow_incomplete: bool = False,
) -> AnalysisResult:
    """Run the whole chain on a parquet skim.

    Parameters
    ----------
    skim : str or Path
        ``run_skim.py`` output directory, a hive dataset directory or a parquet file.
    config : AnalysisConfig
    output_dir : str or Path
        The stage cache lives in ``<output_dir>/cache``.
    dataset : str, optional
        Dataset partition of the skim.
    runner : TaskRunner, optional
        Where flow seeds and folds run (default: this process).
    use_cache : bool
        False recomputes every stage and stores nothing.
    progress : bool
        Progress bars (stderr).
    allow_incomplete : bool
        Analyse a skim that did not finish (noted in the report); by default it is refused.

    Returns
    -------
    AnalysisResult

    Raises
    ------
    analysis.preflight.PreflightError
        Every problem of the inputs found before training (:func:`analysis.data.load_skim`).
    """
    runner = runner or TaskRunner(None)
    cache = StageCache(Path(output_dir) / "cache", enabled=use_cache)
    timer = _Timer()
    seed0 = int(config.random_state)
    data: AnalysisData = timer.run("load", lambda: load_skim(
        skim, config, dataset, output_dir=output_dir, allow_incomplete=allow_incomplete))
    os_, ss = data.os, data.ss
    log.info("OS %s, SS %s", os_.counts(), ss.counts())

    methods = build_methods(config)
    needed = {c for m in methods for c in m.needs}

    # the CATHODE chain users import (ml.cathode.Cathode); the pipeline runs its steps one by
    # one so that each is cached and the flow seeds and classifier folds can run on Dask
    chain = build_chain(config)
    X_sb, m_sb = os_.X[os_.sb], os_.m[os_.sb]
    timer.run("preprocess", lambda: chain.fit_preprocessing(X_sb, m_sb))

    # flows, one per seed; only the missing ones are trained: in one batched model when the
    # flow is stacked (ml.cathode.fit_flows), else one task per seed (in parallel on Dask)
    fset = config.flow
    flow_settings = {k: v for k, v in fset.__dict__.items() if k != "n_seeds"}
    stacked = fset.n_seeds > 1 and stacks_flows(chain.flow)
    # every key hashes the stage's name and the actual arguments of its function (the code is
    # in the cache's code version), so no input can be left out by hand; a stacked seed also
    # depends (by rounding) on the seeds trained with it
    flow_keys = [fingerprint("flow", chain.flow_task(X_sb, m_sb, i),
                             ("stacked", fset.n_seeds) if stacked else None)
                 for i in range(fset.n_seeds)]

    def train_flows() -> list[Any]:
        # each seed is stored as soon as it is trained: an interrupted run keeps finished seeds
        flows: dict[int, Any] = {}
        for i, key in enumerate(flow_keys):
            found, flow = cache.load("flow", key, _load_flow)
            if found:
                flows[i] = flow
        missing = [i for i in range(len(flow_keys)) if i not in flows]
        verbose = progress and not runner.distributed
        t0 = time.perf_counter()
        if stacked and missing:  # the whole group again: its members depend on each other
            missing = list(range(len(flow_keys)))
            tasks = [([chain.flow_task(X_sb, m_sb, i) for i in missing], verbose, 1)]
            results = [(j, flow) for _, group in runner.as_completed(
                fit_flows, tasks, desc="flows (batched)", progress=progress)
                for j, flow in enumerate(group)]
        else:
            results = runner.as_completed(
                fit_flow, [(*chain.flow_task(X_sb, m_sb, i), verbose, 1) for i in missing],
                desc="flow", progress=progress)
        for j, flow in results:
            i = missing[j]
            flows[i] = flow
            cache.store("flow", flow_keys[i], flow, save=_save_flow,
                        describe={"flow": i, "seed": seed0, **flow_settings}, t0=t0)
            t0 = time.perf_counter()
        return [flows[i] for i in range(len(flow_keys))]

    chain.set_flows(timer.run("flow", train_flows))
    flows_info = [_flow_info(f, i) for i, f in enumerate(chain.flows_)]

    # (the chain's settings a step reads, not all of them: a new classifier keeps the template)
    closure_key = fingerprint("closure", flow_keys, data.features, chain.n_folds,
                              chain.random_state)
    closure = timer.run("closure", lambda: cache.get_or_compute(
        "closure", closure_key,
        lambda: stages.closure_test(chain, X_sb, m_sb, data.features, config.n_folds),
    ))
    log.info("sideband closure AUC %.3f ± %.3f", closure["auc_mean"], closure["auc_std"])

    template_key = fingerprint("template", flow_keys, os_.m[os_.sr], chain.oversampling,
                               chain.mass_sampler, chain.random_state)
    template = timer.run("template", lambda: cache.get_or_compute(
        "template", template_key,
        lambda: (*chain.fit_template(os_.m[os_.sr]), chain.template_weight_),
    ))
    chain.set_template(*template)
    X_template = template[0]

    clf_key = fingerprint("classifier", template_key, chain, os_.X, os_.m, os_.sr, ss.X, ss.m)
    scores = timer.run("classifier", lambda: cache.get_or_compute(
        "classifier", clf_key, lambda: _classify(chain, os_, ss, runner, progress),
        describe={"classifier": config.classifier.__dict__, "n_folds": config.n_folds},
    ))

    references: dict[str, Any] = {}
    if data.has_truth and config.references:
        codes = process_codes(config.window.signal_processes)
        is_sig = np.isin(os_.truth, codes)
        ref_args = (os_.X[os_.sr], is_sig[os_.sr], config.classifier, config.n_folds,
                    stage_seed(seed0, "references"))
        ref = timer.run("references", lambda: cache.get_or_compute(
            "references", fingerprint("references", ref_args),
            lambda: stages.reference_scores(*ref_args),
        ))
        references = _roc_summary(scores["os"][os_.sr], is_sig[os_.sr], ref, os_, config)

    chain_scores = {CATHODE: scores}
    if "LaCATHODE" in needed:
        la_key = fingerprint("lacathode", flow_keys[0], chain, os_.X, os_.m, os_.sr, ss.X, ss.m)
        chain_scores["LaCATHODE"] = timer.run("lacathode", lambda: cache.get_or_compute(
            "lacathode", la_key, lambda: _lacathode(config, chain, os_, ss, runner, progress),
        ))

    cwola: dict[str, Any] = {}
    if CWOLA in needed:
        cw_key = fingerprint("cwola", os_.X, os_.m, os_.sr, ss.X, ss.m, config.classifier,
                             config.n_folds, stage_seed(seed0, "cwola"))
        chain_scores[CWOLA] = timer.run("cwola", lambda: cache.get_or_compute(
            "cwola", cw_key, lambda: _cwola(config, os_, ss, runner, seed0, progress),
            describe={"classifier": config.classifier.__dict__, "n_folds": config.n_folds},
        ))
        w = config.window
        cwola["efficiency_by_mass"] = cut_efficiency_by_mass(
            os_.m, chain_scores[CWOLA]["os"], os_.sb, config.stats.spectrum_fprs,
            np.linspace(w.sb_left, w.sb_right, 12))

    massbin = None
    if config.massbin_scan.enabled:
        mb_args = (os_.X, os_.m, config.massbin_scan, stage_seed(seed0, "massbin"))
        massbin = timer.run("massbin", lambda: cache.get_or_compute(
            "massbin", fingerprint("massbin", *mb_args),
            lambda: _massbin(*mb_args, runner=runner, progress=progress),
            describe={"massbin_scan": config.massbin_scan.__dict__},
        ))

    def significances() -> dict[str, Any]:
        out: dict[str, Any] = {}
        mu = None
        for name, sample in (("os", os_), ("ss", ss)):
            inp = MethodInput(sample=sample, name=name, seed=stage_seed(seed0, "methods"),
                              chain_scores={k: v[name] for k, v in chain_scores.items()})
            cuts = {m.name: m.scores(inp) for m in methods if m.kind == "cut"}
            reweight = next((m.scores(inp)[0] for m in methods if m.kind == "reweighting"), None)
            if sample.skipped:
                out[name] = skipped_sample(sample.skipped, cuts)
                continue
            out[name] = evaluate_sample(
                sample.m, cuts, config.window, config.stats,
                reweight_scores=reweight, mu=mu,
                spectrum_method=CATHODE if CATHODE in cuts else None, progress=progress,
            )
            nc = out[name]["no_cut"]
            if name == "os" and nc.get("converged") and nc["s_fit"] > 0:
                # the SS sample is reweighted with the OS signal fraction (same OS-trained model)
                mu = nc["s_fit"] / (nc["s_fit"] + nc["b_fit"])
        return out

    sig_key = fingerprint(
        "significance", os_.m, ss.m, {k: [v["os"], v["ss"]] for k, v in chain_scores.items()},
        {c: os_.columns[c] for c in os_.columns}, {c: ss.columns[c] for c in ss.columns},
        config.window, replace(config.stats, n_toys=0), [repr(m) for m in methods],
        os_.skipped, ss.skipped, stage_seed(seed0, "methods"),
    )
    significance = timer.run(
        "significance", lambda: cache.get_or_compute("significance", sig_key, significances)
    )
    if config.stats.n_toys > 0:
        fitted = {name: s.m for name, s in (("os", os_), ("ss", ss)) if not s.skipped}
        toys = timer.run("look_elsewhere", lambda: _look_elsewhere(
            fitted, config, cache, runner, seed0, progress))
        for name, (max_z, n_tests, error) in toys.items():
            significance[name]["look_elsewhere"] = global_significances(
                significance[name], max_z, n_tests, error)
    scan = None
    if config.cluster_scan.enabled and not os_.skipped:
        from analysis.cluster_scan import run_cluster_scan

        scan_args = (os_.X, os_.m, data.features, config.cluster_scan, config.window,
                     stage_seed(seed0, "cluster_scan"))
        scan = timer.run("cluster_scan", lambda: cache.get_or_compute(
            "cluster_scan", fingerprint("cluster_scan", scan_args),
            lambda: run_cluster_scan(*scan_args, map=runner.map if runner.distributed else None,
                                     progress=progress),
            describe={"cluster_scan": config.cluster_scan.__dict__},
        ))
    return AnalysisResult(
        config=config, data=data, flows=flows_info, closure=closure, template=X_template,
        scores=scores, significance=significance, references=references, massbin=massbin,
        cwola=cwola, timings=timer.seconds, cache=cache.summary(), cluster_scan=scan,
    )


def _look_elsewhere(
    masses: dict[str, np.ndarray], config: AnalysisConfig, cache: StageCache,
    runner: TaskRunner, seed: int, progress: bool,
) -> dict[str, tuple[np.ndarray, int, str]]:
    """Look-elsewhere toys of each sample in cached chunks of :data:`LEE_CHUNK`; missing chunks
    run through ``runner`` (in parallel on Dask). Returns name → (max Z per toy, FPR points,
    error)."""
    st = config.stats
    n_chunks = -(-st.n_toys // LEE_CHUNK)
    jobs = []  # (sample, chunk index, key, args)
    for i, (name, m) in enumerate(masses.items()):
        for c in range(n_chunks):
            n = min(LEE_CHUNK, st.n_toys - c * LEE_CHUNK)
            toy_seed = stage_seed(seed, "look_elsewhere", i, c)
            # the toys read the grid, binning, degree rule and minimum sideband count of ``st``
            # (not n_toys: more toys reuse the chunks already made)
            args = (m, config.window, replace(st, n_toys=0, spectrum_fprs=()), n, toy_seed,
                    progress and not runner.distributed)
            jobs.append((name, fingerprint("look_elsewhere", args[:-1]), args))
    out: dict[str, list[dict[str, Any]]] = {name: [] for name in masses}
    found: dict[str, Any] = {}
    for _, key, _ in jobs:
        ok, value = cache.load("look_elsewhere", key)
        if ok:
            found[key] = value
    missing = [j for j in jobs if j[1] not in found]
    for k, value in runner.as_completed(look_elsewhere_toys, [j[2] for j in missing],
                                        desc="toys", progress=progress):
        name, key, args = missing[k]
        found[key] = value
        cache.store("look_elsewhere", key, value,
                    describe={"sample": name, "n_toys": args[3], "seed": args[4]})
    for name, key, _ in jobs:
        out[name].append(found[key])
    return {
        name: (np.concatenate([c["max_z"] for c in chunks]), chunks[0]["n_tests"],
               next((c["error"] for c in chunks if c["error"]), ""))
        for name, chunks in out.items()
    }


def stage_seed(seed: int, stage: str, *more: int) -> int:
    """A 31-bit seed of one random step, derived from the master seed and the step's name."""
    words = [int(seed), *(ord(c) for c in stage), *(int(x) for x in more)]
    return int(np.random.SeedSequence(words).generate_state(1)[0] % (2**31 - 1))


def build_chain(config: AnalysisConfig) -> Any:
    """The :class:`ml.cathode.Cathode` estimator of an analysis configuration.

    Flow (``config.flow``: preset, epochs, early stopping, extra parameters; ``n_seeds`` flows),
    classifier (``config.classifier``), folds, template size (``oversampling`` × SR events),
    masses drawn by a KDE on logit(m) bounded to the SR, seeded by ``config.random_state``.
    ``run_pipeline`` runs exactly this estimator's steps, so its scores are those of
    ``build_chain(config).fit(X, m, sr_mask)`` on the same events.
    """
    from ml.cathode import Cathode
    from ml.flows import ConditionalFlow
    from ml.mass import KDEMassSampler

    f, w = config.flow, config.window
    flow = ConditionalFlow.from_preset(
        f.preset, **{"max_epochs": f.max_epochs, "early_stopping": f.early_stopping,
                     **dict(f.params)})
    return Cathode(
        flow=flow, classifier=stages.build_classifier(config.classifier, None),
        oversampling=config.oversampling, n_folds=config.n_folds, n_flows=f.n_seeds,
        mass_sampler=KDEMassSampler(bandwidth=config.kde_bandwidth, low=w.sr_left,
                                    high=w.sr_right),
        validation_fraction=f.validation_fraction, n_jobs=1,
        random_state=int(config.random_state),
    )


def _lacathode(config, chain, os_, ss, runner, progress) -> dict[str, np.ndarray]:
    """LaCATHODE scores (:class:`ml.cathode.LaCathode`) in the latent space of the CATHODE
    chain's first flow: same preprocessing, template size, classifier, folds and seed."""
    from ml.cathode import LaCathode

    la = LaCathode(**{**chain.get_params(deep=False), "n_flows": 1})
    la.fit_preprocessing(os_.X[os_.sb], os_.m[os_.sb]).set_flows(chain.flows_[:1])
    la.fit_template(os_.m[os_.sr])
    return _classify(la, os_, ss, runner, progress)


def _cwola(config, os_, ss, runner, seed, progress) -> dict[str, np.ndarray]:
    """CWoLa-hunting scores (:func:`ml.cwola.cwola_scores`): the configured classifier, out of
    fold over the OS window (SR against sidebands, folds on Dask when there is a cluster); the
    SS events scored by the average of the fold models."""
    from ml.cwola import cwola_scores

    s = stage_seed(seed, "cwola")
    res = cwola_scores(
        os_.X, os_.m, os_.sr, classifier=stages.build_classifier(config.classifier, s),
        n_folds=config.n_folds, random_state=s, verbose=progress and not runner.distributed,
        map=runner.map if runner.distributed else None,
    )
    return {"os": res.scores, "ss": res.score(ss.X, ss.m) if len(ss.m) else np.empty(0)}


def _massbin(X, m, settings, seed, *, runner, progress) -> Any:
    """The mass-bin classifier test of :func:`ml.massbin.massbin_scan` with ``settings``
    (:class:`analysis.config.MassBinSettings`); pairs on Dask when there is a cluster."""
    from ml.massbin import massbin_scan

    return massbin_scan(
        X, m, low=settings.low, high=settings.high, width=settings.width, step=settings.step,
        n_null=settings.n_null, test_fraction=settings.test_fraction,
        decorrelate=settings.decorrelate, min_events=settings.min_events, random_state=seed,
        verbose=progress and not runner.distributed,
        map=runner.map if runner.distributed else None,
    )


def _classify(chain, os_, ss, runner, progress) -> dict[str, np.ndarray]:
    """Out-of-fold CATHODE scores of every OS event (the chain's k-fold classifier, folds on
    Dask when there is a cluster); SS events scored by the average of the fold models."""
    import warnings

    chain.set_params(verbose=progress and not runner.distributed)
    chain.fit_classifier(os_.X, os_.m, os_.sr, map=runner.map if runner.distributed else None)
    ss_scores = np.empty(0)
    if len(ss.m):
        with warnings.catch_warnings():  # the SS sample shares the window of the OS one
            warnings.filterwarnings("ignore", message=".*outside.*", category=UserWarning)
            ss_scores = chain.score(ss.X, ss.m)
    return {"os": chain.scores_, "ss": ss_scores, "template": chain.template_scores_}


def _roc_summary(cathode_sr, is_sig_sr, ref, os_, config) -> dict[str, Any]:
    out = {"CATHODE": stages.roc_curve(cathode_sr, is_sig_sr)}
    if "supervised" in ref:
        out["supervised"] = stages.roc_curve(ref["supervised"], is_sig_sr)
    half = ref["idealized_mask"]
    out["idealized"] = stages.roc_curve(ref["idealized"], is_sig_sr[half])
    for col, side in config.features.baseline_cuts():
        x = os_.columns[col][os_.sr]
        out[f"{col} ({side})"] = stages.roc_curve(x if side == "high" else -x, is_sig_sr)
    out["n_signal_sr"] = int(is_sig_sr.sum())
    out["n_background_sr"] = int((~is_sig_sr).sum())
    return out
