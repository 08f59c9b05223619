"""Per-spectrum polynomial degree by the F-test (``degree="auto"``, stats.degree).

A fixed degree 5 fitted to the ~150 sideband events of a tight cut follows a dip next to the SR and
sags under it (B ≈ half the truth); the F-test keeps a straight line there.  On a large spectrum
that truly needs degree 5 it keeps degree 5.
"""

from __future__ import annotations

import numpy as np
import pytest

from stats.binning import make_bins
from stats.lee import look_elsewhere
from stats.significance import (
    reweighted_significance,
    scan_cut,
    significance,
    significance_from_counts,
)


def _dip_spectrum(total: float = 150.0) -> tuple[np.ndarray, float]:
    """Rounded linear falling background, two empty sideband bins on each side of the SR; and
    the true SR background (events)."""
    b = make_bins("upsilon")
    centres = 0.5 * (b.edges[1:] + b.edges[:-1])
    lam = 16.5 - centres
    lam = lam / lam[b.sb_mask].sum() * total
    counts = np.round(lam)
    sr = np.flatnonzero(b.sr_mask)
    counts[[sr[0] - 2, sr[0] - 1, sr[-1] + 1, sr[-1] + 2]] = 0
    return counts, float(lam[b.sr_mask].sum())


def test_auto_picks_low_degree_where_degree5_sags():
    b = make_bins("upsilon")
    counts, truth = _dip_spectrum()
    fixed = significance_from_counts(counts, b, degree=5, return_workspace=False)
    auto = significance_from_counts(counts, b, degree="auto", return_workspace=False)
    assert fixed.converged and auto.converged
    # measured: truth 29.5, degree 5 22.3 (its free fit goes negative: coefficients >= 0),
    # auto (degree 1) 27.3 events
    assert fixed.b_fit < 0.8 * truth
    assert auto.info["degree"] < 5
    assert abs(auto.b_fit - truth) < 0.5 * abs(fixed.b_fit - truth)
    assert auto.info["degree_rule"] == "f_test"
    table = auto.info["degree_table"]
    assert table[0]["degree"] == 1 and np.isnan(table[0]["p_f_test"])
    assert table[1]["p_f_test"] >= 0.05  # degree 2 does not improve: the search stops
    n_bkg = sum(1 for k in auto.params if k.startswith("bkg_c"))
    assert n_bkg == auto.info["degree"] + 1


def test_auto_keeps_degree5_on_large_curved_spectrum():
    b = make_bins("upsilon")
    e = b.edges
    lam = np.exp(-(e[:-1] - 5.0) / 2.0) - np.exp(-(e[1:] - 5.0) / 2.0)
    lam = lam / lam.sum() * 2e4  # steep fall, 20 k events: every degree up to 5 improves the fit
    counts = np.round(lam)
    res = significance_from_counts(counts, b, degree="auto", return_workspace=True)
    assert res.converged and res.workspace is not None
    assert res.info["degree"] == 5
    assert all(r["p_f_test"] < 1e-3 for r in res.info["degree_table"][1:])
    truth = lam[b.sr_mask].sum()  # 1552 events; measured fit 1540
    assert abs(res.b_fit - truth) < 0.02 * truth


def test_auto_per_cut_and_reweighting_record_degree():
    rng = np.random.default_rng(2)
    m = 5.0 + rng.uniform(0.0, 11.0, 20000) ** 1.0
    score = rng.uniform(size=m.size)
    res = scan_cut(m, score, window="upsilon", fprs=[1.0, 0.01], degree="auto",
                   return_workspace=False)
    assert all(r.converged for r in res)
    assert all(r.info["degree"] in (1, 2, 3, 4, 5) for r in res)
    assert res[1].info["degree"] <= res[0].info["degree"]
    rw = reweighted_significance(m, score, window="upsilon", mu=0.05, degree="auto",
                                 degrees=(1, 2), return_workspace=False)
    assert rw.converged and rw.info["degree"] in (1, 2)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"degree": "best"}, r"degree = 'best'; expected an integer >= 0, 'auto' or 'spurious'"),
        ({"degree": -1}, r"degree = -1"),
        ({"degree": "auto", "degrees": []}, r"degrees = \[\]; expected a non-empty list"),
        ({"degree": "auto", "f_test_alpha": 1.5}, r"F-test alpha = 1.5"),
    ],
)
def test_bad_degree_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        significance(np.linspace(5.1, 15.9, 500), window="upsilon", **kwargs)


def test_look_elsewhere_auto_uses_the_same_rule():
    rng = np.random.default_rng(5)
    m = 5.0 + rng.exponential(6.0, 6000)
    m = m[m < 16.0]
    kw = {"window": "upsilon", "fprs": [0.1, 0.02], "n_toys": 3, "random_state": 1}
    reuse = look_elsewhere(m, degree="auto", degrees=(1, 2, 3), **kw)
    plain = look_elsewhere(m, degree="auto", degrees=(1, 2, 3), reuse_models=False, **kw)
    assert np.all(np.isfinite(reuse.max_z))
    np.testing.assert_allclose(reuse.max_z, plain.max_z, atol=0.05)
