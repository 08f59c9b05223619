"""CWoLa and the mass-bin scan in the analysis: YAML keys, pipeline stages, results and report."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import tiny_analysis

from analysis.config import config_from_mapping
from analysis.methods import METHODS, build_methods
from analysis.pipeline import run_pipeline
from analysis.report import write_report
from dimuon_ad.errors import ConfigError, ConfigKeyError


def _skim(path, n=6000, n_sig=150, seed=0):
    """A parquet skim with the columns of the default analysis: a falling continuum with
    displaced muons and a prompt, harder resonance at 9.5 GeV (truth code 12)."""
    rng = np.random.default_rng(seed)
    m = 5.0 + rng.exponential(5.0, 3 * n)
    m = m[m < 16.0][:n]
    ip = rng.exponential(0.02, (n, 2))
    pt = 10.0 + rng.exponential(8.0, n)
    truth = np.ones(n, dtype=np.int64)
    m = np.r_[m, rng.normal(9.5, 0.08, n_sig)]
    ip = np.r_[ip, rng.exponential(0.002, (n_sig, 2))]
    pt = np.r_[pt, 20.0 + rng.exponential(8.0, n_sig)]
    truth = np.r_[truth, np.full(n_sig, 12)]
    k = len(m)
    frame = pd.DataFrame({
        "run": np.ones(k, dtype=np.int64), "luminosityBlock": np.ones(k, dtype=np.int64),
        "event": np.arange(k, dtype=np.int64), "dimu_mass": m, "dimu_pt": pt,
        "mu0_ip3d": ip[:, 0], "mu1_ip3d": ip[:, 1], "mu0_pt": np.full(k, 20.0),
        "mu1_pt": np.full(k, 10.0), "mu0_iso04": np.ones(k), "mu1_iso04": np.ones(k),
        "opposite_sign": np.ones(k, dtype=bool), "truth_process": truth,
    })
    ss = frame.sample(n=1500, random_state=1).assign(opposite_sign=False, truth_process=1)
    ss["event"] += 10**6
    pd.concat([frame, ss]).to_parquet(path / "skim.parquet")
    return path / "skim.parquet"


def test_yaml_keys_and_errors():
    assert "CWoLa" in METHODS
    cfg = config_from_mapping({"methods": ["CATHODE", "CWoLa"], "massbin_scan": {"width": 0.5}})
    assert [m.name for m in build_methods(cfg)] == ["CATHODE", "CWoLa"]
    assert build_methods(cfg)[1].needs == ("CWoLa",)
    assert cfg.massbin_scan.enabled and cfg.massbin_scan.width == 0.5
    assert not config_from_mapping({}).massbin_scan.enabled
    off = config_from_mapping({"massbin_scan": {"enabled": False, "high": 40}})
    assert not off.massbin_scan.enabled  # an off scan is not checked against the window
    with pytest.raises(ConfigError, match=r"massbin_scan.\[low, high\] = \[5.0, 20.0\]; "
                                          r"expected inside the window"):
        config_from_mapping({"massbin_scan": {"high": 20}})
    with pytest.raises(ConfigKeyError, match="did you mean 'width'"):
        config_from_mapping({"massbin_scan": {"wdth": 1}})
    with pytest.raises(ConfigError, match="massbin_scan.test_fraction = 1.5"):
        config_from_mapping({"massbin_scan": {"test_fraction": 1.5}})


@pytest.mark.usefixtures("one_torch_thread")
def test_pipeline_runs_cwola_and_the_scan_cached(tmp_path):
    skim = _skim(tmp_path)
    cfg = config_from_mapping({
        **tiny_analysis(fprs=(1.0, 0.2)), "references": False,
        "stats": {"fprs": [1.0, 0.2], "spectrum_fprs": [0.2], "n_toys": 0, "degree": 3},
        "methods": ["CATHODE", "CWoLa", "random"],
        "massbin_scan": {"low": 5.0, "high": 16.0, "width": 1.0, "n_null": 50},
    })
    out = tmp_path / "an"
    res = run_pipeline(skim, cfg, out)
    assert res.massbin is not None and res.massbin.auc.shape == (10,)
    # the resonance at 9.5 GeV: the pair (8, 9, 10) or (9, 10, 11) deviates most
    assert int(np.nanargmin(res.massbin.p)) in (3, 4)
    assert "CWoLa" in res.significance["os"]["scans"]
    assert res.cwola["efficiency_by_mass"]["fprs"] == [0.2]
    assert res.cache["cwola"]["computed"] == 1 and res.cache["massbin"]["computed"] == 1
    again = run_pipeline(skim, cfg, out)
    assert again.cache["cwola"]["hits"] == 1 and again.cache["massbin"]["hits"] == 1
    np.testing.assert_array_equal(again.massbin.auc, res.massbin.auc)
    write_report(res, out)
    results = json.loads((out / "results.json").read_text())
    assert len(results["massbin"]["pairs"]) == 10
    assert "CWoLa" in results["headline"]["os"]["methods_best"]
    assert "best_single_feature" not in results["headline"]["os"]  # CWoLa is not one
    assert {"plots/massbin_scan.png", "plots/cwola_efficiency.png"} <= set(results["plots"])
    md = (out / "report.md").read_text()
    assert "CWoLa hunting and the mass-bin classifier test" in md
