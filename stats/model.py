"""The bump-hunt likelihood as a pyhf HistFactory model, and its robust profile-likelihood fits.

Channels (pyhf orders them by name):

* ``sidebands`` – every sideband bin (left then right);
* ``signal_region`` – one counting bin over the whole SR (default, as in arXiv:2502.14036) or its
  fine bins (``sr_fine=True``).

Samples: ``bernstein_k`` (k = 0..degree), the Bernstein basis integrated over each bin
(:mod:`stats.background`), each with its own ``normfactor`` ``bkg_c{k}``; ``signal`` in the SR only,
scaled by the ``normfactor`` ``mu`` (the POI).  Normfactors are kept O(1): each basis sample is
scaled so that it alone holds ``1/(degree+1)`` of the sideband counts the model was built for, and
the signal sample holds ``sqrt(B_SR)`` events, so ``mu = 1`` is a one-sigma-sized excess.

Bounds: ``bkg_c{k}`` in ``[-50 (degree+1), 50 (degree+1)]`` (free coefficients, the published
plain polynomial).  A fit on few events (tight cuts) with free coefficients can end with a
negative background in empty sideband bins and in the SR (pyhf's Poisson term
``xlogy(n, λ) - λ`` rewards ``λ < 0`` where ``n = 0``), which the free ``mu`` compensates with a
huge fake Z.  So when either fit ends with an expectation ``<= 1e-6`` events in any sideband bin,
fine SR bin or the SR bin (:attr:`BumpModel.constraint_matrix`), both fits are repeated with the
coefficients bounded at 0: a Bernstein polynomial with non-negative coefficients is non-negative
everywhere on the window.  The bounds of the fit that is reported are written into the workspace
(``measurements[].config.parameters``), so pyhf alone on the saved workspace runs the same fits
and gives the same Z (tested on every workspace the significance API writes).  Non-negative
coefficients are sufficient, not necessary, for a positive polynomial and bias the fit when a
true coefficient is near 0, which is why they are the fallback and not the rule: with them always
on (``positive_coefficients=True``), background-only toys of 12 k events gave a mean signed Z of
-0.10 and P(Z > 2) = 0.012 instead of 0.023 (1000 toys), against -0.04 and 0.016 with the
fallback (KS p of the p-values 0.0005 against 0.13).
``mu`` runs over ``±max(20, 5 (B_SR + 10)/s_nominal)`` (a deficit may be fitted, so the signed Z
is defined).  Fits that end on an upper bound are repeated with the bound widened 10× (the
widened bounds go into the workspace).

Fits are pyhf's own maximum-likelihood fits (:func:`pyhf.infer.mle.fit` and
:func:`pyhf.infer.mle.fixed_poi_fit`, numpy backend, scipy SLSQP), exactly what
``pyhf.infer.test_statistics.q0`` runs on the workspace: the free fit, then the background-only
fit started from the free fit's optimum (the workspace's ``inits``).  The likelihood is convex in
the parameters (Poisson terms of expectations linear in them), so the optimum is unique.
Starting values come from a non-negative least-squares fit refined by a few Poisson IRLS steps
(:meth:`BumpModel.refine_pars`); a failed minimization is retried from other starting points
(flat polynomial, seeded jitter) before it is reported as failed.

An empty SR (``n_SR = 0``) with a free ``mu`` has no minimum with a non-negative SR expectation
(the Poisson term ``-λ`` rewards ``λ < 0``); its free fit is the sideband fit with the SR
expectation at 0, computed from the fit of the same data with ``n_SR = 1`` (the free fit does not
depend on ``n_SR`` while ``mu`` saturates the SR bin).  Its Z is 0 either way (``mu_hat < 0``).
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import pyhf
from scipy.optimize import nnls

from stats.background import bernstein_bin_integrals
from stats.binning import Binning

log = logging.getLogger(__name__)

__all__ = ["BumpModel", "FitOutcome", "numpy_backend"]

POI = "mu"
_UPPER_C = 50.0
#: smallest expected count (events) allowed in any bin, for the background and for background+signal
MIN_EXPECTED = 1e-6


@contextmanager
def numpy_backend():
    """Run pyhf with the numpy backend and the scipy optimizer, restoring the previous backend."""
    tensorlib, optimizer = pyhf.get_backend()
    same = tensorlib.name == "numpy" and optimizer.name == "scipy"
    if not same:
        pyhf.set_backend("numpy", pyhf.optimize.scipy_optimizer())
    try:
        yield
    finally:
        if not same:
            pyhf.set_backend(tensorlib, optimizer)


class _DropRecords(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:  # noqa: ARG002
        return False


@contextmanager
def _quiet_pyhf_optimizer():
    """Silence pyhf's error log (with traceback) of a failed minimization that we retry."""
    logger = logging.getLogger("pyhf.optimize.mixins")
    drop = _DropRecords()
    logger.addFilter(drop)
    try:
        yield
    finally:
        logger.removeFilter(drop)


