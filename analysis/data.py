"""Reading the parquet skim, applying the analysis cuts and splitting OS/SS and the mass bands.

Physics here is plain numpy on columns: :func:`apply_cuts` and :func:`band_masks` know nothing of
files; :func:`load_skim` is the only function that touches the disk.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from analysis._truth import process_codes
from analysis.config import AnalysisConfig, Cuts
from analysis.presets import MassWindow

__all__ = ["AnalysisData", "Sample", "apply_cuts", "band_masks", "find_skim", "load_skim"]

log = logging.getLogger(__name__)

BANDS = ("SBL", "SR", "SBR")


def band_masks(mass: np.ndarray, window: MassWindow) -> dict[str, np.ndarray]:
    """Boolean masks of the left sideband, SR and right sideband (GeV).

    SBL = [sb_left, sr_left), SR = [sr_left, sr_right), SBR = [sr_right, sb_right] (the
    convention of ``stats.binning.Window``).
    """
    m = np.asarray(mass)
    return {
        "SBL": (m >= window.sb_left) & (m < window.sr_left),
        "SR": (m >= window.sr_left) & (m < window.sr_right),
        "SBR": (m >= window.sr_right) & (m <= window.sb_right),
    }


def apply_cuts(frame: pd.DataFrame, cuts: Cuts) -> tuple[np.ndarray, list[tuple[str, int]]]:
    """Mask of events passing the analysis cuts, and the cutflow.

    Parameters
    ----------
    frame : DataFrame
        Skim columns (GeV, cm).
    cuts : Cuts

    Returns
    -------
    mask : ndarray of bool
    cutflow : list of (cut name, events passing all cuts so far)
    """
    mask = np.ones(len(frame), dtype=bool)
    flow = [("skim", int(mask.sum()))]

    def step(name: str, passed: np.ndarray) -> None:
        nonlocal mask
        mask &= np.asarray(passed, dtype=bool)
        flow.append((name, int(mask.sum())))

    if cuts.mu0_pt_min is not None:
        step(f"mu0_pt >= {cuts.mu0_pt_min:g} GeV", frame["mu0_pt"].to_numpy() >= cuts.mu0_pt_min)
    if cuts.mu1_pt_min is not None:
        step(f"mu1_pt >= {cuts.mu1_pt_min:g} GeV", frame["mu1_pt"].to_numpy() >= cuts.mu1_pt_min)
    if cuts.iso04_min is not None:
        step(
            f"both iso04 >= {cuts.iso04_min:g}",
            (frame["mu0_iso04"].to_numpy() >= cuts.iso04_min)
            & (frame["mu1_iso04"].to_numpy() >= cuts.iso04_min),
        )
    if cuts.iso04_max is not None:
        step(
            f"both iso04 < {cuts.iso04_max:g}",
            (frame["mu0_iso04"].to_numpy() < cuts.iso04_max)
            & (frame["mu1_iso04"].to_numpy() < cuts.iso04_max),
        )
    if cuts.max_abs_eta is not None:
        step(
            f"both |eta| < {cuts.max_abs_eta:g}",
            (np.abs(frame["mu0_eta"].to_numpy()) < cuts.max_abs_eta)
            & (np.abs(frame["mu1_eta"].to_numpy()) < cuts.max_abs_eta),
        )
    for col, lo, hi in cuts.ranges:
        x = frame[col].to_numpy()
        passed = np.ones(len(x), dtype=bool)
        if lo is not None:
            passed &= x >= lo
        if hi is not None:
            passed &= x < hi
        step(f"{lo if lo is not None else '-inf'} <= {col} < {hi if hi is not None else 'inf'}",
             passed)
    return mask, flow


@dataclass
class Sample:
    """One charge category (OS or SS) inside the window.

    Attributes
    ----------
    X : ndarray, shape (n, d)
        Features (physical units: GeV, cm).
    m : ndarray, shape (n,)
        Dimuon mass in GeV.
    truth : ndarray of int, shape (n,) or None
        ``truth_process`` codes when the skim has them.
    bands : dict of str to ndarray of bool
        SBL / SR / SBR masks.
    columns : dict of str to ndarray
        Columns of the single-feature baselines (they need not be classifier features).
    """

    X: np.ndarray
    m: np.ndarray
    truth: np.ndarray | None
    bands: dict[str, np.ndarray] = field(default_factory=dict)
    columns: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def sr(self) -> np.ndarray:
        """Mask of signal-region events."""
        return self.bands["SR"]

    @property
    def sb(self) -> np.ndarray:
        """Mask of sideband events."""
        return self.bands["SBL"] | self.bands["SBR"]

    def counts(self) -> dict[str, int]:
        """Events per band and in total."""
        out = {b: int(self.bands[b].sum()) for b in BANDS}
        out["total"] = len(self.m)
        return out


@dataclass
class AnalysisData:
    """The OS and SS samples of one run plus bookkeeping for the report."""

    os: Sample
    ss: Sample
    features: tuple[str, ...]
    source: str
    dataset: str | None
    cutflow: list[tuple[str, int]]
    has_truth: bool


def find_skim(path: str | Path, dataset: str | None = None) -> tuple[Path, str | None]:
    """Locate the parquet data under ``path``.

    Accepts a parquet file, a directory of parquet files, a hive directory with
    ``dataset=<name>`` partitions, or a ``run_skim.py`` output directory (its ``skim/`` folder).

    Returns
    -------
    (directory or file, dataset name or None)

    Raises
    ------
    FileNotFoundError
        Nothing readable at ``path``, or the requested dataset partition is absent.
    """
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(
            f"skim {p} not found; run `python run_skim.py --output-dir {p}` first or pass --skim"
        )
    if p.is_file():
        return p, dataset
    if (p / "skim").is_dir():
        p = p / "skim"
    parts = sorted(d.name.split("=", 1)[1] for d in p.glob("dataset=*") if d.is_dir())
    if parts:
        if dataset is None:
            if len(parts) > 1:
                raise ValueError(
                    f"skim {p} holds datasets {parts}; choose one with --dataset"
                )
            dataset = parts[0]
        if dataset not in parts:
            raise FileNotFoundError(
                f"dataset {dataset!r} not in skim {p}; available: {', '.join(parts)}"
            )
        return p / f"dataset={dataset}", dataset
    if not any(p.rglob("*.parquet")):
        raise FileNotFoundError(f"no parquet files under {p}; expected the output of run_skim.py")
    return p, dataset


def load_skim(path: str | Path, config: AnalysisConfig, dataset: str | None = None) -> AnalysisData:
    """Read the skim, apply cuts and exclusions, keep the window and split OS/SS.

    Parameters
    ----------
    path : str or Path
        See :func:`find_skim`.
    config : AnalysisConfig
    dataset : str, optional
        Dataset partition (required when the skim holds several).

    Returns
    -------
    AnalysisData

    Raises
    ------
    KeyError
        A column the configuration needs is missing from the skim (named with the path).
    ValueError
        Too few events in a band to train on.
    """
    import pyarrow.parquet as pq

    where, dataset = find_skim(path, dataset)
    files = [where] if where.is_file() else sorted(where.rglob("*.parquet"))
    files = [f for f in files if not f.name.startswith(".")]
    schema_names = set(pq.read_schema(files[0]).names)
    feats = config.features
    single = [c for c, _ in feats.single_feature_cuts]
    needed = {*feats.columns, feats.condition, *single, *config.cuts.columns()}
    charge_col = "opposite_sign" if "opposite_sign" in schema_names else "dimu_charge"
    needed.add(charge_col)
    missing = sorted(needed - schema_names)
    if missing:
        raise KeyError(
            f"skim {where} lacks column(s) {missing} needed by the configuration; "
            "re-skim with a preset that computes them or change features/cuts"
        )
    has_truth = "truth_process" in schema_names
    if config.exclude_processes and not has_truth:
        raise KeyError(
            f"skim {where} has no truth_process column; exclude_processes needs a synthetic sample"
        )
    event_ids = [c for c in ("run", "luminosityBlock", "event") if c in schema_names]
    columns = sorted(needed | set(event_ids) | ({"truth_process"} if has_truth else set()))
    frame = pd.concat(
        [pq.read_table(f, columns=columns).to_pandas() for f in files], ignore_index=True
    )
    # Canonical event order: part-file names hash the input file's UUID, so the same events
    # regenerated (or re-skimmed) would come back in another order and change every seeded
    # train/validation split and fold assignment downstream.
    frame = frame.sort_values(event_ids or columns, kind="stable", ignore_index=True)
    log.info("read %d events from %s (%d files)", len(frame), where, len(files))
    mask, cutflow = apply_cuts(frame, config.cuts)
    if config.exclude_processes:
        keep = ~np.isin(frame["truth_process"].to_numpy(), process_codes(config.exclude_processes))
        mask &= keep
        cutflow.append((f"exclude {'/'.join(config.exclude_processes)}", int(mask.sum())))
    w = config.window
    m_all = frame[feats.condition].to_numpy(np.float64)
    mask &= (m_all >= w.sb_left) & (m_all <= w.sb_right)
    cutflow.append((f"{w.sb_left:g} <= {feats.condition} <= {w.sb_right:g} GeV", int(mask.sum())))
    frame = frame[mask].reset_index(drop=True)
    if charge_col == "opposite_sign":
        os_mask = frame["opposite_sign"].to_numpy().astype(bool)
    else:
        os_mask = frame["dimu_charge"].to_numpy() == 0
    samples = {}
    for name, sel in (("os", os_mask), ("ss", ~os_mask)):
        sub = frame[sel]
        m = sub[feats.condition].to_numpy(np.float64)
        X = sub[list(feats.columns)].to_numpy(np.float64)
        truth = sub["truth_process"].to_numpy(np.int64) if has_truth else None
        cols = {c: sub[c].to_numpy(np.float64) for c in single}
        samples[name] = Sample(X=X, m=m, truth=truth, bands=band_masks(m, w), columns=cols)
    bad = ~np.isfinite(samples["os"].X).all(axis=1)
    if bad.any():
        raise ValueError(
            f"skim {where}: {int(bad.sum())} OS events have non-finite features "
            f"{list(feats.columns)}; drop them or choose other features"
        )
    os_counts = samples["os"].counts()
    if min(os_counts["SR"], os_counts["SBL"] + os_counts["SBR"]) < 10 * config.n_folds:
        raise ValueError(
            f"skim {where}: OS window {w.edges} GeV has {os_counts} events; need at least "
            f"{10 * config.n_folds} in the SR and in the sidebands"
        )
    return AnalysisData(
        os=samples["os"], ss=samples["ss"], features=tuple(feats.columns), source=str(where),
        dataset=dataset, cutflow=cutflow, has_truth=has_truth,
    )
