"""The result object of a discovery test and the input checks shared by the significance API.

:class:`SignificanceResult` never carries a number that looks valid when the fit failed: a failed
result has ``converged=False``, ``Z = p_value = NaN`` and a ``message`` saying why (enforced in
``__post_init__``).
"""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

__all__ = ["SignificanceResult", "failed_result", "check_masses"]

_NAN = float("nan")


@dataclass(frozen=True)
class SignificanceResult:
    """Outcome of one discovery test (counts in events; weighted sums for weighted fits).

    Attributes
    ----------
    Z : float
        Discovery significance ``√q0`` (≥ 0); NaN only when ``converged`` is False.
    p_value : float
        One-sided p-value ``1 - Φ(Z)`` (0.5 for a deficit); NaN when not converged.
    s_fit : float
        Fitted signal in the SR (negative for a deficit).
    b_fit : float
        Background predicted in the SR by the free fit (the sideband interpolation).
    b_fit_unc : float
        Uncertainty of ``b_fit`` from the fit (inverse Fisher information of the sidebands).
    params : dict
        Best-fit parameters of the free fit, ``{name: value}`` (pyhf names: ``bkg_c0``.., ``mu``).
    workspace : dict or None
        The pyhf workspace (schema 1.0.0) with the observations; None for non-pyhf shapes or when
        not requested.
    converged : bool
        Both fits converged.
    message : str
        Why it failed, or notes on retries.
    Z_signed : float
        ``sign(ŝ) √t0``: negative for a deficit.
    q0 : float
        The test statistic ``Z²``.
    n_sr, n_sb : float
        Observed (weighted) counts in the SR and in the sideband bins.
    params_bkg_only : dict
        Best-fit parameters with ``mu = 0``.
    gof : dict
        Goodness of fit of the sidebands by the free fit (:func:`stats.gof.goodness_of_fit`):
        ``chi2``, ``ndf``, ``chi2_ndf``, ``deviance``, ``p_saturated``, ``bad_fit``.
    bad_fit : bool
        The background fit does not describe the sidebands: saturated-model p-value below
        :data:`stats.gof.BAD_FIT_P_VALUE` (1e-3).  Z is still computed but should not be trusted;
        ``message`` says so.
    fpr, threshold, fpr_sideband : float or None
        For cuts: the target false-positive rate, the score threshold and the fraction of
        sideband events that pass.
    info : dict
        Anything else (weight scale ``k``, reweighting ``mu``, degree, background shape).
    """

    Z: float
    p_value: float
    s_fit: float
    b_fit: float
    b_fit_unc: float
    params: dict[str, float]
    workspace: dict | None
    converged: bool
    message: str = ""
    Z_signed: float = _NAN
    q0: float = _NAN
    n_sr: float = _NAN
    n_sb: float = _NAN
    params_bkg_only: dict[str, float] = field(default_factory=dict)
    gof: dict[str, float] = field(default_factory=dict)
    fpr: float | None = None
    threshold: float | None = None
    fpr_sideband: float | None = None
    info: dict[str, Any] = field(default_factory=dict)
    bad_fit: bool = False

    def __post_init__(self) -> None:
        if self.converged and not (math.isfinite(self.Z) and math.isfinite(self.p_value)):
            raise ValueError(
                f"a converged SignificanceResult needs finite Z and p, got {self.Z}, {self.p_value}"
            )
        if not self.converged and (math.isfinite(self.Z) or math.isfinite(self.p_value)):
            raise ValueError("a failed SignificanceResult must carry Z = p_value = NaN")

    @property
    def ok(self) -> bool:
        """Alias of ``converged``."""
        return self.converged

    def to_dict(self, *, workspace: bool = False) -> dict[str, Any]:
        """Plain-python summary (JSON-serialisable), without the workspace unless asked."""
        out = dataclasses.asdict(self)
        if not workspace:
            out.pop("workspace")
        return out


def failed_result(message: str, **kwargs: Any) -> SignificanceResult:
    log.warning("significance not computed: %s", message)
    return SignificanceResult(
        Z=_NAN,
        p_value=_NAN,
        s_fit=_NAN,
        b_fit=_NAN,
        b_fit_unc=_NAN,
        params={},
        workspace=None,
        converged=False,
        message=message,
        **kwargs,
    )


def check_masses(masses: np.ndarray) -> np.ndarray:
    m = np.asarray(masses, dtype=np.float64)
    if m.ndim != 1:
        raise ValueError(f"masses must be a 1-d array of dimuon masses in GeV, got shape {m.shape}")
    if not np.all(np.isfinite(m)):
        raise ValueError(
            f"masses contain {int(np.sum(~np.isfinite(m)))} non-finite values; drop them first"
        )
    return m
