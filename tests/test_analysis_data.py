"""Skim loading, analysis cuts and band masks on hand-made parquet files."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.config import Cuts, config_from_mapping
from analysis.data import apply_cuts, band_masks, find_skim, load_skim
from analysis.preflight import PreflightError
from analysis.presets import WINDOW_PRESETS


def frame(n=4000, seed=0, **overrides):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({
        "dimu_mass": rng.uniform(4.0, 17.0, n),
        "dimu_pt": rng.exponential(10.0, n),
        "mu0_ip3d": rng.exponential(0.02, n),
        "mu1_ip3d": rng.exponential(0.02, n),
        "mu0_pt": rng.uniform(10, 40, n),
        "mu1_pt": rng.uniform(5, 20, n),
        "mu0_iso04": rng.uniform(0.0, 2.0, n),
        "mu1_iso04": rng.uniform(0.0, 2.0, n),
        "opposite_sign": rng.random(n) < 0.6,
        "truth_process": rng.choice([1, 2, 12], n).astype(np.int32),
    })
    for k, v in overrides.items():
        df[k] = v
    return df


def write_skim(tmp_path, df, name="Toy"):
    part = tmp_path / "skim" / f"dataset={name}"
    part.mkdir(parents=True)
    half = len(df) // 2
    df.iloc[:half].to_parquet(part / "part-a.parquet")
    df.iloc[half:].to_parquet(part / "part-b.parquet")
    return tmp_path


def test_band_masks_edges_follow_stats_convention():
    w = WINDOW_PRESETS["upsilon"]
    b = band_masks(np.array([4.99, 5.0, 8.999, 9.0, 10.599, 10.6, 16.0, 16.01]), w)
    assert b["SBL"].tolist() == [False, True, True, False, False, False, False, False]
    assert b["SR"].tolist() == [False, False, False, True, True, False, False, False]
    assert b["SBR"].tolist() == [False, False, False, False, False, True, True, False]


def test_apply_cuts_known_answer():
    df = pd.DataFrame({
        "mu0_pt": [20.0, 16.9, 30.0, 30.0], "mu1_pt": [8.0, 9.0, 7.9, 10.0],
        "mu0_iso04": [0.55, 1.0, 1.0, 0.54], "mu1_iso04": [0.6, 1.0, 1.0, 1.0],
        "dimu_eta": [0.0, 0.0, 0.0, 0.0],
    })
    mask, flow = apply_cuts(df, Cuts())
    assert mask.tolist() == [True, False, False, False]
    assert [n for _, n in flow] == [4, 3, 2, 1]
    mask, _ = apply_cuts(df, Cuts(mu0_pt_min=None, mu1_pt_min=None, iso04_min=None,
                                  iso04_max=0.55))
    assert mask.tolist() == [False, False, False, False]
    mask, flow = apply_cuts(df, Cuts(ranges=(("mu0_pt", 20.0, None),)))
    assert flow[-1][0] == "20.0 <= mu0_pt < inf" and mask.tolist() == [True, False, False, False]


def test_load_skim_counts_match_direct_selection(tmp_path):
    df = frame()
    cfg = config_from_mapping({})
    data = load_skim(write_skim(tmp_path, df), cfg)
    sel = (
        (df.mu0_pt >= 17) & (df.mu1_pt >= 8) & (df.mu0_iso04 >= 0.55) & (df.mu1_iso04 >= 0.55)
        & (df.dimu_mass >= 5) & (df.dimu_mass <= 16)
    )
    for sample, os_ in ((data.os, True), (data.ss, False)):
        m = df.dimu_mass[sel & (df.opposite_sign == os_)]
        assert sample.counts()["SR"] == int(((m >= 9) & (m < 10.6)).sum())
        assert sample.counts()["total"] == len(m)
        assert sample.X.shape == (len(m), 3)
    assert data.dataset == "Toy" and data.has_truth
    assert data.cutflow[-1][1] == data.os.counts()["total"] + data.ss.counts()["total"]
    assert set(data.os.columns) == {"dimu_pt", "mu0_ip3d", "mu1_ip3d"}


def test_exclude_processes_drops_truth_codes(tmp_path):
    df = frame()
    cfg = config_from_mapping({"exclude_processes": ["UPSILON_1S"], "cuts": {"iso04_min": None}})
    data = load_skim(write_skim(tmp_path, df), cfg)
    assert not np.isin(data.os.truth, [12]).any() and len(data.os.truth) > 0
    assert "exclude UPSILON_1S" in data.cutflow[-2][0]


def test_find_skim_variants_and_errors(tmp_path):
    write_skim(tmp_path, frame(50))
    path, name = find_skim(tmp_path)
    assert path.name == "dataset=Toy" and name == "Toy"
    with pytest.raises(FileNotFoundError, match=r"dataset 'Other' not in skim .*available: Toy"):
        find_skim(tmp_path, "Other")
    with pytest.raises(FileNotFoundError, match=r"skim .*nowhere not found; run `python run_skim"):
        find_skim(tmp_path / "nowhere")
    (tmp_path / "skim" / "dataset=Two").mkdir()
    with pytest.raises(ValueError, match=r"holds datasets \['Toy', 'Two'\]; choose one"):
        find_skim(tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="no parquet files under"):
        find_skim(empty)


def test_load_skim_missing_column_names_file(tmp_path):
    skim = write_skim(tmp_path, frame().drop(columns=["mu1_ip3d"]))
    with pytest.raises(PreflightError, match=r"skim .*dataset=Toy lacks column 'mu1_ip3d', "
                                             r"needed by features.columns"):
        load_skim(skim, config_from_mapping({}))


def test_load_skim_too_few_events(tmp_path):
    skim = write_skim(tmp_path, frame(300))
    with pytest.raises(PreflightError, match=r"training needs at least 50 in the SR"):
        load_skim(skim, config_from_mapping({}))


def test_event_order_does_not_depend_on_part_file_names(tmp_path):
    """Part files named in another order (a regenerated input gets new chunk ids) load the same."""
    df = frame(n=3000, seed=3)
    df["run"] = np.full(len(df), 283000, dtype=np.int64)
    df["luminosityBlock"] = np.arange(len(df), dtype=np.int64) // 100
    df["event"] = np.arange(len(df), dtype=np.int64)
    cfg = config_from_mapping({})
    first = load_skim(write_skim(tmp_path / "a", df), cfg)
    # the same rows, shuffled, with the halves stored under swapped file names
    shuffled = df.sample(frac=1.0, random_state=7).reset_index(drop=True)
    part = tmp_path / "b" / "skim" / "dataset=Toy"
    part.mkdir(parents=True)
    shuffled.iloc[1500:].to_parquet(part / "part-a.parquet")
    shuffled.iloc[:1500].to_parquet(part / "part-b.parquet")
    second = load_skim(tmp_path / "b", cfg)
    for name in ("os", "ss"):
        np.testing.assert_array_equal(getattr(first, name).X, getattr(second, name).X)
        np.testing.assert_array_equal(getattr(first, name).m, getattr(second, name).m)
