"""Conditional normalizing flow p(x | m) on Pyro, with a scikit-learn style interface.

:class:`ConditionalFlow` is a masked autoregressive flow (MAF, arXiv:1705.07057) with affine or
rational-quadratic-spline (arXiv:1906.04032) transforms, conditioned on one scalar ``m`` (the dimuon
mass in GeV in the CATHODE chain, arXiv:2109.00546). Pyro's transforms are arranged so that the
density (training) runs one network pass per block; see :mod:`ml._pyro_transforms`.

The flow models x in the space it is given. To get densities in physical units for features that
went through :class:`ml.preprocessing.LogitScaler`, put both in a
:class:`ml.preprocessing.FlowPipeline`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import torch
from sklearn.base import BaseEstimator

from ml._batched_flow import can_stack, train_stacked
from ml._flow_training import batched, train_flow
from ml._pyro_transforms import ACTIVATIONS, ConditionalMAF, build_conditional_flow
from ml._validation import (
    atomic_torch_save,
    check_condition,
    check_features,
    check_fitted,
    check_random_seed,
    resolve_device,
    warn_if_outside,
)

log = logging.getLogger(__name__)

__all__ = ["PRESETS", "RENAMED_PARAMS", "ConditionalFlow", "fit_flows", "rename_params"]

#: Named hyper-parameter sets for :meth:`ConditionalFlow.from_preset`.
PRESETS: dict[str, dict[str, Any]] = {
    # Upsilon anomaly search (reference section 4): 6 blocks x 20, tanh, batch-norm, 400 epochs.
    "published": dict(
        n_blocks=6,
        hidden_units=20,
        activation="tanh",
        batch_norm=True,
        transform_type="affine",
        learning_rate=7.5e-4,
        weight_decay=1e-6,
        batch_size=256,
        max_epochs=400,
        grad_clip=1.0,
    ),
    # sk_cathode's ConditionalNormalizingFlow defaults: 15 blocks x 128, relu, lr 1e-4, 100 epochs.
    "sk_cathode": dict(
        n_blocks=15,
        hidden_units=128,
        activation="relu",
        batch_norm=True,
        transform_type="affine",
        learning_rate=1e-4,
        weight_decay=1e-6,
        batch_size=256,
        max_epochs=100,
        grad_clip=1.0,
    ),
}

_FORMAT = "ml.flows.ConditionalFlow/1"

#: Former hyper-parameter names, still accepted by :meth:`ConditionalFlow.from_preset`, by
#: ``load`` of older files and in ``flow.params`` of an analysis YAML: ``transform`` (now the name
#: of the method ``transform(X, m)`` only) is ``transform_type``.
RENAMED_PARAMS: dict[str, str] = {"transform": "transform_type"}


def rename_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` with former names replaced by current ones (:data:`RENAMED_PARAMS`).

    Raises
    ------
    TypeError
        A former name and its replacement are both given.
    """
    out = dict(params)
    for old, new in RENAMED_PARAMS.items():
        if old in out:
            if new in out:
                raise TypeError(
                    f"ConditionalFlow arguments {old!r} and {new!r} both given; {old!r} is the "
                    f"former name of {new!r}, give only {new}={out[old]!r}"
                )
            out[new] = out.pop(old)
    return out


class _Member(NamedTuple):
    """One network to train: module, (X, m, X_val, m_val) tensors, batch-order seed, label."""

    module: ConditionalMAF
    data: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]
    seed: int
    desc: str


