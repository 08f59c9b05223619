"""The CATHODE chain and its latent-space variant LaCATHODE as scikit-learn style estimators.

CATHODE (arXiv:2109.00546): a conditional flow learns p(x | m) on sideband (SB) data and is
interpolated into the signal region (SR); SR masses drawn from a 1-D density plus flow features
give an in-situ background template; a classifier of SR data vs template, scored out of fold
(:mod:`ml.kfold`), is the anomaly score. LaCATHODE (arXiv:2210.14924) trains the classifier in
the flow's latent space, where the background is N(0, 1) at every mass, so the score cannot
learn the mass dependence of the features and does not sculpt the mass spectrum.
"""

from __future__ import annotations

import logging
import time

import numpy as np
from sklearn.base import BaseEstimator, clone

from ml._validation import check_condition, check_features, check_fitted, warn_if_outside
from ml.classifiers import XGBEnsembleClassifier, _PickleMixin, _seeds, _torch_threads
from ml.diagnostics import sideband_closure
from ml.kfold import out_of_fold_scores

log = logging.getLogger(__name__)

__all__ = ["Cathode", "LaCathode", "default_flow", "fit_flow", "fit_flows", "stacks_flows"]


def default_flow(random_state=None):
    """Default flow of the chain: the published size, spline transforms, a short cosine schedule.

    6 MAF blocks x 20 tanh units with batch-norm, weight decay 1e-6 and gradient clip 1 as in
    the published analysis (reference section 4), but rational-quadratic-spline transforms
    (arXiv:1906.04032) and batch 512, learning rate 2e-3 annealed to 0 on a cosine over 40
    epochs (best epoch on the validation loss restored). Measured on the toy of
    :func:`ml.diagnostics.make_resonant_toy` without signal (10^4 SR + 3x10^4 SB events, 5
    seeds, 10 BDTs per fold): the out-of-fold AUC of SR data against the template is 0.508-0.518
    (median 0.515) with the cosine schedule and 0.519-0.530 (median 0.520) with a constant rate,
    where the true background as template gives 0.491-0.505; 100-180 s on one CPU thread of a
    shared 2-core machine.
    ``ConditionalFlow.from_preset("published")`` gives the published affine 400-epoch schedule.
    """
    from ml.flows import ConditionalFlow

    return ConditionalFlow.from_preset("published", transform_type="spline", batch_size=512,
                                       learning_rate=2e-3, max_epochs=40, lr_schedule="cosine",
                                       random_state=random_state)


def _with_seed(est, seed):
    """Clone ``est``; set its ``random_state`` to ``seed`` unless the user fixed one."""
    est = clone(est)
    if "random_state" in est.get_params() and est.get_params()["random_state"] is None:
        est.set_params(random_state=seed)
    return est


def _split_task(flow, Z_sb, ms_sb, validation_fraction, split_seed, flow_seed, verbose=False):
    """The seeded flow estimator and its (X, m, X_val, m_val) of one :func:`fit_flow` task."""
    n_val = int(round(validation_fraction * len(Z_sb)))
    val = np.zeros(len(Z_sb), bool)
    val[np.random.default_rng(split_seed).permutation(len(Z_sb))[:n_val]] = True
    flow = _with_seed(flow, flow_seed)
    if verbose and "verbose" in flow.get_params():
        flow.set_params(verbose=True)
    return flow, (Z_sb[~val], ms_sb[~val], Z_sb[val], ms_sb[val])


def fit_flow(flow, Z_sb, ms_sb, validation_fraction, split_seed, flow_seed, verbose=False,
             n_threads=None):
    """Train one sideband flow: a seeded random validation split, best epoch on it.

    A module-level function of plain arguments (:meth:`Cathode.flow_task` builds them), so a
    cluster can train the seeds in parallel and a pipeline can cache each flow.

    Parameters
    ----------
    flow : ml.flows.ConditionalFlow
        Unfitted flow (cloned; its ``random_state`` set to ``flow_seed`` unless fixed).
    Z_sb, ms_sb : ndarray
        Preprocessed sideband features and masses.
    validation_fraction : float
        Share of the events held out for the best-epoch choice.
    split_seed, flow_seed : int
    verbose : bool
        The flow's progress bar.
    n_threads : int, optional
        torch threads while training (the flows are tiny: one thread is fastest).

    Returns
    -------
    fitted flow
    """
    flow, (X, m, X_val, m_val) = _split_task(flow, Z_sb, ms_sb, validation_fraction, split_seed,
                                             flow_seed, verbose)
    with _torch_threads(n_threads):
        return flow.fit(X, m, X_val=X_val, m_val=m_val)