@dataclass
class FitOutcome:
    """Result of the two profile-likelihood fits (free ``mu`` and ``mu = 0``) of one data set.

    Attributes
    ----------
    converged : bool
        Both fits succeeded with finite likelihoods.
    message : str
        Empty when all went well; the reason otherwise (also notes retries).
    pars_free, pars_bkg : numpy.ndarray
        Best-fit parameters (pyhf order) of the free and background-only fit.
    twice_nll_free, twice_nll_bkg : float
        ``-2 ln L`` at the two minima.
    t0 : float
        ``twice_nll_bkg - twice_nll_free`` clipped at 0.
    bounds : list of (float, float)
        Parameter bounds of both fits (pyhf order), as written into the workspace.
    """

    converged: bool
    message: str = ""
    pars_free: np.ndarray | None = None
    pars_bkg: np.ndarray | None = None
    twice_nll_free: float = float("nan")
    twice_nll_bkg: float = float("nan")
    t0: float = float("nan")
    retries: list[str] = field(default_factory=list)
    bounds: list[tuple[float, float]] | None = None


class BumpModel:
    """Sideband polynomial + SR signal model on a fixed binning, reusable across data sets.

    Parameters
    ----------
    binning : Binning
        From :func:`stats.binning.make_bins`.
    degree : int
        Degree of the Bernstein polynomial (default 5, as published).
    n_sb_expected : float
        Sideband count the sample normalisations are scaled to (keeps normfactors O(1)).
    b_sr_expected : float
        SR background the signal sample is scaled to: ``s_nominal = sqrt(b_sr_expected)``.
    sr_fine : bool
        Use the fine SR bins as separate bins instead of one counting bin.
    signal_shape : array_like, optional
        Fraction of the signal in each fine SR bin (``sr_fine=True`` only; default: flat).
    positive_coefficients : bool
        Always bound the Bernstein coefficients at 0 (default: only when the free-coefficient fit
        ends with an expectation <= 0, see the module docstring).
    """

    def __init__(
        self,
        binning: Binning,
        degree: int = 5,
        *,
        n_sb_expected: float,
        b_sr_expected: float,
        sr_fine: bool = False,
        signal_shape: np.ndarray | None = None,
        positive_coefficients: bool = False,
    ) -> None:
        self.binning = binning
        self.positive_coefficients = bool(positive_coefficients)
        self.degree = int(degree)
        self.sr_fine = bool(sr_fine)
        integrals = bernstein_bin_integrals(binning.edges, self.degree, binning.low, binning.high)
        sb = integrals[binning.sb_mask]
        sr_fine_int = integrals[binning.sr_mask]
        sr = sr_fine_int if self.sr_fine else sr_fine_int.sum(axis=0, keepdims=True)
        n_sb = max(float(n_sb_expected), 1.0)
        self.scales = n_sb / (self.degree + 1) / sb.sum(axis=0)
        self.basis_sb = sb * self.scales
        self.basis_sr = sr * self.scales
        #: the scaled basis in every bin of the binning (sidebands and fine SR bins, in order)
        self.basis_bins = integrals * self.scales
        self.s_nominal = float(np.sqrt(max(float(b_sr_expected), 1.0)))
        n_sr_bins = self.basis_sr.shape[0]
        if signal_shape is None:
            shape = np.full(n_sr_bins, 1.0 / n_sr_bins)
        else:
            if not self.sr_fine:
                raise ValueError("signal_shape needs sr_fine=True (one fraction per fine SR bin)")
            shape = np.asarray(signal_shape, dtype=np.float64)
            if shape.shape != (n_sr_bins,) or np.any(shape < 0) or shape.sum() <= 0:
                raise ValueError(
                    f"signal_shape must be {n_sr_bins} non-negative fractions, got {signal_shape!r}"
                )
            shape = shape / shape.sum()
        self.signal_sr = self.s_nominal * shape
        self.spec = self._channels()
        with numpy_backend():
            self.model = pyhf.Model(self.spec, poi_name=POI, validate=True)
        cfg = self.model.config
        self.par_names = list(cfg.par_order)
        self.poi_index = cfg.poi_index
        self._bkg_idx = np.array([cfg.par_slice(f"bkg_c{k}").start for k in range(self.degree + 1)])
        self._slices = {ch: cfg.channel_slices[ch] for ch in cfg.channels}
        # linear structure: expected counts = A @ pars (pyhf parameter and bin order)
        n_bins = sum(cfg.channel_nbins.values())
        self.A = np.zeros((n_bins, cfg.npars))
        self.A[self._slices["sidebands"], self._bkg_idx] = self.basis_sb
        self.A[self._slices["signal_region"], self._bkg_idx] = self.basis_sr
        self.A[self._slices["signal_region"], self.poi_index] = self.signal_sr
        # positivity: background in every sideband and fine SR bin, background + signal in every
        # modelled SR bin, all >= MIN_EXPECTED events (rows of constraint_matrix @ pars)
        g_fine = np.zeros((sr_fine_int.shape[0], cfg.npars))
        g_fine[:, self._bkg_idx] = sr_fine_int * self.scales
        self._n_bkg_rows = self.basis_sb.shape[0] + g_fine.shape[0]
        self.constraint_matrix = np.vstack(
            [self.A[self._slices["sidebands"]], g_fine, self.A[self._slices["signal_region"]]]
        )
        c_low = 0.0 if self.positive_coefficients else -_UPPER_C * (self.degree + 1)
        self.base_bounds = [(c_low, _UPPER_C * (self.degree + 1))] * cfg.npars
        b_sr = float(b_sr_expected)
        mu_max = max(20.0, 5.0 * (b_sr + 10.0) / self.s_nominal)
        self.base_bounds[self.poi_index] = (-mu_max, mu_max)

    # ----------------------------------------------------------------------------------------
    @classmethod
    def from_counts(
        cls, binning: Binning, counts: np.ndarray, degree: int = 5, **kwargs
    ) -> BumpModel:
        """Build a model scaled to the given per-bin counts (all bins of ``binning``)."""
        counts = np.asarray(counts, dtype=np.float64)
        n_sb = counts[binning.sb_mask].sum()
        # rough SR background: sideband density per GeV interpolated linearly is good enough here
        width_sb = np.diff(binning.edges)[binning.sb_mask].sum()
        width_sr = np.diff(binning.edges)[binning.sr_mask].sum()
        b_sr = max(n_sb * width_sr / max(width_sb, 1e-12), counts[binning.sr_mask].sum() * 0.5)
        return cls(binning, degree, n_sb_expected=n_sb, b_sr_expected=b_sr, **kwargs)

    def _channels(self) -> dict:
        bkg_sb, bkg_sr = [], []
        for k in range(self.degree + 1):
            mod = [{"name": f"bkg_c{k}", "type": "normfactor", "data": None}]
            bkg_sb.append(
                {"name": f"bernstein_{k}", "data": self.basis_sb[:, k].tolist(), "modifiers": mod}
            )
            bkg_sr.append(
                {"name": f"bernstein_{k}", "data": self.basis_sr[:, k].tolist(), "modifiers": mod}
            )
        signal = {
            "name": "signal",
            "data": self.signal_sr.tolist(),
            "modifiers": [{"name": POI, "type": "normfactor", "data": None}],
        }
        return {
            "channels": [
                {"name": "sidebands", "samples": bkg_sb},
                {"name": "signal_region", "samples": [*bkg_sr, signal]},
            ]
        }

    def parameter_bounds(self, *, positive: bool | None = None) -> list[tuple[float, float]]:
        """Bounds used in the fits: list of ``(low, high)`` per parameter in pyhf order.

        ``positive=True`` bounds the Bernstein coefficients at 0 (default: as the model was built).
        """
        bounds = list(self.base_bounds)
        if positive:
            for j in self._bkg_idx:
                bounds[j] = (0.0, bounds[j][1])
        return bounds

    def background_positive(self, pars: np.ndarray) -> bool:
        """Whether every constrained expectation (see :attr:`constraint_matrix`) is > 0."""
        return bool(np.all(self.constraint_matrix @ np.asarray(pars, dtype=np.float64) > 0))

    def _bkg_feasible(self, theta: np.ndarray) -> bool:
        """Background-only rows of the constraint (sideband and fine SR bins) > 0."""
        rows = self.constraint_matrix[: self._n_bkg_rows][:, self._bkg_idx]
        return bool(np.all(rows @ theta > 0))

    # ----------------------------------------------------------------------------------------
    def split_counts(self, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-bin counts of the full binning → (sideband bins, SR bins as modelled)."""
        counts = np.asarray(counts, dtype=np.float64)
        if counts.shape != (self.binning.n_bins,):
            raise ValueError(f"expected {self.binning.n_bins} bin counts, got shape {counts.shape}")
        sb = counts[self.binning.sb_mask]
        sr = counts[self.binning.sr_mask]
        return sb, (sr if self.sr_fine else sr.sum(keepdims=True))

    def data_vector(self, counts: np.ndarray) -> np.ndarray:
        """Per-bin counts of the full binning → the observation vector in pyhf bin order."""
        sb, sr = self.split_counts(counts)
        data = np.empty(self.A.shape[0])
        data[self._slices["sidebands"]] = sb
        data[self._slices["signal_region"]] = sr
        return data

    def observations(self, data: np.ndarray) -> list[dict]:
        """pyhf workspace ``observations`` for a data vector (pyhf bin order)."""
        return [
            {"name": ch, "data": np.asarray(data)[sl].tolist()} for ch, sl in self._slices.items()
        ]

    def expected(self, pars: np.ndarray) -> np.ndarray:
        """Expected counts (pyhf bin order) for parameters in pyhf order."""
        return self.A @ np.asarray(pars, dtype=np.float64)

    def sideband_expected(self, pars: np.ndarray) -> np.ndarray:
        """Expected counts in the sideband bins (left then right), events."""
        return self.basis_sb @ np.asarray(pars, dtype=np.float64)[self._bkg_idx]

    def background_sr(self, pars: np.ndarray) -> float:
        """Background expected in the whole SR, events."""
        return float(self.basis_sr.sum(axis=0) @ np.asarray(pars)[self._bkg_idx])

    def background_sr_uncertainty(self, pars: np.ndarray) -> float:
        """Uncertainty on :meth:`background_sr` from the sideband fit, events.

        :meth:`background_band`'s propagation applied to the SR integral of the polynomial.
        """
        return float(self._propagate(self.basis_sr.sum(axis=0, keepdims=True), pars)[0])

    def background_band(self, pars: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Fitted background and its ±1σ uncertainty in every bin of the binning, events.

        The polynomial at ``pars`` is evaluated in every bin (sidebands and fine SR bins, in
        the binning's order); its covariance is the inverse expected Fisher information of the
        sideband bins at ``pars``, ``F = Σ_i a_i a_iᵀ / λ_i``, propagated linearly to each bin.

        Returns
        -------
        expected, sigma : numpy.ndarray
            One value per bin of :attr:`binning`.
        """
        theta = np.asarray(pars, dtype=np.float64)[self._bkg_idx]
        return self.basis_bins @ theta, self._propagate(self.basis_bins, pars)

    def _propagate(self, rows: np.ndarray, pars: np.ndarray) -> np.ndarray:
        """σ of ``rows @ θ`` for the polynomial coefficients θ of ``pars`` (sideband Fisher
        information, pseudo-inverted)."""
        theta = np.asarray(pars)[self._bkg_idx]
        lam = np.clip(self.basis_sb @ theta, 1e-12, None)
        fisher = (self.basis_sb / lam[:, None]).T @ self.basis_sb
        cov = np.linalg.pinv(fisher, rcond=1e-12, hermitian=True)
        return np.sqrt(np.clip([row @ cov @ row for row in rows], 0.0, None))

    def initial_pars(self, data: np.ndarray, *, positive: bool | None = None) -> np.ndarray:
        """Starting point: weighted (non-negative) least squares of the polynomial on the sidebands.

        Plain least squares when the coefficients may be negative and the result is positive in
        every sideband and fine SR bin; non-negative least squares otherwise (``positive=True``
        forces it; default: as the model was built).
        """
        positive = self.positive_coefficients if positive is None else positive
        sb = data[self._slices["sidebands"]]
        w = 1.0 / np.sqrt(np.maximum(sb, 1.0))
        a, y = self.basis_sb * w[:, None], sb * w
        theta = None
        if not positive:
            theta = np.linalg.lstsq(a, y, rcond=None)[0]
            if not self._bkg_feasible(theta):
                theta = None
        if theta is None:
            theta = np.clip(nnls(a, y, maxiter=50 * (self.degree + 1))[0], 1e-3, None)
        lo_c, hi_c = self.base_bounds[self._bkg_idx[0]]
        pars = np.zeros(self.model.config.npars)
        pars[self._bkg_idx] = np.clip(theta, 0.9 * lo_c, 0.9 * hi_c)
        n_sr = data[self._slices["signal_region"]].sum()
        lo, hi = self.base_bounds[self.poi_index]
        pars[self.poi_index] = self._mu_start(n_sr, pars)
        return pars

    def _mu_start(self, n_sr: float, pars: np.ndarray) -> float:
        """``mu`` putting the SR expectation at the observed count (or just above 0), in bounds."""
        lo, hi = self.base_bounds[self.poi_index]
        b_sr = self.background_sr(pars)
        target = max(n_sr, min(b_sr, 0.0) + 1e-3 * max(b_sr, 1.0))
        return float(np.clip((target - b_sr) / self.s_nominal, lo * 0.9, hi * 0.9))

    def refine_pars(
        self, data: np.ndarray, pars: np.ndarray, *, with_sr: bool, n_iter: int = 8
    ) -> np.ndarray:
        """A few Poisson IRLS (Fisher scoring) steps for the polynomial coefficients.

        The expected counts are linear in the coefficients, so ``θ ← θ + (AᵀWA)⁻¹ Aᵀ(n - λ)/λ``
        converges in a handful of steps; it only provides starting values for pyhf's fit.
        ``with_sr`` includes the SR bins at ``mu = 0`` (background-only fit); otherwise only the
        sidebands (the free fit, whose SR bin is saturated by ``mu``).
        """
        a = self.basis_sb
        n = data[self._slices["sidebands"]]
        if with_sr:
            a = np.vstack([a, self.basis_sr])
            n = np.concatenate([n, data[self._slices["signal_region"]]])
        theta = np.asarray(pars, dtype=np.float64)[self._bkg_idx].copy()
        lo, hi = self.base_bounds[self._bkg_idx[0]]
        for _ in range(n_iter):
            lam = a @ theta
            if np.any(lam <= 0):
                break
            step = np.linalg.lstsq((a / lam[:, None]).T @ a, a.T @ ((n - lam) / lam), rcond=None)[0]
            new = theta + step
            if not self._bkg_feasible(new) or np.any(new < lo) or np.any(new > hi):
                break
            theta = new
            if np.max(np.abs(step)) < 1e-10:
                break
        out = np.asarray(pars, dtype=np.float64).copy()
        out[self._bkg_idx] = theta
        if not with_sr:
            out[self.poi_index] = self._mu_start(data[self._slices["signal_region"]].sum(), out)
        return out

    # ----------------------------------------------------------------------------------------
    def _one_fit(self, data, init, bounds, fix_mu: bool):
        """One pyhf fit (public API): (pars, twice_nll, reason), pars None on failure."""
        init = [float(x) for x in init]
        try:
            with numpy_backend(), np.errstate(all="ignore"), _quiet_pyhf_optimizer():
                if fix_mu:
                    pars, val = pyhf.infer.mle.fixed_poi_fit(
                        0.0, data, self.model, init, bounds, return_fitted_val=True
                    )
                else:
                    pars, val = pyhf.infer.mle.fit(
                        data, self.model, init, bounds, return_fitted_val=True
                    )
        except pyhf.exceptions.FailedMinimization as err:
            log.debug(
                "pyhf fit (mu %s) failed: %s", "fixed" if fix_mu else "free", err.result.message
            )
            return None, float("nan"), f"minimization failed: {err.result.message}"
        except (ValueError, FloatingPointError, ZeroDivisionError) as err:
            return None, float("nan"), f"minimization error: {err}"
        pars = np.asarray(pars, dtype=np.float64)
        val = float(val)
        if not (np.all(np.isfinite(pars)) and np.isfinite(val)):
            return None, float("nan"), "non-finite likelihood at the minimum"
        if not self.background_positive(pars):
            return None, float("nan"), self._negative_reason(pars)
        return pars, val, ""

    def _negative_reason(self, pars: np.ndarray) -> str:
        lam = self.constraint_matrix @ pars
        n_sb, n_bkg = self.basis_sb.shape[0], self._n_bkg_rows
        parts = [
            (lam[:n_sb], "sideband bin(s)"),
            (lam[n_sb:n_bkg], "fine SR bin(s)"),
            (lam[n_bkg:], "SR bin(s) (background + signal)"),
        ]
        bad = [
            f"{int(np.sum(v <= 0))} {name} (min {v.min():.3g})"
            for v, name in parts
            if np.any(v <= 0)
        ]
        return "expected count <= 0 in " + ", ".join(bad) + " at the minimum"

    def _robust_fit(self, data, starts, fix_mu: bool, notes: list[str], bounds):
        """Fit from the first start that works; (pars, twice_nll, reason, upper-bound indices)."""
        reason = "no starting point"
        for i, start in enumerate(starts):
            init = np.clip(start, [b[0] for b in bounds], [b[1] for b in bounds])
            pars, val, reason = self._one_fit(data, init, bounds, fix_mu)
            if pars is None:
                notes.append(f"{'bkg-only' if fix_mu else 'free'} fit, start {i}: {reason}")
                if reason.startswith("expected count"):
                    break  # a convex problem: the (unphysical) minimum is the same from any start
                continue
            if i > 0:
                notes.append(f"{'bkg-only' if fix_mu else 'free'} fit converged on retry {i}")
            at_upper = [
                j
                for j, (lo, hi) in enumerate(bounds)
                if not (fix_mu and j == self.poi_index)
                and pars[j] >= hi - 1e-6 * max(1.0, abs(hi))
            ]
            return pars, val, "", at_upper
        return None, float("nan"), reason, []

    def fit(self, data: np.ndarray, *, random_state: int | None = 0) -> FitOutcome:
        """Free (``mu`` floating) and background-only (``mu = 0``) fits of one observation vector.

        The same two fits as ``pyhf.infer.test_statistics.q0(0, data, model, init, bounds, ...)``
        with ``init`` = the free fit's optimum and ``bounds`` = :attr:`FitOutcome.bounds`.

        Parameters
        ----------
        data : numpy.ndarray
            Observation vector in pyhf bin order (see :meth:`data_vector`).
        random_state : int, optional
            Seed of the jittered starting points used only if the first starts fail.

        Returns
        -------
        FitOutcome
        """
        data = np.asarray(data, dtype=np.float64)
        out = self._fit_physical(data, random_state, self.positive_coefficients)
        if out.converged or self.positive_coefficients:
            return out
        retry = self._fit_physical(data, random_state, True)
        if retry.converged:
            retry.retries.insert(0, f"free coefficients: {out.message}")
            retry.retries.append("fitted with Bernstein coefficients >= 0 (workspace bounds)")
            retry.message = "; ".join(retry.retries)
            return retry
        out.message += f"; with coefficients >= 0: {retry.message}"
        return out

    def _fit_physical(self, data: np.ndarray, random_state: int | None, positive: bool):
        """:meth:`_fit_pair`, with the free fit of an empty SR bin done on the sidebands."""
        n_sr = float(data[self._slices["signal_region"]].sum())
        if self.sr_fine or n_sr > 0:
            return self._fit_pair(data, random_state, positive)
        # empty SR bin: the free fit is the sideband fit with the SR expectation at 0
        one = data.copy()
        one[self._slices["signal_region"]] = 1.0
        out = self._fit_pair(one, random_state, positive)
        if not out.converged:
            return out
        pars_free = out.pars_free.copy()
        pars_free[self.poi_index] = -self.background_sr(pars_free) / float(self.signal_sr.sum())
        # 2 NLL of the SR term: saturated at n = 1 it is 2, at n = 0 (lambda = 0) it is 0
        nll_free = out.twice_nll_free - 2.0
        bkg = self._fit_pair(data, random_state, positive, free=pars_free, nll_free=nll_free)
        bkg.retries.insert(0, "empty SR: free fit = sideband fit with the SR expectation at 0")
        bkg.message = "; ".join(bkg.retries)
        return bkg

    def _fit_pair(
        self,
        data: np.ndarray,
        random_state: int | None,
        positive: bool,
        *,
        free: np.ndarray | None = None,
        nll_free: float = float("nan"),
    ) -> FitOutcome:
        """Free and background-only fits; ``free`` (with ``nll_free``): a given free optimum."""
        rng = np.random.default_rng(random_state)
        first = self.initial_pars(data, positive=positive)
        if not self.sr_fine:
            first = self.refine_pars(data, first, with_sr=False)
        flat = np.ones_like(first)
        flat[self._bkg_idx] = data[self._slices["sidebands"]].sum() / self.basis_sb.sum()
        flat[self.poi_index] = first[self.poi_index]
        starts = [first, flat] + [first * rng.uniform(0.5, 1.5, size=first.size) for _ in range(3)]
        notes: list[str] = []
        bounds = self.parameter_bounds(positive=positive)
        for _ in range(3):
            at_upper = []
            if free is None:
                pars_free, val_free, reason, at_upper = self._robust_fit(
                    data, starts, False, notes, bounds
                )
                if pars_free is None:
                    return FitOutcome(False, f"free fit failed: {reason}", retries=notes)
            else:
                pars_free, val_free = free, nll_free
            # background-only fit from the free optimum, as pyhf's q0 with init = pars_free
            bkg_starts = [pars_free, *starts]
            pars_bkg, val_bkg, reason, up_bkg = self._robust_fit(
                data, bkg_starts, True, notes, bounds
            )
            if pars_bkg is None:
                return FitOutcome(
                    False,
                    f"background-only fit failed: {reason}",
                    pars_free=pars_free,
                    twice_nll_free=val_free,
                    retries=notes,
                )
            at_upper = sorted(set(at_upper) | set(up_bkg))
            if not at_upper:
                break
            names = [self.par_names[j] for j in at_upper]
            notes.append(f"fit at upper bound of {names}; widening it 10x")
            bounds = [(lo, hi * 10.0 if j in at_upper else hi) for j, (lo, hi) in enumerate(bounds)]
            starts = [pars_free, *starts]
        else:
            return FitOutcome(
                False, f"parameters {names} stay at their upper bounds", retries=notes
            )
        if val_bkg < val_free - 1e-6 and free is None:
            notes.append(
                f"free fit above the background-only one by {val_free - val_bkg:.2g} in 2 NLL"
            )
            val_free = val_bkg
            pars_free = pars_bkg
        t0 = max(val_bkg - val_free, 0.0)
        return FitOutcome(
            True, "; ".join(notes), pars_free, pars_bkg, val_free, val_bkg, t0, notes, bounds
        )
