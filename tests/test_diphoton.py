"""The H→γγ analysis: signal shape, signal strength, Higgs peak, classifier, categories, CLI."""

from __future__ import annotations

import json

import numpy as np
import pyhf
import pytest

from analysis.diphoton import HIGGS_WINDOW, MODES, fit_higgs_peak, split_data_mc
from dimuon_ad.errors import InputError
from ml.multiclass import (
    ProductionModeClassifier,
    class_metrics,
    confusion_matrices,
    fit_seed_baseline,
    production_features,
    training_weights,
)
from stats.categories import category_workspace, category_yields, mode_precision
from stats.model import numpy_backend
from stats.signal_shape import dscb, fit_dscb
from stats.signal_strength import profile_interval
from stats.workspace import discovery_test
from tests.diphoton_toy import YIELDS, diphoton_frame


@pytest.fixture(scope="module")
def frame():
    return diphoton_frame(3, n_background=15000, mc_per_mode=2000, signal_scale=2.0)


# ------------------------------------------------------------------------------ signal shape
def test_dscb_is_gaussian_in_the_core_and_continuous_at_the_tails():
    m = np.array([125.0, 126.0, 125.0 - 1.5 * 2.0, 125.0 + 2.0 * 2.0])
    f = dscb(m, 125.0, 2.0, 1.5, 3.0, 2.0, 5.0)
    assert f[0] == pytest.approx(1.0)
    assert f[1] == pytest.approx(np.exp(-0.125))
    eps = 1e-7
    for edge in (125.0 - 3.0, 125.0 + 4.0):
        left, right = dscb(np.array([edge - eps, edge + eps]), 125.0, 2.0, 1.5, 3.0, 2.0, 5.0)
        assert left == pytest.approx(right, rel=1e-5)


def test_weighted_dscb_fit_recovers_the_generating_mean_and_width():
    rng = np.random.default_rng(1)
    m = rng.normal(124.6, 1.6, 20000)
    w = np.where(rng.random(m.size) < 0.15, -0.5, 1.0)  # signed weights, same shape
    shape = fit_dscb(m, w, low=105.0, high=160.0)
    assert shape.mu == pytest.approx(124.6, abs=0.03)
    assert shape.sigma == pytest.approx(1.6, abs=0.04)
    edges = np.linspace(105.0, 160.0, 56)
    assert shape.fractions(edges).sum() == pytest.approx(1.0, abs=1e-6)


def test_dscb_fit_needs_events():
    with pytest.raises(InputError, match="need >= 50 events"):
        fit_dscb(np.full(10, 125.0), low=105.0, high=160.0)


# ------------------------------------------------------------------------------ Higgs peak
def test_higgs_peak_mu_is_one_on_the_asimov_spectrum():
    """Data = a quadratic background (exact for the degree-2 polynomial) + the MC expectation
    itself: μ = 1, and pyhf alone on the written workspace gives the reported Z and μ."""
    rng = np.random.default_rng(2)
    mc_m = rng.normal(125.0, 1.7, 20000)
    mc_w = np.full(mc_m.size, 400.0 / mc_m.size)
    from stats.binning import make_bins

    b = make_bins(HIGGS_WINDOW, 11)
    centres = 0.5 * (b.edges[1:] + b.edges[:-1])
    x = centres - 105.0
    bkg = 600.0 - 8.0 * x + 0.05 * x**2
    sig = np.histogram(mc_m, b.edges, weights=mc_w)[0]
    # unweighted "data" whose histogram is the Asimov expectation: repeat bin centres
    counts = np.round(bkg + sig).astype(int)
    data_m = np.repeat(centres, counts)
    peak = fit_higgs_peak(data_m, mc_m, mc_w, np.zeros(mc_m.size, int), degree=2)
    assert peak.mu == pytest.approx(1.0, abs=0.05)
    assert peak.mu_err_low > 0 and peak.mu_err_high > 0
    with numpy_backend():
        assert discovery_test(peak.workspace)["Z"] == pytest.approx(peak.fit.Z, rel=1e-3)
        ws = pyhf.Workspace(peak.workspace)
        model = ws.model()
        best = pyhf.infer.mle.fit(ws.data(model), model, model.config.suggested_init(),
                                  model.config.suggested_bounds())
    assert best[model.config.poi_index] == pytest.approx(peak.mu, abs=1e-3)


def test_higgs_peak_on_a_toy_sample_finds_the_injected_signal(frame):
    data, mc = split_data_mc(frame)
    peak = fit_higgs_peak(data["mgg"], mc["mgg"], mc["weight"], mc["truth_mode"],
                          data_truth=data["truth_mode"])
    t = peak.truth
    assert t["higgs_events_sr"] > 300
    # within 2.5 sigma of the injected truth
    assert abs(peak.mu - t["mu_true"]) < 2.5 * max(peak.mu_err_low, peak.mu_err_high)
    assert peak.z > 3.0
    assert t["mu_true"] == pytest.approx(2.0, abs=0.3)  # signal_scale
    assert peak.summary()["mc_yield_sr_per_mode"]["ggF"] == pytest.approx(YIELDS["ggF"], rel=0.02)


