"""CATHODE, LaCATHODE and CWoLa scores of pseudo-datasets, at a cost a scan can afford.

The chain is the analysis' own (:func:`analysis.pipeline.build_chain`: preprocessing, flows,
KDE template masses, k-fold classifier). Two profiles:

* ``cheap`` (default): the flows are trained **once**, on the sidebands of the first
  pseudo-experiment's background block (as many events as one pseudo-dataset has, so the
  template is as good as the analysis' own), and shared by every pseudo-dataset (cached in the
  stage cache); each pseudo-dataset draws its own template at its own SR masses and trains its
  own out-of-fold classifier. The flows never see SR events, so no signal leaks into the
  template; what the profile leaves out is the pseudo-to-pseudo spread of the flow training
  (and the few signal events a real sideband would hold).
* ``full``: every pseudo-dataset trains its own flows on its own sidebands (the analysis as
  run); about ``flow epochs × sideband events`` more CPU per pseudo-experiment.

CWoLa hunting needs no flow: its out-of-fold classifier (SR against sidebands) is trained on each
pseudo-dataset in both profiles.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

import numpy as np

from analysis.cache import fingerprint
from analysis.sensitivity_methods import remember

__all__ = ["ChainScorer", "PROFILES"]

log = logging.getLogger(__name__)

#: chain profiles of the harness
PROFILES = ("cheap", "full")


def _save_flow(flow: Any, directory: Any) -> None:
    flow.save(directory / "flow.pt")


def _load_flow(directory: Any) -> Any:
    from ml.flows import ConditionalFlow

    return ConditionalFlow.load(directory / "flow.pt")


class ChainScorer:
    """Per-event CATHODE / LaCATHODE scores of a pseudo-dataset (memoised on it).

    Parameters
    ----------
    config : AnalysisConfig
        Flow, classifier, folds, template size, KDE bandwidth.
    profile : {"cheap", "full"}
        See the module docstring.
    """

    def __init__(self, config: Any, profile: str = "cheap") -> None:
        if profile not in PROFILES:
            from dimuon_ad.errors import ConfigError

            raise ConfigError(f"--chain-profile {profile!r}; expected one of {', '.join(PROFILES)}")
        self.config = config
        self.profile = profile
        self.needed: set[str] = set()
        self.chain_ = None
        self.flow_seconds_ = 0.0

    def require(self, *names: str) -> None:
        self.needed.update(names)

    def settings(self) -> dict[str, Any]:
        from dataclasses import asdict

        c = self.config
        return {"profile": self.profile, "flow": asdict(c.flow),
                "classifier": asdict(c.classifier),
                "n_folds": c.n_folds, "oversampling": c.oversampling,
                "kde_bandwidth": c.kde_bandwidth}

    def prepare(self, pool: Any, cache: Any, events: np.ndarray) -> None:
        """Train (or load) the shared flows of the ``cheap`` profile on the sideband events
        among ``events`` (indices of pool background); records their CPU seconds in
        ``flow_seconds_``."""
        if not (self.needed - {"CWoLa"}) or self.profile != "cheap":
            return
        import time

        from analysis.data import band_masks
        from analysis.pipeline import build_chain
        from ml.cathode import stacks_flows

        bands = band_masks(pool.m, pool.window)
        sb = np.zeros(len(pool.m), dtype=bool)
        sb[events] = True
        sb &= (bands["SBL"] | bands["SBR"]) & ~pool.is_signal
        chain = build_chain(self.config)
        X_sb, m_sb = pool.X[sb], pool.m[sb]
        chain.fit_preprocessing(X_sb, m_sb)
        n_seeds = self.config.flow.n_seeds
        tasks = [chain.flow_task(X_sb, m_sb, i) for i in range(n_seeds)]
        # a stacked seed depends (by rounding) on the seeds trained with it (ml.cathode.fit_flows)
        group = ("stacked", n_seeds) if n_seeds > 1 and stacks_flows(chain.flow) else None
        keys = [fingerprint("sensitivity_flow", task, group) for task in tasks]
        found = [cache.load("sensitivity_flow", key, _load_flow) for key in keys]
        flows = [flow for ok, flow in found if ok]
        if len(flows) < n_seeds:
            t0 = time.process_time()
            flows = chain.train_flows(tasks)
            self.flow_seconds_ += time.process_time() - t0
            for key, flow in zip(keys, flows, strict=True):
                cache.store("sensitivity_flow", key, flow, save=_save_flow)
        chain.set_flows(flows)
        self.chain_ = chain
        log.info("shared flows ready (%d seeds, %.0f CPU s)", len(flows), self.flow_seconds_)

    def scores(self, pseudo: Any, name: str) -> np.ndarray:
        """Out-of-fold scores of every event of ``pseudo`` for chain ``name``."""
        from analysis.stages import torch_threads

        if name == "CWoLa":
            return remember(pseudo, "chain:CWoLa", lambda: self._cwola(pseudo))
        with torch_threads(1):
            base = remember(pseudo, "chain:base", lambda: self._chain(pseudo))
            return remember(pseudo, f"chain:{name}", lambda: self._score(pseudo, name, base))

    def _cwola(self, pseudo: Any) -> np.ndarray:
        """CWoLa-hunting scores (:func:`ml.cwola.cwola_scores`, as ``analysis.pipeline`` runs
        it): the configured classifier of SR against sideband events, out of fold."""
        from analysis.stages import build_classifier
        from ml.cwola import cwola_scores

        res = cwola_scores(pseudo.X, pseudo.m, pseudo.sr,
                           classifier=build_classifier(self.config.classifier, pseudo.seed),
                           n_folds=self.config.n_folds, random_state=pseudo.seed)
        return np.asarray(res.scores)

    def _chain(self, pseudo: Any) -> Any:
        from analysis.pipeline import build_chain

        if self.profile == "full":
            chain = build_chain(self.config).set_params(random_state=pseudo.seed)
            sb = pseudo.sb
            chain.fit_preprocessing(pseudo.X[sb], pseudo.m[sb])
            chain.set_flows(chain.train_flows(
                [chain.flow_task(pseudo.X[sb], pseudo.m[sb], i)
                 for i in range(self.config.flow.n_seeds)]))
            return chain
        chain = build_chain(self.config).set_params(random_state=pseudo.seed)
        chain.preprocessor_ = self.chain_.preprocessor_
        chain.mass_scaler_ = self.chain_.mass_scaler_
        return chain.set_flows(self.chain_.flows_)

    def _score(self, pseudo: Any, name: str, base: Any) -> np.ndarray:
        """Template and out-of-fold classifier of one chain on ``base``'s flows."""
        chain = base
        if name == "LaCATHODE":
            # LaCATHODE works in the first flow's latent space (as analysis.pipeline does)
            from ml.cathode import LaCathode

            chain = LaCathode(**{**base.get_params(deep=False), "n_flows": 1})
            chain.preprocessor_, chain.mass_scaler_ = base.preprocessor_, base.mass_scaler_
            chain.set_flows(base.flows_[:1])
        sr = pseudo.sr
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*outside.*", category=UserWarning)
            chain.fit_template(pseudo.m[sr])
            chain.fit_classifier(pseudo.X, pseudo.m, sr)
        return np.asarray(chain.scores_)
