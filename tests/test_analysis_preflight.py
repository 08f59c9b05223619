"""The analysis on real-data-like skims: every input problem found before training, together;
samples too small are skipped with a note; labels from metadata; the cache never answers for
other code or from a damaged entry."""

from __future__ import annotations

import dataclasses
import json
import shutil
import time

import numpy as np
import pandas as pd
import pytest
from conftest import tiny_analysis

import run_analysis
from analysis.cache import StageCache, fingerprint
from analysis.config import Features, ReportSettings, config_from_mapping, load_config
from analysis.data import load_skim
from analysis.labels import resolve_labels
from analysis.pipeline import run_pipeline
from analysis.preflight import PreflightError, check_output_dir

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# one flow seed × 2 epochs, 1 small BDT per fold, 3 folds, 2 FPRs, no toys
TINY = {**tiny_analysis(), "references": False}
# what a kinematics-only skim (no ID, isolation or impact parameters) supports
KINEMATIC = {**TINY, "cuts": {"iso04_min": None},
             "features": {"columns": ["dimu_pt", "mumu_deltaR"]}}


@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    """A 150 k-event toymc file skimmed twice: the published preset (a run_skim output) and
    ``kinematics_only``, the latter reduced to an opposite-sign-only 8–12 GeV parquet file like
    the converted 2011 sample (muon kinematics only, OS pairs only)."""
    toymc_cli = pytest.importorskip("toymc.cli")
    import run_skim

    d = tmp_path_factory.mktemp("preflight")
    root = d / "tiny.root"
    assert toymc_cli.main(["--output", str(root), "--n-events", "150000", "--seed", "5",
                           "-q"]) == 0
    fileset = d / "fileset.json"
    fileset.write_text(json.dumps({"Tiny": {"files": {str(root): "Events"},
                                            "metadata": {"is_data": False,
                                                         "synthetic": True}}}))
    for preset, out in (("upsilon_antiiso", "skim"), ("kinematics_only", "kin")):
        assert run_skim.main(["--fileset", str(fileset), "--dataset", "Tiny", "--preset", preset,
                              "--output-dir", str(d / out), "--no-progress", "-q"]) == 0
    kin = pd.read_parquet(d / "kin" / "skim")
    keep = kin.opposite_sign.astype(bool) & kin.dimu_mass.between(8.0, 12.0)
    # the converted 2011 file has muon kinematics only: no ids, isolation or impact parameters
    columns = [c for c in kin.columns if c.startswith("dimu_") or c in (
        "opposite_sign", "mumu_deltaR", *(f"mu{i}_{v}" for i in (0, 1)
                                         for v in ("pt", "eta", "phi", "charge")))]
    kin.loc[keep, columns].to_parquet(d / "os_only.parquet", index=False)
    return d


def _config(mapping, **window):
    data = dict(mapping)
    if window:
        data["window"] = window
    return config_from_mapping(data, source="test.yaml")


# ------------------------------------------------------------------------------------------
# unit level


def test_baseline_cuts_follow_the_features():
    assert Features().baseline_cuts() == (
        ("dimu_pt", "high"), ("mu0_ip3d", "low"), ("mu1_ip3d", "low"))
    f = Features(columns=("dimu_pt", "mumu_deltaR", "dimu_eta"))
    assert f.baseline_cuts() == (("dimu_pt", "high"), ("mumu_deltaR", "low"),
                                 ("dimu_eta", "high"))
    explicit = config_from_mapping(
        {"features": {"columns": ["dimu_pt"], "single_feature_cuts": {"mu0_pt": "low"}}})
    assert explicit.features.baseline_cuts() == (("mu0_pt", "low"),)


def test_non_finite_yaml_values_are_refused():
    with pytest.raises(ValueError, match=r"x.yaml: cuts.mu0_pt_min = nan is not a finite"):
        config_from_mapping({"cuts": {"mu0_pt_min": float("nan")}}, source="x.yaml")
    with pytest.raises(ValueError, match=r"cuts.ranges.dimu_pt = inf is not a finite"):
        config_from_mapping({"cuts": {"ranges": {"dimu_pt": [0, float("inf")]}}})


