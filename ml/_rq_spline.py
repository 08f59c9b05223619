"""Fused data→latent pass of Pyro's conditional spline-autoregressive block (private).

Pyro's :class:`~pyro.distributions.transforms.SplineAutoregressive` (rational *linear* splines,
Dolatabadi et al. 2020, on Durkan et al.'s knots, arXiv:1906.04032) evaluates its direct call with
about 150 small tensor operations per block: per-parameter transposes and softmaxes on
non-contiguous views, eight separate gathers, float-cast branch masks and masked assignments.
:func:`spline_block_forward` computes the same bijection and log-Jacobian with the same constants
(``min_bin_width = min_bin_height = min_derivative = 1e-3``, ``min_lambda = 0.025``, knot search
with ``eps = 1e-6``, identity outside ``[-bound, bound]``) in fewer, larger operations: one
contiguous parameter layout, one gather of all per-bin quantities and ``torch.where`` branches.
Only the training/density direction is fused; sampling keeps Pyro's ``_inverse``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from pyro.nn import ConditionalAutoRegressiveNN

__all__ = ["feature_major", "rational_linear_spline", "spline_block_forward"]

_MIN_BIN = 1e-3  # Pyro's min_bin_width and min_bin_height
_MIN_DERIVATIVE = 1e-3
_MIN_LAMBDA = 0.025
_EPS = 1e-6


def _knots(raw: torch.Tensor, bound: float) -> torch.Tensor:
    """Unnormalized bin sizes (..., K) → knot positions (..., K + 1) on ``[-bound, bound]``."""
    k = raw.shape[-1]
    # softmax over the bins, written out: torch.softmax is slow on short rows on CPU
    # the shift only guards exp against overflow: no gradient through it (as in torch.softmax)
    e = torch.exp(raw - raw.amax(-1, keepdim=True).detach())
    sizes = _MIN_BIN + (1.0 - _MIN_BIN * k) * (e / e.sum(-1, keepdim=True))
    inner = (2.0 * bound) * torch.cumsum(sizes[..., :-1], dim=-1) - bound
    # the end knots pinned exactly to the box (Pyro assigns them in place)
    return F.pad(F.pad(inner, pad=(1, 0), value=-bound), pad=(0, 1), value=bound)


_ORDERS: dict[tuple[int, int, torch.device], torch.Tensor] = {}


def feature_major(n_params: int, d: int, device: torch.device) -> torch.Tensor:
    """Row order that turns an output laid out (params, d) into (d, params) (cached)."""
    key = (n_params, d, device)
    if key not in _ORDERS:
        _ORDERS[key] = torch.arange(n_params * d, device=device).reshape(n_params, d).T.flatten()
    return _ORDERS[key]


def spline_block_forward(
    arn: ConditionalAutoRegressiveNN,
    x: torch.Tensor,
    context: torch.Tensor,
    count_bins: int,
    bound: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Direct call of ``SplineAutoregressive(arn, count_bins, bound, order="linear")``.

    Parameters
    ----------
    arn : ConditionalAutoRegressiveNN
        The block's masked network, ``param_dims = [K, K, K - 1, K]`` and no skip connections.
    x : torch.Tensor
        Inputs (n, d).
    context : torch.Tensor
        Condition (n, 1) (or broadcastable to it).
    count_bins, bound : int, float
        Spline bins ``K`` and half-width of the spline box.

    Returns
    -------
    y : torch.Tensor
        Outputs (n, d).
    log_det : torch.Tensor
        log|det dy/dx| per event (n,).
    """
    h = torch.cat([context.expand(x.shape[:-1] + (context.shape[-1],)), x], dim=-1)
    for layer in arn.layers[:-1]:
        h = arn.f(layer(h))
    # Pyro's output layout is (n, params, d); the last layer's rows are taken in (d, params)
    # order instead, so each feature's spline parameters come out contiguous (same dot products)
    last = arn.layers[-1]
    order = feature_major(4 * count_bins - 1, x.shape[-1], x.device)
    h = F.linear(h, (last.weight * last.mask)[order], last.bias[order])
    return rational_linear_spline(h, x, count_bins, bound)


