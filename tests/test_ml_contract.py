"""Estimator contract shared by every estimator of ml/, parametrized over all of them.

For each: ``fit`` returns self; outputs have the promised shapes and are finite; the same seed
gives identical outputs; a save/load (or pickle) round trip reproduces them; wrong shapes, NaN/inf
inputs and unfitted use raise clear errors; inputs outside the range seen in fit warn (where the
estimator extrapolates). Tiny models (few epochs/trees) keep this quick.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

from ml.cathode import Cathode, LaCathode
from ml.classifiers import MLPClassifier, XGBEnsembleClassifier
from ml.diagnostics import make_resonant_toy
from ml.flows import ConditionalFlow
from ml.mass import FunctionMassSampler, KDEMassSampler
from ml.preprocessing import LogitScaler, MassScaler

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def data():
    toy = make_resonant_toy(150, 0.05, random_state=0)
    rng = np.random.default_rng(1)
    y = (rng.random(len(toy.m)) < 0.4).astype(int)
    return {"X": toy.X, "m": toy.m, "sr": toy.sr_mask, "y": y}


@dataclass
class Case:
    """How to drive one estimator through the contract."""

    name: str
    make: Callable  # random_state -> unfitted estimator
    fit: Callable  # (est, data) -> return value of fit
    outputs: Callable  # (est, data) -> tuple of arrays (deterministic given the seed)
    shapes: Callable  # data -> tuple of expected shapes
    use: Callable  # (est, data) -> a predict-type call, for the unfitted check
    bad_shape: Callable  # (est, data) -> call with wrongly shaped input on a fitted estimator
    bad_value: Callable  # (est, data) -> call with NaN/inf input (fit)
    outside: Callable | None = None  # (est, data) -> call with inputs outside the fitted range
    save_load: Callable | None = None  # (est, path) -> reloaded estimator; None: pickle
    seeded: bool = True
    extra: dict = field(default_factory=dict)


def _falling_pdf(m):
    """Exponential background shape (slope 6 GeV), module level so that it pickles."""
    return np.exp(-m / 6.0)


def _flow(kind):
    return lambda rs: ConditionalFlow(n_blocks=2, hidden_units=8, transform_type=kind, max_epochs=2,
                                      batch_size=128, device="cpu", random_state=rs)


def _flow_case(kind):
    def outputs(f, d):
        return (f.score_samples(d["X"], d["m"]), f.sample(d["m"], random_state=3),
                f.transform(d["X"], d["m"]))

    return Case(
        name=f"ConditionalFlow-{kind}", make=_flow(kind),
        fit=lambda f, d: f.fit(_logit(d)["Z"], d["m"]),
        outputs=lambda f, d: outputs(f, _logit(d)),
        shapes=lambda d: ((len(d["m"]),), d["X"].shape, d["X"].shape),
        use=lambda f, d: f.sample(d["m"]),
        bad_shape=lambda f, d: f.score_samples(_logit(d)["Z"][:, :2], d["m"]),
        bad_value=lambda f, d: f.fit(_nan(_logit(d)["Z"]), d["m"]),
        outside=lambda f, d: f.score_samples(_logit(d)["Z"], d["m"] + 100.0),
        save_load=lambda f, p: (f.save(p), ConditionalFlow.load(p))[1],
    )


def _logit(d):
    return {**d, "Z": LogitScaler().fit(d["X"]).transform(d["X"])}


def _nan(a, value=np.nan):
    a = np.array(a, dtype=float)
    a.flat[7] = value
    return a


def _chain(cls):
    def make(rs):
        return cls(flow=ConditionalFlow(n_blocks=2, hidden_units=8, max_epochs=2, device="cpu"),
                   classifier=XGBEnsembleClassifier(n_estimators=5), oversampling=2, n_jobs=1,
                   random_state=rs)

    return Case(
        name=cls.__name__, make=make,
        fit=lambda c, d: c.fit(d["X"], d["m"], d["sr"]),
        outputs=lambda c, d: (c.scores_, c.score(d["X"][d["sr"]], d["m"][d["sr"]]), c.template_),
        shapes=lambda d: ((len(d["m"]),), (int(d["sr"].sum()),), (2 * int(d["sr"].sum()), 3)),
        use=lambda c, d: c.score(d["X"], d["m"]),
        bad_shape=lambda c, d: c.score(d["X"][:, :2], d["m"]),
        bad_value=lambda c, d: c.fit(_nan(d["X"], np.inf), d["m"], d["sr"]),
        outside=lambda c, d: c.score(d["X"][:5], d["m"][:5] + 100.0),
        save_load=lambda c, p: (c.save(p), cls.load(p))[1],
    )


def _classifier(cls, **kw):
    return Case(
        name=cls.__name__, make=lambda rs: cls(random_state=rs, **kw),
        fit=lambda c, d: c.fit(d["X"], d["y"]),
        outputs=lambda c, d: (c.predict_proba(d["X"]),),
        shapes=lambda d: ((len(d["y"]), 2),),
        use=lambda c, d: c.predict_proba(d["X"]),
        bad_shape=lambda c, d: c.predict_proba(d["X"][:, :2]),
        bad_value=lambda c, d: c.fit(_nan(d["X"]), d["y"]),
        save_load=lambda c, p: (c.save(p), cls.load(p))[1],
    )


CASES = [
    Case(
        name="LogitScaler", make=lambda rs: LogitScaler(), seeded=False,
        fit=lambda s, d: s.fit(d["X"]),
        outputs=lambda s, d: (s.transform(d["X"]), s.log_abs_det_jacobian(d["X"]),
                              s.inverse_transform(s.transform(d["X"]))),
        shapes=lambda d: (d["X"].shape, (len(d["m"]),), d["X"].shape),
        use=lambda s, d: s.transform(d["X"]),
        bad_shape=lambda s, d: s.transform(d["X"][:, 0]),
        bad_value=lambda s, d: s.fit(_nan(d["X"])),
        outside=lambda s, d: s.transform(d["X"] * 10.0),
    ),
    Case(
        name="MassScaler", make=lambda rs: MassScaler(), seeded=False,
        fit=lambda s, d: s.fit(d["m"]),
        outputs=lambda s, d: (s.transform(d["m"]), s.inverse_transform(s.transform(d["m"]))),
        shapes=lambda d: ((len(d["m"]),), (len(d["m"]),)),
        use=lambda s, d: s.transform(d["m"]),
        bad_shape=lambda s, d: s.transform(np.ones((4, 2))),
        bad_value=lambda s, d: s.fit(_nan(d["m"])),
        # linear map: no extrapolation risk, so no warning outside the fitted masses
    ),
    _flow_case("affine"),
    _flow_case("spline"),
    Case(
        name="KDEMassSampler", make=lambda rs: KDEMassSampler(),
        fit=lambda s, d: s.fit(d["m"][d["sr"]]),
        # densities inside the open support (the fitted extremes are its edges, density 0)
        outputs=lambda s, d: (s.sample(40, random_state=2),
                              s.score_samples(np.linspace(9.1, 10.5, 30))),
        shapes=lambda d: ((40,), (30,)),
        use=lambda s, d: s.sample(5),
        bad_shape=lambda s, d: s.score_samples(np.ones((4, 2))),
        bad_value=lambda s, d: s.fit(_nan(d["m"])),
    ),
    Case(
        name="FunctionMassSampler",
        make=lambda rs: FunctionMassSampler(_falling_pdf, 9.0, 10.6),
        fit=lambda s, d: s.fit(d["m"][d["sr"]]),
        outputs=lambda s, d: (s.sample(40, random_state=2),),
        shapes=lambda d: ((40,),),
        use=lambda s, d: s.sample(5),
        bad_shape=lambda s, d: s.fit(np.ones((4, 2))),
        bad_value=lambda s, d: s.fit(_nan(d["m"])),
    ),
    _classifier(XGBEnsembleClassifier, n_models=2, n_estimators=10),
    _classifier(MLPClassifier, max_epochs=2, n_jobs=1),
    _chain(Cathode),
    _chain(LaCathode),
]
PICKLABLE = {"LogitScaler", "MassScaler", "KDEMassSampler", "FunctionMassSampler"}


@pytest.fixture(params=CASES, ids=lambda c: c.name)
def case(request):
    return request.param


def _fitted(case, data, rs=0):
    est = case.make(rs)
    assert case.fit(est, data) is est
    return est


def test_fit_returns_self_shapes_and_finite(case, data):
    est = _fitted(case, data)
    outs = case.outputs(est, data)
    assert [np.shape(o) for o in outs] == list(case.shapes(data))
    for o in outs:
        assert np.isfinite(o).all()


def test_same_seed_same_outputs(case, data):
    a = case.outputs(_fitted(case, data, 5), data)
    b = case.outputs(_fitted(case, data, 5), data)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    if case.seeded and case.name not in ("KDEMassSampler", "FunctionMassSampler"):
        c = case.outputs(_fitted(case, data, 6), data)
        assert any(not np.array_equal(x, y) for x, y in zip(a, c, strict=True))


def test_save_load_round_trip(case, data, tmp_path):
    est = _fitted(case, data)
    if case.save_load is not None:
        back = case.save_load(est, tmp_path / "model.bin")
    elif case.name in PICKLABLE:
        back = pickle.loads(pickle.dumps(est))
    else:
        raise AssertionError(f"no round trip for {case.name}")
    for x, y in zip(case.outputs(est, data), case.outputs(back, data), strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-9)


def test_unfitted_use_raises(case, data):
    with pytest.raises(NotFittedError, match="not fitted"):
        case.use(case.make(0), data)


def test_wrong_shape_raises(case, data):
    est = _fitted(case, data)
    with pytest.raises(ValueError, match="must be|features|has .* values|shape"):
        case.bad_shape(est, data)


def test_nan_inf_raises(case, data):
    with pytest.raises(ValueError, match="NaN/inf"):
        case.bad_value(case.make(0), data)


def test_outside_fit_range_warns(case, data):
    if case.outside is None:
        pytest.skip(f"{case.name} does not extrapolate (no range to leave)")
    est = _fitted(case, data)
    with pytest.warns(UserWarning, match="outside"):
        case.outside(est, data)
