"""Tests of ml.flows.ConditionalFlow: correctness on a known conditional density, API contract."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from ml._validation import NotFittedError
from ml.flows import PRESETS, ConditionalFlow

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def toy(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """2-D Gaussian whose mean and correlation move with m ~ U(0, 1)."""
    m = rng.uniform(0.0, 1.0, n)
    mean, rho = _toy_params(m)
    z1, z2 = rng.standard_normal((2, n))
    x1 = mean[:, 0] + z1
    x2 = mean[:, 1] + 0.5 * (rho * z1 + np.sqrt(1 - rho**2) * z2)
    return np.c_[x1, x2], m


def _toy_params(m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.c_[2.0 * m, -m], 0.8 * m - 0.2


def toy_logpdf(X: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Exact log density of :func:`toy` (sigma_1 = 1, sigma_2 = 0.5, correlation rho(m))."""
    mean, rho = _toy_params(m)
    u = X[:, 0] - mean[:, 0]
    v = (X[:, 1] - mean[:, 1]) / 0.5
    q = (u**2 - 2 * rho * u * v + v**2) / (1 - rho**2)
    return -0.5 * q - np.log(2 * np.pi * 0.5) - 0.5 * np.log(1 - rho**2)


@pytest.fixture(scope="module")
def small_data():
    rng = np.random.default_rng(11)
    return toy(600, rng)


@pytest.fixture(scope="module")
def small_flow(small_data):
    X, m = small_data
    with torch_threads(1):
        return ConditionalFlow(n_blocks=2, hidden_units=8, max_epochs=2, random_state=0).fit(X, m)


class torch_threads:
    def __init__(self, n: int) -> None:
        self.n = n

    def __enter__(self) -> None:
        self.old = torch.get_num_threads()
        torch.set_num_threads(self.n)

    def __exit__(self, *exc) -> None:
        torch.set_num_threads(self.old)


# --------------------------------------------------------------------------- correctness
@pytest.mark.slow
def test_learns_known_conditional_density_within_005_nats():
    rng = np.random.default_rng(2024)
    X, m = toy(12000, rng)
    X_test, m_test = toy(20000, rng)
    flow = ConditionalFlow(
        n_blocks=4,
        hidden_units=32,
        batch_norm=False,
        learning_rate=1e-3,
        max_epochs=40,
        random_state=0,
    ).fit(X, m)
    learned = flow.score_samples(X_test, m_test).mean()
    true = toy_logpdf(X_test, m_test).mean()
    assert abs(learned - true) < 0.05, (learned, true)
    # 5000 samples at held-out masses against exact draws at the same masses: per-dimension KS
    # (sensitive to CDF differences of ~3 %) and the m-dependent correlation at high m
    S = flow.sample(m_test[:5000], random_state=5)
    for j in range(2):
        assert stats.ks_2samp(S[:, j], X_test[:5000, j]).pvalue > 0.01
    hi = m_test[:5000] > 0.7
    rho_true = np.corrcoef(X_test[:5000][hi].T)[0, 1]
    assert np.corrcoef(S[hi].T)[0, 1] == pytest.approx(rho_true, abs=0.05)


def test_log_prob_matches_pyro_transformed_distribution(small_flow, small_data):
    X, m = small_data
    flow = small_flow.flows_[0]
    xt = torch.tensor(X[:50], dtype=torch.float32)
    mt = torch.tensor(m[:50], dtype=torch.float32)
    with torch.no_grad():
        ours = flow.log_prob(xt, mt)
        pyro_lp = flow.condition(mt).log_prob(xt)
    np.testing.assert_allclose(ours.numpy(), pyro_lp.numpy(), atol=1e-5)


