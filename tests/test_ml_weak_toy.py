"""Tests of ml.weak_toy and a fast version of benchmarks/weak_supervision.py.

Known answers: the toy's sizes, bounds and mass dependence; supervised > idealized > random
in max SIC; the idealized detector on pure background is blind (AUC ~ 0.5).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from benchmarks.weak_supervision import (
    auc_error,
    evaluate,
    main,
    run_method,
    seed_ratios,
    summarize,
    summary_table,
)
from dimuon_ad.errors import ConfigError, InputError
from dimuon_ad.io import atomic_write_json
from ml.cathode import Cathode, LaCathode
from ml.classifiers import XGBEnsembleClassifier
from ml.weak_toy import (
    WEAK_FEATURES,
    WEAK_WINDOW,
    make_weak_toy,
    sr_background,
    weak_background,
    weak_signal,
    weak_test_set,
)


def _clf():
    return XGBEnsembleClassifier(n_models=2, n_estimators=60, early_stopping_rounds=None)


def test_toy_sizes_bounds_and_seed():
    toy = make_weak_toy(5000, 0.02, n_noise=3, random_state=1)
    assert toy.X.shape == (len(toy.m), len(WEAK_FEATURES) + 3)
    sr = toy.sr_mask
    assert int((sr & ~toy.is_signal).sum()) == 5000
    assert toy.is_signal.sum() == 100 and (sr & toy.is_signal).sum() >= 95  # 2 % width in m
    assert ((toy.m >= WEAK_WINDOW[0]) & (toy.m < WEAK_WINDOW[3])).all()
    assert (toy.X[:, 1] >= 0).all() and (toy.X[:, 0] >= 5).all()  # delta_mj >= 0 (sorted)
    assert ((toy.X[:, 2:4] > 0) & (toy.X[:, 2:4] < 1)).all()  # tau21 bounded
    again = make_weak_toy(5000, 0.02, n_noise=3, random_state=1)
    np.testing.assert_array_equal(toy.X, again.X)
    with pytest.raises(ValueError, match="signal_fraction"):
        make_weak_toy(10, 1.5)
    with pytest.raises(ValueError, match="window"):
        make_weak_toy(10, 0.0, window=(1, 3, 2, 4))


def test_toy_shapes_move_with_mass_and_signal_is_distinct():
    lo, hi = weak_background(np.full(20000, 2900.0), 0), weak_background(np.full(20000, 4500.0), 0)
    # jet masses scale with the dijet mass; tau21 is lower for heavier jets
    assert np.median(hi[:, 0]) > 1.4 * np.median(lo[:, 0])
    rho = lo[:, 0] / 1450.0
    assert np.corrcoef(rho, lo[:, 2])[0, 1] < -0.1
    X_s, m_s = weak_signal(5000, 0)
    assert abs(np.median(m_s) - 3500) < 10 and abs(np.median(X_s[:, 0]) - 100) < 3
    assert np.median(X_s[:, 2]) < np.median(lo[:, 2]) - 0.1
    test = weak_test_set(100, 1000, n_noise=2, random_state=0)
    assert test.sr_mask.all() and test.X.shape == (1100, 6) and test.is_signal.sum() == 100


def test_fast_benchmark_known_answers():
    """Supervised > idealized > random in max SIC; idealized on pure background is blind."""
    toy = make_weak_toy(6000, 0.03, random_state=3)
    test = weak_test_set(4000, 20000, random_state=4)
    res = {}
    for method in ("supervised", "idealized"):
        s, cpu = run_method(method, toy, test, _clf(), seed=0, n_sup_signal=2000)
        res[method] = evaluate(s, test.is_signal)
        assert cpu > 0
    rand = evaluate(np.random.default_rng(0).random(len(test.m)), test.is_signal)
    assert res["supervised"]["max_sic"] > res["idealized"]["max_sic"] > 2 * rand["max_sic"]
    assert res["idealized"]["nb_max"] >= 50 and res["idealized"]["auc"] > 0.8
    # no signal: SR data and the true background are the same distribution, so the
    # out-of-fold AUC of data vs template is 0.5 (the test-set AUC of a localized signal is
    # not: a blind score is still some random function of the features)
    null = make_weak_toy(6000, 0.0, random_state=5)
    sr = null.sr_mask
    est = Cathode(classifier=_clf(), random_state=1).fit_with_template(
        null.X[sr], null.m[sr], *sr_background(12000, random_state=8))
    y = np.r_[np.ones(sr.sum()), np.zeros(12000)]
    assert roc_auc_score(y, np.r_[est.scores_, est.template_scores_]) == pytest.approx(0.5,
                                                                                      abs=0.015)
    med, lo, hi = summarize([1.0, 2.0, 3.0, np.nan])
    assert med == 2.0 and lo < med < hi


def test_cathode_with_given_template_sr_only():
    toy = make_weak_toy(3000, 0.05, random_state=6)
    sr = toy.sr_mask
    T, Tm = sr_background(6000, random_state=7)
    est = Cathode(classifier=_clf(), random_state=0)
    est.fit_with_template(toy.X[sr], toy.m[sr], T, Tm)
    assert est.template_weight_ == pytest.approx(sr.sum() / 6000)
    assert est.scores_.shape == (sr.sum(),) and np.isfinite(est.scores_).all()
    assert est.score(toy.X[sr][:5], toy.m[sr][:5]).shape == (5,)
    # with the sidebands: they are scored, not trained on
    full = Cathode(classifier=_clf(), random_state=0).fit_with_template(
        toy.X, toy.m, T, Tm, sr_mask=sr)
    assert np.isfinite(full.scores_).all() and full.scores_.shape == toy.m.shape
    with pytest.raises(ValueError, match="template"):
        Cathode().fit_with_template(toy.X, toy.m, T[:, :2])
    with pytest.raises(TypeError, match="latent space"):
        LaCathode().fit_with_template(toy.X, toy.m, T)


def test_benchmark_cli_runs(tmp_path, capsys):
    out = tmp_path / "rows.json"
    assert main(["--seeds", "1", "--n-sr", "3000", "--signal-fractions", "0.05",
                 "--test-background", "5000", "--test-signal", "1000", "--n-sup-signal",
                 "1000", "--n-models", "1", "--classifiers", "new", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "idealized" in text and "median" in text and out.is_file()


def test_benchmark_summarize_json_files(tmp_path, capsys):
    def row(method, noise, seed, max_sic):
        return {"method": method, "classifier": "new", "sb": 0.006, "noise": noise,
                "seed": seed, "cpu_s": 1.0, "max_sic": max_sic, "nb_max": 50, "sic02": 2.0,
                "nb02": 30, "auc": 0.9}

    first = [row("supervised", 0, 0, 10.0), row("idealized", 0, 0, 8.0),
             row("idealized", 10, 0, 6.0)]
    second = [row("supervised", 0, 1, 20.0), row("idealized", 0, 1, 18.0),
              row("idealized", 10, 1, 9.0)]
    ratios = seed_ratios(first + second)
    assert "idealized/supervised new S/B 0.600% noise 0: s0 0.800, s1 0.900; median 0.850" in ratios
    assert "idealized noise 10/0 new S/B 0.600%: s0 0.750, s1 0.500; median 0.625" in ratios
    assert not any(r.startswith("cathode") for r in ratios)
    assert "| idealized | new | - | 0.600% | 0 | 2 | 13 [9.6, 16.4] | 50 |" in summary_table(
        first + second)
    setup = {"n_sr": 1000, "oversampling": 2.0, "test_background": 500, "test_signal": 50}
    paths = [tmp_path / "a.json", tmp_path / "b.json", tmp_path / "other.json"]
    atomic_write_json(paths[0], {"args": setup, "rows": first})
    atomic_write_json(paths[1], {"args": setup, "rows": second})
    # another toy size with the same seeds: its own rows, not mixed with the others
    atomic_write_json(paths[2], {"args": {**setup, "n_sr": 99}, "rows": first})
    assert main(["--summarize", *map(str, paths)]) == 0
    out = capsys.readouterr().out
    assert "| idealized | new | 1000 SR x2, test 500+50 | 0.600% | 0 | 2 | 13 [9.6, 16.4] |" in out
    assert "| idealized | new | 99 SR x2, test 500+50 | 0.600% | 0 | 1 | 8 [8, 8] |" in out
    assert ("idealized/supervised new S/B 0.600% noise 0 (1000 SR x2, test 500+50): s0 0.800, "
            "s1 0.900; median 0.850") in out
    (tmp_path / "bad.json").write_text("[1]")
    with pytest.raises(InputError, match="--summarize .*bad.json"):
        main(["--summarize", str(tmp_path / "bad.json")])
    (tmp_path / "tpl.json").write_text(json.dumps({"args": {"template_only": True}, "rows": []}))
    with pytest.raises(InputError, match="tpl.json.*--template-only run"):
        main(["--summarize", str(tmp_path / "tpl.json")])


def test_auc_error_known_values():
    # at AUC 0.5 the Hanley-McNeil error is sqrt((n1 + n2 + 1) / (12 n1 n2))
    assert auc_error(0.5, 50_000, 50_000) == pytest.approx(np.sqrt(100_001 / 12 / 50_000**2))
    assert auc_error(0.9, 1000, 1000) < auc_error(0.5, 1000, 1000)


def test_benchmark_template_only(tmp_path, capsys):
    """--template-only: the true background is blind (noise floor), a 1-epoch flow is not; the
    flow parameters come from --flow-params; unknown ones fail before any work."""
    out = tmp_path / "tpl.json"
    assert main(["--template-only", "--seeds", "1", "--n-sr", "3000", "--signal-fractions",
                 "0.02", "--flow-params", '{"max_epochs": 1, "n_blocks": 2, "hidden_units": 8}',
                 "--json", str(out)]) == 0
    assert "template AUC" in capsys.readouterr().out
    rows = {r["method"]: r for r in json.loads(out.read_text())["rows"]}
    floor, flow = rows["idealized"], rows["cathode"]
    assert abs(floor["template_auc"] - 0.5) < 4 * floor["template_auc_err"] + 0.01
    assert flow["template_auc"] > floor["template_auc"] + 3 * flow["template_auc_err"]
    assert len(flow["ks"]) == 4
    with pytest.raises(ConfigError, match="n_bins"):
        main(["--template-only", "--flow-params", '{"n_bins": 4}'])
    with pytest.raises(SystemExit):
        main(["--template-only", "--methods", "supervised"])
