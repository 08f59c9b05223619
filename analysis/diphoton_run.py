"""The diphoton (H→γγ) analysis from a skim to its results: the Higgs peak, the production-mode
classifier against the seed's baseline, categories and the per-mode signal-strength fit.

:func:`run_diphoton` is what ``run_analysis.py --analysis diphoton`` (``dimuon-ad analyse
--analysis diphoton``) runs; :mod:`analysis.diphoton_report` writes its report.  Steps:

1. read the skim (:data:`processors.diphoton_columns.DIPHOTON_COLUMNS`), split data and Higgs MC;
2. the Higgs peak (:func:`analysis.diphoton.fit_higgs_peak`): μ, Z, pyhf workspace;
3. the MC is split in two halves (seeded): the classifier (:class:`ml.multiclass.
   ProductionModeClassifier`) and the seed-style baseline (:func:`ml.multiclass.
   fit_seed_baseline`) are trained on one and evaluated on the other with signed weights
   (confusion matrices raw and weighted, recall, purity, balanced accuracy);
4. categories = the classifier's argmax, each split in two at the median (over the held-out
   signal) of a Higgs-vs-continuum score (:func:`ml.multiclass.continuum_scores`: Higgs MC vs
   sideband data, out of fold): the test half's signal per category and mode
   (weights × 2), the data's sideband counts per category, the inclusive fit's SR/sideband
   background ratio and its background shape over the 1 GeV SR bins, the DSCB's signal
   fractions over them → :func:`stats.categories.category_workspace`; expected per-mode μ
   precision on Asimov data, a check on Poisson pseudo-data, and the fit of the observed data.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.diphoton import MODES, HiggsPeak, fit_higgs_peak, split_data_mc
from dimuon_ad.errors import FitError, InputError, InputNotFoundError
from ml.multiclass import (
    FEATURES,
    ProductionModeClassifier,
    class_metrics,
    confusion_matrices,
    continuum_scores,
    fit_seed_baseline,
    production_features,
)
from processors.diphoton_columns import DIPHOTON_COLUMNS, NON_HIGGS
from stats.categories import (
    category_workspace,
    category_yields,
    mode_precision,
    pseudo_data_fits,
)

log = logging.getLogger(__name__)

__all__ = ["DiphotonResult", "load_diphoton_skim", "run_diphoton"]


def load_diphoton_skim(path: str | Path, *, allow_incomplete: bool = False,
                       notes: list[str] | None = None) -> pd.DataFrame:
    """All rows of a diphoton skim: a parquet file, a directory of parquet files or a
    ``dataset=<name>`` hive directory (a skim output directory's ``skim/`` folder is used).

    A ``run_skim.py`` output must be complete (:func:`analysis.preflight.skim_status`, as for the
    dimuon analysis) unless ``allow_incomplete``; what the report must say is appended to
    ``notes``.

    Raises
    ------
    InputNotFoundError
        Nothing at ``path``.
    InputError
        No parquet files, an incomplete skim, or columns of the contract missing.
    """
    p = Path(path)
    if not p.exists():
        raise InputNotFoundError(f"diphoton skim {p} not found; write one with the diphoton "
                                 "processor and pass its directory with --skim")
    if p.is_dir() and (p / "skim").is_dir():
        p = p / "skim"
    if p.is_dir() and not any(p.rglob("*.parquet")):
        raise InputError(f"diphoton skim {p} holds no parquet files; pass the skim's output "
                         "directory or its skim/ folder")
    import pyarrow.dataset as ds

    from analysis.preflight import skim_status

    status = skim_status(p, None, allow_incomplete=allow_incomplete)
    if status["problem"]:
        raise InputError(status["problem"])
    if notes is not None:
        notes.extend(status["notes"])
    dataset = ds.dataset(str(p), format="parquet", partitioning="hive")
    missing = [c for c in DIPHOTON_COLUMNS if c not in dataset.schema.names]
    if missing:
        raise InputError(f"diphoton skim {p} lacks columns {missing}; expected "
                         "processors.diphoton_columns.DIPHOTON_COLUMNS (is it a dimuon skim?)")
    return dataset.to_table(columns=list(DIPHOTON_COLUMNS)).to_pandas()


@dataclass
class DiphotonResult:
    """Everything the diphoton report shows (see :func:`run_diphoton`)."""

    source: str
    peak: HiggsPeak
    classifier: dict[str, Any]
    categories: dict[str, Any]
    workspaces: dict[str, dict]
    synthetic: bool
    notes: list[str] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    timing: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"analysis": "diphoton", "source": self.source, "synthetic": self.synthetic,
                "settings": self.settings, "notes": self.notes,
                "higgs_peak": self.peak.summary(), "classifier": self.classifier,
                "categories": self.categories, "timing_s": self.timing}


def _evaluate(model: Any, X: np.ndarray, y: np.ndarray, w: np.ndarray) -> dict[str, Any]:
    pred = model.predict(X)
    raw, wtd = confusion_matrices(y, pred, w, len(MODES))
    return {"confusion_raw": raw.tolist(), "confusion_weighted": wtd.tolist(),
            "weighted": class_metrics(wtd, MODES), "raw": class_metrics(raw, MODES)}


def run_diphoton(skim: str | Path, *, random_state: int = 0, test_fraction: float = 0.5,
                 n_toys: int = 50, allow_incomplete: bool = False) -> DiphotonResult:
    """Run the diphoton analysis on a skim.

    Parameters
    ----------
    skim : str or Path
        Diphoton skim (see :func:`load_diphoton_skim`).
    random_state : int
        Seed of the MC split, the classifiers, the fits' retries and the pseudo-data.
    test_fraction : float
        Fraction of the MC held out for evaluation and category yields.
    n_toys : int
        Pseudo-data sets of the per-mode μ check.
    allow_incomplete : bool
        Analyse a skim whose run did not finish (the report says so).

    Raises
    ------
    InputError
        Bad skim, no data or no MC of some mode.
    """
    if not 0.0 < test_fraction < 1.0:
        raise InputError(f"test_fraction {test_fraction}: expected a number in (0, 1)")
    timing: dict[str, float] = {}
    t0 = time.perf_counter()
    notes: list[str] = []
    frame = load_diphoton_skim(skim, allow_incomplete=allow_incomplete, notes=notes)
    data, mc = split_data_mc(frame)
    if data.empty or mc.empty:
        raise InputError(f"diphoton skim {skim} has {len(data)} data and {len(mc)} Higgs MC "
                         "events; both are needed")
    absent = [m for i, m in enumerate(MODES) if not np.any(mc["truth_mode"].to_numpy() == i)]
    if absent:
        raise InputError(f"diphoton skim {skim} has no MC of modes {absent}")
    timing["read"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    data_truth = data["truth_mode"].to_numpy()
    synthetic = bool(np.any(data_truth != NON_HIGGS))
    peak = fit_higgs_peak(data["mgg"].to_numpy(), mc["mgg"].to_numpy(), mc["weight"].to_numpy(),
                          mc["truth_mode"].to_numpy(),
                          data_truth=data_truth if synthetic else None,
                          random_state=random_state)
    timing["higgs_peak"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    X, y, w = production_features(mc), mc["truth_mode"].to_numpy(), mc["weight"].to_numpy()
    rng = np.random.default_rng(random_state)
    test = rng.random(len(y)) < test_fraction
    clf = ProductionModeClassifier(random_state=random_state).fit(
        X[~test], y[~test], sample_weight=w[~test], n_classes=len(MODES))
    timing["classifier_fit"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    base = fit_seed_baseline(X[~test], y[~test], w[~test], random_state=random_state)
    timing["baseline_fit"] = time.perf_counter() - t0
    neg = w < 0
    classifier = {
        "features": list(FEATURES),
        "n_train": int((~test).sum()), "n_test": int(test.sum()),
        "negative_weight_fraction": float(neg.mean()),
        "negative_weight_sum_fraction": float(-w[neg].sum() / np.abs(w).sum()),
        "training": {"negative_weights": clf.negative_weights, "class_weight": clf.class_weight,
                     "params": clf.get_params(), "best_iteration": clf.best_iteration_},
        "model": _evaluate(clf, X[test], y[test], w[test]),
        "baseline": _evaluate(base, X[test], y[test], w[test]),
    }

    t0 = time.perf_counter()
    window = peak.binning.window
    m_mc, m_data = mc["mgg"].to_numpy(), data["mgg"].to_numpy()
    X_data = production_features(data)
    sb_data, sr_data = window.in_sb(m_data), window.in_sr(m_data)
    # Higgs-vs-continuum score (MC training half vs sideband data, out of fold); each mode
    # category is split at the score that keeps half of the held-out signal
    cont_data, cont_mc = continuum_scores(X[~test], w[~test], X_data, sb_data,
                                          X_signal_eval=X[test], random_state=random_state)
    order = np.argsort(cont_mc)
    cum = np.cumsum(w[test][order])
    threshold = float(cont_mc[order][np.searchsorted(cum, 0.5 * cum[-1])])
    n = len(MODES)
    names = [f"{m} {level}" for m in MODES for level in ("low", "high")]
    cat_mc = 2 * clf.predict(X[test]) + (cont_mc > threshold)
    cat_data = 2 * clf.predict(X_data) + (cont_data > threshold)
    n_cat = len(names)
    m_test = m_mc[test]
    scale = 1.0 / test_fraction
    s_sr = category_yields(cat_mc[window.in_sr(m_test)], y[test][window.in_sr(m_test)],
                           scale * w[test][window.in_sr(m_test)], n_cat, n)
    s_sb = category_yields(cat_mc[window.in_sb(m_test)], y[test][window.in_sb(m_test)],
                           scale * w[test][window.in_sb(m_test)], n_cat, n)
    n_sb = np.bincount(cat_data[sb_data], minlength=n_cat).astype(float)
    n_sr = np.bincount(cat_data[sr_data], minlength=n_cat).astype(float)
    sr_edges = peak.binning.sr_edges
    sr_hist = np.array([np.histogram(m_data[cat_data == c], sr_edges)[0] for c in range(n_cat)])
    in_bins = peak.binning.in_sidebands(m_data)
    transfer = float(peak.fit.b_fit / max(in_bins.sum(), 1))
    b_sb = n_sb * in_bins.sum() / max(sb_data.sum(), 1)  # sidebands as binned by the fit
    shapes = {"background_shape": peak.background()[0][peak.binning.sr_mask],
              "signal_shape": peak.shape.fractions(sr_edges)}
    asimov = category_workspace(s_sr, b_sb, transfer, MODES, signal_sb=s_sb, **shapes)
    observed = category_workspace(s_sr, b_sb, transfer, MODES, signal_sb=s_sb,
                                  observed_sr=sr_hist, observed_sb=b_sb, **shapes)
    expected = mode_precision(asimov, MODES)
    toys = pseudo_data_fits(asimov, MODES, n_toys=n_toys, random_state=random_state)
    try:
        obs = mode_precision(observed, MODES)
    except (FitError, ValueError) as err:  # reported; the expected precision stands
        log.warning("observed per-mode fit failed: %s", err)
        obs = {"error": str(err)}
    truth_cat = {}
    if synthetic:
        higgs = (data_truth != NON_HIGGS) & sr_data
        truth_cat = category_yields(cat_data[higgs], data_truth[higgs], np.ones(higgs.sum()),
                                    n_cat, n).tolist()
    categories = {
        "category_names": names, "continuum_threshold": threshold,
        "continuum_sideband_efficiency": float(np.mean(cont_data[sb_data] > threshold)),
        "signal_sr": s_sr.tolist(), "signal_sb": s_sb.tolist(), "data_sb": n_sb.tolist(),
        "data_sr": n_sr.tolist(), "background_sb_binned": b_sb.tolist(), "transfer": transfer,
        "expected_precision": expected, "pseudo_data": toys, "observed": obs,
        "injected_higgs_sr_per_category_and_mode": truth_cat,
    }
    timing["categories"] = time.perf_counter() - t0
    return DiphotonResult(source=str(skim), peak=peak, classifier=classifier,
                          categories=categories, synthetic=synthetic, timing=timing, notes=notes,
                          settings={"random_state": random_state, "test_fraction": test_fraction,
                                    "n_toys": n_toys},
                          workspaces={"higgs_peak": peak.workspace, "categories_asimov": asimov,
                                      "categories_observed": observed})