# ------------------------------------------------------------------------------ classifier
def test_training_weights_keep_negative_events_and_balance_classes():
    y = np.array([0, 0, 0, 1, 1])
    w = np.array([1.0, -0.5, 2.0, 0.01, 0.01])
    tw = training_weights(y, w, n_classes=2)
    assert np.all(tw > 0)  # the negative-weight event is kept, with |w|
    assert tw[y == 0].sum() == pytest.approx(tw[y == 1].sum())
    assert tw.mean() == pytest.approx(1.0)
    seed_style = training_weights(y, w, n_classes=2, negative_weights="drop", class_weight=None)
    assert seed_style.tolist() == [1.0, 0.0, 2.0, 0.01, 0.01]
    with pytest.raises(ValueError, match="negative_weights"):
        training_weights(y, w, n_classes=2, negative_weights="flip")


def test_confusion_matrices_sum_to_the_events_and_weights():
    rng = np.random.default_rng(0)
    t, p = rng.integers(0, 5, 500), rng.integers(0, 5, 500)
    w = rng.normal(1.0, 1.0, 500)
    raw, wtd = confusion_matrices(t, p, w, 5)
    assert raw.sum() == 500 and raw.sum(axis=1).tolist() == np.bincount(t, minlength=5).tolist()
    assert wtd.sum() == pytest.approx(w.sum())
    assert wtd.sum(axis=0) == pytest.approx(np.bincount(p, weights=w, minlength=5))
    perfect = class_metrics(np.diag([5.0, 1.0, 0.1]), ["a", "b", "c"])
    assert perfect["balanced_accuracy"] == 1.0 and perfect["purity"]["c"] == 1.0


def test_classifier_separates_an_easy_toy_with_negative_weights(frame):
    _, mc = split_data_mc(frame)
    X, y, w = production_features(mc), mc["truth_mode"].to_numpy(), mc["weight"].to_numpy()
    assert np.any(w < 0) and np.all(np.isfinite(X))
    test = np.random.default_rng(0).random(len(y)) < 0.5
    clf = ProductionModeClassifier(n_estimators=150, random_state=1).fit(
        X[~test], y[~test], sample_weight=w[~test])
    again = ProductionModeClassifier(n_estimators=150, random_state=1).fit(
        X[~test], y[~test], sample_weight=w[~test])
    proba = clf.predict_proba(X[test])
    assert proba.shape == (test.sum(), 5)
    assert proba.sum(axis=1) == pytest.approx(1.0, rel=1e-5)
    assert np.array_equal(proba, again.predict_proba(X[test]))
    _, wtd = confusion_matrices(y[test], clf.predict(X[test]), w[test], 5)
    m = class_metrics(wtd, MODES)
    assert m["recall"]["VBF"] > 0.9 and m["recall"]["ttH"] > 0.9
    assert m["balanced_accuracy"] > 0.7
    base = fit_seed_baseline(X[~test], y[~test], w[~test], random_state=0)
    assert base.predict(X[test]).shape == (test.sum(),)


# ------------------------------------------------------------------------------ categories
def test_category_fit_gives_mu_one_on_asimov_and_the_counting_precision():
    """One category per mode, no cross-talk: σ(μ) ≈ √(S + B_SR (1 + T)) / S (background
    measured in the sidebands), and every fitted μ is 1 on the Asimov data."""
    modes = ("a", "b")
    s = np.array([[100.0, 0.0], [0.0, 25.0]])
    b_sb, t = np.array([400.0, 100.0]), 0.25
    ws = category_workspace(s, b_sb, t, modes)
    prec = mode_precision(ws, modes)
    for i, m in enumerate(modes):
        b_sr = b_sb[i] * t
        expected = np.sqrt(s[i, i] + b_sr * (1 + t)) / s[i, i]
        assert prec[m]["value"] == pytest.approx(1.0, abs=1e-3)
        assert 0.5 * (prec[m]["err_low"] + prec[m]["err_high"]) == pytest.approx(expected,
                                                                                  rel=0.05)
    assert category_yields([0, 1, 1], [0, 0, 1], [1.0, 2.0, -0.5], 2, 2).tolist() == \
        [[1.0, 0.0], [2.0, -0.5]]


