"""Conditional masked autoregressive flow built from Pyro transforms (private).

Pyro's autoregressive transforms (``AffineAutoregressive``, ``SplineAutoregressive``) are written in
the inverse-autoregressive (IAF) direction: their direct call maps base noise to data in one network
pass, while the data-to-noise map needed by ``log_prob`` takes ``d`` sequential passes. A masked
autoregressive flow (MAF, arXiv:1705.07057) is the same bijection used the other way round. The
:class:`ConditionalMAF` here therefore applies each Pyro transform's *direct* call in the
data→latent direction (one pass per block for ``log_prob``, i.e. for training) and its
``_inverse`` for sampling (``d`` passes per block). In Pyro's own vocabulary the generative chain is
``[t.inv for t in reversed(blocks)]``; :meth:`ConditionalMAF.condition` returns exactly that as a
:class:`pyro.distributions.TransformedDistribution`.

Between blocks sit Pyro's :class:`~pyro.distributions.transforms.BatchNorm` (it normalizes in the
data→latent direction, with batch statistics in training mode and running averages in eval mode)
and a reversal :class:`~pyro.distributions.transforms.Permute`.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Sequence

import pyro.distributions as dist
import torch
from pyro.distributions.transforms import (
    AffineAutoregressive,
    BatchNorm,
    ConditionalAffineAutoregressive,
    ConditionalSplineAutoregressive,
    Permute,
    SplineAutoregressive,
)
from pyro.nn import ConditionalAutoRegressiveNN
from torch import nn

from ml._rq_spline import spline_block_forward

__all__ = ["ACTIVATIONS", "ConditionalMAF", "build_conditional_flow"]

#: Hidden-layer nonlinearities accepted by name.
ACTIVATIONS: dict[str, type[nn.Module]] = {
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "leaky_relu": nn.LeakyReLU,
}

_LOG_2PI = math.log(2.0 * math.pi)


def _make_block(
    n_features: int,
    hidden_dims: Sequence[int],
    activation: str,
    transform_type: str,
    count_bins: int,
    bound: float,
) -> nn.Module:
    """One conditional autoregressive Pyro transform with context_dim=1 and natural ordering."""
    if transform_type == "affine":
        param_dims = [1, 1]
    else:  # rational-quadratic spline, linear order (arXiv:1906.04032)
        param_dims = [count_bins, count_bins, count_bins - 1, count_bins]
    with warnings.catch_warnings():
        # Pyro warns for input_dim == 1; the network then depends on the context only, which is
        # exactly what a 1-D conditional density needs.
        warnings.filterwarnings("ignore", message="ConditionalAutoRegressiveNN input_dim = 1")
        arn = ConditionalAutoRegressiveNN(
            n_features,
            1,
            list(hidden_dims),
            param_dims=param_dims,
            permutation=torch.arange(n_features),
            nonlinearity=ACTIVATIONS[activation](),
        )
    if transform_type == "affine":
        return ConditionalAffineAutoregressive(arn)
    return ConditionalSplineAutoregressive(n_features, arn, count_bins=count_bins, bound=bound)


class _ContextSlot:
    """Stands in for the ``functools.partial(arn, context=...)`` that Pyro's ``condition`` builds.

    Pyro conditions a transform by constructing a new ``AffineAutoregressive`` (an ``nn.Module``)
    around a partial of the network on every call; per training step that allocation costs about
    as much as a block's arithmetic. The flow instead keeps one conditioned transform per block
    and swaps the context held here. Not thread-safe: one forward pass per flow at a time.
    """

    def __init__(self, arn: ConditionalAutoRegressiveNN) -> None:
        self.arn = arn
        self.context: torch.Tensor | None = None

    def __call__(self, x: torch.Tensor):
        return self.arn(x, context=self.context)

    @property
    def permutation(self) -> torch.Tensor:
        return self.arn.permutation

    def get_permutation(self) -> torch.Tensor:
        return self.arn.permutation


def _conditioned(block: nn.Module) -> tuple[_ContextSlot, nn.Module]:
    """A persistent conditioned copy of ``block`` (same weights) and its context slot."""
    slot = _ContextSlot(block.nn)
    if isinstance(block, ConditionalAffineAutoregressive):
        return slot, AffineAutoregressive(slot, **block.kwargs)
    return slot, SplineAutoregressive(block.input_dim, slot, **block.kwargs)


class _BatchNorm(BatchNorm):
    """Pyro's BatchNorm transform with a one-pass normalization for the flow's density.

    Identical to :class:`~pyro.distributions.transforms.BatchNorm` (same parameters, buffers and
    momentum update); :meth:`normalize` returns the normalized batch together with
    log|dz/dy| from the statistics it just computed, instead of recomputing the variance.
    """

    def normalize(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Data-side ``y`` → normalized ``z`` (Pyro's ``_inverse``) and log|det dz/dy| (scalar)."""
        if self.training:
            mean, var = y.mean(0), y.var(0)
            with torch.no_grad():
                self.moving_mean.mul_(1 - self.momentum).add_(mean * self.momentum)
                self.moving_variance.mul_(1 - self.momentum).add_(var * self.momentum)
        else:
            mean, var = self.moving_mean, self.moving_variance
        scale = self.constrained_gamma * torch.rsqrt(var + self.epsilon)
        return (y - mean) * scale + self.beta, torch.log(scale).sum()


