"""Stacked (batched) training of several flows equals training them one after the other."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ml._batched_flow import StackedMAF, can_stack, train_stacked
from ml._flow_training import train_flow
from ml._pyro_transforms import build_conditional_flow
from ml.cathode import Cathode, fit_flow, fit_flows
from ml.flows import ConditionalFlow


def _data(seed, n=600, dtype=torch.float64):
    rng = np.random.default_rng(seed)
    m = rng.uniform(-1.0, 1.0, n + n // 3)
    X = rng.normal(size=(n + n // 3, 3)) + m[:, None] * np.array([1.0, 0.5, -0.3])
    X[:, 1] = 0.5 * X[:, 1] ** 2 + 0.3 * X[:, 0]
    t = lambda a: torch.from_numpy(a).to(dtype)  # noqa: E731
    return t(X[:n]), t(m[:n]), t(X[n:]), t(m[n:])


def _flow(kind, data, seed, dtype=torch.float64):
    X, m = data[0], data[1]
    torch.manual_seed(seed)
    return build_conditional_flow(
        3, n_blocks=3, hidden_units=8, activation="tanh", batch_norm=True, transform_type=kind,
        x_loc=X.mean(0), x_scale=X.std(0), m_loc=m.mean(), m_scale=m.std()).to(dtype)


@pytest.mark.parametrize("kind", ["spline", "affine"])
def test_stacked_training_equals_sequential_float64(kind):
    # float64: the batched kernels differ from the per-member ones only by rounding, so the
    # histories, chosen epochs and final densities agree to ~1e-10; early stopping per member
    data = [_data(s, n=400) for s in range(3)]
    opts = dict(learning_rate=5e-3, weight_decay=1e-6, batch_size=100, max_epochs=5,
                early_stopping=2, grad_clip=0.5, lr_schedule="cosine", n_best_epochs=2)
    seq = [train_flow(_flow(kind, d, 10 + i), d, seed=20 + i, **opts) for i, d in enumerate(data)]
    flows = [_flow(kind, d, 10 + i) for i, d in enumerate(data)]
    stacked = train_stacked(flows, data, seeds=[20, 21, 22], **opts)
    ref = [_flow(kind, d, 10 + i) for i, d in enumerate(data)]
    for i, ((states_a, hist_a), (states_b, hist_b)) in enumerate(
            zip(seq, stacked, strict=True)):
        assert len(hist_a["val_loss"]) == len(hist_b["val_loss"])
        np.testing.assert_allclose(hist_b["val_loss"], hist_a["val_loss"], rtol=0, atol=1e-9)
        # (the epoch's training loss is summed in float32 by both loops)
        np.testing.assert_allclose(hist_b["train_loss"], hist_a["train_loss"], rtol=1e-6)
        assert hist_b["best_epochs"] == hist_a["best_epochs"]
        ref[i].load_state_dict(states_a[0])
        ref[i].eval()
        X, m = data[i][2], data[i][3]
        with torch.no_grad():
            np.testing.assert_allclose(flows[i].log_prob(X, m).numpy(),
                                       ref[i].log_prob(X, m).numpy(), rtol=0, atol=1e-8)
        assert len(states_b) == 2


def test_stacked_model_density_equals_members():
    data = [_data(s, dtype=torch.float32) for s in range(2)]
    flows = [_flow("spline", d, s, torch.float32) for s, d in enumerate(data)]
    model = StackedMAF(flows).eval()
    for f in flows:
        f.eval()
    X = torch.stack([d[2] for d in data])
    m = torch.stack([d[3] for d in data])
    with torch.no_grad():
        lp = model.log_prob(X, m)
        for i, f in enumerate(flows):
            np.testing.assert_allclose(lp[i].numpy(), f.log_prob(X[i], m[i]).numpy(),
                                       rtol=1e-5, atol=1e-5)
    assert not can_stack([flows[0], _flow("affine", data[0], 0, torch.float32)])
    with pytest.raises(ValueError, match="same numbers of training"):
        train_stacked(flows, [data[0], _data(5, n=300, dtype=torch.float32)], seeds=[0, 1],
                      learning_rate=1e-3, weight_decay=0.0, batch_size=64, max_epochs=1,
                      early_stopping=None, grad_clip=None)


def test_conditional_flow_ensemble_stacked_or_not():
    X, m, _, _ = (t.numpy() for t in _data(3, n=800, dtype=torch.float32))
    kw = dict(n_blocks=2, hidden_units=8, max_epochs=2, n_ensemble=3, transform_type="spline",
              random_state=4)
    a = ConditionalFlow(**kw).fit(X, m)
    b = ConditionalFlow(stacked=False, **kw).fit(X, m)
    assert len(a.flows_) == len(b.flows_) == 3
    for ha, hb in zip(a.history_, b.history_, strict=True):
        np.testing.assert_allclose(ha["val_loss"], hb["val_loss"], rtol=0, atol=1e-4)
    np.testing.assert_allclose(a.score_samples(X[:200], m[:200]),
                               b.score_samples(X[:200], m[:200]), rtol=0, atol=1e-3)
    with pytest.raises(ValueError, match="stacked must be True or False"):
        ConditionalFlow(stacked="yes").fit(X, m)


def test_cathode_seeds_train_as_one_batched_model():
    # each seed keeps its own validation split and initialization: the same flows as one
    # fit_flow per seed, up to rounding
    X, m, _, _ = (t.numpy() for t in _data(6, n=900, dtype=torch.float32))
    flow = ConditionalFlow(n_blocks=2, hidden_units=8, max_epochs=2, transform_type="affine")
    chain = Cathode(flow=flow, n_flows=3, random_state=1).fit_preprocessing(X, m)
    tasks = [chain.flow_task(X, m, i) for i in range(3)]
    together = fit_flows(tasks)
    alone = [fit_flow(*t) for t in tasks]
    for a, b in zip(together, alone, strict=True):
        np.testing.assert_allclose(a.history_[0]["val_loss"], b.history_[0]["val_loss"],
                                   rtol=0, atol=1e-4)
    assert len({round(f.history_[0]["val_loss"][0], 4) for f in together}) == 3
    assert len(chain.train_flows(tasks)) == 3
