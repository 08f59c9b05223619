"""Particle Flow Network (Deep Sets) classifier on per-object inputs, in torch.

An event is a set of objects (muons, jets; :mod:`ml.objects`); the network maps every object
through the same per-object network Φ, sums the latent vectors over the event's real objects and
classifies the sum with a second network F::

    logit(event) = F( Σ_objects mask_i · Φ(x_i) )

so its output does not depend on the order of the objects or on how many padding rows follow
them (Komiske, Metodiev, Thaler, arXiv:1810.05165; Zaheer et al., arXiv:1703.06114). The
particledist mass-bin test trained such a network between adjacent mass bins
(``../shared/seeds/001_38e599525fc75b58.txt``).

Same estimator contract as :mod:`ml.classifiers`, so :func:`ml.kfold.out_of_fold_scores` and the
methods that use it take it in place of the BDT::

    fit(X, y, *, sample_weight=None, X_val=None, y_val=None, sample_weight_val=None) -> self
    predict_proba(X) -> (n, 2)
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import torch

from ml._validation import check_fitted, check_objects, resolve_device
from ml.classifiers import (
    MLPClassifier,
    _check_labels,
    _check_weights,
    _seeds,
    _torch_threads,
    _validation_split,
    balanced_weights,
)

log = logging.getLogger(__name__)

__all__ = ["PFNClassifier", "object_mask"]

#: events per forward pass in predict_proba (bounds memory; does not change the result)
PREDICT_BATCH = 16_384


def object_mask(X: np.ndarray) -> np.ndarray:
    """Real objects of a padded array: rows with any non-zero feature, shape (n, n_objects)."""
    return (np.asarray(X) != 0).any(axis=-1)


class _DeepSet(torch.nn.Module):
    """Φ per object → masked sum → F; the input's last channel is the object mask (1 or 0)."""

    def __init__(self, n_in: int, phi_sizes: Sequence[int], f_sizes: Sequence[int]):
        super().__init__()
        layers, width = [], n_in
        for units in phi_sizes:
            layers += [torch.nn.Linear(width, int(units)), torch.nn.ReLU()]
            width = int(units)
        self.phi = torch.nn.Sequential(*layers)
        layers = []
        for units in f_sizes:
            layers += [torch.nn.Linear(width, int(units)), torch.nn.ReLU()]
            width = int(units)
        layers.append(torch.nn.Linear(width, 1))
        self.f = torch.nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mask = x[..., -1:]
        latent = (self.phi(x[..., :-1]) * mask).sum(dim=1)
        return self.f(latent)


