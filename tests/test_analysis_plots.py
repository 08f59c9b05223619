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


def test_out_of_range_pulls_are_marked_not_dropped():
    edges = np.linspace(5.0, 16.0, 12)
    exp = np.full(11, 100.0)
    counts = exp.copy()
    counts[3], counts[7] = 200.0, 20.0  # pulls +10 and -8: beyond the ±4 axis
    fig = plots.plot_mass_spectra(edges, [plots.SpectrumLevel("no cut", counts, exp, exp * 0.01)],
                                  WINDOW_PRESETS["upsilon"], plots.PlotLabels())
    rax = fig.axes[1]
    arrows = [ln for ln in rax.get_lines() if ln.get_marker() in ("^", "v") and len(ln.get_xdata())]
    assert sorted(ln.get_marker() for ln in arrows) == ["^", "v"]
    assert rax.get_ylim() == (-plots.PULL_RANGE, plots.PULL_RANGE)
    # fit, band, signal region and resonance lines have legend entries
    texts = [t.get_text() for leg in fig.axes[0].findobj(lambda a: hasattr(a, "get_texts"))
             for t in leg.get_texts()]
    assert {"sideband background fit", "signal region"} <= set(texts)


def test_axis_scale_is_chosen_per_feature_and_sic_respects_the_background_floor():
    rng = np.random.default_rng(1)
    X = np.column_stack([rng.exponential(20, 400), rng.lognormal(-4, 1.5, 400),
                         rng.uniform(0.001, 0.1, 400)])  # mu1_ip3d spans < 2 decades
    names = ("dimu_pt", "mu0_ip3d", "mu1_ip3d")
    labels = plots.PlotLabels()
    for fig in (plots.plot_closure(names, X, X[::-1], labels),
                plots.plot_features_sr(names, X, X[:30], labels, template=X)):
        scales = [ax.get_xscale() for ax in fig.axes[:3]]
        assert scales == ["linear", "log", "log"]
    es = np.linspace(0.01, 1, 100)
    eb = es**3  # eps_b * 1000 >= 50 needs eps_b >= 0.05
    fig = plots.plot_roc_sic({"m": (es, eb)}, labels, min_background=50,
                             n_background={"m": 1000})
    sic = fig.axes[1].get_lines()[0]
    assert np.min(np.asarray(sic.get_xdata()) ** 3) >= 0.05 - 1e-12


def test_save_figure_writes_png_at_150_dpi_and_pdf(tmp_path):
    fig = plots.plot_z_vs_fpr({"a": (np.array([1.0, 0.1]), np.array([1.0, 2.0]))},
                              plots.PlotLabels(), toys_max_z=(1.0, 2.3))
    png, pdf = plots.save_figure(fig, tmp_path / "z")
    assert png.read_bytes()[:8] == PNG and pdf.read_bytes()[:5] == b"%PDF-"
    from PIL import Image

    with Image.open(png) as im:
        assert im.info["dpi"][0] >= 149
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert "Z = 2" in texts and "local" in fig.axes[0].get_ylabel()
