"""Report figures render to PNG without warnings, also with empty bins and failed fits."""

from __future__ import annotations

import numpy as np

from analysis import plots
from analysis.presets import WINDOW_PRESETS

PNG = b"\x89PNG\r\n\x1a\n"


def _png(fig, tmp_path, name):
    path = plots.save_png(fig, tmp_path / name)
    data = path.read_bytes()
    assert data[:8] == PNG and len(data) > 10_000
    return path


def test_feature_labels_carry_units():
    assert plots.feature_label("dimu_pt").endswith("[GeV]")
    assert plots.feature_label("mu0_ip3d").endswith("[cm]")
    assert plots.feature_label("n_jets") == "n_jets"


def test_all_figures_render(tmp_path):
    rng = np.random.default_rng(0)
    edges = np.linspace(5.0, 16.0, 76)
    exp = np.linspace(400, 20, 75)
    counts = rng.poisson(exp).astype(float)
    sparse = np.zeros(75)
    sparse[::7] = 1.0  # mostly empty bins
    levels = [plots.SpectrumLevel("no cut", counts, exp, np.sqrt(exp) * 0.05),
              plots.SpectrumLevel("tight", sparse, np.full(75, 0.1), np.full(75, 0.05)),
              plots.SpectrumLevel("no fit", sparse)]
    labels = plots.PlotLabels(text="Synthetic sample", rlabel="synthetic, no luminosity")
    _png(plots.plot_mass_spectra(edges, levels, WINDOW_PRESETS["upsilon"], labels), tmp_path,
         "m.png")
    fpr = np.logspace(0, -3, 10)
    z = np.linspace(1, 4, 10)
    z[-2:] = np.nan  # failed / excluded fits leave gaps
    _png(plots.plot_z_vs_fpr({"CATHODE": (fpr, z), "random": (fpr, np.zeros(10))}, labels,
                             reweighting=5.0, no_cut=float("nan")), tmp_path, "z.png")
    X = rng.exponential(size=(500, 3))
    names = ("dimu_pt", "mu0_ip3d", "mu1_ip3d")
    _png(plots.plot_features_sr(names, X, X[:5], labels, template=X[::-1]), tmp_path, "f.png")
    samples = np.vstack([X[:400], np.full((5, 3), 50.0)])  # outliers give empty data bins
    _png(plots.plot_closure(names, X, samples, labels, auc=0.5, ks={"dimu_pt": 0.02}),
         tmp_path, "c.png")
    es = np.linspace(0, 1, 50)
    _png(plots.plot_roc_sic({"CATHODE": (es, es**2), "flat": (es, np.zeros(50))}, labels,
                            min_background=50), tmp_path, "r.png")