class ConditionalFlow(BaseEstimator):
    """Conditional masked autoregressive flow for p(x | m), trained by maximum likelihood.

    Parameters
    ----------
    n_blocks : int, default 6
        Number of autoregressive transforms; a reverse permutation sits between consecutive blocks.
    hidden_units : int or sequence of int, default 20
        Hidden layers of each block's masked network: an int means two layers of that width.
    activation : {"tanh", "relu", "elu", "gelu", "silu", "leaky_relu"}, default "tanh"
    batch_norm : bool, default True
        Batch-norm transform between blocks (batch statistics in training, running averages in
        inference; its log-Jacobian enters the density).
    transform_type : {"affine", "spline"}, default "affine"
        Affine MAF or rational-quadratic spline (8 bins on [-3, 3], identity outside). Formerly
        ``transform`` (:data:`RENAMED_PARAMS`; ``transform`` is the method).
    learning_rate, weight_decay : float, default 7.5e-4, 1e-6
        Adam settings.
    batch_size : int, default 256
    max_epochs : int, default 400
        Number of epochs (an upper limit when ``early_stopping`` is set).
    early_stopping : int or None, default None
        Stop after this many epochs without a lower validation loss. In all cases the weights of
        the epoch with the lowest validation loss are restored.
    grad_clip : float or None, default 1.0
        Maximum gradient norm (None: no clipping).
    lr_schedule : {"constant", "cosine"}, default "constant"
        "cosine" anneals the learning rate per step from ``learning_rate`` to 0 over
        ``max_epochs`` (arXiv:1608.03983, without restarts); the published analysis uses a
        constant rate. On short schedules the annealing lowers the noise of the final weights.
    n_ensemble : int, default 1
        Number of flows trained with seeds ``random_state + i``. The ensemble density is the
        equal-weight mixture of all members (log-mean-exp of their densities); samples come from
        the mixture too.
    n_best_epochs : int, default 1
        Keep the weights of this many lowest-validation-loss epochs of each training as further
        mixture members (ensembling over epochs, as in arXiv:2109.00546); ``flows_`` then has
        ``n_ensemble * n_best_epochs`` members.
    stacked : bool, default True
        Train the ``n_ensemble`` members as one batched model (:func:`fit_flows`): each member
        keeps its own initialization, batch order, batch-norm statistics, gradient clip and
        early stopping, so the result equals one-after-the-other training up to floating-point
        rounding, at a fraction of the CPU time (the networks are tiny). False: one after the
        other.
    device : str, default "auto"
        "auto" (CUDA when available, else CPU), "cpu" or "cuda[:N]".
    random_state : int or None, default None
        Seeds initialization, the validation split and batch order; same seed, same outputs.
    verbose : bool, default False
        Show a tqdm progress bar (stderr) with the losses.

    Attributes
    ----------
    flows_ : list of ConditionalMAF
        The trained torch modules (mixture members, best epoch of each seed first), eval mode.
    n_features_in_ : int
    m_range_ : tuple of float
        (min, max) of m seen in fit (training and validation); outside it a UserWarning is issued.
    history_ : list of dict
        Per seed: ``train_loss`` and ``val_loss`` per epoch (mean negative log-likelihood per
        event), ``lr`` (learning rate at the end of each epoch), ``best_epoch`` and
        ``best_epochs`` (0-based).
    device_ : torch.device

    References
    ----------
    G. Papamakarios, T. Pavlakou, I. Murray, "Masked Autoregressive Flow for Density Estimation",
    arXiv:1705.07057. C. Durkan et al., "Neural Spline Flows", arXiv:1906.04032.
    A. Hallin et al., "Classifying anomalies through outer density estimation", arXiv:2109.00546.
    """

    def __init__(
        self,
        n_blocks: int = 6,
        hidden_units: int | Sequence[int] = 20,
        activation: str = "tanh",
        batch_norm: bool = True,
        transform_type: str = "affine",
        learning_rate: float = 7.5e-4,
        weight_decay: float = 1e-6,
        batch_size: int = 256,
        max_epochs: int = 400,
        early_stopping: int | None = None,
        grad_clip: float | None = 1.0,
        lr_schedule: str = "constant",
        n_ensemble: int = 1,
        n_best_epochs: int = 1,
        stacked: bool = True,
        device: str = "auto",
        random_state: int | None = None,
        verbose: bool = False,
    ) -> None:
        self.n_blocks = n_blocks
        self.hidden_units = hidden_units
        self.activation = activation
        self.batch_norm = batch_norm
        self.transform_type = transform_type
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.early_stopping = early_stopping
        self.grad_clip = grad_clip
        self.lr_schedule = lr_schedule
        self.n_ensemble = n_ensemble
        self.n_best_epochs = n_best_epochs
        self.stacked = stacked
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ construction helpers
    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> ConditionalFlow:
        """Build a flow from a named preset of :data:`PRESETS`, with keyword overrides.

        Parameters
        ----------
        name : {"published", "sk_cathode"}
        **overrides
            Any ``__init__`` argument, e.g. ``max_epochs=50, random_state=1``; former names
            (:data:`RENAMED_PARAMS`) are accepted.
        """
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; expected one of {sorted(PRESETS)}")
        params = dict(PRESETS[name])
        overrides = rename_params(overrides)
        valid = set(cls().get_params())
        unknown = sorted(set(overrides) - valid)
        if unknown:
            raise TypeError(
                f"unknown ConditionalFlow argument(s) {unknown}; valid: {sorted(valid)}"
            )
        params.update(overrides)
        return cls(**params)

    def _check_params(self) -> None:
        def positive_int(name: str) -> None:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")

        for name in ("n_blocks", "batch_size", "max_epochs", "n_ensemble", "n_best_epochs"):
            positive_int(name)
        if self.early_stopping is not None:
            positive_int("early_stopping")
        units = (
            [self.hidden_units]
            if isinstance(self.hidden_units, (int, np.integer))
            else list(self.hidden_units)
        )
        if not units or any(isinstance(u, bool) or int(u) < 1 for u in units):
            raise ValueError(
                f"hidden_units must be a positive int or a list of them, got {units!r}"
            )
        if self.activation not in ACTIVATIONS:
            raise ValueError(
                f"activation={self.activation!r} is not supported; "
                f"expected one of {sorted(ACTIVATIONS)}"
            )
        if self.transform_type not in ("affine", "spline"):
            raise ValueError(
                f"transform_type={self.transform_type!r}; expected 'affine' or 'spline'"
            )
        for name in ("learning_rate", "weight_decay"):
            value = getattr(self, name)
            if not np.isfinite(value) or value < 0 or (name == "learning_rate" and value == 0):
                raise ValueError(f"{name} must be a positive finite number, got {value!r}")
        if self.lr_schedule not in ("constant", "cosine"):
            raise ValueError(
                f"lr_schedule={self.lr_schedule!r}; expected 'constant' or 'cosine'"
            )
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise ValueError(f"grad_clip must be None or > 0, got {self.grad_clip!r}")
        if not isinstance(self.stacked, (bool, np.bool_)):
            raise ValueError(f"stacked must be True or False, got {self.stacked!r}")
        check_random_seed(self.random_state)

    # ------------------------------------------------------------------ fitting
    def fit(self, X: Any, m: Any, *, X_val: Any = None, m_val: Any = None) -> ConditionalFlow:
        """Train the flow by maximum likelihood of X given m.

        Parameters
        ----------
        X : array-like of shape (n_events, n_features)
            Training features (already preprocessed, e.g. by a LogitScaler).
        m : array-like of shape (n_events,)
            Condition per event (e.g. dimuon mass in GeV).
        X_val, m_val : array-like, optional
            Validation set for best-epoch selection and early stopping. When omitted, 20 % of
            the events are split off at random (seeded by ``random_state``).

        Returns
        -------
        self
        """
        return fit_flows([self], [(X, m, X_val, m_val)])[0]

    def _prepare(self, X: Any, m: Any, X_val: Any, m_val: Any) -> list[_Member]:
        """Check inputs, set the fitted statistics; the members to train (built, seeded)."""
        self._check_params()
        X = check_features(X, dtype=np.float32)
        m = check_condition(m, n_events=X.shape[0], dtype=np.float32)
        seed = check_random_seed(self.random_state)
        if seed is None:
            seed = int(np.random.SeedSequence().generate_state(1)[0] % (2**31))
        if (X_val is None) != (m_val is None):
            raise ValueError("pass both X_val and m_val, or neither (then 20 % of X is held out)")
        if X_val is None:
            if X.shape[0] < 10:
                raise ValueError(
                    f"X has {X.shape[0]} events; need at least 10 to split off a validation set"
                )
            order = np.random.default_rng(seed).permutation(X.shape[0])
            n_val = max(1, int(round(0.2 * X.shape[0])))
            X, X_val, m, m_val = (
                X[order[n_val:]],
                X[order[:n_val]],
                m[order[n_val:]],
                m[order[:n_val]],
            )
        else:
            X_val = check_features(X_val, name="X_val", n_features=X.shape[1], dtype=np.float32)
            m_val = check_condition(m_val, n_events=X_val.shape[0], name="m_val", dtype=np.float32)
        if X.shape[0] < 2:
            raise ValueError(f"X has {X.shape[0]} training event(s); need at least 2")

        units = [self.hidden_units] if np.ndim(self.hidden_units) == 0 else self.hidden_units
        if min(int(u) for u in units) < X.shape[1]:
            raise ValueError(
                f"hidden_units={self.hidden_units!r} is narrower than the {X.shape[1]} features; "
                "a masked autoregressive layer needs at least one unit per feature"
            )
        self.device_ = resolve_device(self.device)
        dev = self.device_
        x_loc, x_scale = X.mean(0), X.std(0)
        x_scale = np.where(x_scale > 0, x_scale, 1.0).astype(np.float32)
        m_loc, m_scale = float(m.mean()), float(m.std()) or 1.0
        Xt, mt = torch.from_numpy(X).to(dev), torch.from_numpy(m).to(dev)
        Xv, mv = torch.from_numpy(X_val).to(dev), torch.from_numpy(m_val).to(dev)

        self.n_features_in_ = X.shape[1]
        self.m_range_ = (float(min(m.min(), m_val.min())), float(max(m.max(), m_val.max())))
        self._stats = dict(
            x_loc=torch.from_numpy(x_loc.astype(np.float32)),
            x_scale=torch.from_numpy(x_scale),
            m_loc=torch.tensor(m_loc, dtype=torch.float32),
            m_scale=torch.tensor(m_scale, dtype=torch.float32),
        )
        members = []
        for member in range(self.n_ensemble):
            with torch.random.fork_rng(devices=[]):  # seed the initialization, not the caller
                torch.manual_seed(seed + member)
                flow = self._build()
            desc = f"flow {member + 1}/{self.n_ensemble}" if self.n_ensemble > 1 else "flow"
            members.append(_Member(flow, (Xt, mt, Xv, mv), seed + member, desc))
        return members

    def _training_options(self) -> dict[str, Any]:
        """Keyword arguments of the training loop (equal ones can share a stacked model)."""
        return dict(
            learning_rate=self.learning_rate,
            weight_decay=self.weight_decay,
            batch_size=int(self.batch_size),
            max_epochs=int(self.max_epochs),
            early_stopping=self.early_stopping,
            grad_clip=self.grad_clip,
            lr_schedule=self.lr_schedule,
            n_best_epochs=int(self.n_best_epochs),
        )

    def _finish(self, members: list[_Member], results: list[tuple[list, dict]]) -> None:
        """Set ``flows_`` (each member's best epochs) and ``history_`` from trained members."""
        flows, history = [], []
        for member, (states, hist) in zip(members, results, strict=True):
            flows.append(member.module)
            for state in states[1:]:
                extra = self._build()
                extra.load_state_dict(state)
                flows.append(extra.eval())
            history.append(hist)
        self.flows_ = flows
        self.history_ = history

    def _build(self) -> ConditionalMAF:
        return build_conditional_flow(
            self.n_features_in_,
            n_blocks=int(self.n_blocks),
            hidden_units=self.hidden_units,
            activation=self.activation,
            batch_norm=bool(self.batch_norm),
            transform_type=self.transform_type,
            **self._stats,
        ).to(self.device_)

    # ------------------------------------------------------------------ inference
    def _check_inputs(self, X: Any, m: Any, name: str = "X") -> tuple[torch.Tensor, torch.Tensor]:
        check_fitted(self, "flows_")
        X = check_features(X, name=name, n_features=self.n_features_in_, dtype=np.float32)
        m = check_condition(m, n_events=X.shape[0], dtype=np.float32)
        warn_if_outside(m, *self.m_range_, owner=type(self).__name__)
        return torch.from_numpy(X).to(self.device_), torch.from_numpy(m).to(self.device_)

    def score_samples(self, X: Any, m: Any) -> np.ndarray:
        """Log density log p(x | m) per event, in the space of the inputs given to ``fit``.

        Parameters
        ----------
        X : array-like of shape (n_events, n_features)
        m : array-like of shape (n_events,)

        Returns
        -------
        numpy.ndarray of shape (n_events,), float64
            For an ensemble, the log of the mean of the members' densities.
        """
        Xt, mt = self._check_inputs(X, m)
        per_member = torch.stack(
            [batched(f.log_prob, Xt, mt, self.device_) for f in self.flows_]
        ).double()
        out = torch.logsumexp(per_member, 0) - np.log(len(self.flows_))
        return out.cpu().numpy()

    def sample(self, m: Any, random_state: int | None = None) -> np.ndarray:
        """Draw one x per condition value.

        Parameters
        ----------
        m : array-like of shape (n_events,)
            Conditions (e.g. masses from :mod:`ml.mass`).
        random_state : int or None
            Seed of this draw; same seed, same samples.

        Returns
        -------
        numpy.ndarray of shape (n_events, n_features), float64
        """
        check_fitted(self, "flows_")
        m = check_condition(m, dtype=np.float32)
        warn_if_outside(m, *self.m_range_, owner=type(self).__name__)
        seed = check_random_seed(random_state)
        gen = torch.Generator(device="cpu")
        if seed is None:
            gen.seed()
        else:
            gen.manual_seed(seed)
        n, k = m.shape[0], len(self.flows_)
        member = (
            torch.randint(k, (n,), generator=gen) if k > 1 else torch.zeros(n, dtype=torch.long)
        )
        z = torch.randn(n, self.n_features_in_, generator=gen)
        out = torch.empty(n, self.n_features_in_)
        mt = torch.from_numpy(m)
        for j, flow in enumerate(self.flows_):
            sel = (member == j).nonzero().squeeze(-1)
            if sel.numel():
                out[sel] = batched(flow.from_latent, z[sel], mt[sel], self.device_).cpu()
        return out.double().numpy()

    def transform(self, X: Any, m: Any, *, member: int = 0) -> np.ndarray:
        """Map X to the flow's standard-normal latent space at condition m.

        Parameters
        ----------
        X : array-like of shape (n_events, n_features)
        m : array-like of shape (n_events,)
        member : int, default 0
            Ensemble member whose latent space is used (the latent spaces of members differ).

        Returns
        -------
        numpy.ndarray of shape (n_events, n_features)
        """
        Xt, mt = self._check_inputs(X, m)
        flow = self._member(member)
        return (
            batched(lambda x, c: flow.to_latent(x, c)[0], Xt, mt, self.device_)
            .double()
            .cpu()
            .numpy()
        )

    def inverse_transform(self, Z: Any, m: Any, *, member: int = 0) -> np.ndarray:
        """Map latent Z back to feature space at condition m (inverse of :meth:`transform`)."""
        Zt, mt = self._check_inputs(Z, m, name="Z")
        flow = self._member(member)
        return batched(flow.from_latent, Zt, mt, self.device_).double().cpu().numpy()

    def _member(self, member: int) -> ConditionalMAF:
        if not 0 <= member < len(self.flows_):
            raise ValueError(
                f"member={member} out of range; this flow has {len(self.flows_)} member(s)"
            )
        return self.flows_[member]

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike[str]) -> None:
        """Write parameters, statistics and weights to ``path`` (torch format, atomic write)."""
        atomic_torch_save(self._get_state(), path)

    @classmethod
    def load(cls, path: str | os.PathLike[str], device: str | None = None) -> ConditionalFlow:
        """Load a flow written by :meth:`save` (optionally onto another ``device``)."""
        if not os.path.isfile(path):
            raise FileNotFoundError(f"no saved flow at {path}; expected a file written by save()")
        state = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(state, dict) or state.get("format") != _FORMAT:
            raise ValueError(
                f"{path} is not a ConditionalFlow file written by ConditionalFlow.save"
            )
        return cls._from_state(state, device=device)

    def _get_state(self) -> dict[str, Any]:
        """Everything :meth:`_from_state` needs, as torch-loadable primitives and tensors."""
        check_fitted(self, "flows_")
        return {
            "format": _FORMAT,
            "params": self.get_params(),
            "n_features_in": self.n_features_in_,
            "m_range": list(self.m_range_),
            "stats": {k: v.cpu() for k, v in self._stats.items()},
            "history": self.history_,
            "state_dicts": [{k: v.cpu() for k, v in f.state_dict().items()} for f in self.flows_],
        }

    @classmethod
    def _from_state(cls, state: dict[str, Any], device: str | None = None) -> ConditionalFlow:
        params = rename_params(state["params"])
        if device is not None:
            params["device"] = device
        self = cls(**params)
        self.device_ = resolve_device(self.device)
        self.n_features_in_ = int(state["n_features_in"])
        self.m_range_ = tuple(float(v) for v in state["m_range"])
        self._stats = state["stats"]
        self.history_ = state["history"]
        flows = []
        for sd in state["state_dicts"]:
            flow = self._build()
            flow.load_state_dict(sd)
            flows.append(flow.eval())
        self.flows_ = flows
        return self