def stacks_flows(flow) -> bool:
    """True when the seeds of a chain with this flow (None: :func:`default_flow`) train as one
    batched model (:func:`fit_flows`): a :class:`ml.flows.ConditionalFlow` with ``stacked``."""
    from ml.flows import ConditionalFlow

    flow = default_flow() if flow is None else flow
    return isinstance(flow, ConditionalFlow) and bool(flow.stacked)


def fit_flows(tasks, verbose=False, n_threads=None):
    """Train the flows of several :func:`fit_flow` tasks as one batched model.

    :func:`ml.flows.fit_flows`: every flow is trained as :func:`fit_flow` would train it (its
    split, initialization, batch order, early stopping), up to floating-point rounding, in one
    pass over all seeds; on a CPU several times faster than one seed after the other.

    Parameters
    ----------
    tasks : list of tuple
        :meth:`Cathode.flow_task` tuples, one per seed.
    verbose : bool
        The progress bar.
    n_threads : int, optional
        torch threads while training.

    Returns
    -------
    list of fitted flows, in the order of ``tasks``
    """
    from ml.flows import fit_flows as _fit_flows

    split = [_split_task(*task, verbose=verbose) for task in tasks]
    with _torch_threads(n_threads):
        return _fit_flows([f for f, _ in split], [d for _, d in split])


