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

__all__ = ["Cathode", "LaCathode", "default_flow"]


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

    return ConditionalFlow.from_preset("published", transform="spline", batch_size=512,
                                       learning_rate=2e-3, max_epochs=40, lr_schedule="cosine",
                                       random_state=random_state)


def _with_seed(est, seed):
    """Clone ``est``; set its ``random_state`` to ``seed`` unless the user fixed one."""
    est = clone(est)
    if "random_state" in est.get_params() and est.get_params()["random_state"] is None:
        est.set_params(random_state=seed)
    return est


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
    flow_ : fitted flow (features after ``preprocessor_``, masses after ``mass_scaler_``)
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
                 n_jobs: int | None = None, random_state=None, verbose: bool = False):
        self.flow = flow
        self.classifier = classifier
        self.oversampling = oversampling
        self.n_folds = n_folds
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
        return X, m, sr

    def fit(self, X, m, sr_mask, *, n_sr_background=None):
        """Train flow, template and out-of-fold classifiers; score every event.

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

        Returns
        -------
        self
        """
        X, m, sr = self._check_fit_inputs(X, m, sr_mask, n_sr_background)
        with _torch_threads(self.n_jobs):
            return self._fit(X, m, sr, n_sr_background)

    def _fit(self, X, m, sr, n_sr_background):
        from ml.mass import KDEMassSampler
        from ml.preprocessing import LogitScaler, MassScaler

        seeds = _seeds(self.random_state, 6)
        t0 = time.perf_counter()
        self.preprocessor_ = LogitScaler(out_of_range="clip").fit(X[~sr])
        self.mass_scaler_ = MassScaler().fit(m[~sr])
        Z_sb, ms_sb = self.preprocessor_.transform(X[~sr]), self.mass_scaler_.transform(m[~sr])
        n_val = int(round(self.validation_fraction * len(Z_sb)))
        val = np.zeros(len(Z_sb), bool)
        val[np.random.default_rng(seeds[0]).permutation(len(Z_sb))[:n_val]] = True
        self.flow_ = _with_seed(self.flow if self.flow is not None else default_flow(), seeds[1])
        self.flow_.fit(Z_sb[~val], ms_sb[~val], X_val=Z_sb[val], m_val=ms_sb[val])
        t1 = time.perf_counter()
        self.closure_ = None
        if self.closure_seeds:
            self.closure_ = sideband_closure(Z_sb, ms_sb, self.flow_,
                                             n_seeds=int(self.closure_seeds),
                                             n_folds=self.n_folds, random_state=seeds[2])
        t2 = time.perf_counter()

        n_expected = float(n_sr_background) if n_sr_background is not None else float(sr.sum())
        n_template = int(round(self.oversampling * n_expected))
        sampler = self.mass_sampler if self.mass_sampler is not None else KDEMassSampler()
        self.mass_sampler_ = clone(sampler).fit(m[sr])
        self.template_m_ = np.asarray(self.mass_sampler_.sample(n_template, random_state=seeds[3]),
                                      dtype=np.float64).reshape(-1)
        self.template_ = self._make_template(self.template_m_, seeds[4])
        self.template_weight_ = n_expected / n_template
        t3 = time.perf_counter()

        F_sr, F_sb = self._features(X[sr], m[sr]), self._features(X[~sr], m[~sr])
        y = np.r_[np.ones(len(F_sr), int), np.zeros(len(self.template_), int)]
        w = np.r_[np.ones(len(F_sr)), np.full(len(self.template_), self.template_weight_)]
        clf = self.classifier if self.classifier is not None else XGBEnsembleClassifier()
        self.oof_ = out_of_fold_scores(np.vstack([F_sr, self.template_]), y, F_sb, classifier=clf,
                                       n_folds=self.n_folds, sample_weight=w, random_state=seeds[5],
                                       verbose=self.verbose)
        self.fold_models_ = self.oof_.models
        self.scores_ = np.empty(len(X))
        self.scores_[sr] = self.oof_.scores[: len(F_sr)]
        self.scores_[~sr] = self.oof_.extra_scores
        self.template_scores_ = self.oof_.scores[len(F_sr):]
        self.m_range_ = (float(m.min()), float(m.max()))
        self.n_features_in_ = X.shape[1]
        self.timings_ = {"flow": t1 - t0, "closure": t2 - t1, "template": t3 - t2,
                         "classifier": time.perf_counter() - t3}
        log.info("%s fit: %s", type(self).__name__,
                 ", ".join(f"{k} {v:.1f} s" for k, v in self.timings_.items()))
        return self

    # ------------------------------------------------------------------ space of the classifier
    def _make_template(self, m_template, seed):
        """Physical-space template: flow samples at the template masses."""
        Z = self.flow_.sample(self.mass_scaler_.transform(m_template), random_state=seed)
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

    def _make_template(self, m_template, seed):
        rng = np.random.default_rng(seed)
        return rng.standard_normal((len(m_template), self.flow_.n_features_in_))

    def _features(self, X, m):
        Z = self.preprocessor_.transform(X)
        return self.flow_.transform(Z, self.mass_scaler_.transform(m))