def fit_flows(
    flows: Sequence[ConditionalFlow],
    data: Sequence[tuple[Any, Any, Any, Any]],
) -> list[ConditionalFlow]:
    """Fit several flows, training all their networks as one batched model where possible.

    Every member of every flow is trained exactly as :meth:`ConditionalFlow.fit` alone would
    train it (its initialization, events, batch order, batch-norm statistics, gradient clip and
    early stopping), up to floating-point rounding. The members are stacked into one batched
    model (:mod:`ml._batched_flow`) when every flow has ``stacked=True``, all share architecture,
    training settings and device, and all members have the same numbers of training and of
    validation events; otherwise they are trained one after the other.

    Parameters
    ----------
    flows : sequence of ConditionalFlow
        Unfitted estimators (fitted in place), e.g. one per seed of a CATHODE chain.
    data : sequence of (X, m, X_val, m_val)
        Per flow, as the arguments of :meth:`ConditionalFlow.fit` (X_val, m_val may be None).
        m is the condition (e.g. dimuon mass, GeV).

    Returns
    -------
    list of ConditionalFlow
        ``flows``, fitted.
    """
    if len(flows) != len(data):
        raise ValueError(f"{len(flows)} flows but {len(data)} data sets; give one per flow")
    members = [est._prepare(*d) for est, d in zip(flows, data, strict=True)]
    flat = [mem for group in members for mem in group]
    options = [est._training_options() for est in flows]
    stack = (
        len(flat) > 1
        and all(bool(est.stacked) for est in flows)
        and all(opt == options[0] for opt in options)
        and len({str(est.device_) for est in flows}) == 1
        and len({(mem.data[0].shape[0], mem.data[2].shape[0]) for mem in flat}) == 1
        and can_stack([mem.module for mem in flat])
    )
    verbose = any(bool(est.verbose) for est in flows)
    if stack:
        results = train_stacked(
            [mem.module for mem in flat], [mem.data for mem in flat],
            seeds=[mem.seed for mem in flat], verbose=verbose,
            desc=f"{len(flat)} flows", **options[0])
    else:
        results = [
            train_flow(mem.module, mem.data, seed=mem.seed, verbose=verbose, desc=mem.desc,
                       **opt)
            for group, opt in zip(members, options, strict=True) for mem in group
        ]
    start = 0
    for est, group in zip(flows, members, strict=True):
        est._finish(group, results[start:start + len(group)])
        start += len(group)
    return list(flows)