class PFNClassifier(MLPClassifier):
    """Particle Flow Network / Deep Sets binary classifier with balanced weights, early stopping
    and an optional ensemble.

    Input convention: ``X`` has shape (n_events, n_objects, n_features); **padding rows are all
    zero** and every real object has at least one non-zero feature (the loader
    :func:`ml.objects.load_objects` guarantees it with its one-hot type flags
    ``is_muon``/``is_jet``), as in EnergyFlow's PFN. Features are standardized with the mean and
    width over the real objects of the training set; padding rows are masked out of the sum, so
    they never contribute. Events may have any number of padding rows at ``predict_proba``.

    Training is that of :class:`ml.classifiers.MLPClassifier` (the same loop): weighted binary
    cross-entropy with Adam, the weighted validation loss after each epoch, the best epoch's
    weights restored at the end.

    Parameters
    ----------
    phi_sizes : sequence of int
        Units per layer of the per-object network Φ (relu); the last is the latent size.
    f_sizes : sequence of int
        Units per hidden layer of the event network F (relu) after the sum.
    learning_rate, batch_size, max_epochs : float, int, int
    early_stopping : int or None
        Patience in epochs on the validation loss; None trains ``max_epochs`` epochs.
    class_weight : "balanced", dict or None
    validation_fraction : float
        Stratified fraction split off when ``fit`` gets no ``X_val``.
    n_models : int
        Independently seeded networks whose probabilities are averaged (ensemble).
    n_jobs : int or None
        torch intra-op threads while fitting/predicting (restored afterwards); None keeps
        torch's setting. On an oversubscribed machine use 1: on a shared 2-core machine
        (load ≈ 9) 2 threads trained 12-20× slower than 1 (``python -m benchmarks.pfn``).
    device : str
        ``"auto"`` (default: CUDA when available, else CPU), ``"cpu"`` or ``"cuda"``. The same
        seed gives the same network on the same device.
    random_state : int or None
    verbose : bool
        Progress bar over epochs (stderr).

    Attributes
    ----------
    models_ : list of torch.nn.Module
    history_ : list of dict
        Per model: ``train_loss``, ``val_loss`` per epoch and ``best_epoch``.
    mean_, scale_ : ndarray, shape (n_features,)
        Standardization over the real objects of the training set.
    n_features_in_ : int
        Features per object.

    References
    ----------
    P. T. Komiske, E. M. Metodiev, J. Thaler, arXiv:1810.05165 (Energy Flow Networks);
    M. Zaheer et al., arXiv:1703.06114 (Deep Sets).
    """

    def __init__(
        self,
        phi_sizes: Sequence[int] = (64, 64, 64),
        f_sizes: Sequence[int] = (64, 64),
        learning_rate: float = 1e-3,
        batch_size: int = 256,
        max_epochs: int = 50,
        early_stopping: int | None = 5,
        class_weight="balanced",
        validation_fraction: float = 0.2,
        n_models: int = 1,
        n_jobs: int | None = None,
        device: str = "auto",
        random_state=None,
        verbose: bool = False,
    ):
        self.phi_sizes = phi_sizes
        self.f_sizes = f_sizes
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.early_stopping = early_stopping
        self.class_weight = class_weight
        self.validation_fraction = validation_fraction
        self.n_models = n_models
        self.n_jobs = n_jobs
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def _build(self, n_in: int) -> torch.nn.Module:
        if not self.phi_sizes:
            raise ValueError("phi_sizes is empty; the per-object network needs >= 1 layer")
        return _DeepSet(n_in, self.phi_sizes, self.f_sizes)

    def _encode(self, X: np.ndarray, dev) -> torch.Tensor:
        """Standardized real objects, zero padding, and the mask as a last channel."""
        mask = object_mask(X)
        Z = np.where(mask[..., None], (X - self.mean_) / self.scale_, 0.0).astype(np.float32)
        Z = np.concatenate([Z, mask[..., None].astype(np.float32)], axis=-1)
        return torch.as_tensor(Z, device=dev)

    def fit(self, X, y, *, sample_weight=None, X_val=None, y_val=None, sample_weight_val=None):
        """Train ``n_models`` networks.

        Parameters
        ----------
        X : array, shape (n, n_objects, n_features)
            Padded objects (all-zero padding rows).
        y : array of 0/1, shape (n,)
        sample_weight : array, shape (n,), optional
        X_val, y_val, sample_weight_val : optional
            Validation set for early stopping (any ``n_objects``); split off ``X`` when absent.

        Returns
        -------
        self
        """
        if int(self.max_epochs) < 1 or int(self.batch_size) < 1 or int(self.n_models) < 1:
            raise ValueError(
                f"max_epochs={self.max_epochs}, batch_size={self.batch_size}, "
                f"n_models={self.n_models}; all must be >= 1"
            )
        seeds = _seeds(self.random_state, int(self.n_models) + 1)
        X = check_objects(X)
        y = _check_labels(y, len(X))
        w = _check_weights(sample_weight, len(X))
        if X_val is not None:
            X_val = check_objects(X_val, name="X_val", n_features=X.shape[2])
            if y_val is None:
                raise ValueError("X_val was given without y_val; pass both or neither")
            y_val = _check_labels(y_val, len(X_val), "y_val")
            w_val = _check_weights(sample_weight_val, len(X_val), "sample_weight_val")
        else:
            (X, y, w), (X_val, y_val, w_val) = _validation_split(
                X, y, w, self.validation_fraction, seeds[-1]
            )
        w = balanced_weights(y, w, self.class_weight)
        w_val = balanced_weights(y_val, w_val, self.class_weight)
        real = X[object_mask(X)]
        if len(real) == 0:
            raise ValueError("X holds no object (every row is all-zero padding)")
        self.mean_ = real.mean(axis=0, dtype=np.float64)
        std = real.std(axis=0, dtype=np.float64)
        self.scale_ = np.where(std > 0, std, 1.0)
        dev = resolve_device(self.device)

        def tensors(a, b, c):
            return (self._encode(a, dev), *(
                torch.as_tensor(v, dtype=torch.float32, device=dev) for v in (b, c)))

        tr, va = tensors(X, y, w), tensors(X_val, y_val, w_val)
        self.models_, self.history_ = [], []
        with _torch_threads(self.n_jobs):
            for seed in seeds[:-1]:
                model, hist = self._fit_one(tr, va, seed, dev, X.shape[2])
                self.models_.append(model.cpu())
                self.history_.append(hist)
        self.n_features_in_ = X.shape[2]
        log.debug("PFN: best epochs %s", [h["best_epoch"] for h in self.history_])
        return self

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities averaged over the networks, shape (n, 2)."""
        check_fitted(self, "models_")
        X = check_objects(X, n_features=self.n_features_in_)
        p = np.zeros(len(X))
        with torch.no_grad(), _torch_threads(self.n_jobs):
            for start in range(0, len(X), PREDICT_BATCH):
                xt = self._encode(X[start : start + PREDICT_BATCH], torch.device("cpu"))
                for model in self.models_:
                    p[start : start + len(xt)] += (
                        torch.sigmoid(model(xt).squeeze(1)).double().numpy()
                    )
        p /= len(self.models_)
        return np.column_stack([1.0 - p, p])
