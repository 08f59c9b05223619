"""Flow throughput: our Pyro MAF vs zuko's MAF vs Pyro's default (IAF-direction) arrangement.

All models have the same size (``--blocks`` autoregressive transforms, two hidden layers of
``--hidden`` units, tanh, d features + 1 condition) and see the same data and batches in one run.
Measured: training throughput (events/s for forward + backward + clipped Adam step, batch 256),
density evaluation and sampling throughput (events/s, no gradients). With one torch thread (the
default) the clock is the process CPU time, so time spent waiting for a core on a shared machine
does not count; otherwise wall time. Rounds alternate between the models and the median is kept.

Spline variants (the CATHODE default flow) are compared with zuko's NSF of the same size.

Optionally (``--accuracy``) the estimator is trained on a 4-D toy with a known conditional density
(Gaussian whose mean and correlations move with m) and the log-likelihood gap is printed.

Usage: ``python -m benchmarks.flows [--blocks 6 --hidden 20 --features 3 --threads 1]``

zuko is the reference and an optional dependency (``pip install -c constraints.txt -e ".[bench]"``,
as ``make bench`` does); without it this benchmark says so and is skipped.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time
from collections.abc import Callable, Sequence

import numpy as np
import torch

_clock = time.perf_counter


def _models(
    d: int, blocks: int, hidden: int
) -> dict[str, tuple[torch.nn.Module, Callable, Callable]]:
    """name -> (module, log_prob(x, c), sample(c)) for every contender, same size."""
    import pyro.distributions as dist
    import zuko
    from pyro.distributions.transforms import ConditionalAffineAutoregressive, Permute
    from pyro.nn import ConditionalAutoRegressiveNN

    from ml._pyro_transforms import build_conditional_flow

    stats = dict(
        x_loc=torch.zeros(d),
        x_scale=torch.ones(d),
        m_loc=torch.tensor(0.0),
        m_scale=torch.tensor(1.0),
    )
    out: dict[str, tuple[torch.nn.Module, Callable, Callable]] = {}
    for bn in (False, True):
        flow = build_conditional_flow(
            d,
            n_blocks=blocks,
            hidden_units=hidden,
            activation="tanh",
            batch_norm=bn,
            transform_type="affine",
            **stats,
        )
        name = "pyro MAF (ours)" + (" + batch-norm" if bn else "")
        out[name] = (
            flow,
            flow.log_prob,
            lambda c, f=flow: f.from_latent(torch.randn(c.shape[0], d), c),
        )

    # the CATHODE default (ml.cathode.default_flow) uses rational-quadratic splines (8 bins), with
    # batch-norm; compared here without it, like zuko's NSF
    spline = build_conditional_flow(
        d, n_blocks=blocks, hidden_units=hidden, activation="tanh", batch_norm=False,
        transform_type="spline", **stats,
    )
    out["pyro spline MAF (ours)"] = (
        spline,
        spline.log_prob,
        lambda c, f=spline: f.from_latent(torch.randn(c.shape[0], d), c),
    )
    znsf = zuko.flows.NSF(
        d, 1, transforms=blocks, bins=8, hidden_features=(hidden, hidden), activation=torch.nn.Tanh
    )
    out["zuko NSF (8 bins)"] = (
        znsf,
        lambda x, c: znsf(c[:, None]).log_prob(x),
        lambda c: znsf(c[:, None]).sample(),
    )

    zflow = zuko.flows.MAF(
        d, 1, transforms=blocks, hidden_features=(hidden, hidden), activation=torch.nn.Tanh
    )
    out["zuko MAF"] = (
        zflow,
        lambda x, c: zflow(c[:, None]).log_prob(x),
        lambda c: zflow(c[:, None]).sample(),
    )

    # Pyro's stock arrangement: the transforms in their native (IAF) direction
    arns = [
        ConditionalAffineAutoregressive(
            ConditionalAutoRegressiveNN(
                d, 1, [hidden, hidden], permutation=torch.arange(d), nonlinearity=torch.nn.Tanh()
            )
        )
        for _ in range(blocks)
    ]
    chain: list = []
    for i, t in enumerate(arns):
        if i:
            chain.append(Permute(torch.arange(d - 1, -1, -1)))
        chain.append(t)
    cdist = dist.ConditionalTransformedDistribution(
        dist.Normal(torch.zeros(d), torch.ones(d)).to_event(1), chain
    )
    iaf = torch.nn.ModuleList(arns)
    out["pyro default (IAF direction)"] = (
        iaf,
        lambda x, c: cdist.condition(c[:, None]).log_prob(x),
        lambda c: cdist.condition(c[:, None]).sample(torch.Size([c.shape[0]])),
    )
    return out


def _train_rate(module, log_prob, X, C, steps: int, batch: int, seed: int) -> float:
    params = list(module.parameters())
    opt = torch.optim.Adam(params, lr=1e-4, weight_decay=1e-6)
    gen = torch.Generator().manual_seed(seed)
    idx = torch.randint(X.shape[0], (steps + 5, batch), generator=gen)
    module.train()

    def step(i: int) -> None:
        loss = -log_prob(X[idx[i]], C[idx[i]]).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()

    for i in range(5):  # warm-up
        step(steps + i)
    t0 = _clock()
    for i in range(steps):
        step(i)
    return steps * batch / (_clock() - t0)


def _eval_rate(fn, n: int) -> float:
    t0 = _clock()
    with torch.no_grad():
        fn(n)
    return n / (_clock() - t0)


def _accuracy(seed: int = 0) -> None:
    """Train ConditionalFlow on a 4-D Gaussian with m-dependent mean/correlation; print LL gap."""
    from scipy.stats import multivariate_normal

    from ml.flows import ConditionalFlow

    rng = np.random.default_rng(seed)
    d = 4

    def params(m):
        mean = np.stack([2 * m, -m, np.sin(3 * m), 0.5 * m], -1)
        rho = 0.8 * m - 0.2
        cov = np.broadcast_to(np.eye(d), (m.size, d, d)).copy()
        cov[:, 0, 1] = cov[:, 1, 0] = rho
        cov[:, 2, 3] = cov[:, 3, 2] = -0.5 * rho
        return mean, cov

    def draw(n):
        m = rng.uniform(0, 1, n)
        mean, cov = params(m)
        return mean + np.einsum(
            "nij,nj->ni", np.linalg.cholesky(cov), rng.standard_normal((n, d))
        ), m

    X, m = draw(40000)
    Xt, mt = draw(20000)
    mean, cov = params(mt)
    true = np.mean([multivariate_normal(mean[i], cov[i]).logpdf(Xt[i]) for i in range(len(mt))])
    for name, kw in [
        ("published 6x20 + BN", dict()),
        ("4x64 no BN", dict(n_blocks=4, hidden_units=64, batch_norm=False)),
    ]:
        t0 = time.perf_counter()
        flow = ConditionalFlow(
            max_epochs=60, early_stopping=8, learning_rate=1e-3, random_state=seed, **kw
        ).fit(X, m)
        learned = flow.score_samples(Xt, mt).mean()
        print(
            f"  4-D toy, {name:22s}: learned {learned:.4f}, true {true:.4f}, "
            f"gap {learned - true:+.4f} nats/event ({len(flow.history_[0]['val_loss'])} epochs, "
            f"{time.perf_counter() - t0:.0f} s)"
        )


def main(argv: Sequence[str] | None = None) -> int:
    """Print throughputs and ratios of the flow implementations; return 0."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.flows",
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--features", type=int, default=3, help="modelled features d")
    parser.add_argument("--blocks", type=int, default=6, help="autoregressive transforms")
    parser.add_argument("--hidden", type=int, default=20, help="units per hidden layer (2 layers)")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=150, help="training steps per round")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (median kept)")
    parser.add_argument("--n-sample", type=int, default=50000, help="events per sampling round")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (0: leave as is)")
    parser.add_argument("--accuracy", action="store_true", help="also run the 4-D accuracy toy")
    args = parser.parse_args(argv)
    if importlib.util.find_spec("zuko") is None:
        sys.stderr.write(
            "benchmarks.flows: SKIPPED: zuko, the reference these flows are compared with, is not "
            "installed; install the bench extra: pip install -c constraints.txt -e \".[bench]\"\n"
        )
        return 0
    global _clock
    if args.threads:
        torch.set_num_threads(args.threads)
    _clock = time.process_time if torch.get_num_threads() == 1 else time.perf_counter
    torch.manual_seed(0)
    d = args.features
    n = 50000
    X = torch.randn(n, d)
    C = torch.rand(n) * 2 - 1
    models = _models(d, args.blocks, args.hidden)
    train = {k: [] for k in models}
    dens = {k: [] for k in models}
    samp = {k: [] for k in models}
    for r in range(args.rounds):
        for name, (module, log_prob, sample) in models.items():
            train[name].append(_train_rate(module, log_prob, X, C, args.steps, args.batch_size, r))
            module.eval()
            dens[name].append(_eval_rate(lambda k, f=log_prob: f(X[:k], C[:k]), args.n_sample))
            samp[name].append(_eval_rate(lambda k, f=sample: f(C[:k]), args.n_sample))
    med = {
        key: {k: statistics.median(v) for k, v in tab.items()}
        for key, tab in (("train", train), ("density", dens), ("sample", samp))
    }
    ref = "zuko MAF"
    print(
        f"flows benchmark: d={d} features + 1 condition, {args.blocks} blocks x 2x{args.hidden} "
        f"tanh, batch {args.batch_size}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} thread(s), "
        f"{'CPU' if _clock is time.process_time else 'wall'} time, median of {args.rounds} rounds"
    )
    print(
        f"{'model':34s} {'train ev/s':>11s} {'/zuko':>6s} {'density ev/s':>13s} {'/zuko':>6s} "
        f"{'sample ev/s':>12s} {'/zuko':>6s}"
    )
    for name in models:
        t, dn, s = med["train"][name], med["density"][name], med["sample"][name]
        print(
            f"{name:34s} {t:11.0f} {t / med['train'][ref]:6.2f} {dn:13.0f} "
            f"{dn / med['density'][ref]:6.2f} {s:12.0f} {s / med['sample'][ref]:6.2f}"
        )
    ours, iaf = med["train"]["pyro MAF (ours)"], med["train"]["pyro default (IAF direction)"]
    spl, nsf = med["train"]["pyro spline MAF (ours)"], med["train"]["zuko NSF (8 bins)"]
    print(
        f"training ratio ours/zuko = {ours / med['train'][ref]:.2f} (target >= 1.0); "
        f"ours/pyro-default = {ours / iaf:.2f}; spline: ours/zuko NSF = "
        f"{spl / nsf:.2f}"
    )
    if args.accuracy:
        _accuracy()
    return 0


if __name__ == "__main__":
    sys.exit(main())
