"""Reading the parquet skim, applying the analysis cuts and splitting OS/SS and the mass bands.

Physics here is plain numpy on columns: :func:`apply_cuts` and :func:`band_masks` know nothing of
files; :func:`load_skim` is the only function that touches the disk.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis._truth import process_codes
from analysis.config import AnalysisConfig, Cuts
from analysis.presets import MassWindow
from dimuon_ad.errors import InputError, InputNotFoundError

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
    skipped : str
        Why this sample is left out of the fits (too few events), or "" when it is analysed.
    """

    X: np.ndarray
    m: np.ndarray
    truth: np.ndarray | None
    bands: dict[str, np.ndarray] = field(default_factory=dict)
    columns: dict[str, np.ndarray] = field(default_factory=dict)
    skipped: str = ""

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
    notes: list[str] = field(default_factory=list)
    labels: Any = None
    skim_summary: dict[str, Any] | None = None
    #: The run_skim.py directory holding the skim (None for a bare parquet).
    skim_run_dir: str | None = None
    #: The skim's own cutflow of this dataset (its cutflow.json: cut name -> events), or None.
    skim_cutflow: dict[str, int] | None = None


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
        raise InputNotFoundError(
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
                raise InputError(
                    f"skim {p} holds datasets {parts}; choose one with --dataset"
                )
            dataset = parts[0]
        if dataset not in parts:
            raise InputNotFoundError(
                f"dataset {dataset!r} not in skim {p}; available: {', '.join(parts)}"
            )
        return p / f"dataset={dataset}", dataset
    if not any(p.rglob("*.parquet")):
        raise InputNotFoundError(f"no parquet files under {p}; expected the output of run_skim.py")
    return p, dataset


def _column_users(config: AnalysisConfig, charge_col: str) -> dict[str, list[str]]:
    """Skim column → the settings that need it (to name them when the column is missing)."""
    feats = config.features
    users: dict[str, list[str]] = {}

    def add(cols, setting):
        for c in cols:
            users.setdefault(c, []).append(setting)

    add(feats.columns, "features.columns")
    add([feats.condition], "features.condition")
    explicit = feats.single_feature_cuts is not None
    add([c for c, _ in feats.baseline_cuts()],
        "features.single_feature_cuts" if explicit
        else "features.single_feature_cuts (default: one per feature)")
    add(config.cuts.columns(), "cuts")
    add([charge_col], "the OS/SS split")
    return users


def _duplicate_problem(frame: pd.DataFrame, ids: list[str], where: Path) -> str:
    dup = frame.duplicated(ids, keep="first").to_numpy()
    if not dup.any():
        return ""
    n_distinct = len(frame) - int(dup.sum())
    first = frame.loc[dup, ids].iloc[0]
    example = ", ".join(f"{c} {int(first[c])}" for c in ids)
    return (
        f"skim {where} holds {int(dup.sum())} duplicated events ({len(frame)} rows, {n_distinct} "
        f"distinct (run, luminosityBlock, event); e.g. {example}): the input lists events more "
        "than once — remove duplicated files from the fileset or deduplicate the input, then "
        "re-skim"
    )


def load_skim(
    path: str | Path,
    config: AnalysisConfig,
    dataset: str | None = None,
    *,
    output_dir: str | Path | None = None,
    allow_incomplete: bool = False,
) -> AnalysisData:
    """Check the inputs, read the skim, apply cuts and exclusions, keep the window, split OS/SS.

    Every problem that can be found before training is collected and raised together: the
    output directory, an incomplete skim (see :func:`analysis.preflight.skim_status`), columns
    the configuration needs (named with the settings that need them), duplicated events, a
    window the data do not cover, non-finite features and too few OS events to train on. A
    same-sign sample too small to fit is not an error: it is marked ``skipped`` with the reason
    and the run goes on without it.

    Parameters
    ----------
    path : str or Path
        See :func:`find_skim`.
    config : AnalysisConfig
    dataset : str, optional
        Dataset partition (required when the skim holds several).
    output_dir : str or Path, optional
        Checked to be a writable directory.
    allow_incomplete : bool
        Analyse a skim whose summary says it is incomplete (noted in ``notes``).

    Returns
    -------
    AnalysisData

    Raises
    ------
    analysis.preflight.PreflightError
        All problems found, in one line.
    FileNotFoundError, ValueError
        No skim at ``path`` (from :func:`find_skim`).
    """
    import pyarrow.parquet as pq

    from analysis.labels import resolve_labels
    from analysis.preflight import PreflightError, check_output_dir, skim_status

    problems: list[str] = []
    if output_dir is not None and (problem := check_output_dir(output_dir)):
        problems.append(problem)
    where, dataset = find_skim(path, dataset)
    status = skim_status(where, dataset, allow_incomplete=allow_incomplete)
    notes: list[str] = list(status["notes"])
    if status["problem"]:
        problems.append(status["problem"])
    files = [where] if where.is_file() else sorted(where.rglob("*.parquet"))
    files = [f for f in files if not f.name.startswith(".")]
    if not files:
        raise PreflightError([*problems, f"no parquet files under {where}; expected the output "
                                         "of run_skim.py"])
    try:
        schema_names = set(pq.read_schema(files[0]).names)
    except Exception as err:  # noqa: BLE001 - a corrupt part is an input problem
        raise PreflightError([*problems, f"skim part {files[0]} is unreadable ({err}); re-run "
                                         "the skim to recompute it"]) from None
    feats = config.features
    single = [c for c, _ in feats.baseline_cuts()]
    charge_col = "opposite_sign" if "opposite_sign" in schema_names else "dimu_charge"
    users = _column_users(config, charge_col)
    missing = sorted(set(users) - schema_names)
    for col in missing:
        problems.append(
            f"skim {where} lacks column {col!r}, needed by {' and '.join(users[col])}; re-skim "
            "with a preset that computes it or change that setting")
    if missing:
        raise PreflightError(problems)
    has_truth = "truth_process" in schema_names
    if config.exclude_processes and not has_truth:
        problems.append(f"skim {where} has no truth_process column; exclude_processes "
                        "(--remove-signal) needs a synthetic sample")
        raise PreflightError(problems)
    event_ids = [c for c in ("run", "luminosityBlock", "event") if c in schema_names]
    columns = sorted(set(users) | set(event_ids) | ({"truth_process"} if has_truth else set()))
    try:
        frame = pd.concat(
            [pq.read_table(f, columns=columns).to_pandas() for f in files], ignore_index=True
        )
    except Exception as err:  # noqa: BLE001
        raise PreflightError([*problems, f"skim {where} is unreadable ({err}); re-run the skim "
                                         "to recompute its parts"]) from None
    if len(event_ids) == 3:
        if problem := _duplicate_problem(frame, event_ids, where):
            problems.append(problem)
    else:
        notes.append(f"skim {where} has no (run, luminosityBlock, event) columns: duplicated "
                     "events cannot be detected")
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
    if problem := _coverage_problem(m_all[mask], w, config.stats.n_sr_edges, where):
        problems.append(problem)
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
    for name, sample in samples.items():
        bad = ~np.isfinite(sample.X).all(axis=1)
        if bad.any():
            problems.append(
                f"skim {where}: {int(bad.sum())} {name.upper()} events have non-finite features "
                f"{list(feats.columns)}; drop them or choose other features (features.columns)")
    os_counts = samples["os"].counts()
    need = 10 * config.n_folds
    if min(os_counts["SR"], os_counts["SBL"] + os_counts["SBR"]) < need:
        problems.append(
            f"skim {where}: the opposite-sign sample in window {w.name} {w.edges} GeV has "
            f"{os_counts['SBL']} + {os_counts['SBR']} sideband and {os_counts['SR']} SR events; "
            f"training needs at least {need} in the SR and in the sidebands (n_folds = "
            f"{config.n_folds}): choose a window with more events or loosen the cuts")
    ss = samples["ss"]
    ss_counts = ss.counts()
    min_sb = max(int(config.stats.min_sideband_events), 1)
    if min(ss_counts["SBL"], ss_counts["SBR"]) == 0 or (
            ss_counts["SBL"] + ss_counts["SBR"] < min_sb):
        ss.skipped = (
            f"same-sign sample skipped: {ss_counts['SBL']} + {ss_counts['SBR']} sideband and "
            f"{ss_counts['SR']} SR events in window {w.edges} GeV, too few for a sideband fit "
            f"(needs events in both sidebands and at least {min_sb} in all)")
        notes.append(ss.skipped)
        log.warning("%s", ss.skipped)
    if problems:
        raise PreflightError(problems)
    metadata = status["metadata"]
    labels = resolve_labels(config.report, metadata, has_truth=has_truth)
    return AnalysisData(
        os=samples["os"], ss=ss, features=tuple(feats.columns), source=str(where),
        dataset=dataset, cutflow=cutflow, has_truth=has_truth, notes=notes, labels=labels,
        skim_summary=status["summary"],
        skim_run_dir=None if status["run_dir"] is None else str(status["run_dir"]),
        skim_cutflow=read_skim_cutflow(status["run_dir"], dataset),
    )


def read_skim_cutflow(run_dir: str | Path | None, dataset: str | None) -> dict[str, int] | None:
    """The named cutflow of ``dataset`` in ``<run_dir>/cutflow.json`` (events after each skim
    cut, in order), or None without one (a bare parquet, an unreadable file, another dataset)."""
    if run_dir is None or not (Path(run_dir) / "cutflow.json").is_file():
        return None
    try:
        flows = json.loads((Path(run_dir) / "cutflow.json").read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(flows, dict):
        return None
    if dataset is None and len(flows) == 1:
        dataset = next(iter(flows))
    flow = flows.get(dataset) if dataset is not None else None
    return {str(k): int(v) for k, v in flow.items()} if isinstance(flow, dict) else None


def _coverage_problem(m: np.ndarray, window: MassWindow, n_sr_edges: int, where: Path) -> str:
    """Why the selected masses ``m`` (GeV) do not cover ``window``, or ""."""
    from stats.binning import CoverageError, check_coverage

    try:
        check_coverage(m, window.edges, n_sr_edges=n_sr_edges)
    except CoverageError as err:
        return f"skim {where}: {err} (window {window.name})"
    return ""