@pytest.mark.parametrize("kind", ["affine", "spline"])
def test_training_mode_log_prob_matches_pyro(kind):
    """In training mode batch-norm uses batch statistics; ours must still equal Pyro's chain."""
    from ml._pyro_transforms import build_conditional_flow

    torch.manual_seed(0)
    flow = build_conditional_flow(
        3,
        n_blocks=3,
        hidden_units=8,
        activation="tanh",
        batch_norm=True,
        transform_type=kind,
        x_loc=torch.zeros(3),
        x_scale=torch.full((3,), 2.0),
        m_loc=torch.tensor(0.5),
        m_scale=torch.tensor(0.3),
    ).train()
    x, m = torch.randn(64, 3), torch.rand(64)
    with torch.no_grad():
        np.testing.assert_allclose(
            flow.log_prob(x, m).numpy(), flow.condition(m).log_prob(x).numpy(), atol=1e-5
        )


def test_log_det_matches_autograd_jacobian(small_data):
    X, m = small_data
    fl = ConditionalFlow(
        n_blocks=2, hidden_units=8, max_epochs=1, transform_type="spline", random_state=3
    ).fit(X, m)
    flow = fl.flows_[0]
    x = torch.tensor(X[:4], dtype=torch.float64)
    c = torch.tensor(m[:4], dtype=torch.float64)
    flow = flow.double()
    _, ladj = flow.to_latent(x, c)
    for i in range(4):
        jac = torch.autograd.functional.jacobian(
            lambda v, i=i: flow.to_latent(v[None], c[i : i + 1])[0][0], x[i]
        )
        assert ladj[i].item() == pytest.approx(torch.linalg.slogdet(jac)[1].item(), abs=1e-8)


@pytest.mark.parametrize("kind", ["affine", "spline"])
def test_transform_inverse_round_trip(kind, small_data):
    X, m = small_data
    flow = ConditionalFlow(
        n_blocks=2, hidden_units=8, max_epochs=1, transform_type=kind, random_state=1
    ).fit(X, m)
    Z = flow.transform(X, m)
    assert Z.shape == X.shape
    np.testing.assert_allclose(flow.inverse_transform(Z, m), X, atol=1e-4)


def test_sampling_shape_and_seed(small_flow, small_data):
    _, m = small_data
    a = small_flow.sample(m[:100], random_state=7)
    b = small_flow.sample(m[:100], random_state=7)
    c = small_flow.sample(m[:100], random_state=8)
    assert a.shape == (100, 2) and a.dtype == np.float64
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_same_seed_same_model(small_data):
    X, m = small_data
    kw = dict(n_blocks=2, hidden_units=8, max_epochs=2, random_state=5)
    a = ConditionalFlow(**kw).fit(X, m).score_samples(X[:20], m[:20])
    b = ConditionalFlow(**kw).fit(X, m).score_samples(X[:20], m[:20])
    c = ConditionalFlow(**{**kw, "random_state": 6}).fit(X, m).score_samples(X[:20], m[:20])
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_ensemble_is_mixture_of_members(small_data):
    X, m = small_data
    flow = ConditionalFlow(
        n_blocks=2, hidden_units=8, max_epochs=1, n_ensemble=2, random_state=2
    ).fit(X, m)
    assert len(flow.flows_) == 2 and len(flow.history_) == 2
    xt, mt = torch.tensor(X[:30], dtype=torch.float32), torch.tensor(m[:30], dtype=torch.float32)
    with torch.no_grad():
        p = [f.log_prob(xt, mt).double().exp().numpy() for f in flow.flows_]
    np.testing.assert_allclose(
        flow.score_samples(X[:30], m[:30]), np.log((p[0] + p[1]) / 2), rtol=1e-6
    )
    assert flow.sample(m[:10], random_state=0).shape == (10, 2)


def test_ensembling_over_best_epochs(small_data):
    X, m = small_data
    flow = ConditionalFlow(
        n_blocks=2, hidden_units=8, max_epochs=4, n_best_epochs=2, random_state=4
    ).fit(X, m)
    h = flow.history_[0]
    assert len(flow.flows_) == 2
    assert h["best_epochs"] == [int(i) for i in np.argsort(h["val_loss"])[:2]]
    assert h["best_epoch"] == h["best_epochs"][0]