def test_config_problems_are_reported_together():
    with pytest.raises(ValueError) as err:
        config_from_mapping({"n_folds": 2, "oversampling": -1.0, "random_state": -1,
                             "features": {"columns": ["dimu_pt", "mu0_ip3D"]}},
                            source="c.yaml")
    msg = str(err.value)
    assert msg.startswith("c.yaml: 4 problems: (1) unknown skim column 'mu0_ip3D'")
    assert "n_folds = 2" in msg and "oversampling = -1.0" in msg and "random_state = -1" in msg
    assert "\n" not in msg


def test_labels_come_from_metadata_or_config():
    run2016h = {"is_data": True, "experiment": "CMS", "com_tev": 13, "year": 2016,
                "lumi_fb": 8.74}
    lab = resolve_labels(ReportSettings(), run2016h)
    assert (lab.experiment, lab.text, lab.right_label()) == (
        "CMS", "Open Data", "2016, 8.74 fb$^{-1}$ (13 TeV)")
    syn = resolve_labels(ReportSettings(), {"is_data": False, "synthetic": True})
    assert syn.synthetic and syn.experiment == "" and syn.lumi_fb is None
    assert syn.right_label() == "synthetic, no luminosity"
    unknown = resolve_labels(ReportSettings(), None)
    assert unknown.right_label() == "√s and luminosity unknown"
    assert "not stated by the skim metadata or config: experiment, lumi_fb" in unknown.describe()
    mine = resolve_labels(ReportSettings(experiment="CMS", lumi_fb=2.3, com_tev=7.0), None)
    assert mine.right_label() == "2.30 fb$^{-1}$ (7 TeV)" and mine.sources["lumi_fb"] == "config"


def test_output_dir_checks(tmp_path):
    assert check_output_dir(tmp_path / "new" / "dir") is None
    assert (tmp_path / "new" / "dir").is_dir()
    f = tmp_path / "a_file"
    f.write_text("x")
    assert check_output_dir(f) == (f"--output-dir {f} is a file; give a directory (it is "
                                   "created when missing)")


def test_cache_entries_belong_to_one_code_version(tmp_path):
    key = fingerprint("stage input")
    StageCache(tmp_path, version="patched").get_or_compute("s", key, lambda: "patched result")
    calls = []
    other = StageCache(tmp_path, version="release")
    assert other.get_or_compute("s", key, lambda: calls.append(1) or "fresh") == "fresh"
    assert calls == [1]
    assert StageCache(tmp_path).version != "release"  # the default hashes the source files


# ------------------------------------------------------------------------------------------
# the analysis on real-data-like inputs


def test_kinematics_only_os_only_sample_runs_with_ss_skipped(samples, tmp_path):
    cfg = _config(KINEMATIC, name="narrow", sb_left=8.0, sr_left=9.0, sr_right=10.6,
                  sb_right=12.0)
    result = run_pipeline(samples / "os_only.parquet", cfg, tmp_path / "out")
    assert result.data.ss.counts()["total"] == 0
    ss = result.significance["ss"]
    assert ss["skipped"].startswith("same-sign sample skipped: 0 + 0 sideband")
    assert not ss["no_cut"]["converged"] and ss["scans"]["CATHODE"] == []
    os_ = result.significance["os"]
    assert os_["no_cut"]["converged"]
    # the baselines are the configured features, not hard-coded impact-parameter columns
    assert set(os_["scans"]) == {"CATHODE", "dimu_pt (high)", "mumu_deltaR (low)", "random"}
    from analysis.report import write_report
    from analysis.summary import headline_rows

    rows = headline_rows(result)
    assert rows[0][3] == "skipped" and all(r[3] == "skipped" for r in rows)
    paths = write_report(result, tmp_path / "out")
    res = json.loads(paths["json"].read_text())
    assert any(n.startswith("same-sign sample skipped") for n in res["notes"])
    assert any("not the output of run_skim.py" in n for n in res["notes"])
    assert any("duplicated events cannot be detected" in n for n in res["notes"])
    assert res["input"]["labels"]["sources"]["lumi_fb"] == "unknown"
    md = paths["md"].read_text()
    assert "## Notes" in md and "same-sign sample skipped" in md
    assert not (tmp_path / "out" / "plots" / "mass_ss.png").exists()


