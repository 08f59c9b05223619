"""Shared pytest fixtures: paths to the real NanoAOD test files and small generated samples."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
#: Real CMS NanoAOD test files live beside the repository in ``../shared/data`` (override with
#: the ``DIMUON_AD_SHARED_DATA`` environment variable).
SHARED_DATA = Path(os.environ.get("DIMUON_AD_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread for a test module (restored afterwards): the small networks of the ML
    tests run fastest, and reproducibly, on one thread of the shared CPU. Use it with
    ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Directory with the real NanoAOD test files; skips the test when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(
            f"real NanoAOD test files not found at {SHARED_DATA} (set DIMUON_AD_SHARED_DATA)"
        )
    return SHARED_DATA


def shared_file(name: str) -> Path:
    """Path of one real test file in ``../shared/data``; skips the test when it is absent."""
    path = SHARED_DATA / name
    if not path.is_file():
        pytest.skip(f"real NanoAOD test file {name} not found in {SHARED_DATA}")
    return path


#: a package named like one of the toolkit's, first on the cluster workers' path: the code must be
#: sent to them anyway (a hash of the source is compared, not an importable name)
OTHER_PROCESSORS = '"""Someone else\'s processors package."""\nOTHER = True\n'


@pytest.fixture(scope="session")
def dask_cluster_address(tmp_path_factory) -> str:
    """A ``dask scheduler`` and two ``dask worker`` processes on 127.0.0.1 that do not have the
    toolkit (the editable install is hidden from them; they check it at start) but have another
    ``processors`` package; yields the scheduler address (tests/servers.py)."""
    from servers import dask_cluster

    folder = tmp_path_factory.mktemp("cluster")
    other = folder / "site" / "processors"
    other.mkdir(parents=True)
    (other / "__init__.py").write_text(OTHER_PROCESSORS)
    with dask_cluster(folder, n_workers=2, python_path=[str(folder / "site")]) as address:
        yield address


def tiny_analysis(
    *,
    n_seeds: int = 1,
    max_epochs: int = 2,
    n_estimators: int = 20,
    oversampling: float = 1.0,
    fprs: tuple[float, ...] = (1.0, 0.2),
    n_toys: int = 0,
) -> dict:
    """An analysis configuration (YAML mapping) small enough for tests: the fast profile with
    ``n_seeds`` flows × ``max_epochs``, one BDT of ``n_estimators`` trees per fold, 3 folds,
    the FPR grid ``fprs`` (plots at FPR 0.2) and ``n_toys`` look-elsewhere toys."""
    return {
        "profile": "fast",
        "flow": {"n_seeds": n_seeds, "max_epochs": max_epochs, "early_stopping": None},
        "classifier": {"n_models": 1, "params": {"n_estimators": n_estimators}},
        "n_folds": 3,
        "oversampling": oversampling,
        "stats": {"fprs": list(fprs), "spectrum_fprs": [0.2], "n_toys": n_toys},
    }


def toy_fileset(folder: Path, *, n_events: int, seed: int, metadata: dict | None = None) -> Path:
    """A toymc NanoAOD file ``toy.root`` in ``folder`` and a fileset JSON naming it as dataset
    ``toy`` (relative path, as a user's fileset beside its files); returns the fileset path."""
    import json

    import toymc

    toymc.write_nanoaod(folder / "toy.root", n_events=n_events, seed=seed, progress=False)
    entry: dict = {"files": {"toy.root": "Events"}}
    if metadata is not None:
        entry["metadata"] = metadata
    path = folder / "fs.json"
    path.write_text(json.dumps({"toy": entry}))
    return path


def toy_frame(n_bkg: int, n_sig: int, seed: int = 0) -> pd.DataFrame:
    """Falling continuum (heavy flavour, code 1) on 4.5-17 GeV with prompt-ish features; an
    Υ(1S)-like signal (code 12) at 9.8 GeV with harder pT and smaller ip3d (cm)."""
    rng = np.random.default_rng(seed)
    m_b = 4.5 + rng.exponential(6.0, 3 * n_bkg)
    m_b = m_b[m_b < 17.0][:n_bkg]
    m_s = rng.normal(9.8, 0.1, n_sig)
    n = len(m_b) + n_sig
    sig = np.r_[np.zeros(len(m_b), bool), np.ones(n_sig, bool)]
    return pd.DataFrame({
        "dimu_mass": np.r_[m_b, m_s],
        "dimu_pt": np.where(sig, 30.0, 10.0) * rng.exponential(1.0, n),
        "mu0_ip3d": np.where(sig, 0.002, 0.02) * rng.exponential(1.0, n),
        "mu1_ip3d": np.where(sig, 0.002, 0.02) * rng.exponential(1.0, n),
        "mu0_pt": np.full(n, 30.0), "mu1_pt": np.full(n, 10.0),
        "mu0_iso04": np.full(n, 1.0), "mu1_iso04": np.full(n, 1.0),
        "opposite_sign": np.ones(n, bool),
        "truth_process": np.where(sig, 12, 1).astype(np.int32),
    })


def write_toy_skim(folder: Path, n_bkg: int, n_sig: int) -> Path:
    """A parquet skim of :func:`toy_frame` events in ``folder/skim/dataset=Toy``; ``folder``."""
    path = folder / "skim" / "dataset=Toy"
    path.mkdir(parents=True)
    toy_frame(n_bkg, n_sig).to_parquet(path / "part-a.parquet")
    return folder