def test_history_best_epoch_and_early_stopping(small_data):
    X, m = small_data
    flow = ConditionalFlow(
        n_blocks=2,
        hidden_units=8,
        max_epochs=30,
        early_stopping=2,
        learning_rate=0.05,
        random_state=0,
    ).fit(X[:300], m[:300])
    h = flow.history_[0]
    assert len(h["train_loss"]) == len(h["val_loss"]) <= 30
    assert h["best_epoch"] == int(np.argmin(h["val_loss"]))
    # the restored weights are those of the best epoch
    val_X, val_m = X[300:], m[300:]
    flow2 = ConditionalFlow(n_blocks=2, hidden_units=8, max_epochs=4, random_state=0).fit(
        X[:300], m[:300], X_val=val_X, m_val=val_m
    )
    h2 = flow2.history_[0]
    best = h2["val_loss"][h2["best_epoch"]]
    assert -flow2.score_samples(val_X, val_m).mean() == pytest.approx(best, abs=1e-4)


def test_cosine_schedule_anneals_the_learning_rate_to_zero(small_data):
    X, m = small_data
    kw = dict(n_blocks=2, hidden_units=8, max_epochs=5, learning_rate=0.01, random_state=0)
    cos = ConditionalFlow(lr_schedule="cosine", **kw).fit(X[:300], m[:300]).history_[0]["lr"]
    const = ConditionalFlow(**kw).fit(X[:300], m[:300]).history_[0]["lr"]
    assert const == [0.01] * 5
    # end of epoch e of 5: 0.01 * (1 + cos(pi (e + 1) / 5)) / 2
    assert cos == pytest.approx([0.005 * (1 + np.cos(np.pi * (e + 1) / 5)) for e in range(5)],
                                abs=1e-9)


def test_save_load_round_trip(tmp_path, small_flow, small_data):
    X, m = small_data
    path = tmp_path / "flow.pt"
    small_flow.save(path)
    loaded = ConditionalFlow.load(path)
    assert loaded.get_params() == small_flow.get_params()
    np.testing.assert_array_equal(loaded.score_samples(X, m), small_flow.score_samples(X, m))
    np.testing.assert_array_equal(
        loaded.sample(m[:20], random_state=1), small_flow.sample(m[:20], random_state=1)
    )
    assert [p.name for p in tmp_path.iterdir()] == ["flow.pt"]  # no temp file left behind


def test_presets_and_params():
    flow = ConditionalFlow.from_preset("published", max_epochs=3)
    assert flow.get_params()["n_blocks"] == 6 and flow.max_epochs == 3
    sk = ConditionalFlow.from_preset("sk_cathode")
    assert (sk.n_blocks, sk.hidden_units, sk.activation, sk.learning_rate) == (
        15,
        128,
        "relu",
        1e-4,
    )
    assert PRESETS["published"]["learning_rate"] == 7.5e-4
    spline = ConditionalFlow(transform_type="spline")
    assert spline.get_params()["transform_type"] == "spline" and callable(spline.transform)
    assert "transform" not in spline.get_params()  # the method's name is no hyper-parameter
    with pytest.raises(ValueError, match="unknown preset 'nflows'"):
        ConditionalFlow.from_preset("nflows")
    with pytest.raises(TypeError, match="unknown ConditionalFlow argument"):
        ConditionalFlow.from_preset("published", n_layers=3)


@pytest.mark.parametrize("kind", ["affine", "spline"])
def test_single_feature(kind):
    rng = np.random.default_rng(8)
    m = rng.uniform(0, 1, 800)
    X = rng.normal(3 * m, 1.0)[:, None]
    flow = ConditionalFlow(
        n_blocks=2, hidden_units=8, max_epochs=3, transform_type=kind, random_state=0
    ).fit(X, m)
    assert flow.sample(m[:7], random_state=0).shape == (7, 1)
    np.testing.assert_allclose(flow.inverse_transform(flow.transform(X, m), m), X, atol=1e-4)