def _clear_cache(t: nn.Module) -> None:
    # torch.distributions.Transform keeps the last (x, y) pair (cache_size=1): drop it so no
    # graph is kept alive and a later call with the same tensor but a new context recomputes.
    t._cached_x_y = None, None


class ConditionalMAF(nn.Module):
    """Conditional MAF: standardization, then blocks of [autoregressive, batch-norm, reverse].

    Parameters
    ----------
    n_features : int
        Dimension ``d`` of the modelled variable x.
    n_blocks : int
        Number of autoregressive transforms.
    hidden_dims : sequence of int
        Widths of the hidden layers of each block's masked network (MADE, arXiv:1502.03509).
    activation : str
        Key of :data:`ACTIVATIONS`.
    batch_norm : bool
        Put a batch-norm transform after every block but the last.
    transform_type : {"affine", "spline"}
        Affine (MAF) or rational-quadratic-spline (arXiv:1906.04032) autoregressive transforms.
    count_bins, bound : int, float
        Spline bins and half-width of the spline box (only for ``transform_type="spline"``).
    x_loc, x_scale, m_loc, m_scale : torch.Tensor
        Fixed standardization of x (part of the density, log-Jacobian included) and of the
        condition m (an input reparametrization, no Jacobian).
    """

    def __init__(
        self,
        n_features: int,
        n_blocks: int,
        hidden_dims: Sequence[int],
        activation: str,
        batch_norm: bool,
        transform_type: str,
        x_loc: torch.Tensor,
        x_scale: torch.Tensor,
        m_loc: torch.Tensor,
        m_scale: torch.Tensor,
        count_bins: int = 8,
        bound: float = 3.0,
    ) -> None:
        super().__init__()
        self.n_features = n_features
        self.blocks = nn.ModuleList(
            _make_block(n_features, hidden_dims, activation, transform_type, count_bins, bound)
            for _ in range(n_blocks)
        )
        n_between = n_blocks - 1
        self.norms = nn.ModuleList(
            _BatchNorm(n_features) for _ in range(n_between if batch_norm else 0)
        )
        self._reverse = Permute(torch.arange(n_features - 1, -1, -1), dim=-1)
        # plain list: these hold no parameters of their own (they share the blocks' networks)
        self._fast = [_conditioned(block) for block in self.blocks]
        self.register_buffer("x_loc", x_loc.reshape(n_features).clone())
        self.register_buffer("x_scale", x_scale.reshape(n_features).clone())
        self.register_buffer("m_loc", m_loc.reshape(()).clone())
        self.register_buffer("m_scale", m_scale.reshape(()).clone())

    @property
    def reverse(self) -> Permute:
        """Reversal of the feature order (a Pyro ``Permute``, kept on the flow's device)."""
        # Permute is a plain Transform: module.to(device) does not move its index tensor
        if self._reverse.permutation.device != self.x_loc.device:
            perm = self._reverse.permutation.to(self.x_loc.device)
            self._reverse = Permute(perm, dim=-1)
        return self._reverse

    def _context(self, m: torch.Tensor) -> torch.Tensor:
        return ((m - self.m_loc) / self.m_scale).reshape(-1, 1)

    def to_latent(self, x: torch.Tensor, m: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Map data x (n, d) at condition m (n,) to latent z; return (z, log|dz/dx|) per event.

        One network pass per block (the direct call of each Pyro transform).
        """
        ctx = self._context(m)
        z = (x - self.x_loc) / self.x_scale
        ladj = -torch.log(self.x_scale).sum()
        last = len(self.blocks) - 1
        for i, (slot, t) in enumerate(self._fast):
            block = self.blocks[i]
            if isinstance(block, ConditionalSplineAutoregressive):
                # same bijection as Pyro's direct call, fused (ml._rq_spline)
                z, block_ladj = spline_block_forward(
                    block.nn, z, ctx, block.kwargs["count_bins"], block.kwargs["bound"]
                )
                ladj = ladj + block_ladj
            else:
                slot.context = ctx
                y = t(z)
                ladj = ladj + t.log_abs_det_jacobian(z, y)
                _clear_cache(t)
                slot.context = None
                z = y
            if i < last:
                if self.norms:
                    z, bn_ladj = self.norms[i].normalize(z)
                    ladj = ladj + bn_ladj
                z = self.reverse(z)
        return z, ladj.expand(x.shape[0])

    def from_latent(self, z: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        """Map latent z (n, d) at condition m (n,) back to data x (``d`` passes per block)."""
        ctx = self._context(m)
        x = z
        for i in range(len(self.blocks) - 1, -1, -1):
            if i < len(self.blocks) - 1:
                x = self.reverse.inv(x)
                if self.norms:
                    x = self.norms[i](x)
            slot, t = self._fast[i]
            slot.context = ctx
            x = t.inv(x)
            _clear_cache(t)
            slot.context = None
        return x * self.x_scale + self.x_loc

    def log_prob(self, x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        """log p(x | m) per event under a standard-normal base density."""
        z, ladj = self.to_latent(x, m)
        return -0.5 * (z.square().sum(-1) + self.n_features * _LOG_2PI) + ladj

    def condition(self, m: torch.Tensor) -> dist.TransformedDistribution:
        """The flow at condition ``m`` as a Pyro ``TransformedDistribution`` (for Pyro users).

        The generative chain lists each block's ``.inv``, so Pyro's ``log_prob`` runs the fast
        direction. Equal to :meth:`log_prob` / :meth:`from_latent` up to float rounding.
        """
        ctx = self._context(m)
        chain: list = []
        last = len(self.blocks) - 1
        for i in range(last, -1, -1):
            if i < last:
                chain.append(self.reverse.inv)
                if self.norms:
                    chain.append(self.norms[i])
            chain.append(self.blocks[i].condition(ctx).inv)
        destd = dist.transforms.AffineTransform(self.x_loc, self.x_scale, event_dim=1)
        chain.append(destd)
        base = dist.Normal(
            torch.zeros(ctx.shape[0], self.n_features, device=ctx.device),
            torch.ones(ctx.shape[0], self.n_features, device=ctx.device),
        ).to_event(1)
        return dist.TransformedDistribution(base, chain)


def build_conditional_flow(
    n_features: int,
    *,
    n_blocks: int,
    hidden_units: int | Sequence[int],
    activation: str,
    batch_norm: bool,
    transform_type: str,
    x_loc: torch.Tensor,
    x_scale: torch.Tensor,
    m_loc: torch.Tensor,
    m_scale: torch.Tensor,
) -> ConditionalMAF:
    """Build a :class:`ConditionalMAF`; an int ``hidden_units`` means two hidden layers of it."""
    if isinstance(hidden_units, numbers.Integral):
        hidden_dims: list[int] = [int(hidden_units)] * 2
    else:
        hidden_dims = [int(h) for h in hidden_units]
    return ConditionalMAF(
        n_features,
        n_blocks,
        hidden_dims,
        activation,
        batch_norm,
        transform_type,
        x_loc,
        x_scale,
        m_loc,
        m_scale,
    )
