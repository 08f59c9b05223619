"""Input checks shared by the estimators of :mod:`ml` (private).

Every estimator validates at its boundary: array shapes, finite values, fitted state and the range
of the condition ``m``. The helpers here raise built-in exceptions whose message names the
argument, the offending value and what was expected, so errors read the same across estimators.
They also hold the few torch utilities every estimator needs (device choice, atomic save).
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from dimuon_ad.io import atomic_open

log = logging.getLogger(__name__)

__all__ = [
    "NotFittedError",
    "atomic_torch_save",
    "check_condition",
    "check_features",
    "check_objects",
    "check_rows",
    "check_fitted",
    "check_random_seed",
    "resolve_device",
    "warn_if_outside",
]


def _check_finite(arr: np.ndarray, name: str) -> None:
    """Raise ValueError naming the first non-finite entry of ``arr``."""
    bad = ~np.isfinite(arr)
    if bad.any():
        idx = np.argwhere(bad)[0]
        where = tuple(int(i) for i in idx)
        raise ValueError(
            f"{name} contains {int(bad.sum())} NaN/inf value(s) (first at index {where}: "
            f"{float(arr[tuple(idx)])}); expected finite numbers -- drop or impute those events"
        )


def _as_numeric(X: Any, name: str, dtype: Any) -> np.ndarray:
    """``np.asarray(X, dtype)``, a TypeError naming ``name`` for non-numeric input."""
    try:
        return np.asarray(X, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"{name} must be a numeric array-like, got {type(X).__name__}: {exc}"
        ) from exc


def check_features(
    X: Any, *, name: str = "X", n_features: int | None = None, dtype: Any = np.float64
) -> np.ndarray:
    """Return ``X`` as a finite 2-D float array of shape (n_events, n_features).

    Parameters
    ----------
    X : array-like of shape (n_events, n_features)
        Feature matrix. A 1-D array is rejected (ambiguous: one feature or one event).
    name : str
        Argument name used in error messages.
    n_features : int, optional
        Expected number of columns (the number seen in ``fit``).
    dtype : numpy dtype
        Output dtype.

    Returns
    -------
    numpy.ndarray
        C-contiguous array of ``dtype``.

    Raises
    ------
    ValueError
        Wrong number of dimensions or columns, no events, or NaN/inf entries.
    TypeError
        Non-numeric input.
    """
    arr = _as_numeric(X, name, dtype)
    if arr.ndim != 2:
        raise ValueError(
            f"{name} must be 2-D (n_events, n_features), got shape {arr.shape}; "
            f"use X.reshape(-1, 1) for a single feature"
        )
    if arr.shape[0] == 0:
        raise ValueError(f"{name} has no events (shape {arr.shape}); expected at least one row")
    if n_features is not None and arr.shape[1] != n_features:
        raise ValueError(
            f"{name} has {arr.shape[1]} features (shape {arr.shape}) but the estimator was fitted "
            f"with {n_features}; pass the same feature columns as in fit"
        )
    _check_finite(arr, name)
    return np.ascontiguousarray(arr)


def check_objects(
    X: Any, *, name: str = "X", n_features: int | None = None, dtype: Any = np.float32
) -> np.ndarray:
    """Return ``X`` as a finite 3-D float array of shape (n_events, n_objects, n_features).

    The per-object input of :class:`ml.pfn.PFNClassifier`; padding rows are all zero.

    Raises
    ------
    ValueError
        Wrong number of dimensions or features, no events or objects, or NaN/inf entries.
    TypeError
        Non-numeric input.
    """
    arr = _as_numeric(X, name, dtype)
    if arr.ndim != 3:
        raise ValueError(
            f"{name} must be 3-D (n_events, n_objects, n_features), got shape {arr.shape}; "
            "pad each event's objects with all-zero rows (ml.objects.load_objects)"
        )
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} has no events or no objects (shape {arr.shape})")
    if n_features is not None and arr.shape[2] != n_features:
        raise ValueError(
            f"{name} has {arr.shape[2]} features per object (shape {arr.shape}) but the estimator "
            f"was fitted with {n_features}; pass the same object features as in fit"
        )
    _check_finite(arr, name)
    return np.ascontiguousarray(arr)


def check_rows(X: Any, *, name: str = "X", n_features: int | None = None) -> np.ndarray:
    """:func:`check_objects` for a 3-D ``X`` (per-object inputs), else :func:`check_features`:
    the check of code that only indexes events (rows), such as :mod:`ml.kfold`."""
    if np.ndim(X) == 3:
        return check_objects(X, name=name, n_features=n_features)
    return check_features(X, name=name, n_features=n_features)


def check_condition(
    m: Any, *, n_events: int | None = None, name: str = "m", dtype: Any = np.float64
) -> np.ndarray:
    """Return the condition ``m`` (e.g. the dimuon mass in GeV) as a finite 1-D array.

    Parameters
    ----------
    m : array-like of shape (n_events,) or (n_events, 1)
        Conditioning variable, one value per event.
    n_events : int, optional
        Required length (the number of rows of the matching ``X``).
    name : str
        Argument name used in error messages.
    dtype : numpy dtype
        Output dtype.

    Returns
    -------
    numpy.ndarray of shape (n_events,)

    Raises
    ------
    ValueError
        Wrong shape, length mismatch, no events, or NaN/inf entries.
    TypeError
        Non-numeric input.
    """
    arr = _as_numeric(m, name, dtype)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(
            f"{name} must be 1-D (n_events,) or (n_events, 1), got shape {arr.shape}; "
            f"pass one condition value per event"
        )
    if arr.shape[0] == 0:
        raise ValueError(f"{name} has no events; expected at least one value")
    if n_events is not None and arr.shape[0] != n_events:
        raise ValueError(
            f"{name} has {arr.shape[0]} values but X has {n_events} events; "
            f"expected one {name} per row of X"
        )
    _check_finite(arr, name)
    return np.ascontiguousarray(arr)


def check_fitted(estimator: Any, attributes: str | list[str] | None = None) -> None:
    """Raise :class:`sklearn.exceptions.NotFittedError` unless ``estimator`` has been fitted.

    The message says which estimator and how to fix it ("call fit(...) first").
    """
    msg = (
        f"This {type(estimator).__name__} instance is not fitted yet; call fit(...) with "
        f"training data before using this method."
    )
    check_is_fitted(estimator, attributes=attributes, msg=msg)


def warn_if_outside(
    values: np.ndarray,
    low: float,
    high: float,
    *,
    name: str = "m",
    owner: str = "estimator",
    tolerance: float = 1e-3,
) -> int:
    """Warn (UserWarning) when values fall outside the range ``[low, high]`` seen in fit.

    Values within ``tolerance × (high − low)`` of the range are accepted (a finite sample never
    reaches the true edges of its distribution).

    Parameters
    ----------
    values : numpy.ndarray
        Values to check (any shape).
    low, high : float
        Range seen during fit.
    name, owner : str
        Argument and estimator names for the message.
    tolerance : float
        Accepted overshoot as a fraction of the range width.

    Returns
    -------
    int
        Number of values outside the range (0 when no warning was issued).
    """
    values = np.asarray(values)
    slack = tolerance * (high - low)
    outside = (values < low - slack) | (values > high + slack)
    n_out = int(outside.sum())
    if n_out:
        warnings.warn(
            f"{n_out} of {values.size} {name} value(s) lie outside the range "
            f"[{low:.6g}, {high:.6g}] seen in {owner}.fit (min {values.min():.6g}, "
            f"max {values.max():.6g}); the model extrapolates there and results are unreliable",
            UserWarning,
            stacklevel=3,
        )
    return n_out


def check_random_seed(random_state: Any, *, name: str = "random_state") -> int | None:
    """Validate a seed: None or a non-negative int (numpy integers accepted).

    Returns
    -------
    int or None
    """
    if random_state is None:
        return None
    if isinstance(random_state, bool) or not isinstance(random_state, (int, np.integer)):
        raise TypeError(
            f"{name} must be None or a non-negative int, got {random_state!r} "
            f"({type(random_state).__name__})"
        )
    if random_state < 0:
        raise ValueError(f"{name} must be a non-negative int, got {random_state}")
    return int(random_state)


def resolve_device(device: Any) -> Any:
    """Return a ``torch.device``: "auto" picks CUDA when available, else CPU.

    Raises
    ------
    ValueError
        Unknown device string, or "cuda" requested without a GPU.
    """
    import torch

    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(
            f"device={device!r} is not a valid torch device; expected 'auto', 'cpu' or 'cuda[:N]'"
        ) from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device={device!r} requested but CUDA is not available; use 'auto' or 'cpu'"
        )
    return dev


def atomic_torch_save(obj: Any, path: str | os.PathLike[str]) -> Path:
    """Write ``obj`` with ``torch.save`` atomically (:func:`dimuon_ad.io.atomic_open`).

    A crash mid-write never leaves a truncated file at ``path``; the folder must exist.
    """
    import torch

    with atomic_open(path, mkdir=False) as fh:
        torch.save(obj, fh)
    log.debug("saved %s", path)
    return Path(path)