def test_sk_cathode_preset_trains_and_progress_bar_shows_losses(small_data, capsys):
    X, m = small_data
    flow = ConditionalFlow.from_preset("sk_cathode", max_epochs=1, random_state=0, verbose=True)
    flow.fit(X[:300], m[:300])
    assert len(flow.flows_[0].blocks) == 15
    assert np.isfinite(flow.score_samples(X[:5], m[:5])).all()
    err = capsys.readouterr().err
    assert "flow" in err and "val=" in err
    ConditionalFlow(n_blocks=1, hidden_units=4, max_epochs=1, random_state=0).fit(X, m)
    assert capsys.readouterr().err == ""  # verbose=False: silent


# --------------------------------------------------------------------------- errors
def test_unfitted_use_raises():
    flow = ConditionalFlow()
    with pytest.raises(NotFittedError, match="not fitted yet"):
        flow.score_samples(np.zeros((2, 2)), np.zeros(2))
    with pytest.raises(NotFittedError, match="call fit"):
        flow.sample(np.zeros(2))
    with pytest.raises(NotFittedError):
        flow.save("unused.pt")


@pytest.mark.parametrize(
    ("X", "m", "match"),
    [
        (np.zeros(10), np.zeros(10), "X must be 2-D"),
        (np.zeros((10, 2)), np.zeros(9), "m has 9 values but X has 10 events"),
        (np.full((10, 2), np.nan), np.zeros(10), "X contains 20 NaN/inf"),
        (np.zeros((10, 2)), np.r_[np.inf, np.zeros(9)], "m contains 1 NaN/inf"),
        (np.zeros((10, 2)), np.zeros((10, 2)), r"m must be 1-D \(n_events,\)"),
    ],
)
def test_bad_fit_inputs(X, m, match):
    with pytest.raises(ValueError, match=match):
        ConditionalFlow(max_epochs=1).fit(X, m)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"activation": "swish"}, "activation='swish' is not supported"),
        ({"transform_type": "planar"}, "transform_type='planar'; expected 'affine' or 'spline'"),
        ({"n_blocks": 0}, "n_blocks must be a positive int"),
        ({"learning_rate": -1.0}, "learning_rate must be a positive"),
        ({"device": "tpu"}, "device='tpu' is not a valid torch device"),
        ({"hidden_units": 1}, "hidden_units=1 is narrower than the 2 features"),
        ({"lr_schedule": "step"}, "lr_schedule='step'; expected 'constant' or 'cosine'"),
    ],
)
def test_bad_hyper_parameters(kwargs, match, small_data):
    X, m = small_data
    with pytest.raises(ValueError, match=match):
        ConditionalFlow(max_epochs=1, **kwargs).fit(X, m)


def test_predict_input_checks_and_out_of_range_warning(small_flow, small_data):
    X, m = small_data
    with pytest.raises(ValueError, match="X has 3 features .* fitted with 2"):
        small_flow.score_samples(np.zeros((4, 3)), np.zeros(4) + 0.5)
    with pytest.raises(ValueError, match="X contains 1 NaN/inf"):
        small_flow.score_samples(np.r_[X[:3], [[np.nan, 0.0]]], m[:4])
    with pytest.warns(UserWarning, match="1 of 4 m value.* outside the range"):
        out = small_flow.score_samples(X[:4], np.r_[m[:3], 5.0])
    assert np.isfinite(out).all()
    with pytest.warns(UserWarning, match="outside the range"):
        small_flow.sample(np.array([-3.0]), random_state=0)
    with pytest.raises(ValueError, match="member=3 out of range"):
        small_flow.transform(X[:2], m[:2], member=3)


def test_validation_set_must_come_in_pairs(small_data):
    X, m = small_data
    with pytest.raises(ValueError, match="pass both X_val and m_val"):
        ConditionalFlow(max_epochs=1).fit(X, m, X_val=X)


def test_load_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no saved flow at"):
        ConditionalFlow.load(tmp_path / "missing.pt")
    bad = tmp_path / "bad.pt"
    torch.save({"format": "other"}, bad)
    with pytest.raises(ValueError, match="is not a ConditionalFlow file"):
        ConditionalFlow.load(bad)