class Cathode(_PickleMixin, BaseEstimator):
    """CATHODE anomaly score for every event of a dataset.

    Parameters
    ----------
    flow : ml.flows.ConditionalFlow or None
        Unfitted conditional flow (cloned); None: :func:`default_flow`.
    classifier : estimator or None
        Unfitted classifier (cloned per fold); None: ``XGBEnsembleClassifier()``.
    oversampling : float
        Template size = ``oversampling`` x expected SR background.
    n_folds : int
        Folds of the out-of-fold scoring (3 train, 1 validation, 1 test for 5).
    n_flows : int
        Flows trained with independent seeds (and validation splits) on the sidebands; the
        template is split evenly over them and concatenated (reference section 4: 5 seeds).
        With the flow's ``stacked=True`` (the default) the seeds train as one batched model
        (:func:`fit_flows`, one task for ``map``); ``stacked=False``: one task per seed.
    mass_sampler : object or None
        Unfitted SR mass sampler with ``fit(m)`` and ``sample(n, random_state)`` (cloned, fitted
        on the SR masses); None: ``ml.mass.KDEMassSampler()`` (KDE on logit m, bandwidth 0.01).
        A ``ml.mass.FunctionMassSampler`` draws from a fitted background shape instead.
    closure_seeds : int
        When > 0, run :func:`ml.diagnostics.sideband_closure` with this many seeds after the
        flow is trained and store it in ``closure_``.
    validation_fraction : float
        Share of the SB events held out for the flow's best-epoch selection (0.2: 80/20).
    n_jobs : int or None
        torch threads while fitting and scoring (restored afterwards); None keeps torch's
        setting. Classifier threads are the classifier's own ``n_jobs``.
    random_state : int or None
        Seeds everything (split, flow, template, folds); same seed, same scores.
    verbose : bool
        Progress bars of the k-fold training (stderr).

    Attributes
    ----------
    scores_ : ndarray, shape (n,)
        Out-of-fold anomaly score of every event of ``fit`` (SR and SB).
    flows_ : list of fitted flows (features after ``preprocessor_``, masses after
        ``mass_scaler_``), one per seed
    flow_ : the first of ``flows_``
    preprocessor_ : ml.preprocessing.LogitScaler fitted on SB events
    mass_scaler_ : ml.preprocessing.MassScaler fitted on SB masses
    mass_sampler_ : fitted SR mass sampler
    template_ : ndarray, shape (n_template, d)
        Background template in the classifier's input space (physical features for CATHODE).
    template_m_ : ndarray, shape (n_template,)
        Template masses (GeV).
    template_weight_ : float
        Weight of each template event: expected SR background / template size, so the template
        sums to the expected SR background. With the default ``class_weight="balanced"`` both
        classes are then scaled to equal totals, and ``s / (1 - s)`` estimates the density ratio
        p_data / p_background used by likelihood reweighting.
    template_scores_ : ndarray, shape (n_template,)
        Out-of-fold scores of the template events.
    fold_models_ : list
        Classifier of each fold; :meth:`score` averages them.
    oof_ : ml.kfold.OutOfFoldResult
    closure_ : ml.diagnostics.ClosureResult or None
    timings_ : dict
        Seconds spent in the flow, the template and the classifiers.

    References
    ----------
    A. Hallin et al., arXiv:2109.00546 (CATHODE); arXiv:2502.14036 (dimuon analysis).
    """

    def __init__(self, flow=None, classifier=None, oversampling: float = 5, n_folds: int = 5,
                 mass_sampler=None, closure_seeds: int = 0, validation_fraction: float = 0.2,
                 n_jobs: int | None = None, random_state=None, verbose: bool = False,
                 n_flows: int = 1):
        self.flow = flow
        self.classifier = classifier
        self.oversampling = oversampling
        self.n_folds = n_folds
        self.n_flows = n_flows
        self.mass_sampler = mass_sampler
        self.closure_seeds = closure_seeds
        self.validation_fraction = validation_fraction
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ fit
    def _check_fit_inputs(self, X, m, sr_mask, n_sr_background):
        X = check_features(X)
        m = check_condition(m, n_events=len(X))
        sr = np.asarray(sr_mask)
        if sr.shape != (len(X),) or sr.dtype != bool:
            raise ValueError(
                f"sr_mask must be a boolean array of shape ({len(X)},); got dtype {sr.dtype}, "
                f"shape {sr.shape}. Build it as (m >= sr_left) & (m < sr_right)."
            )
        n_sr, n_sb = int(sr.sum()), int((~sr).sum())
        if n_sr < 2 * self.n_folds or n_sb < 20:
            raise ValueError(f"sr_mask selects {n_sr} SR and {n_sb} SB events; need >= "
                             f"{2 * self.n_folds} SR and >= 20 SB events")
        if n_sr_background is not None and not (
            np.isfinite(n_sr_background) and n_sr_background > 0
        ):
            raise ValueError(f"n_sr_background={n_sr_background!r}; expected a positive number")
        if not (np.isfinite(self.oversampling) and self.oversampling > 0):
            raise ValueError(f"oversampling={self.oversampling!r}; expected a positive number")
        if not 0 < self.validation_fraction < 1:
            raise ValueError(f"validation_fraction={self.validation_fraction}; expected in (0, 1)")
        if isinstance(self.n_flows, bool) or not isinstance(self.n_flows, (int, np.integer)) or (
                self.n_flows < 1):
            raise ValueError(f"n_flows={self.n_flows!r}; expected an integer >= 1")
        return X, m, sr

    def fit(self, X, m, sr_mask, *, n_sr_background=None, map=None):  # noqa: A002
        """Train flow, template and out-of-fold classifiers; score every event.

        The steps are public methods (:meth:`fit_preprocessing`, :meth:`fit_flow` per seed,
        :meth:`fit_template`, :meth:`fit_classifier`), so a pipeline can cache each of them or
        run the flows and folds on a cluster and still get exactly these scores.

        Parameters
        ----------
        X : array, shape (n, d)
            Features of all events (e.g. dimu_pt GeV, mu0_ip3d cm, mu1_ip3d cm).
        m : array, shape (n,)
            Dimuon mass (GeV).
        sr_mask : bool array, shape (n,)
            True for SR events, False for SB events.
        n_sr_background : float, optional
            Expected SR background count (e.g. from the sideband fit); default: the SR count.
        map : callable, optional
            ``map(fn, list_of_argument_tuples)`` running the flow seeds and the classifier folds
            (e.g. ``analysis.parallel.TaskRunner.map`` on Dask); default: in this process.

        Returns
        -------
        self
        """
        X, m, sr = self._check_fit_inputs(X, m, sr_mask, n_sr_background)
        with _torch_threads(self.n_jobs):
            t0 = time.perf_counter()
            self.fit_preprocessing(X[~sr], m[~sr])
            args = [self.flow_task(X[~sr], m[~sr], i) for i in range(int(self.n_flows))]
            self.set_flows(self.train_flows(args, map=map))
            t1 = time.perf_counter()
            self.closure_ = None
            if self.closure_seeds:
                self.closure_ = sideband_closure(
                    self.preprocessor_.transform(X[~sr]), self.mass_scaler_.transform(m[~sr]),
                    self.flow_, n_seeds=int(self.closure_seeds), n_folds=self.n_folds,
                    random_state=self._seeds()[2])
            t2 = time.perf_counter()
            self.fit_template(m[sr], n_sr_background=n_sr_background)
            t3 = time.perf_counter()
            self.fit_classifier(X, m, sr, map=map)
        self.timings_ = {"flow": t1 - t0, "closure": t2 - t1, "template": t3 - t2,
                         "classifier": time.perf_counter() - t3}
        log.info("%s fit: %s", type(self).__name__,
                 ", ".join(f"{k} {v:.1f} s" for k, v in self.timings_.items()))
        return self

    def _seeds(self) -> list[int]:
        """Seeds of the steps: split, flow, closure, template masses, template features, folds."""
        return _seeds(self.random_state, 6)

    def fit_preprocessing(self, X_sb, m_sb):
        """Fit the logit feature scaling and the mass scaling on sideband events (GeV, cm);
        the scalers of :func:`ml.preprocessing.default_preprocessing` (as ``FlowPipeline``),
        clipping events outside the sideband range."""
        from ml.preprocessing import default_preprocessing

        X_sb = check_features(X_sb)
        m_sb = check_condition(m_sb, n_events=len(X_sb))
        scaler, mass_scaler = default_preprocessing(out_of_range="clip")
        self.preprocessor_ = scaler.fit(X_sb)
        self.mass_scaler_ = mass_scaler.fit(m_sb)
        return self

    def flow_task(self, X_sb, m_sb, index: int) -> tuple:
        """Arguments of :func:`fit_flow` for flow ``index`` (preprocessed sidebands, its seeds).

        Flow 0 uses the chain's own split and flow seeds; flow ``i`` > 0 seeds derived from
        them and ``i``.
        """
        check_fitted(self, "preprocessor_")
        seeds = self._seeds()
        split_seed, flow_seed = (seeds[0], seeds[1]) if index == 0 else _seeds(
            [seeds[0], seeds[1], int(index)], 2)
        Z_sb = self.preprocessor_.transform(X_sb)
        ms_sb = self.mass_scaler_.transform(m_sb)
        flow = self.flow if self.flow is not None else default_flow()
        return (flow, Z_sb, ms_sb, float(self.validation_fraction), int(split_seed),
                int(flow_seed))

    def train_flows(self, tasks, *, map=None) -> list:  # noqa: A002
        """Fitted flows of :meth:`flow_task` tuples: one batched model (:func:`fit_flows`) when
        there are several and the flow is stacked (:func:`stacks_flows`), else one
        :func:`fit_flow` per task; ``map`` as in :meth:`fit`."""
        tasks = list(tasks)
        stacked = len(tasks) > 1 and stacks_flows(tasks[0][0])
        if map is not None:
            return list(map(fit_flows, [(tasks,)]))[0] if stacked else list(map(fit_flow, tasks))
        with _torch_threads(self.n_jobs):
            return fit_flows(tasks) if stacked else [fit_flow(*t) for t in tasks]

    def set_flows(self, flows) -> Cathode:
        """Use these trained flows (from :meth:`flow_task` + :func:`fit_flow`, or a cache)."""
        self.flows_ = list(flows)
        self.flow_ = self.flows_[0]
        return self

    def fit_template(self, m_sr, *, n_sr_background=None):
        """Draw the SR background template: masses from the mass sampler fitted on ``m_sr``
        (GeV), features from the flows (split evenly over them). Sets ``template_``,
        ``template_m_``, ``template_weight_``; returns ``(template_, template_m_)``."""
        from ml.mass import KDEMassSampler

        check_fitted(self, "flows_")
        m_sr = check_condition(m_sr)
        seeds = self._seeds()
        n_expected = float(n_sr_background) if n_sr_background is not None else float(len(m_sr))
        n_template = int(round(self.oversampling * n_expected))
        sampler = self.mass_sampler if self.mass_sampler is not None else KDEMassSampler()
        self.mass_sampler_ = clone(sampler).fit(m_sr)
        sizes = np.full(len(self.flows_), n_template // len(self.flows_))
        sizes[: n_template - sizes.sum()] += 1
        ms, Xs = [], []
        for i, (flow, n) in enumerate(zip(self.flows_, sizes, strict=True)):
            m_seed, x_seed = (seeds[3], seeds[4]) if i == 0 else _seeds([seeds[3], seeds[4], i], 2)
            m_i = np.asarray(self.mass_sampler_.sample(int(n), random_state=m_seed),
                             dtype=np.float64).reshape(-1)
            ms.append(m_i)
            Xs.append(self._make_template(flow, m_i, x_seed))
        self.template_m_ = np.concatenate(ms)
        self.template_ = np.vstack(Xs)
        self.template_weight_ = n_expected / n_template
        return self.template_, self.template_m_

    def set_template(self, template, template_m, template_weight) -> Cathode:
        """Use this template (from :meth:`fit_template` or a cache)."""
        self.template_ = np.asarray(template)
        self.template_m_ = np.asarray(template_m)
        self.template_weight_ = float(template_weight)
        return self

    def fit_with_template(self, X, m, template, template_m=None, *, sr_mask=None,
                          n_sr_background=None, map=None):  # noqa: A002
        """Classifier of SR data vs a background template given by the caller; no flow.

        For signal-region-only studies and references: the true SR background (the idealized
        anomaly detector, arXiv:2109.00546), a simulation, or a template drawn elsewhere. The
        template is weighted to the expected SR background and the out-of-fold classifier is
        trained exactly as in :meth:`fit` (same classifier, folds and seeds).

        Parameters
        ----------
        X : array, shape (n, d)
            Features of the events to score (physical units, e.g. GeV, cm).
        m : array, shape (n,)
            Masses (GeV).
        template : array, shape (n_template, d)
            Background template in the same feature space as ``X``.
        template_m : array, shape (n_template,), optional
            Template masses (GeV), stored in ``template_m_`` (NaN when not given).
        sr_mask : bool array, shape (n,), optional
            SR events (trained on); the others are only scored. Default: all events are SR.
        n_sr_background : float, optional
            Expected SR background; default: the SR count.
        map : callable, optional
            As in :meth:`fit`.

        Returns
        -------
        self
        """
        X = check_features(X)
        m = check_condition(m, n_events=len(X))
        sr = np.ones(len(X), bool) if sr_mask is None else np.asarray(sr_mask)
        if sr.shape != (len(X),) or sr.dtype != bool:
            raise ValueError(f"sr_mask must be a boolean array of shape ({len(X)},); got dtype "
                             f"{sr.dtype}, shape {sr.shape}")
        T = check_features(template, name="template", n_features=X.shape[1])
        Tm = (np.full(len(T), np.nan) if template_m is None
              else check_condition(template_m, n_events=len(T), name="template_m"))
        n_sr = int(sr.sum())
        if n_sr < 2 * self.n_folds or len(T) < 2 * self.n_folds:
            raise ValueError(f"{n_sr} SR events and a template of {len(T)}; need >= "
                             f"{2 * self.n_folds} of each for n_folds={self.n_folds}")
        n_expected = float(n_sr if n_sr_background is None else n_sr_background)
        if not (np.isfinite(n_expected) and n_expected > 0):
            raise ValueError(f"n_sr_background={n_sr_background!r}; expected a positive number")
        t0 = time.perf_counter()
        with _torch_threads(self.n_jobs):
            self.set_template(T, Tm, n_expected / len(T))
            self.fit_classifier(X, m, sr, map=map)
        self.timings_ = {"classifier": time.perf_counter() - t0}
        return self

    def fit_classifier(self, X, m, sr_mask, *, map=None):  # noqa: A002
        """Out-of-fold classifier of SR data vs the template; scores every event of (X, m).

        Sets ``oof_``, ``fold_models_``, ``scores_`` (SR and SB events), ``template_scores_``.
        """
        check_fitted(self, "template_")
        X = check_features(X)
        m = check_condition(m, n_events=len(X))
        sr = np.asarray(sr_mask, dtype=bool)
        F_sr, F_sb = self._features(X[sr], m[sr]), self._features(X[~sr], m[~sr])
        y = np.r_[np.ones(len(F_sr), int), np.zeros(len(self.template_), int)]
        w = np.r_[np.ones(len(F_sr)), np.full(len(self.template_), self.template_weight_)]
        clf = self.classifier if self.classifier is not None else XGBEnsembleClassifier()
        self.oof_ = out_of_fold_scores(np.vstack([F_sr, self.template_]), y,
                                       F_sb if len(F_sb) else None, classifier=clf,
                                       n_folds=self.n_folds, sample_weight=w,
                                       random_state=self._seeds()[5], verbose=self.verbose,
                                       map=map)
        self.fold_models_ = self.oof_.models
        self.scores_ = np.empty(len(X))
        self.scores_[sr] = self.oof_.scores[: len(F_sr)]
        if len(F_sb):
            self.scores_[~sr] = self.oof_.extra_scores
        self.template_scores_ = self.oof_.scores[len(F_sr):]
        self.m_range_ = (float(m.min()), float(m.max()))
        self.n_features_in_ = X.shape[1]
        return self

    # ------------------------------------------------------------------ space of the classifier
    def _make_template(self, flow, m_template, seed):
        """Physical-space template: ``flow``'s samples at the template masses."""
        import warnings

        with warnings.catch_warnings():
            # masses drawn by a KDE can sit a hair outside the sideband range the flow saw
            warnings.filterwarnings("ignore", message=".*outside.*", category=UserWarning)
            Z = flow.sample(self.mass_scaler_.transform(m_template), random_state=seed)
        return self.preprocessor_.inverse_transform(Z)

    def _features(self, X, m):
        """Classifier inputs for events (X, m): the physical features for CATHODE."""
        return X

    # ------------------------------------------------------------------ scoring
    def score(self, X, m) -> np.ndarray:
        """Anomaly score of events not in the fit (e.g. the same-sign sample), shape (n,).

        The average of all fold models' class-1 probabilities. ``m`` (GeV) is checked against
        the fitted range (a UserWarning outside it).
        """
        check_fitted(self, "fold_models_")
        X = check_features(X, n_features=self.n_features_in_)
        m = check_condition(m, n_events=len(X))
        warn_if_outside(m, *self.m_range_, owner=type(self).__name__)
        with _torch_threads(self.n_jobs):
            F = self._features(X, m)
        return np.mean([mdl.predict_proba(F)[:, 1] for mdl in self.fold_models_], axis=0)


class LaCathode(Cathode):
    """LaCATHODE: the CATHODE classifier trained in the flow's latent space.

    SR data and SB data are mapped to the latent space of the flow at their own masses; the
    background template there is simply N(0, 1) draws (``template_`` holds them, in latent
    space). Because the latent background does not depend on m, a cut on the score does not
    sculpt the background mass spectrum. Same parameters and attributes as :class:`Cathode`.

    References
    ----------
    T. Golling et al., "The interplay of machine learning-based resonant anomaly detection
    methods", arXiv:2210.14924 (LaCATHODE).
    """

    def _check_fit_inputs(self, X, m, sr_mask, n_sr_background):
        out = super()._check_fit_inputs(X, m, sr_mask, n_sr_background)
        if self.n_flows != 1:
            raise ValueError(f"n_flows={self.n_flows!r}; LaCathode works in one flow's latent "
                             "space: use n_flows=1")
        return out

    def fit_with_template(self, *args, **kwargs):
        """Not available: LaCATHODE's template is N(0, 1) in its own flow's latent space."""
        raise TypeError("LaCathode.fit_with_template: the LaCATHODE template is N(0, 1) in the "
                        "flow's latent space; use Cathode.fit_with_template for a given template")

    def _make_template(self, flow, m_template, seed):
        rng = np.random.default_rng(seed)
        return rng.standard_normal((len(m_template), flow.n_features_in_))

    def _features(self, X, m):
        Z = self.preprocessor_.transform(X)
        return self.flow_.transform(Z, self.mass_scaler_.transform(m))