def test_profile_interval_of_a_single_counting_bin():
    """n = 100 observed over B = 0 with S = 100 μ: μ̂ = 1, interval ≈ ±0.1."""
    spec = {"channels": [{"name": "c", "samples": [
        {"name": "s", "data": [100.0],
         "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]}]}],
        "observations": [{"name": "c", "data": [100.0]}],
        "measurements": [{"name": "m", "config": {"poi": "mu", "parameters": []}}],
        "version": "1.0.0"}
    r = profile_interval(spec, "mu")
    assert r["value"] == pytest.approx(1.0, abs=1e-3)
    assert r["err_low"] == pytest.approx(0.0995, abs=0.003)
    assert r["err_high"] == pytest.approx(0.1005, abs=0.003)


# ------------------------------------------------------------------------------ CLI
def test_cli_diphoton_writes_the_report(tmp_path, capsys):
    from run_analysis import main

    frame = diphoton_frame(4, n_background=6000, mc_per_mode=800, signal_scale=2.0)
    skim = tmp_path / "skim" / "skim"
    for name, part in frame.groupby("sample"):
        (skim / f"dataset={name}").mkdir(parents=True)
        part.to_parquet(skim / f"dataset={name}" / "part-0.parquet", index=False)
    out = tmp_path / "out"
    assert main(["--analysis", "diphoton", "--skim", str(tmp_path / "skim"),
                 "--output-dir", str(out), "-q"]) == 0
    stdout = capsys.readouterr().out
    assert "Higgs mu = " in stdout and "balanced accuracy" in stdout
    res = json.loads((out / "results.json").read_text())
    assert res["higgs_peak"]["truth"]["mu_true"] > 0
    assert set(res["categories"]["expected_precision"]) == set(MODES)
    md = (out / "report.md").read_text()
    assert "Production-mode classifier" in md and "plots/higgs_peak.png" in md
    assert (out / "workspaces" / "higgs_peak.json").is_file()
    html = (out / "report.html").read_text()
    assert "data:image/png;base64" in html


def test_cli_diphoton_bad_input(tmp_path, capsys):
    from run_analysis import main

    assert main(["--analysis", "diphoton", "--skim", str(tmp_path / "nope")]) == 2
    assert "diphoton skim" in capsys.readouterr().err
    assert main(["--analysis", "diphoton", "--window", "z", "--skim", str(tmp_path)]) == 2
    assert "does not take --window" in capsys.readouterr().err
    (tmp_path / "x.parquet").write_bytes(b"")
    import pandas as pd

    pd.DataFrame({"mgg": [125.0]}).to_parquet(tmp_path / "x.parquet")
    assert main(["--analysis", "diphoton", "--skim", str(tmp_path / "x.parquet")]) == 2
    assert "lacks columns" in capsys.readouterr().err


def test_category_fit_with_sr_shapes_is_sharper_than_counting():
    modes = ("a",)
    s, b_sb, t = np.array([[50.0]]), np.array([800.0]), 0.25
    counting = mode_precision(category_workspace(s, b_sb, t, modes), modes)["a"]
    flat, peaked = np.ones(10), np.array([0.01, 0.02, 0.07, 0.2, 0.2, 0.2, 0.2, 0.07, 0.02, 0.01])
    shaped = mode_precision(category_workspace(s, b_sb, t, modes, background_shape=flat,
                                               signal_shape=peaked), modes)["a"]
    assert shaped["value"] == pytest.approx(1.0, abs=1e-3)
    assert shaped["err_high"] < 0.9 * counting["err_high"]
    with pytest.raises(InputError, match="both background_shape and signal_shape"):
        category_workspace(s, b_sb, t, modes, background_shape=flat)


def test_cli_diphoton_refuses_an_incomplete_skim(tmp_path, capsys):
    from run_analysis import main

    frame = diphoton_frame(5, n_background=500, mc_per_mode=100)
    part = tmp_path / "run" / "skim" / "dataset=all"
    part.mkdir(parents=True)
    frame.to_parquet(part / "part-0.parquet", index=False)
    (tmp_path / "run" / "summary.json").write_text(json.dumps({"complete": False}))
    assert main(["--analysis", "diphoton", "--skim", str(tmp_path / "run")]) == 2
    assert "incomplete" in capsys.readouterr().err


def test_continuum_scores_are_out_of_fold_and_separate_signal():
    from ml.multiclass import continuum_scores

    rng = np.random.default_rng(0)
    X_sig = rng.normal(1.0, 1.0, (600, 3))
    X_data = rng.normal(0.0, 1.0, (1200, 3))
    sb = rng.random(1200) < 0.7
    data_scores, sig_scores = continuum_scores(X_sig[:300], np.ones(300), X_data, sb,
                                               X_signal_eval=X_sig[300:], random_state=0)
    assert data_scores.shape == (1200,) and sig_scores.shape == (300,)
    assert np.median(sig_scores) > np.median(data_scores)
    # SR data never trained on, yet scored like the sideband data (same distribution)
    assert abs(np.median(data_scores[~sb]) - np.median(data_scores[sb])) < 0.1
