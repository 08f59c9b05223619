"""End to end: toymc → run_skim → run_analysis on a small sample, the cache, bad input."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import tiny_analysis

import run_analysis
from analysis.config import load_config
from analysis.parallel import TaskRunner
from analysis.pipeline import run_pipeline

# A tiny profile: one flow seed × 3 epochs, 1 BDT per fold, 3 folds, 3 FPRs, 60 toys (2 chunks),
# a small cluster scan (2 clusterings of k = 10, 40 resamplings).
TINY = yaml.safe_dump({**tiny_analysis(max_epochs=3, n_estimators=40, oversampling=2.0,
                                       fprs=(1.0, 0.2, 0.05), n_toys=60),
                       "cluster_scan": {"k": 10, "n_clusterings": 2, "n_bootstrap": 40}})


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A 150 k-event synthetic sample, skimmed with the published preset."""
    toymc_cli = pytest.importorskip("toymc.cli")
    run_skim = pytest.importorskip("run_skim")
    d = tmp_path_factory.mktemp("e2e")
    root = d / "tiny.root"
    assert toymc_cli.main(["--output", str(root), "--n-events", "150000", "--seed", "3", "-q"]) == 0
    fileset = d / "fileset.json"
    fileset.write_text(json.dumps({"Tiny": {"files": {str(root): "Events"},
                                            "metadata": {"is_data": False, "synthetic": True}}}))
    rc = run_skim.main(["--fileset", str(fileset), "--dataset", "Tiny",
                        "--output-dir", str(d / "skim"), "--no-progress", "-q"])
    assert rc == 0
    (d / "tiny.yaml").write_text(TINY)
    return d


@pytest.fixture(scope="module")
def first_run(workdir):
    """One CLI run into ``workdir/analysis``; returns (exit code, stdout)."""
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = run_analysis.main([
            "--skim", str(workdir / "skim"), "--output-dir", str(workdir / "analysis"),
            "--config", str(workdir / "tiny.yaml"), "--no-progress", "-q",
        ])
    return rc, out.getvalue()


def test_cli_runs_and_prints_headline(first_run, workdir):
    rc, stdout = first_run
    assert rc == 0
    assert "likelihood reweighting" in stdout and "CATHODE (best cut)" in stdout
    assert f"report: {workdir / 'analysis' / 'report.html'}" in stdout
    assert "(global Z from 60 background-only toys)" in stdout


def test_look_elsewhere_in_results_and_report(first_run, workdir):
    res = json.loads((workdir / "analysis" / "results.json").read_text())
    for key in ("os", "ss"):
        le = res["significance"][key]["look_elsewhere"]
        assert le["n_toys"] == 60 and le["n_tests"] == 2 and le["error"] == ""
        assert len(le["max_z"]) == 60 and le["n_failed"] < 60
        assert set(le["methods"]) == set(res["significance"][key]["scans"])
        for name, g in le["methods"].items():
            best = res["headline"][key]["methods_best"][name]
            if best["Z"] is None:  # no usable cut
                continue
            assert g["Z_local"] == best["Z"] and best["Z_global"] == g["Z_global"]
            # the fraction of toys whose largest Z reaches the observed best
            z_max = np.array([z for z in le["max_z"] if z is not None])
            k = int(np.sum(z_max >= best["Z"]))
            assert g["p_global"] == pytest.approx(k / len(z_max) if k else 0.5 / (len(z_max) + 1))
            assert 0.0 <= g["Z_global"] <= best["Z"] + 1e-12
    assert res["timings_s"]["look_elsewhere"] >= 0
    md = (workdir / "analysis" / "report.md").read_text()
    assert "## Look-elsewhere effect" in md and "| OS | CATHODE |" in md


def test_results_counts_equal_the_skim(first_run, workdir):
    res = json.loads((workdir / "analysis" / "results.json").read_text())
    df = pd.read_parquet(workdir / "skim" / "skim")
    sel = ((df.mu0_pt >= 17) & (df.mu1_pt >= 8) & (df.mu0_iso04 >= 0.55)
           & (df.mu1_iso04 >= 0.55) & (df.dimu_mass >= 5) & (df.dimu_mass <= 16))
    for key, os_ in (("os", True), ("ss", False)):
        m = df.dimu_mass[sel & (df.opposite_sign == os_)]
        expected = {"SBL": int((m < 9).sum()), "SR": int(((m >= 9) & (m < 10.6)).sum()),
                    "SBR": int((m >= 10.6).sum()), "total": len(m)}
        assert res["counts"][key] == expected
    # the fit saw the same events: observed SR count of the no-cut fit = SR band count
    assert res["significance"]["os"]["no_cut"]["n_sr"] == res["counts"]["os"]["SR"]


