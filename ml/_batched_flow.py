"""Several conditional MAFs of one architecture trained as one batched model (private).

The flows of CATHODE are tiny (6 blocks of 2 x 20 units): on a CPU a training step is dominated
by the fixed cost of each of its few hundred tensor operations, not by arithmetic. Training ``E``
seeds one after the other pays that cost ``E`` times. :class:`StackedMAF` holds the weights of
``E`` :class:`~ml._pyro_transforms.ConditionalMAF` members stacked along a leading dimension and
evaluates all of them with the same number of (batched) operations as one flow: ``bmm`` for the
masked layers, the elementwise spline of :mod:`ml._rq_spline` on ``(E, batch, d)`` tensors.

The members stay independent: each has its own initialization (the one the stand-alone member
got), its own training and validation events, batch order, batch-norm statistics, gradient-norm
clip and early stopping; the loss is the sum of the members' mean losses, so each member's
gradient is exactly its own. :func:`train_stacked` therefore computes, per member, the training
:func:`ml._flow_training.train_flow` computes, up to floating-point rounding of the batched
kernels (tested), and writes the chosen epochs' weights back into the ``ConditionalMAF`` modules,
which are then used as usual (sampling, saving, latent maps).
"""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from pyro.distributions.transforms import ConditionalSplineAutoregressive
from torch import nn
from tqdm.auto import tqdm

from ml._flow_training import _EVAL_CHUNK, keep_best, make_optimizer
from ml._pyro_transforms import ConditionalMAF
from ml._rq_spline import feature_major, rational_linear_spline

log = logging.getLogger(__name__)

__all__ = ["StackedMAF", "can_stack", "train_stacked"]

_LOG_2PI = math.log(2.0 * math.pi)
# Pyro's AffineAutoregressive clip of log(scale)
_LOG_SCALE_MIN, _LOG_SCALE_MAX = -5.0, 3.0


def _key(name: str) -> str:
    return name.replace(".", "__")


def can_stack(flows: Sequence[ConditionalMAF]) -> bool:
    """True when all members have the same architecture (state-dict keys, shapes, masks)."""
    ref = flows[0].state_dict()
    for flow in flows[1:]:
        sd = flow.state_dict()
        if sd.keys() != ref.keys() or any(sd[k].shape != ref[k].shape for k in ref):
            return False
        if any(not torch.equal(sd[k], ref[k]) for k in ref if k.endswith(("mask", "permutation"))):
            return False
        if len(flow.blocks) != len(flows[0].blocks) or len(flow.norms) != len(flows[0].norms):
            return False
    return True


