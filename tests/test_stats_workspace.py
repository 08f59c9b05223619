"""Tests of stats.background, stats.model and stats.workspace (pyhf model, schema, round trips)."""

from __future__ import annotations

import json

import numpy as np
import pyhf
import pytest

from stats.background import bernstein_bin_integrals, bernstein_cdf, bernstein_density
from stats.binning import make_bins
from stats.model import BumpModel
from stats.significance import significance
from stats.workspace import (
    discovery_test,
    hypotest,
    load_workspace,
    make_workspace,
    validate_workspace,
    write_workspace,
)


def test_bernstein_partition_of_unity():
    edges = np.linspace(5.0, 16.0, 12)
    ints = bernstein_bin_integrals(edges, 5, 5.0, 16.0)
    assert ints.shape == (11, 6)
    # the basis sums to 1 everywhere, so the integrals over a bin sum to its width
    np.testing.assert_allclose(ints.sum(axis=1), np.diff(edges), rtol=1e-12)
    # each basis function integrates to (high - low)/(n + 1) over the domain
    np.testing.assert_allclose(bernstein_cdf(16.0, 5, 5.0, 16.0)[0], 11.0 / 6, rtol=1e-12)
    assert np.all(ints > 0)


def test_bernstein_integral_matches_numerical():
    c = np.array([3.0, -0.5, 1.0, 2.0])
    grid = np.linspace(2.0, 3.0, 200001)
    num = np.trapezoid(bernstein_density(grid, c, 2.0, 3.0), grid)
    ana = bernstein_bin_integrals([2.0, 3.0], 3, 2.0, 3.0)[0] @ c
    assert ana == pytest.approx(num, rel=1e-9)


def test_pyhf_readme_example_through_our_wrapper():
    """pyhf README: uncorrelated_background, data [51, 48], mu = 1, qtilde."""
    model = pyhf.simplemodels.uncorrelated_background(
        signal=[12.0, 11.0], bkg=[50.0, 52.0], bkg_uncertainty=[3.0, 7.0]
    )
    ws = make_workspace(model.spec, {"singlechannel": [51, 48]}, poi="mu")
    out = hypotest(ws, 1.0, test_stat="qtilde")
    assert out["cls_obs"] == pytest.approx(0.05251497, abs=5e-8)
    assert out["cls_exp"] == pytest.approx(0.06445321, abs=5e-8)


def test_workspace_validation_errors():
    model = pyhf.simplemodels.uncorrelated_background(
        signal=[1.0, 2.0], bkg=[5.0, 6.0], bkg_uncertainty=[1.0, 1.0]
    )
    with pytest.raises(ValueError, match="has 3 bins, the channel has 2"):
        make_workspace(model.spec, {"singlechannel": [1, 2, 3]})
    with pytest.raises(ValueError, match="unknown channel 'other'"):
        make_workspace(model.spec, {"other": [1, 2]})
    with pytest.raises(ValueError, match="negative or non-finite"):
        make_workspace(model.spec, {"singlechannel": [1, -2]})
    ws = make_workspace(model.spec, {"singlechannel": [1, 2]})
    broken = dict(ws, measurements=[{"name": "m"}])
    with pytest.raises(ValueError, match="does not follow the pyhf schema"):
        validate_workspace(broken)


@pytest.fixture(scope="module")
def falling_spectrum():
    rng = np.random.default_rng(42)
    m = 5.0 + rng.exponential(3.5, 30000)
    m = m[m < 16.0][:12000]
    return np.concatenate([m, rng.normal(9.46, 0.1, 150)])


def test_model_structure_and_normfactors(falling_spectrum):
    b = make_bins("upsilon")
    counts = b.histogram(falling_spectrum)
    model = BumpModel.from_counts(b, counts, 5)
    assert model.par_names == ["bkg_c0", "bkg_c1", "bkg_c2", "bkg_c3", "bkg_c4", "bkg_c5", "mu"]
    assert model.model.config.channel_nbins == {"sidebands": 64, "signal_region": 1}
    out = model.fit(model.data_vector(counts))
    assert out.converged
    # normfactors are O(1) and the linear structure reproduces pyhf's expected data
    assert np.all(np.abs(out.pars_free[:-1]) < 10)
    np.testing.assert_allclose(
        model.model.expected_actualdata(out.pars_free), model.expected(out.pars_free), rtol=1e-10
    )
    # the free fit saturates the SR counting bin
    assert model.expected(out.pars_free)[-1] == pytest.approx(counts[b.sr_mask].sum(), rel=1e-4)


def test_workspace_round_trip_refit_with_pyhf_alone(falling_spectrum, tmp_path):
    res = significance(falling_spectrum, window="upsilon")
    assert res.converged and res.workspace is not None
    path = write_workspace(res.workspace, tmp_path / "sub" / "upsilon_nocut.json")
    assert not list(path.parent.glob("*.tmp"))
    spec = load_workspace(path)
    assert spec == json.loads(json.dumps(res.workspace))
    pure = discovery_test(spec)  # pyhf alone: test_statistics.q0 and hypotest
    assert pure["Z"] == pytest.approx(res.Z, abs=1e-4)
    assert pure["p_value"] == pytest.approx(res.p_value, rel=1e-3)
    # pyhf's own Workspace gives back the observations we fitted
    w = pyhf.Workspace(spec)
    data = w.data(w.model())
    assert sum(data) == pytest.approx(res.n_sr + res.n_sb)


def test_load_workspace_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        load_workspace(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_workspace(bad)