def test_results_are_consistent_and_complete(first_run, workdir):
    import pyhf

    res = json.loads((workdir / "analysis" / "results.json").read_text())
    os_ = res["significance"]["os"]
    assert res["headline"]["os"]["no_cut"] == os_["no_cut"]["Z"]
    scan = os_["scans"]["CATHODE"]
    assert [r["fpr"] for r in scan] == [1.0, 0.2, 0.05]
    assert scan[0]["Z"] == pytest.approx(os_["no_cut"]["Z"], abs=1e-6)  # FPR 1 = no cut
    for r in scan[1:]:
        assert abs(r["fpr_sideband"] - r["fpr"]) < 0.01  # FPR measured on sideband data
    assert set(os_["scans"]) == {"CATHODE", "dimu_pt (high)", "mu0_ip3d (low)",
                                 "mu1_ip3d (low)", "random"}
    assert set(res["significance"]["ss"]["scans"]) == set(os_["scans"])
    pyhf.schema.validate(os_["no_cut"]["workspace"], "workspace.json")
    ws = pyhf.Workspace(os_["no_cut"]["workspace"])
    assert ws.model().config.poi_name == "mu"
    assert len(res["flows"]) == 1 and res["flows"][0]["epochs"] == 3
    assert 0.0 <= res["closure"]["auc_mean"] <= 1.0
    assert res["template"]["n_events"] == round(2.0 * res["counts"]["os"]["SR"])
    assert {"CATHODE", "idealized", "supervised"} <= set(res["references"])
    assert set(res["timings_s"]) >= {"load", "flow", "classifier", "significance"}