def rational_linear_spline(
    params: torch.Tensor, x: torch.Tensor, count_bins: int, bound: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Elementwise spline of :func:`spline_block_forward` from the network output.

    Parameters
    ----------
    params : torch.Tensor
        Network output (..., d * (4K - 1)) in feature-major order (:func:`feature_major`): per
        feature K widths, K heights, K - 1 inner derivatives and K lambdas, unnormalized.
    x : torch.Tensor
        Inputs (..., d); any leading (batch) dimensions.
    count_bins, bound : int, float

    Returns
    -------
    y : torch.Tensor
        Outputs (..., d).
    log_det : torch.Tensor
        log|det dy/dx| per event (...).
    """
    k = count_bins
    wh, raw_d, raw_l = params.reshape(x.shape + (4 * k - 1,)).split([2 * k, k - 1, k], dim=-1)
    # widths and heights in one pass: (..., d, 2, K)
    knots = _knots(wh.unflatten(-1, (2, k)), bound)
    cumwidths = knots[..., 0, :]
    # F.softplus is several times slower on a strided view than on a contiguous copy
    derivatives = F.pad(
        _MIN_DERIVATIVE + F.softplus(raw_d.contiguous()),
        pad=(1, 1),
        mode="constant",
        value=1.0 - _MIN_DERIVATIVE,
    )
    lambdas = (1 - 2 * _MIN_LAMBDA) * torch.sigmoid(raw_l) + _MIN_LAMBDA

    inside = x.abs() <= bound  # same as (x >= -bound) & (x <= bound)
    x_in = x.clamp(-bound, bound)  # outside: identity below; keeps NaN out of the gradients
    idx = torch.sum(x_in[..., None] >= cumwidths + _EPS, dim=-1) - 1
    idx = idx.clamp(min=0, max=k - 1)
    # knots at both ends of the bin, derivatives there and lambda: one gather, (..., d, 2, 4)
    per_knot = torch.stack(
        [cumwidths, knots[..., 1, :], derivatives, F.pad(lambdas, pad=(0, 1))], dim=-1
    )
    both = torch.stack([idx, idx + 1], dim=-1)[..., None].expand(x.shape + (2, 4))
    sel = per_knot.gather(-2, both)
    cw, ch, d0, lam = sel[..., 0, :].unbind(-1)
    cw1, ch1, d1, _ = sel[..., 1, :].unbind(-1)
    w = cw1 - cw
    hgt = ch1 - ch
    delta = hgt / w

    # rational linear spline, forward direction (Pyro's _monotonic_rational_spline with wa = 1;
    # shared subexpressions computed once: the same floating-point values)
    wb = torch.sqrt(d0 / d1)
    one_m_lam = 1.0 - lam
    wc = (lam * d0 + one_m_lam * wb * d1) / delta
    ya = ch
    yb = hgt + ch
    lam_wb = lam * wb
    yc = (one_m_lam * ya + lam_wb * yb) / (one_m_lam + lam_wb)
    theta = (x_in - cw) / w
    left = theta <= lam
    lam_m_theta = lam - theta
    one_m_theta = 1 - theta
    wc_yc = wc * yc
    wb_yb = wb * yb
    numerator = torch.where(
        left, ya * lam_m_theta + wc_yc * theta, wc_yc * one_m_theta - wb_yb * lam_m_theta
    )
    denominator = torch.where(
        left, lam_m_theta + wc * theta, wc * one_m_theta - wb * lam_m_theta
    )
    derivative_numerator = (
        torch.where(left, wc * lam * (yc - ya), wb * wc * one_m_lam * (yb - yc)) / w
    )
    log_det = torch.log(derivative_numerator) - 2 * torch.log(torch.abs(denominator))
    y = torch.where(inside, numerator / denominator, x)
    log_det = torch.where(inside, log_det, 0.0)
    return y, log_det.sum(-1)