def test_every_problem_is_reported_before_training(samples, tmp_path):
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("")
    cfg = _config({**TINY, "features": {"columns": ["dimu_pt", "mu0_ip3d"]},
                   "cuts": {"iso04_min": None}}, name="jpsi-like", sb_left=2.6, sr_left=2.95,
                  sr_right=3.25, sb_right=3.55)
    t0 = time.perf_counter()
    with pytest.raises(PreflightError) as err:
        run_pipeline(samples / "os_only.parquet", cfg, blocker)
    assert time.perf_counter() - t0 < 30  # no training happened
    problems = err.value.problems
    assert problems[0].startswith(f"--output-dir {blocker} is a file")
    assert "lacks column 'mu0_ip3d', needed by features.columns and " \
           "features.single_feature_cuts (default: one per feature)" in problems[1]
    assert len(problems) == 2  # the missing column stops before the data are read
    # with the columns fixed: the window coverage and the counts, still together
    cfg = dataclasses.replace(cfg, features=Features(columns=("dimu_pt", "mumu_deltaR")))
    with pytest.raises(PreflightError) as err:
        run_pipeline(samples / "os_only.parquet", cfg, blocker)
    text = str(err.value)
    assert text.startswith("3 problems found before training: (1) --output-dir")
    assert "window jpsi-like" in text and "training needs at least 30" in text


def test_duplicated_events_are_refused(samples, tmp_path):
    df = pd.read_parquet(samples / "skim" / "skim")
    doubled = pd.concat([df, df.iloc[:500]], ignore_index=True)
    doubled.to_parquet(tmp_path / "doubled.parquet", index=False)
    cfg = _config(TINY)
    with pytest.raises(PreflightError, match=r"holds 500 duplicated events \(\d+ rows, \d+ "
                                             r"distinct \(run, luminosityBlock, event\)"):
        load_skim(tmp_path / "doubled.parquet", cfg)


def test_incomplete_skim_is_refused_unless_allowed(samples, tmp_path):
    skim = tmp_path / "skim"
    shutil.copytree(samples / "skim", skim)
    summary = json.loads((skim / "summary.json").read_text())
    summary["complete"] = False
    summary["chunks"]["done"] = summary["chunks"]["planned"] - 1
    (skim / "summary.json").write_text(json.dumps(summary))
    cfg = _config(TINY)
    with pytest.raises(PreflightError, match=r"is incomplete: \d+ of \d+ chunks done.*"
                                             r"--allow-incomplete"):
        load_skim(skim, cfg)
    data = load_skim(skim, cfg, allow_incomplete=True)
    assert any(n.startswith("INCOMPLETE SKIM analysed on request") for n in data.notes)


def test_synthetic_skim_labels_and_complete_summary(samples):
    data = load_skim(samples / "skim", _config(TINY))
    assert data.labels.synthetic and data.labels.right_label() == "synthetic, no luminosity"
    assert data.skim_summary["complete"] is True and data.notes == []


# ------------------------------------------------------------------------------------------
# the cache under faults


