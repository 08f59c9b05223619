"""Shared pytest fixtures: paths to the real NanoAOD test files and small generated samples."""

from __future__ import annotations

import os
from pathlib import Path

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
