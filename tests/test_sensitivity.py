"""The sensitivity harness on hand-made truth-labelled skims: known answers and contracts."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import toy_frame, write_toy_skim

from analysis.config import config_from_mapping
from analysis.data import Sample
from analysis.presets import WINDOW_PRESETS
from analysis.pseudo import background_blocks, build_pool, draw_pseudo
from analysis.sensitivity import SensitivitySettings, run_sensitivity, strength_for_z, summarise
from analysis.sensitivity_methods import (
    SENSITIVITY_METHODS,
    SensitivityMethod,
    build_sensitivity_methods,
)
from dimuon_ad.errors import ConfigError

pytestmark = pytest.mark.usefixtures("one_torch_thread")

WINDOW = WINDOW_PRESETS["upsilon"]


@pytest.fixture(scope="module")
def toy_skim(tmp_path_factory):
    """A parquet skim: 60k background and 2000 signal events."""
    return write_toy_skim(tmp_path_factory.mktemp("sens"), 60_000, 2000)


@pytest.fixture(scope="module")
def small_skim(tmp_path_factory):
    """A parquet skim: 8k background and 600 signal events."""
    return write_toy_skim(tmp_path_factory.mktemp("small"), 8000, 600)


def fast_config(**more):
    return config_from_mapping({
        "profile": "fast", "references": False, "stats": {"degree": 3},
        "flow": {"n_seeds": 1, "max_epochs": 2, "early_stopping": None},
        "classifier": {"n_models": 1, "params": {"n_estimators": 20}}, "n_folds": 3,
        "oversampling": 1.0, **more})


def test_strength_for_z_interpolates_the_first_crossing():
    s = [0, 10, 20, 40]
    assert strength_for_z(s, [0.0, 2.0, 4.0, 8.0], 3.0) == pytest.approx(15.0)
    assert strength_for_z(s, [0.0, 2.0, 4.0, 8.0], 8.0) == pytest.approx(40.0)
    assert strength_for_z(s, [3.5, 4.0, 5.0, 6.0], 3.0) == 0.0  # already there at the start
    assert strength_for_z(s, [0.0, 1.0, 2.0, 2.9], 3.0) is None  # never reached, no extrapolation
    assert strength_for_z(s, [0.0, np.nan, 2.0, 4.0], 3.0) == pytest.approx(30.0)  # NaN skipped
    # a linear curve Z = 0.03 S: 3σ at S = 100 exactly
    lin = np.arange(0, 201, 25)
    assert strength_for_z(lin, 0.03 * lin, 3.0) == pytest.approx(100.0)


def _sample(n_bkg=1000, n_sig=50, truth=True):
    df = toy_frame(n_bkg, n_sig)
    m = df["dimu_mass"].to_numpy()
    keep = (m >= WINDOW.sb_left) & (m <= WINDOW.sb_right)
    df = df[keep]
    return Sample(X=df[["dimu_pt", "mu0_ip3d", "mu1_ip3d"]].to_numpy(),
                  m=df["dimu_mass"].to_numpy(),
                  truth=df["truth_process"].to_numpy() if truth else None,
                  columns={"dimu_pt": df["dimu_pt"].to_numpy()})


def test_blocks_are_disjoint_and_injections_nested_without_duplicates():
    pool = build_pool(_sample(), WINDOW, ("dimu_pt", "mu0_ip3d", "mu1_ip3d"), ("UPSILON_1S",))
    blocks = background_blocks(pool, 4, seed=1)
    assert len({len(b) for b in blocks}) == 1
    assert len(np.unique(np.concatenate(blocks))) == sum(len(b) for b in blocks)
    assert not pool.is_signal[np.concatenate(blocks)].any()
    small, big = (draw_pseudo(pool, blocks, 2, n, seed=7) for n in (10, 30))
    assert small.n_injected == 10 and int(small.is_signal.sum()) == 10
    sig_small = {tuple(r) for r in small.X[small.is_signal]}
    sig_big = {tuple(r) for r in big.X[big.is_signal]}
    assert sig_small < sig_big  # the same seed nests the injections
    assert len({tuple(r) for r in big.X}) == len(big.X)  # no event twice
    with pytest.raises(ConfigError, match="pool holds 50"):
        draw_pseudo(pool, blocks, 0, 51, seed=7)


def test_pool_needs_truth_and_distinct_classes():
    feats = ("dimu_pt", "mu0_ip3d", "mu1_ip3d")
    with pytest.raises(ConfigError, match="no truth_process column"):
        build_pool(_sample(truth=False), WINDOW, feats, ("UPSILON_1S",))
    with pytest.raises(ConfigError, match="both signal and background"):
        build_pool(_sample(), WINDOW, feats, ("UPSILON_1S",), ("UPSILON_1S", "HEAVY_FLAVOUR"))
    with pytest.raises(ConfigError, match="holds 0 signal"):
        build_pool(_sample(), WINDOW, feats, ("INJECTED",))


def test_no_cut_p_values_are_uniform_without_signal(toy_skim, tmp_path):
    settings = SensitivitySettings(strengths=(0,), n_pseudo=40, methods=("no_cut",), seed=3)
    res = run_sensitivity(toy_skim, fast_config(), settings, tmp_path, use_cache=False)
    null = res.summary["methods"]["no-cut bump hunt"]["null"]
    assert null["n"] == 40
    assert null["ks_p"] > 0.05
    assert null["n_z_above_3"] == 0


def test_same_seed_same_table_and_cache_hits(toy_skim, tmp_path):
    settings = SensitivitySettings(strengths=(0, 150, 300), n_pseudo=3,
                                   methods=("no_cut", "best_single_feature"), seed=5)
    a = run_sensitivity(toy_skim, fast_config(), settings, tmp_path / "a")
    b = run_sensitivity(toy_skim, fast_config(), settings, tmp_path / "a")
    c = run_sensitivity(toy_skim, fast_config(), settings, tmp_path / "c", use_cache=False)
    assert b.cache["sensitivity"]["hits"] == 9 and b.cache["sensitivity"]["computed"] == 0
    for name in a.summary["methods"]:
        assert a.summary["methods"][name]["median"] == c.summary["methods"][name]["median"]
    other = run_sensitivity(toy_skim, fast_config(), SensitivitySettings(
        strengths=(0, 150, 300), n_pseudo=3, methods=("no_cut",), seed=6), tmp_path / "d")
    assert other.summary["methods"]["no-cut bump hunt"]["median"] != \
        a.summary["methods"]["no-cut bump hunt"]["median"]
    # physics: more signal, more Z; the displaced-feature cut beats the uncut fit
    nocut = a.summary["methods"]["no-cut bump hunt"]["median"]
    cut = a.summary["methods"]["best single-feature cut"]["median"]
    assert nocut[0] < nocut[1] < nocut[2] and cut[2] > nocut[2]
    choice = a.methods["best single-feature cut"]
    assert choice["column"] in ("mu0_ip3d", "mu1_ip3d", "dimu_pt") and choice["fpr"] >= 0.01
    assert a.summary["s_sr"][2] == pytest.approx(300 * 1.0, rel=0.01)  # all signal in the SR


def test_cathode_family_cwola_and_cluster_scan_plug_in(small_skim, tmp_path):
    settings = SensitivitySettings(
        strengths=(0, 200), n_pseudo=2,
        methods=("no_cut", "CATHODE", "LaCATHODE", "reweighting", "cluster_scan", "CWoLa"),
        cluster_scan={"k": 5, "n_clusterings": 1, "n_bootstrap": 20}, seed=1)
    res = run_sensitivity(small_skim, fast_config(), settings, tmp_path)
    names = ["no-cut bump hunt", "CATHODE", "LaCATHODE", "likelihood reweighting",
             "cluster scanning", "CWoLa"]
    assert list(res.summary["methods"]) == names
    for row in res.rows:
        assert all(np.isfinite(row["z"][n]) for n in names), row["z"]
        # CATHODE and reweighting share one classifier; each is charged for it in full
        assert row["cpu_seconds"]["CATHODE"] > 0.5 * row["cpu_seconds"]["likelihood reweighting"]
        assert "z_global" in row["notes"]["cluster scanning"]
    assert res.preparation_seconds["shared flows"] > 0
    assert res.cache["sensitivity_flow"]["computed"] == 1


def test_a_new_method_plugs_in_with_one_registration(toy_skim, tmp_path, monkeypatch):
    class Constant(SensitivityMethod):
        def z(self, pseudo):
            return float(pseudo.n_injected) / 100.0

    monkeypatch.setitem(SENSITIVITY_METHODS, "constant", lambda ctx: [Constant("const", ctx)])
    res = run_sensitivity(toy_skim, fast_config(), SensitivitySettings(
        strengths=(0, 100, 400), n_pseudo=2, methods=("constant",)), tmp_path, use_cache=False)
    e = res.summary["methods"]["const"]
    assert e["median"] == [0.0, 1.0, 4.0]
    assert e["s_needed"]["3"]["median"] == pytest.approx(300.0)
    with pytest.raises(ConfigError, match="unknown sensitivity method"):
        build_sensitivity_methods(("nope",), None)


def test_summary_null_rate_and_ratio_known_answer():
    rows = [{"strength": s, "index": i, "s_sr": s, "b_sr": 100, "s_over_sqrt_b": s / 10,
             "z": {"no-cut bump hunt": s / 20 + (4.0 if (s, i) == (0, 0) else 0.0),
                   "better": s / 10}, "cpu_seconds": {"no-cut bump hunt": 0.1, "better": 1.0}}
            for s in (0, 30, 60, 120) for i in range(4)]
    out = summarise(rows, ["no-cut bump hunt", "better"])
    assert out["methods"]["no-cut bump hunt"]["null"]["n_z_above_3"] == 1
    assert out["methods"]["better"]["s_needed"]["3"]["median"] == pytest.approx(30.0)
    assert out["methods"]["no-cut bump hunt"]["s_needed"]["3"]["median"] == pytest.approx(60.0)
    assert out["methods"]["better"]["s_needed_ratio"]["3"] == pytest.approx(0.5)
    assert out["methods"]["better"]["cpu_seconds"]["median"] == 1.0


def test_cli_writes_table_and_rejects_bad_input(toy_skim, tmp_path, capsys):
    from dimuon_ad.cli import main

    out = tmp_path / "out"
    yaml = tmp_path / "c.yaml"
    yaml.write_text("stats: {degree: 3}\n")
    rc = main(["sensitivity", "--skim", str(toy_skim), "--output-dir", str(out), "--config",
               str(yaml), "--strengths", "0,200", "--n-pseudo", "2", "--methods",
               "no_cut,best_single_feature", "--signal", "UPSILON_1S", "-q"])
    assert rc == 0
    table = json.loads((out / "sensitivity.json").read_text())
    assert set(table["summary"]["methods"]) == {"no-cut bump hunt", "best single-feature cut"}
    assert len(table["pseudo_experiments"]) == 4
    assert (out / "sensitivity.png").stat().st_size > 10_000
    assert "no-cut bump hunt" in capsys.readouterr().out
    assert main(["sensitivity", "--skim", str(toy_skim), "--output-dir", str(out),
                 "--strengths", "50,10"]) == 2
    assert "expected increasing" in capsys.readouterr().err
    assert main(["sensitivity", "--skim", str(toy_skim), "--output-dir", str(out),
                 "--methods", "no_cut,bogus"]) == 2
    assert "unknown sensitivity method" in capsys.readouterr().err