def test_module_runs_on_one_torch_thread():
    """The shared ``one_torch_thread`` fixture (tests/conftest.py) is in force here."""
    assert torch.get_num_threads() == 1


def test_former_name_transform_maps_to_transform_type(tmp_path, small_data):
    from ml.flows import rename_params

    assert rename_params({"transform": "spline", "n_blocks": 2}) == {
        "transform_type": "spline", "n_blocks": 2}
    flow = ConditionalFlow.from_preset("published", transform="spline")
    assert flow.transform_type == "spline" and "transform" not in flow.get_params()
    with pytest.raises(TypeError, match="'transform' is the former name of 'transform_type'"):
        ConditionalFlow.from_preset("published", transform="spline", transform_type="affine")
    with pytest.raises(TypeError):
        ConditionalFlow(transform="spline")  # the constructor takes the current name only
    # a file saved before the rename (params["transform"]) still loads
    X, m = small_data
    fitted = ConditionalFlow(n_blocks=1, hidden_units=4, max_epochs=1, random_state=0).fit(X, m)
    state = fitted._get_state()
    state["params"]["transform"] = state["params"].pop("transform_type")
    torch.save(state, tmp_path / "old.pt")
    assert ConditionalFlow.load(tmp_path / "old.pt").transform_type == "affine"


def test_training_logs_progress_and_time_at_info(small_data, caplog):
    X, m = small_data
    with caplog.at_level("INFO", logger="ml._flow_training"):
        ConditionalFlow(n_blocks=2, hidden_units=8, max_epochs=5, random_state=0).fit(
            X[:300], m[:300])
    text = caplog.text
    assert "training on 240 events (validation 60) for up to 5 epochs" in text
    assert text.count("epoch 1/5") == 1 and "epoch 5/5" in text
    assert "5 epochs in" in text and " s" in text


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_fused_spline_equals_pyro_spline_autoregressive(dtype):
    """ml._rq_spline computes Pyro's SplineAutoregressive direct call (values and gradients)."""
    from ml._pyro_transforms import _conditioned
    from ml._rq_spline import spline_block_forward

    torch.manual_seed(7)
    flow = _small_pyro_flow("spline").to(dtype)
    x = (torch.randn(400, 3) * 2.0).to(dtype)  # ~13 % outside the spline box [-3, 3]
    ctx = torch.rand(400, 1).to(dtype)
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == torch.float32 else dict(rtol=1e-10, atol=1e-10)
    if dtype == torch.float64:  # sharper splines: bins of very different widths and slopes
        with torch.no_grad():
            for p in flow.parameters():
                p.mul_(3.0)
    for block in flow.blocks:
        slot, pyro_t = _conditioned(block)
        slot.context = ctx
        y_ref = pyro_t(x)
        ld_ref = pyro_t.log_abs_det_jacobian(x, y_ref)
        y, ld = spline_block_forward(block.nn, x, ctx, 8, 3.0)
        torch.testing.assert_close(y, y_ref, **tol)
        torch.testing.assert_close(ld, ld_ref, **tol)
        params = list(block.parameters())
        g_ref = torch.autograd.grad((y_ref.sum() + ld_ref.sum()), params)
        g = torch.autograd.grad((y.sum() + ld.sum()), params)
        # float32 gradients are sums over 400 events: compared at 1e-4 (float64 at 1e-10)
        gtol = dict(rtol=1e-4, atol=1e-4) if dtype == torch.float32 else tol
        for a, b in zip(g, g_ref, strict=True):
            torch.testing.assert_close(a, b, **gtol)
        x = y_ref.detach()


def _small_pyro_flow(kind):
    from ml._pyro_transforms import build_conditional_flow

    return build_conditional_flow(
        3, n_blocks=3, hidden_units=16, activation="tanh", batch_norm=False,
        transform_type=kind, x_loc=torch.zeros(3), x_scale=torch.ones(3),
        m_loc=torch.tensor(0.0), m_scale=torch.tensor(1.0),
    )
