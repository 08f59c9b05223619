"""Tests of ml.preprocessing (LogitScaler, MassScaler, FlowPipeline) and ml._validation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ml._validation import NotFittedError, check_condition, check_features, warn_if_outside
from ml.preprocessing import LogitScaler, MassScaler

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _logit(s):
    return np.log(s / (1 - s))


# --------------------------------------------------------------------------- LogitScaler
def test_logit_scaler_known_answer():
    # feature 0: min 0, max 10 -> upper 12; feature 1: min -2, max -1 -> upper -1 + 0.2 = -0.8
    X = np.array([[0.0, -2.0], [10.0, -1.0], [6.0, -1.5]])
    sc = LogitScaler().fit(X)
    np.testing.assert_allclose(sc.min_, [0.0, -2.0])
    np.testing.assert_allclose(sc.upper_, [12.0, -0.8])
    u0 = X[:, 0] / 12.0
    y0 = _logit(0.02 + 0.96 * u0)
    np.testing.assert_allclose(sc.transform(X)[:, 0], (y0 - y0.mean()) / y0.std(), rtol=1e-12)
    # the fitted events are standardized
    Z = sc.transform(X)
    np.testing.assert_allclose(Z.mean(0), 0.0, atol=1e-12)
    np.testing.assert_allclose(Z.std(0), 1.0, rtol=1e-12)
    # min maps to the squeeze edge lo = 0.02
    assert Z[0, 0] * sc.scale_[0] + sc.mean_[0] == pytest.approx(_logit(0.02))


def test_logit_scaler_exact_inverse():
    rng = np.random.default_rng(1)
    X = np.c_[rng.exponential(5.0, 5000), rng.exponential(0.01, 5000), rng.normal(0, 1, 5000)]
    sc = LogitScaler().fit(X)
    np.testing.assert_allclose(sc.inverse_transform(sc.transform(X)), X, rtol=1e-6, atol=1e-9)
    Z_fit = sc.transform(X)
    Z = rng.uniform(Z_fit.min(0), Z_fit.max(0), size=(100, 3))  # inside the fitted range
    np.testing.assert_allclose(sc.transform(sc.inverse_transform(Z)), Z, atol=1e-6)


def test_logit_scaler_jacobian_matches_numerical_derivative():
    rng = np.random.default_rng(2)
    X = np.c_[rng.exponential(5.0, 500), rng.uniform(1.0, 3.0, 500)]
    sc = LogitScaler().fit(X)
    x = X[:20]
    h = 1e-6 * (sc.upper_ - sc.min_)
    diag = np.stack(
        [
            (sc.transform(x + h[j] * np.eye(2)[j]) - sc.transform(x - h[j] * np.eye(2)[j]))[:, j]
            / (2 * h[j])
            for j in range(2)
        ],
        axis=1,
    )
    np.testing.assert_allclose(sc.log_abs_det_jacobian(x), np.log(np.abs(diag)).sum(1), rtol=1e-6)


def test_logit_scaler_out_of_range_is_explicit():
    X = np.array([[0.0], [1.0], [0.5]])
    beyond = np.array([[-1.0], [0.5], [5.0]])
    with pytest.warns(
        UserWarning,
        match=r"2 value\(s\) of X lie outside .*\(2 value\(s\) beyond "
        r"the logit domain were clipped",
    ):
        Z = LogitScaler().fit(X).transform(beyond)
    assert np.isfinite(Z).all()
    # inside the squeeze margin (x = -0.01 maps to s = 0.0104): exact, invertible, but warned
    sc = LogitScaler().fit(X)
    with pytest.warns(UserWarning, match=r"0 value\(s\) beyond the logit domain"):
        z = sc.transform([[-0.01]])
    assert sc.inverse_transform(z)[0, 0] == pytest.approx(-0.01)
    clipped = LogitScaler(out_of_range="clip").fit(X)
    np.testing.assert_allclose(clipped.transform(beyond), clipped.transform([[0.0], [0.5], [1.2]]))
    with pytest.raises(ValueError, match=r"feature 0, range \[0, 1.2\]"):
        LogitScaler(out_of_range="raise").fit(X).transform(beyond)
    with pytest.warns(UserWarning, match="outside the fitted range"):
        assert np.isfinite(LogitScaler().fit(X).log_abs_det_jacobian(beyond)).all()
    # inside the headroom: no warning (pytest turns warnings into errors)
    LogitScaler().fit(X).transform([[1.19]])


@pytest.mark.parametrize(
    ("kwargs", "X", "exc", "match"),
    [
        ({}, np.array([[1.0, 2.0], [1.0, 3.0]]), ValueError, "feature 0 of X is constant"),
        ({}, np.array([1.0, 2.0]), ValueError, "X must be 2-D"),
        ({}, np.array([[1.0], [np.nan]]), ValueError, "X contains 1 NaN/inf"),
        ({"headroom": 0.5}, np.eye(2), ValueError, "headroom must be a finite number >= 1"),
        ({"squeeze": (0.5, 0.2)}, np.eye(2), ValueError, "0 < lo < hi < 1"),
        ({"out_of_range": "ignore"}, np.eye(2), ValueError, "out_of_range='ignore'"),
        ({}, [["a"], ["b"]], TypeError, "X must be a numeric array-like"),
    ],
)
def test_logit_scaler_errors(kwargs, X, exc, match):
    with pytest.raises(exc, match=match):
        LogitScaler(**kwargs).fit(X)


def test_scalers_unfitted_and_feature_mismatch():
    with pytest.raises(NotFittedError, match="LogitScaler instance is not fitted"):
        LogitScaler().transform(np.eye(2))
    with pytest.raises(NotFittedError, match="MassScaler instance is not fitted"):
        MassScaler().transform(np.ones(2))
    sc = LogitScaler().fit(np.eye(3))
    with pytest.raises(ValueError, match="X has 2 features .* fitted with 3"):
        sc.transform(np.eye(2))


# --------------------------------------------------------------------------- MassScaler
def test_mass_scaler_known_answer_and_inverse():
    m = np.array([5.0, 9.0, 10.0, 16.0])
    ms = MassScaler().fit(m)
    assert ms.mean_ == pytest.approx(10.0) and ms.scale_ == pytest.approx(np.std(m))
    assert (ms.min_, ms.max_) == (5.0, 16.0)
    np.testing.assert_allclose(ms.transform([10.0]), [0.0])
    np.testing.assert_allclose(ms.inverse_transform(ms.transform(m)), m, rtol=1e-12)
    assert ms.transform(m.reshape(-1, 1)).shape == (4,)
    with pytest.raises(ValueError, match="all 3 masses are equal"):
        MassScaler().fit([9.0, 9.0, 9.0])
    with pytest.raises(ValueError, match="m must be 1-D"):
        MassScaler().fit(np.ones((3, 2)))


# --------------------------------------------------------------------------- validation helpers
def test_validation_helpers():
    assert check_features([[1, 2]]).dtype == np.float64
    with pytest.raises(ValueError, match=r"X has no events"):
        check_features(np.zeros((0, 2)))
    with pytest.raises(ValueError, match="m has 2 values but X has 3 events"):
        check_condition([1.0, 2.0], n_events=3)
    with pytest.warns(UserWarning, match=r"1 of 3 m value\(s\) lie outside the range \[0, 1\]"):
        assert warn_if_outside(np.array([0.0, 0.5, 1.5]), 0.0, 1.0) == 1
    assert warn_if_outside(np.array([1.0005]), 0.0, 1.0) == 0  # within the 1e-3 tolerance


# --------------------------------------------------------------------------- FlowPipeline
def _positive_toy(n, rng):
    """x > 0 features like dimu_pt (GeV) and ip3d (cm) whose scale moves with m in [5, 16] GeV."""
    m = rng.uniform(5.0, 16.0, n)
    pt = rng.gamma(3.0, 2.0 + 0.3 * m)
    ip = rng.exponential(0.01 * (1 + 0.05 * m))
    return np.c_[pt, ip], m


@pytest.fixture(scope="module")
def pipeline_and_data():
    from ml.flows import ConditionalFlow
    from ml.preprocessing import FlowPipeline

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    rng = np.random.default_rng(5)
    X, m = _positive_toy(4000, rng)
    flow = ConditionalFlow(
        n_blocks=3, hidden_units=16, max_epochs=8, learning_rate=3e-3, random_state=0
    )
    pipe = FlowPipeline(flow=flow).fit(X, m)
    torch.set_num_threads(old)
    return pipe, X, m


def test_pipeline_density_integrates_to_one_in_physical_units(pipeline_and_data):
    pipe, X, _ = pipeline_and_data
    # grid over the whole support of both physical features: the open interval where the logit
    # is defined, i.e. [min, upper] plus the squeeze margins (warned about, but exact there)
    lo, hi = pipe.scaler_._domain()
    edges = [np.linspace(lo[j], hi[j], 401) for j in range(2)]
    centres = [0.5 * (e[1:] + e[:-1]) for e in edges]
    g0, g1 = np.meshgrid(*centres, indexing="ij")
    grid = np.c_[g0.ravel(), g1.ravel()]
    cell = np.diff(edges[0])[0] * np.diff(edges[1])[0]
    for mass in (7.0, 12.0):
        with pytest.warns(UserWarning, match="outside the fitted range of LogitScaler"):
            dens = np.exp(pipe.score_samples(grid, np.full(len(grid), mass)))
        assert dens.sum() * cell == pytest.approx(1.0, abs=0.02)


def test_pipeline_density_equals_flow_density_plus_jacobian(pipeline_and_data):
    pipe, X, m = pipeline_and_data
    expected = pipe.flow_.score_samples(
        pipe.scaler_.transform(X[:50]), pipe.mass_scaler_.transform(m[:50])
    ) + pipe.scaler_.log_abs_det_jacobian(X[:50])
    np.testing.assert_allclose(pipe.score_samples(X[:50], m[:50]), expected, rtol=1e-10)


def test_pipeline_samples_transform_and_save_load(tmp_path, pipeline_and_data):
    from ml.preprocessing import FlowPipeline

    pipe, X, m = pipeline_and_data
    S = pipe.sample(m[:500], random_state=3)
    lo, hi = pipe.scaler_._domain()
    assert S.shape == (500, 2) and ((S > lo) & (S < hi)).all()
    np.testing.assert_array_equal(S, pipe.sample(m[:500], random_state=3))
    Z = pipe.transform(X[:100], m[:100])
    # the flow runs in float32: ~1e-9 cm absolute on ip3d values of ~1e-5 cm
    np.testing.assert_allclose(pipe.inverse_transform(Z, m[:100]), X[:100], rtol=1e-4, atol=1e-8)
    path = tmp_path / "pipe.pt"
    pipe.save(path)
    loaded = FlowPipeline.load(path)
    np.testing.assert_array_equal(
        loaded.score_samples(X[:100], m[:100]), pipe.score_samples(X[:100], m[:100])
    )
    np.testing.assert_array_equal(
        loaded.sample(m[:10], random_state=1), pipe.sample(m[:10], random_state=1)
    )
    assert loaded.get_params()["flow"].get_params() == pipe.flow_.get_params()


def test_pipeline_warns_in_gev_and_checks_inputs(pipeline_and_data):
    from ml.preprocessing import FlowPipeline

    pipe, X, m = pipeline_and_data
    with pytest.warns(
        UserWarning,
        match=r"m value\(s\) lie outside the range \[5.*, 1[56].*\] seen "
        r"in FlowPipeline.fit",
    ) as record:
        pipe.score_samples(X[:2], np.array([9.0, 20.0]))
    assert len(record) == 1  # reported once, in GeV, not again by the inner flow
    with pytest.raises(NotFittedError, match="FlowPipeline instance is not fitted"):
        FlowPipeline().score_samples(X, m)
    with pytest.raises(ValueError, match="X has 3 features"):
        pipe.score_samples(np.ones((2, 3)), m[:2])
    with pytest.raises(ValueError, match="pass both X_val and m_val"):
        FlowPipeline().fit(X, m, m_val=m)
    with pytest.raises(FileNotFoundError, match="no saved pipeline"):
        FlowPipeline.load("does/not/exist.pt")
