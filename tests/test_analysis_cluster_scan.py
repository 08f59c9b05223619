"""The cluster-scanning analysis stage: the ``cluster_scan:`` YAML section, the run on a sample,
its figures, report section and results entry."""

import json

import numpy as np
import pytest

from analysis.cluster_scan import (
    plot_cluster_spectra,
    plot_scan_statistic,
    report_section,
    run_cluster_scan,
)
from analysis.config import config_from_mapping
from analysis.plots import PlotLabels, save_figure
from dimuon_ad.errors import ConfigError, ConfigKeyError
from dimuon_ad.io import to_jsonable


def test_section_enables_the_stage_and_defaults_stay_off():
    assert not config_from_mapping({}).cluster_scan.enabled
    cfg = config_from_mapping({"cluster_scan": {"k": 20, "mass_range": [6, 15]}})
    assert cfg.cluster_scan.enabled and cfg.cluster_scan.k == 20
    assert cfg.cluster_scan.mass_range == (6.0, 15.0)
    assert not config_from_mapping({"cluster_scan": {"enabled": False}}).cluster_scan.enabled


@pytest.mark.parametrize("section, match", [
    ({"mass_range": [2, 15]}, r"cluster_scan.mass_range = \[2.0, 15.0\]; expected \[low, high\]"
                              r" in GeV inside the window 5-16"),
    ({"window_width": 0}, "cluster_scan.window_width = 0.0; expected > 0"),
    ({"k": 1}, "cluster_scan.k = 1; expected an integer >= 2"),
    ({"block_width": -1}, "cluster_scan.block_width = -1.0; expected null or > 0 GeV"),
])
def test_section_errors_name_the_key(section, match):
    with pytest.raises(ConfigError, match=match):
        config_from_mapping({"cluster_scan": section}, source="a.yaml")


def test_unknown_key_in_section():
    with pytest.raises(ConfigKeyError, match="unknown key 'n_cluster' in section 'cluster_scan'"):
        config_from_mapping({"cluster_scan": {"n_cluster": 3}}, source="a.yaml")


@pytest.fixture(scope="module")
def scan():
    """A scan of the Υ window: uniform background, 100 signal events at 9.46 GeV in one corner
    of the (p_T, IP) plane."""
    rng = np.random.default_rng(0)
    n, ns = 5000, 100
    X = np.column_stack([rng.exponential(20, n), rng.exponential(0.02, n)])
    m = rng.uniform(5, 16, n)
    Xs = np.column_stack([rng.normal(80, 3, ns), rng.normal(0.001, 1e-4, ns)])
    cfg = config_from_mapping({"cluster_scan": {"k": 20, "n_clusterings": 3,
                                                "n_bootstrap": 60}})
    return cfg, run_cluster_scan(np.vstack([X, Xs]), np.r_[m, rng.normal(9.46, 0.08, ns)],
                                 ("dimu_pt", "mu0_ip3d"), cfg.cluster_scan, cfg.window, seed=1)


def test_scan_covers_the_window_and_finds_the_peak(scan):
    cfg, res = scan
    assert res.windows[0, 0] == cfg.window.sb_left and res.windows[-1, 1] <= cfg.window.sb_right
    lo, hi = res.best_window
    assert lo <= 9.46 <= hi
    assert res.best_clusters[0]["centroid"]["dimu_pt"] > 50


def test_figures_render(scan, tmp_path):
    cfg, res = scan
    labels = PlotLabels(text="Simulation", experiment="toy")
    for name, fig in (("stat", plot_scan_statistic(res, labels, cfg.window)),
                      ("spectra", plot_cluster_spectra(res, labels, cfg.window))):
        png, pdf = save_figure(fig, tmp_path / name)
        assert png.stat().st_size > 10_000 and pdf.is_file()


def test_report_section_and_results_entry(scan):
    _, res = scan
    sec = report_section(res)
    assert sec["id"] == "cluster-scan"
    kinds = [b[0] for b in sec["blocks"]]
    assert kinds.count("table") == 2 and kinds.count("fig") == 2
    best_row = sec["blocks"][1][2][0]
    assert best_row[0] == f"{res.best_window[0]:g}-{res.best_window[1]:g}"
    summary = json.loads(json.dumps(to_jsonable(res.summary())))
    assert summary["best_window_gev"] == list(res.best_window)
    assert len(summary["statistic"]) == len(res.windows)
    assert summary["settings"]["k"] == 20
