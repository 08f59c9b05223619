"""Maximum-likelihood training loop of one conditional flow (private to :mod:`ml.flows`)."""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

log = logging.getLogger(__name__)

__all__ = ["batched", "keep_best", "make_optimizer", "train_flow"]

_EVAL_CHUNK = 65536


def batched(fn: Callable, x: torch.Tensor, m: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Apply ``fn(x, m)`` without gradients in chunks of events (moved to ``device``)."""
    outs = []
    with torch.no_grad():
        for start in range(0, x.shape[0], _EVAL_CHUNK):
            stop = start + _EVAL_CHUNK
            outs.append(fn(x[start:stop].to(device), m[start:stop].to(device)))
    return torch.cat(outs)


def make_optimizer(
    params: list[torch.Tensor],
    *,
    n_events: int,
    learning_rate: float,
    weight_decay: float,
    batch_size: int,
    max_epochs: int,
    lr_schedule: str,
) -> tuple[torch.optim.Optimizer, Any]:
    """Adam and, for ``lr_schedule="cosine"``, its per-step cosine annealing to 0 over
    ``max_epochs`` epochs of ``n_events`` (batches of fewer than 2 events are skipped)."""
    opt = torch.optim.Adam(params, lr=learning_rate, weight_decay=weight_decay)
    sched = None
    if lr_schedule == "cosine":
        per_epoch = sum(1 for s in range(0, n_events, batch_size)
                        if min(batch_size, n_events - s) >= 2)
        steps = int(max_epochs) * per_epoch
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(steps, 1))
    return opt, sched


def keep_best(
    best: list[tuple[float, int, dict[str, torch.Tensor]]],
    val_loss: float,
    epoch: int,
    state: Callable[[], dict[str, torch.Tensor]],
    n_best_epochs: int,
) -> bool:
    """Record an epoch in ``best`` (the ``n_best_epochs`` lowest validation losses, sorted, with
    ``state()`` copies of the weights); True when it is a new lowest loss."""
    improved = bool(np.isfinite(val_loss) and (not best or val_loss < best[0][0]))
    if np.isfinite(val_loss) and (len(best) < n_best_epochs or val_loss < best[-1][0]):
        best.append((val_loss, epoch, state()))
        best.sort(key=lambda item: item[0])
        del best[n_best_epochs:]
    return improved


def train_flow(
    flow: torch.nn.Module,
    data: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor],
    *,
    seed: int,
    learning_rate: float,
    weight_decay: float,
    batch_size: int,
    max_epochs: int,
    early_stopping: int | None,
    grad_clip: float | None,
    lr_schedule: str = "constant",
    n_best_epochs: int = 1,
    verbose: bool = False,
    desc: str = "flow",
) -> tuple[list[dict[str, torch.Tensor]], dict[str, Any]]:
    """Train ``flow`` (a module with ``log_prob(x, m)``) with Adam on shuffled mini-batches.

    Parameters
    ----------
    flow : torch.nn.Module
        Freshly built flow; left in eval mode with the weights of the best epoch.
    data : (X, m, X_val, m_val) tensors on the flow's device.
    seed : int
        Seeds the batch order.
    lr_schedule : {"constant", "cosine"}
        "cosine": per-step cosine annealing from ``learning_rate`` to 0 over ``max_epochs``.
    n_best_epochs : int
        Number of lowest-validation-loss epochs whose weights are returned.

    Returns
    -------
    states : list of state dicts
        Weights of the ``n_best_epochs`` best epochs, best first.
    history : dict
        ``train_loss``, ``val_loss`` (mean negative log-likelihood per event, per epoch), ``lr``
        (learning rate at the end of each epoch),
        ``best_epoch`` and ``best_epochs`` (0-based).
    """
    X, m, X_val, m_val = data
    gen = torch.Generator(device="cpu").manual_seed(seed)
    params = [p for p in flow.parameters() if p.requires_grad]
    n = X.shape[0]
    opt, sched = make_optimizer(params, n_events=n, learning_rate=learning_rate,
                                weight_decay=weight_decay, batch_size=batch_size,
                                max_epochs=max_epochs, lr_schedule=lr_schedule)
    hist: dict[str, Any] = {"train_loss": [], "val_loss": [], "lr": [], "best_epoch": -1,
                            "best_epochs": []}
    best: list[tuple[float, int, dict[str, torch.Tensor]]] = []  # sorted by loss
    since_best = 0
    bar = tqdm(range(int(max_epochs)), desc=desc, disable=not verbose, leave=False)
    t0 = time.perf_counter()
    log_every = max(1, int(max_epochs) // 5)
    log.info("%s: training on %d events (validation %d) for up to %d epochs", desc, n,
             X_val.shape[0], int(max_epochs))
    for epoch in bar:
        flow.train()
        perm = torch.randperm(n, generator=gen).to(X.device)
        total = torch.zeros((), device=X.device)
        count = 0
        for start in range(0, n, batch_size):
            idx = perm[start : start + batch_size]
            if idx.numel() < 2:  # batch-norm needs two events
                continue
            loss = -flow.log_prob(X[idx], m[idx]).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(params, grad_clip)
            opt.step()
            if sched is not None:
                sched.step()
            total += loss.detach() * idx.numel()
            count += idx.numel()
        train_loss = float(total) / max(count, 1)
        flow.eval()
        val_loss = float(-batched(flow.log_prob, X_val, m_val, X.device).mean())
        hist["train_loss"].append(train_loss)
        hist["val_loss"].append(val_loss)
        hist["lr"].append(float(opt.param_groups[0]["lr"]))
        bar.set_postfix(train=f"{train_loss:.4f}", val=f"{val_loss:.4f}")
        if (epoch + 1) % log_every == 0:
            log.info("%s: epoch %d/%d, train loss %.4f, validation loss %.4f, %.1f s", desc,
                     epoch + 1, int(max_epochs), train_loss, val_loss, time.perf_counter() - t0)
        improved = keep_best(best, val_loss, epoch, lambda: copy.deepcopy(flow.state_dict()),
                             n_best_epochs)
        since_best = 0 if improved else since_best + 1
        if not np.isfinite(train_loss):
            log.warning("%s: non-finite training loss at epoch %d; stopping", desc, epoch)
            break
        if early_stopping is not None and since_best >= early_stopping:
            log.info("%s: early stop at epoch %d", desc, epoch)
            break
    bar.close()
    if not best:
        raise RuntimeError(
            "flow training produced no finite validation loss; lower learning_rate or check that "
            "the inputs are standardized (e.g. with ml.preprocessing.LogitScaler)"
        )
    hist["best_epoch"] = best[0][1]
    hist["best_epochs"] = [e for _, e, _ in best]
    flow.load_state_dict(best[0][2])
    flow.eval()
    log.info("%s: best epoch %d, validation loss %.4f; %d epochs in %.1f s", desc, best[0][1],
             best[0][0], len(hist["val_loss"]), time.perf_counter() - t0)
    return [state for _, _, state in best], hist