def test_report_files_embed_images(first_run, workdir):
    out = workdir / "analysis"
    html = (out / "report.html").read_text()
    md = (out / "report.md").read_text()
    pngs = sorted(p.name for p in (out / "plots").glob("*.png"))
    assert {"mass_os.png", "mass_ss.png", "z_vs_fpr_os.png", "z_vs_fpr_ss.png",
            "features_sr.png", "closure.png", "roc_sic.png"} == set(pngs)
    assert html.count("data:image/png;base64,") == len(pngs)
    assert "src=\"plots/" not in html  # self-contained
    for name in pngs:
        assert f"(plots/{name})" in md
        assert (out / "plots" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_reads_like_a_group_meeting_slide(first_run, workdir):
    """Conclusion on top, contents with anchors, every section, figures beside their numbers,
    PDFs, links, the skim cutflow, per-method Z-vs-FPR tables, provenance — and no 'nan'."""
    out = workdir / "analysis"
    html = (out / "report.html").read_text()
    md = (out / "report.md").read_text()
    rc, stdout = first_run
    import re

    for text in (re.sub(r"base64,[A-Za-z0-9+/=]+", "", html), md, stdout):
        assert not re.search(r"\bnan\b", text, re.IGNORECASE)
    assert md.index("## Conclusion") < md.index("**Contents:**") < md.index("## Significance")
    assert "conclusion: In the opposite-sign sample" in stdout
    for sid in ("significance", "fits", "scans", "look-elsewhere", "selection", "flows",
                "truth", "provenance", "timing"):
        assert f'href="#{sid}"' in html and f'id="{sid}"' in html and f"](#{sid})" in md
    # figures sit in their section, before the wall-time table
    assert md.index("plots/z_vs_fpr_os.png") < md.index("## Mass spectra")
    assert md.index("plots/mass_os.png") < md.index("## Z vs false-positive rate")
    assert md.index("plots/roc_sic.png") < md.index("## Wall time")
    assert '<a href="results.json">results.json</a>' in html and 'href="plots/mass_os.pdf"' in html
    for n in ("mass_os", "z_vs_fpr_os", "closure"):
        assert (out / "plots" / f"{n}.pdf").read_bytes()[:5] == b"%PDF-"
    # the skim cutflow of cutflow.json, then the analysis cutflow
    skim_flow = json.loads((workdir / "skim" / "cutflow.json").read_text())["Tiny"]
    for cut, n in skim_flow.items():
        assert f"| {cut} | {n:,} |" in md
    res = json.loads((out / "results.json").read_text())
    assert res["skim_cutflow"] == skim_flow
    # a Z-vs-FPR table for every method: one column per method, one row per FPR
    assert "| sideband FPR | CATHODE | dimu_pt (high) | mu0_ip3d (low) | mu1_ip3d (low) | " \
           "random |" in md
    assert "| 5 % |" in md and "| 20 % |" in md
    # random baseline and global Z explained; p-values in scientific notation, not 0.00
    assert "The *random* baseline" in md and "look-elsewhere effect" in md
    p = res["significance"]["os"]["no_cut"]["p_value"]
    from analysis.fmt import fmt_p

    assert fmt_p(p) in md and (p >= 0.01 or "× 10" in fmt_p(p))
    # provenance in results.json and the report
    from dimuon_ad._version import version

    pv = res["provenance"]
    assert pv["version"] == version() and pv["command"].startswith("run_analysis.py --skim")
    assert pv["inputs"]["n_files"] >= 1 and len(pv["inputs"]["combined"]) == 64
    assert "cutflow.json" in pv["inputs"] and len(pv["config_sha256"]) == 64
    assert f"dimuon-ad {version()}" in md and pv["command"] in md and pv["date"] in md


def test_one_workspace_file_per_fit_refits_to_the_reported_z(first_run, workdir):
    import pyhf

    out = workdir / "analysis"
    res = json.loads((out / "results.json").read_text())
    files = sorted((out / "workspaces").glob("*.json"))
    ws_files = [f for f in files if not f.name.endswith(".meta.json")]
    assert [f"workspaces/{f.name}" for f in ws_files] == sorted(res["workspaces"])
    assert {"os_no_cut.json", "os_reweighting.json", "os_cathode_fpr0.05.json",
            "ss_mu0_ip3d_low_fpr0.2.json"} <= {f.name for f in ws_files}
    for f in ws_files:
        ws = json.loads(f.read_text())
        pyhf.schema.validate(ws, "workspace.json")
        meta = json.loads(f.with_name(f.stem + ".meta.json").read_text())
        sig = res["significance"][meta["sample"].lower()]
        entry = (sig["no_cut"] if meta["method"] == "no cut" else sig["reweighting"]
                 if meta["method"] == "reweighting" else
                 next(r for r in sig["scans"][meta["method"]] if r["fpr"] == meta["fpr"]))
        assert meta["result"]["Z"] == entry["Z"]
        edges = np.asarray(meta["edges"])
        assert meta["window"]["sr_left"] == 9.0 and edges[0] >= 5.0 and edges[-1] <= 16.0
        assert len(meta["channels"]["sidebands"]) == len(ws["channels"][0]["samples"][0]["data"])
        assert np.allclose(np.diff(edges), meta["bin_width"])
        if entry.get("converged") and f.name in ("os_no_cut.json", "os_cathode_fpr0.05.json"):
            assert _pyhf_alone_z(ws) == pytest.approx(entry["Z"], abs=0.01)


def test_skim_histograms_reproduce_the_analysis_counts_and_carry_metadata(first_run, workdir):
    """The stored fit-binned mass histogram sliced at the SR edges gives the analysis' SR count,
    rebinned it gives its fit bins; hist objects and parquet parts say what they are; the ROOT
    file has ROOT titles and no empty histogram."""
    import coffea.util
    import hist
    import pyarrow.parquet as pq
    import uproot

    from analysis.workspaces import fit_binning
    from processors.histograms import FIT_SUBDIVISION

    res = json.loads((workdir / "analysis" / "results.json").read_text())
    hists = coffea.util.load(str(workdir / "skim" / "histograms.coffea"))
    h = hists["mass_upsilon_fit"][{"dataset": "Tiny", "isolation": sum}]
    for key, charge in (("os", "OS"), ("ss", "SS")):
        hc = h[{"charge": charge}]
        sr = hc[hist.loc(9.0):hist.loc(10.6)].sum()
        assert sr == res["counts"][key]["SR"]
    fit_edges = np.asarray(fit_binning(load_config(workdir / "tiny.yaml"))["edges"])
    coarse = h[{"charge": "OS"}][::hist.rebin(FIT_SUBDIVISION)]
    assert np.array_equal(coarse.axes[0].edges, fit_edges)
    df = pd.read_parquet(workdir / "skim" / "skim")
    sel = df[df.opposite_sign]
    assert np.array_equal(coarse.values(), np.histogram(sel.dimu_mass, fit_edges)[0])
    md = hists["mass"].metadata
    assert md["preset"] == "upsilon_antiiso" and md["unit"] == "GeV" and md["toolkit_version"]
    assert md["datasets"]["Tiny"]["lumi_fb"] is None and hists["mu0_ip3d"].metadata["unit"] == "cm"
    part = next((workdir / "skim" / "skim").rglob("*.parquet"))
    meta = json.loads(pq.read_schema(part).metadata[b"dimuon_ad"])
    assert meta["dataset"] == "Tiny" and meta["preset"] == "upsilon_antiiso"
    assert meta["units"]["mass"] == "GeV" and "lumi_fb" in meta
    with uproot.open(workdir / "skim" / "histograms.root") as f:
        names = [k for k, c in f.classnames().items() if c.startswith("TH1")]
        assert names
        for k in names:
            th1 = f[k]
            assert th1.values().sum() > 0
            xt = th1.member("fXaxis").member("fTitle")
            assert "$" not in xt and "\\" not in xt
        assert f["Tiny/mass_upsilon_OS"].member("fXaxis").member("fTitle") == "m_{#mu#mu} [GeV]"


def test_example_walkthrough_runs(workdir, tmp_path, capsys):
    """examples/analysis_walkthrough.py: load, CATHODE, significances, plot — on the tiny skim."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "examples" / "analysis_walkthrough.py"
    spec = importlib.util.spec_from_file_location("analysis_walkthrough", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rc = module.main(["--skim", str(workdir / "skim"), "--output-dir", str(tmp_path),
                      "--epochs", "2", "--n-estimators", "20"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "OS events in 5-16 GeV" in out and "no cut: Z = " in out
    assert out.count("CATHODE cut at sideband FPR") == 3
    assert (tmp_path / "z_vs_fpr.png").is_file() and (tmp_path / "z_vs_fpr.pdf").is_file()


def test_new_fpr_grid_and_binning_do_not_retrain(first_run, workdir):
    cfg = load_config(workdir / "tiny.yaml")
    cfg = dataclasses.replace(cfg, stats=dataclasses.replace(
        cfg.stats, fprs=(0.5, 0.1), n_sr_edges=9, degree=4))
    result = run_pipeline(workdir / "skim", cfg, workdir / "analysis")
    for stage in ("flow", "closure", "template", "classifier", "references"):
        assert result.cache[stage] == {**result.cache[stage], "hits": 1, "computed": 0}, stage
    assert result.cache["significance"]["computed"] == 1
    assert [r["fpr"] for r in result.significance["os"]["scans"]["CATHODE"]] == [0.5, 0.1]
    assert result.cache["look_elsewhere"]["computed"] == 4  # 2 chunks × (OS, SS), new grid
    # more toys reuse the full chunks already made (the partial one is redone, its first toys
    # identical); the FPR-scan stage is not redone
    cfg = dataclasses.replace(cfg, stats=dataclasses.replace(cfg.stats, n_toys=80))
    more = run_pipeline(workdir / "skim", cfg, workdir / "analysis")
    assert more.cache["look_elsewhere"] == {**more.cache["look_elsewhere"], "hits": 2,
                                            "computed": 2}
    assert more.cache["significance"]["hits"] == 1
    le = more.significance["os"]["look_elsewhere"]
    assert le["n_toys"] == 80
    np.testing.assert_array_equal(le["max_z"][:60],
                                  result.significance["os"]["look_elsewhere"]["max_z"])


def test_cluster_scan_stage_in_results_report_and_cache(first_run, workdir):
    out = workdir / "analysis"
    res = json.loads((out / "results.json").read_text())
    cs = res["cluster_scan"]
    lo, hi = cs["best_window_gev"]
    assert 5.0 <= lo < hi <= 16.0 and hi - lo == pytest.approx(0.3)
    assert 0 < cs["p_global"] <= 1 and len(cs["statistic"]) == len(cs["window_centers_gev"])
    assert cs["settings"]["n_bootstrap"] == 40
    for name in ("cluster_scan_statistic", "cluster_scan_spectra"):
        assert f"plots/{name}.png" in res["plots"] and (out / "plots" / f"{name}.png").is_file()
    assert "## Cluster scanning over the mass range" in (out / "report.md").read_text()
    again = run_pipeline(workdir / "skim", load_config(workdir / "tiny.yaml"), out)
    assert again.cache["cluster_scan"] == {**again.cache["cluster_scan"], "hits": 1,
                                           "computed": 0}
    assert again.cluster_scan.p_global == cs["p_global"]


def test_interrupted_run_resumes_from_cache(first_run, workdir, monkeypatch):
    import ml.kfold

    def interrupted(*args):  # Ctrl-C while the classifier folds run
        raise KeyboardInterrupt

    cfg = load_config(workdir / "tiny.yaml")
    cfg = dataclasses.replace(cfg, classifier=dataclasses.replace(cfg.classifier, n_models=2))
    with monkeypatch.context() as mp:
        mp.setattr(ml.kfold, "fit_fold", interrupted)
        with pytest.raises(KeyboardInterrupt):
            run_pipeline(workdir / "skim", cfg, workdir / "analysis")
    result = run_pipeline(workdir / "skim", cfg, workdir / "analysis")
    assert result.cache["flow"]["computed"] == 0 and result.cache["template"]["computed"] == 0
    assert result.cache["classifier"]["computed"] == 1
    assert np.isfinite(result.scores["os"]).all() and len(result.scores["ss"]) == len(
        result.data.ss.m)


def test_cli_bad_inputs(tmp_path, workdir, capsys):
    assert run_analysis.main(["--skim", str(tmp_path / "none"), "-q"]) == 2
    assert "run_analysis.py: error: skim" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text("flow: {n_seeds: 2}\nfeatures: {columns: [dimu_pt, mu0_ip3D]}\n")
    assert run_analysis.main(["--skim", str(workdir / "skim"), "--config", str(bad), "-q"]) == 2
    err = capsys.readouterr().err
    assert "bad.yaml: unknown skim column 'mu0_ip3D'" in err and "did you mean 'mu0_ip3d'" in err
    assert run_analysis.main(["--skim", str(workdir / "skim"), "--dataset", "Nope", "-q"]) == 2
    assert "dataset 'Nope' not in skim" in capsys.readouterr().err
    assert run_analysis.main(["--window", "atlantis"]) == 2  # a usage error, like bad input


@pytest.mark.slow
def test_dask_cluster_gives_the_same_scores(first_run, workdir):
    cfg = load_config(workdir / "tiny.yaml")
    local = run_pipeline(workdir / "skim", cfg, workdir / "analysis")  # all stages cached
    assert local.cache["classifier"]["hits"] == 1
    with TaskRunner("local", n_workers=1) as runner:
        assert runner.distributed
        remote = run_pipeline(workdir / "skim", cfg, workdir / "dask", runner=runner,
                              use_cache=False)
    assert remote.cache["flow"]["computed"] == 1 and remote.cache["classifier"]["computed"] == 1
    np.testing.assert_allclose(remote.scores["os"], local.scores["os"], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(remote.scores["ss"], local.scores["ss"], rtol=1e-6, atol=1e-9)


def _pyhf_alone_z(spec: dict) -> float:
    """Z = sqrt(q0) of a saved workspace with plain pyhf (its measurement's bounds and inits)."""
    import pyhf

    pyhf.set_backend("numpy")
    ws = pyhf.Workspace(spec)
    model = ws.model()
    q0 = pyhf.infer.test_statistics.q0(
        0.0, ws.data(model), model, model.config.suggested_init(),
        model.config.suggested_bounds(), model.config.suggested_fixed())
    return float(np.sqrt(max(float(q0), 0.0)))


def test_every_workspace_of_the_run_refits_with_pyhf_alone(first_run, workdir):
    res = json.loads((workdir / "analysis" / "results.json").read_text())
    checked = 0
    for key in ("os", "ss"):
        sig = res["significance"][key]
        fits = [sig["no_cut"], sig["reweighting"], *[r for s in sig["scans"].values() for r in s]]
        for fit in fits:
            if not fit.get("converged"):
                continue
            assert fit["workspace"] is not None
            assert _pyhf_alone_z(fit["workspace"]) == pytest.approx(fit["Z"], abs=0.01)
            checked += 1
    assert checked >= 20


def test_analysis_scores_are_the_estimators(first_run, workdir):
    """One chain: the report's CATHODE scores are those of ml.cathode.Cathode on the same events
    and seed (the pipeline only caches its steps and may run them on Dask)."""
    from analysis.pipeline import build_chain

    cfg = load_config(workdir / "tiny.yaml")
    result = run_pipeline(workdir / "skim", cfg, workdir / "analysis")
    os_ = result.data.os
    chain = build_chain(cfg).fit(os_.X, os_.m, os_.sr)
    np.testing.assert_allclose(result.scores["os"], chain.scores_, rtol=0, atol=1e-12)
    np.testing.assert_allclose(result.template, chain.template_, rtol=0, atol=1e-12)


def test_no_event_is_scored_by_a_model_that_saw_it(workdir, tmp_path, monkeypatch):
    """The leakage test of ml.kfold, through the analysis path: a classifier that recognises
    the events it was trained (1.0) or validated (0.75) on, 0.25 otherwise."""
    from test_ml_kfold import MemoryClassifier

    from analysis import stages

    monkeypatch.setattr(stages, "build_classifier", lambda settings, seed: MemoryClassifier())
    cfg = load_config(workdir / "tiny.yaml")
    cfg = dataclasses.replace(cfg, references=False,
                              stats=dataclasses.replace(cfg.stats, n_toys=0))
    result = run_pipeline(workdir / "skim", cfg, tmp_path, use_cache=False)
    assert np.all(result.scores["os"] == 0.25)  # SR data and SB data: never trained on
    assert np.all(result.scores["template"] == 0.25)


def test_methods_are_registered_objects_selected_in_the_yaml(first_run, workdir, tmp_path):
    """Every method is one registered object: a new one is one class and one registration, and
    the significance stage, the toys and the report treat it like the built-in ones."""
    from analysis.methods import METHODS, Method, register
    from analysis.summary import headline_rows

    @register("pt_over_m")
    class PtOverM(Method):
        def scores(self, data):
            return data.sample.columns["dimu_pt"] / data.sample.m, True

    try:
        cfg = load_config(workdir / "tiny.yaml")
        cfg = dataclasses.replace(cfg, methods=("CATHODE", "LaCATHODE", "pt_over_m",
                                                "reweighting"),
                                  features=dataclasses.replace(
                                      cfg.features, single_feature_cuts=(("dimu_pt", "high"),)))
        result = run_pipeline(workdir / "skim", cfg, tmp_path)
    finally:
        METHODS.pop("pt_over_m")
    for key in ("os", "ss"):
        sig = result.significance[key]
        assert set(sig["scans"]) == {"CATHODE", "LaCATHODE", "pt_over_m"}
        assert set(sig["look_elsewhere"]["methods"]) == set(sig["scans"])
        assert sig["reweighting"]["converged"] or key == "ss"
    la = result.significance["os"]["scans"]["LaCATHODE"]
    assert [r["fpr"] for r in la] == [1.0, 0.2, 0.05] and la[1]["converged"]
    assert {r[0] for r in headline_rows(result)} >= {"LaCATHODE (best cut)",
                                                     "pt_over_m (best cut)"}
    assert result.cache["lacathode"]["computed"] == 1


def test_unknown_method_is_a_config_error():
    from analysis.config import config_from_mapping

    with pytest.raises(KeyError, match=r"m.yaml: unknown method 'CATHOD' in methods \(did you "
                                       r"mean 'CATHODE'\?\)"):
        config_from_mapping({"methods": ["CATHOD", "random"]}, source="m.yaml")


def test_workspace_files_of_an_earlier_run_are_removed(first_run, workdir, tmp_path):
    from types import SimpleNamespace

    from analysis.workspaces import write_workspaces

    res = json.loads((workdir / "analysis" / "results.json").read_text())
    ws = res["significance"]["os"]["no_cut"]["workspace"]
    (tmp_path / "os_cathode_fpr0.3.json").write_text("{}")
    (tmp_path / "os_cathode_fpr0.3.meta.json").write_text("{}")
    (tmp_path / "notes.txt").write_text("kept")
    fake = SimpleNamespace(config=load_config(workdir / "tiny.yaml"),
                           significance={"os": {"no_cut": {"workspace": ws, "Z": 1.0}}, "ss": {}})
    paths = write_workspaces(fake, tmp_path)
    assert [p.name for p in paths] == ["os_no_cut.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "os_no_cut.json",
                                                          "os_no_cut.meta.json"]