class StackedMAF(nn.Module):
    """``E`` :class:`ConditionalMAF` members with stacked weights; densities in one pass.

    Parameters
    ----------
    flows : sequence of ConditionalMAF
        Members of one architecture (:func:`can_stack`); their current weights, batch-norm
        statistics and standardizations are copied in.
    """

    def __init__(self, flows: Sequence[ConditionalMAF]) -> None:
        super().__init__()
        if not flows or not can_stack(flows):
            raise ValueError("StackedMAF needs one or more flows of the same architecture")
        ref = flows[0]
        self.n_members = len(flows)
        self.n_features = ref.n_features
        self._names = list(ref.state_dict())
        self.stacked = nn.ParameterDict()
        shared: dict[str, torch.Tensor] = {}
        states = [f.state_dict() for f in flows]
        trainable = {name for name, _ in ref.named_parameters()}
        for name in self._names:
            if name.endswith(("mask", "permutation")):
                shared[name] = states[0][name]
                continue
            value = torch.stack([sd[name].detach() for sd in states]).clone()
            if name in trainable:
                self.stacked[_key(name)] = nn.Parameter(value)
            else:  # standardizations and batch-norm running statistics
                self.register_buffer("buf__" + _key(name), value)
        for name, value in shared.items():
            self.register_buffer("shared__" + _key(name), value.clone())
        self._blocks = []
        for i, block in enumerate(ref.blocks):
            arn = block.nn
            layers = [f"blocks.{i}.nn.layers.{j}" for j in range(len(arn.layers))]
            if isinstance(block, ConditionalSplineAutoregressive):
                kind = ("spline", int(block.kwargs["count_bins"]), float(block.kwargs["bound"]))
            else:
                kind = ("affine", 0, 0.0)
            self._blocks.append((layers, kind, arn.f))
        self._norms = [(f"norms.{i}", bn.momentum, bn.epsilon) for i, bn in enumerate(ref.norms)]

    def _get(self, name: str) -> torch.Tensor:
        key = _key(name)
        if key in self.stacked:
            return self.stacked[key]
        for prefix in ("buf__", "shared__"):
            if hasattr(self, prefix + key):
                return getattr(self, prefix + key)
        raise KeyError(name)

    def _masked_layer(self, h: torch.Tensor, name: str, order: torch.Tensor | None = None):
        weight = self._get(name + ".weight") * self._get(name + ".mask")
        bias = self._get(name + ".bias")
        if order is not None:
            weight, bias = weight[:, order], bias[:, order]
        return torch.baddbmm(bias.unsqueeze(1), h, weight.transpose(1, 2))

    def to_latent(self, x: torch.Tensor, m: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Data x (E, n, d) at conditions m (E, n) → latent z and log|dz/dx| (E, n), per member."""
        d = self.n_features
        m_loc, m_scale = self._get("m_loc"), self._get("m_scale")
        ctx = ((m - m_loc[:, None]) / m_scale[:, None]).unsqueeze(-1)
        x_scale = self._get("x_scale")
        z = (x - self._get("x_loc")[:, None, :]) / x_scale[:, None, :]
        ladj = -torch.log(x_scale).sum(-1, keepdim=True)
        last = len(self._blocks) - 1
        reverse = torch.arange(d - 1, -1, -1, device=x.device)
        for i, (layers, (kind, count_bins, bound), act) in enumerate(self._blocks):
            h = torch.cat([ctx.expand(z.shape[:-1] + (1,)), z], dim=-1)
            for name in layers[:-1]:
                h = act(self._masked_layer(h, name))
            if kind == "spline":
                order = feature_major(4 * count_bins - 1, d, x.device)
                h = self._masked_layer(h, layers[-1], order)
                z, block_ladj = rational_linear_spline(h, z, count_bins, bound)
            else:  # Pyro's AffineAutoregressive direct call, (mean, log_scale) layout
                h = self._masked_layer(h, layers[-1])
                mean, log_scale = torch.unbind(h.reshape(z.shape[:-1] + (2, d)), dim=-2)
                log_scale = log_scale + (
                    log_scale.clamp(_LOG_SCALE_MIN, _LOG_SCALE_MAX) - log_scale).detach()
                z = torch.exp(log_scale) * z + mean
                block_ladj = log_scale.sum(-1)
            ladj = ladj + block_ladj
            if i < last:
                if self._norms:
                    z, bn_ladj = self._normalize(z, *self._norms[i])
                    ladj = ladj + bn_ladj
                z = z.index_select(-1, reverse)
        return z, ladj.expand(z.shape[:-1])

    def _normalize(self, y: torch.Tensor, name: str, momentum: float, epsilon: float):
        """Batch-norm of every member on its own events (``ml._pyro_transforms._BatchNorm``)."""
        if self.training:
            mean, var = y.mean(1), y.var(1)
            with torch.no_grad():
                self._get(name + ".moving_mean").mul_(1 - momentum).add_(mean * momentum)
                self._get(name + ".moving_variance").mul_(1 - momentum).add_(var * momentum)
        else:
            mean, var = self._get(name + ".moving_mean"), self._get(name + ".moving_variance")
        gamma = torch.relu(self._get(name + ".gamma")) + 1e-6
        scale = gamma * torch.rsqrt(var + epsilon)
        out = (y - mean[:, None, :]) * scale[:, None, :] + self._get(name + ".beta")[:, None, :]
        return out, torch.log(scale).sum(-1, keepdim=True)

    def log_prob(self, x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        """log p(x | m) (E, n) of every member on its own events x (E, n, d), m (E, n)."""
        z, ladj = self.to_latent(x, m)
        return -0.5 * (z.square().sum(-1) + self.n_features * _LOG_2PI) + ladj

    def member_state(self, member: int) -> dict[str, torch.Tensor]:
        """State dict of one member, in :class:`ConditionalMAF` format (copies)."""
        return {name: self._get(name)[member].detach().clone()
                if not name.endswith(("mask", "permutation")) else self._get(name).clone()
                for name in self._names}


def _clip_per_member(params: list[torch.Tensor], max_norm: float) -> None:
    """``torch.nn.utils.clip_grad_norm_`` applied to each member's gradients separately."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    n = grads[0].shape[0]
    norms = torch.stack([torch.linalg.vector_norm(g.reshape(n, -1), 2, dim=1) for g in grads])
    total = torch.linalg.vector_norm(norms, 2, dim=0)
    coef = torch.clamp(max_norm / (total + 1e-6), max=1.0)
    for g in grads:
        g.mul_(coef.reshape((n,) + (1,) * (g.dim() - 1)))


def _val_loss(model: StackedMAF, X: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """Mean negative log-likelihood per member on its validation events (E,)."""
    with torch.no_grad():
        lp = torch.cat([model.log_prob(X[:, s:s + _EVAL_CHUNK], m[:, s:s + _EVAL_CHUNK])
                        for s in range(0, X.shape[1], _EVAL_CHUNK)], dim=1)
    return -lp.mean(1)


def train_stacked(
    flows: Sequence[ConditionalMAF],
    data: Sequence[tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]],
    *,
    seeds: Sequence[int],
    learning_rate: float,
    weight_decay: float,
    batch_size: int,
    max_epochs: int,
    early_stopping: int | None,
    grad_clip: float | None,
    lr_schedule: str = "constant",
    n_best_epochs: int = 1,
    verbose: bool = False,
    desc: str = "flows",
) -> list[tuple[list[dict[str, torch.Tensor]], dict[str, Any]]]:
    """Train ``flows`` as one batched model; per member what :func:`train_flow` returns.

    Parameters
    ----------
    flows : sequence of ConditionalMAF
        Freshly built members of one architecture; each is left in eval mode with the weights of
        its best epoch.
    data : sequence of (X, m, X_val, m_val)
        Each member's training and validation events (tensors on the flows' device); all members
        need the same numbers of training and of validation events.
    seeds : sequence of int
        Each member's batch-order seed.
    Other parameters as :func:`ml._flow_training.train_flow`.

    Returns
    -------
    list of (states, history)
        Per member, as :func:`ml._flow_training.train_flow`.
    """
    e = len(flows)
    if not (len(data) == len(seeds) == e):
        raise ValueError(f"{e} flows but {len(data)} data sets and {len(seeds)} seeds")
    n, n_val = data[0][0].shape[0], data[0][2].shape[0]
    if any(dx[0].shape[0] != n or dx[2].shape[0] != n_val for dx in data):
        raise ValueError("stacked training needs the same numbers of training and validation "
                         "events for every member")
    X = torch.stack([dx[0] for dx in data])
    m = torch.stack([dx[1] for dx in data])
    X_val = torch.stack([dx[2] for dx in data])
    m_val = torch.stack([dx[3] for dx in data])
    model = StackedMAF(flows).to(X.device)
    gens = [torch.Generator(device="cpu").manual_seed(int(s)) for s in seeds]
    params = [p for p in model.parameters() if p.requires_grad]
    opt, sched = make_optimizer(params, n_events=n, learning_rate=learning_rate,
                                weight_decay=weight_decay, batch_size=batch_size,
                                max_epochs=max_epochs, lr_schedule=lr_schedule)
    hists: list[dict[str, Any]] = [
        {"train_loss": [], "val_loss": [], "lr": [], "best_epoch": -1, "best_epochs": []}
        for _ in range(e)]
    best: list[list[tuple[float, int, dict[str, torch.Tensor]]]] = [[] for _ in range(e)]
    since_best = [0] * e
    active = [True] * e
    rows = torch.arange(e, device=X.device)[:, None]
    bar = tqdm(range(int(max_epochs)), desc=desc, disable=not verbose, leave=False)
    t0 = time.perf_counter()
    log_every = max(1, int(max_epochs) // 5)
    log.info("%s: training %d flows as one batched model on %d events each (validation %d) for "
             "up to %d epochs", desc, e, n, n_val, int(max_epochs))
    for epoch in bar:
        model.train()
        perms = torch.stack([torch.randperm(n, generator=g) for g in gens]).to(X.device)
        total = torch.zeros(e, device=X.device)
        count = 0
        for start in range(0, n, batch_size):
            idx = perms[:, start:start + batch_size]
            if idx.shape[1] < 2:  # batch-norm needs two events
                continue
            losses = -model.log_prob(X[rows, idx], m[rows, idx]).mean(1)
            opt.zero_grad(set_to_none=True)
            losses.sum().backward()
            if grad_clip is not None:
                _clip_per_member(params, grad_clip)
            opt.step()
            if sched is not None:
                sched.step()
            total += losses.detach() * idx.shape[1]
            count += idx.shape[1]
        train_loss = (total / max(count, 1)).tolist()
        model.eval()
        val_loss = _val_loss(model, X_val, m_val).tolist()
        lr = float(opt.param_groups[0]["lr"])
        for j in np.flatnonzero(active):
            hist = hists[j]
            hist["train_loss"].append(train_loss[j])
            hist["val_loss"].append(val_loss[j])
            hist["lr"].append(lr)
            improved = keep_best(best[j], val_loss[j], epoch,
                                 lambda j=j: model.member_state(int(j)), n_best_epochs)
            since_best[j] = 0 if improved else since_best[j] + 1
            if not np.isfinite(train_loss[j]):
                log.warning("%s: member %d: non-finite training loss at epoch %d; stopping",
                            desc, j, epoch)
                active[j] = False
            elif early_stopping is not None and since_best[j] >= early_stopping:
                log.info("%s: member %d: early stop at epoch %d", desc, j, epoch)
                active[j] = False
        live = [v for v, a in zip(val_loss, active, strict=True) if a]
        bar.set_postfix(active=sum(active), val=f"{min(live) if live else min(val_loss):.4f}")
        if (epoch + 1) % log_every == 0:
            log.info("%s: epoch %d/%d, validation loss %s, %d active, %.1f s", desc, epoch + 1,
                     int(max_epochs), " ".join(f"{v:.4f}" for v in val_loss), sum(active),
                     time.perf_counter() - t0)
        if not any(active):
            break
    bar.close()
    out = []
    for j, flow in enumerate(flows):
        if not best[j]:
            raise RuntimeError(
                f"flow member {j} produced no finite validation loss; lower learning_rate or "
                "check that the inputs are standardized (e.g. with ml.preprocessing.LogitScaler)"
            )
        hists[j]["best_epoch"] = best[j][0][1]
        hists[j]["best_epochs"] = [ep for _, ep, _ in best[j]]
        flow.load_state_dict(best[j][0][2])
        flow.eval()
        out.append(([copy.copy(state) for _, _, state in best[j]], hists[j]))
    log.info("%s: %d flows, best epochs %s; %d epochs in %.1f s", desc, e,
             [h["best_epoch"] for h in hists], max(len(h["val_loss"]) for h in hists),
             time.perf_counter() - t0)
    return out