def _truncate_entry(directory):
    for f in sorted(directory.iterdir()):
        if f.name not in ("DONE", "meta.json"):
            data = f.read_bytes()
            f.write_bytes(data[: len(data) // 2])
            return f
    raise AssertionError(f"no data file in {directory}")


def test_truncated_entries_of_every_stage_are_recomputed(samples, tmp_path):
    cfg = _config({**TINY, "references": True, "stats": {**TINY["stats"], "n_toys": 10}})
    out = tmp_path / "out"
    first = run_pipeline(samples / "skim", cfg, out)
    stages = sorted(p.name for p in (out / "cache").iterdir())
    assert stages == ["classifier", "closure", "flow", "look_elsewhere", "references",
                      "significance", "template"]
    for stage in stages:
        _truncate_entry(next((out / "cache" / stage).iterdir()))
    again = run_pipeline(samples / "skim", cfg, out)
    for stage in stages:
        assert again.cache[stage]["computed"] >= 1, stage
    np.testing.assert_array_equal(again.scores["os"], first.scores["os"])
    assert again.significance["os"]["no_cut"]["Z"] == first.significance["os"]["no_cut"]["Z"]
    third = run_pipeline(samples / "skim", cfg, out)  # the recomputed entries are good again
    assert all(third.cache[s]["computed"] == 0 for s in stages)


def test_flow_seeds_are_cached_as_each_finishes(samples, tmp_path, monkeypatch):
    # one task per seed (stacked: false): each seed is stored as soon as it is trained
    from analysis import pipeline

    cfg = _config({**TINY, "flow": {**TINY["flow"], "n_seeds": 2,
                                    "params": {"stacked": False}}})
    real = pipeline.fit_flow
    calls = []

    def second_seed_interrupted(*args):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(pipeline, "fit_flow", second_seed_interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_pipeline(samples / "skim", cfg, tmp_path / "out")
    monkeypatch.setattr(pipeline, "fit_flow", real)
    result = run_pipeline(samples / "skim", cfg, tmp_path / "out")
    assert result.cache["flow"] == {**result.cache["flow"], "hits": 1, "computed": 1}


def test_stacked_flow_seeds_resume_as_one_group(samples, tmp_path, monkeypatch):
    # the default: the seeds train as one batched task; an interrupted group is trained again
    # whole, so the resumed run equals an uninterrupted one
    from analysis import pipeline

    cfg = _config({**TINY, "flow": {**TINY["flow"], "n_seeds": 2}})
    real = pipeline.fit_flows

    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "fit_flows", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_pipeline(samples / "skim", cfg, tmp_path / "out")
    monkeypatch.setattr(pipeline, "fit_flows", real)
    resumed = run_pipeline(samples / "skim", cfg, tmp_path / "out")
    assert resumed.cache["flow"] == {**resumed.cache["flow"], "hits": 0, "computed": 2}
    again = run_pipeline(samples / "skim", cfg, tmp_path / "out")
    assert again.cache["flow"] == {**again.cache["flow"], "hits": 2, "computed": 0}
    fresh = run_pipeline(samples / "skim", cfg, tmp_path / "fresh")
    for sample in ("os", "ss"):
        np.testing.assert_array_equal(resumed.scores[sample], fresh.scores[sample])


# ------------------------------------------------------------------------------------------
# the command line


def test_cli_errors_name_their_flag(samples, tmp_path, capsys):
    skim = str(samples / "skim")
    assert run_analysis.main(["--skim", skim, "--seed", "-1", "-q"]) == 2
    assert "run_analysis.py: error: --seed -1: expected an integer in 0..2147483647" in (
        capsys.readouterr().err)
    assert run_analysis.main(["--skim", skim, "--workers", "0", "-q"]) == 2
    assert "--workers 0: expected an integer >= 1" in capsys.readouterr().err
    f = tmp_path / "file"
    f.write_text("")
    y = tmp_path / "tiny.yaml"
    import yaml

    y.write_text(yaml.safe_dump(TINY))
    assert run_analysis.main(["--skim", skim, "--config", str(y), "--output-dir", str(f),
                              "-q"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"run_analysis.py: error: --output-dir {f} is a file")
    assert err.count("\n") == 1


def test_load_config_reads_the_yaml(tmp_path):
    y = tmp_path / "a.yaml"
    y.write_text("report: {experiment: CMS, lumi_fb: 2.11, com_tev: 7}\n")
    cfg = load_config(y)
    assert cfg.report == ReportSettings(experiment="CMS", lumi_fb=2.11, com_tev=7.0)


def test_label_descriptions():
    cms = resolve_labels(ReportSettings(), {"is_data": True, "experiment": "CMS", "com_tev": 13,
                                            "year": 2016, "lumi_fb": 8.74})
    assert cms.describe() == "CMS Open Data, 2016, √s = 13 TeV, 8.74 fb⁻¹"
    syn = resolve_labels(ReportSettings(), {"synthetic": True})
    assert syn.describe() == "Synthetic sample, no luminosity"
    assert resolve_labels(ReportSettings(), None).describe() == (
        "sample of unknown origin, √s unknown, luminosity unknown (not stated by the skim "
        "metadata or config: experiment, lumi_fb, com_tev, year)")
