"""The one Dask front-end (dimuon_ad.dask): a LocalCluster it starts and closes, one line for a
scheduler address that does not answer or is not an address."""

from __future__ import annotations

import logging
import operator
import socket
import time

import pytest

from dimuon_ad.dask import dask_client
from dimuon_ad.errors import ConfigError, InputOSError, error_line


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_local_cluster_runs_logs_its_dashboard_and_closes(caplog):
    import distributed  # noqa: F401 - sets the level of its logger when imported

    chatter = logging.getLogger("distributed")
    before = chatter.level
    with caplog.at_level(logging.INFO, logger="dimuon_ad.dask"):
        with dask_client("local", 1) as client:
            cluster = client.cluster
            assert cluster is not None and len(client.scheduler_info()["workers"]) == 1
            assert client.submit(operator.add, 1, 2).result() == 3
            # the cluster's start/stop INFO lines are silenced (not verbose)
            assert not chatter.isEnabledFor(logging.INFO)
    assert client.status == "closed" and cluster.status.name == "closed"
    assert chatter.level == before
    assert "LocalCluster of 1 worker(s); dashboard http" in caplog.text


def test_unreachable_scheduler_is_one_line_quickly():
    address = f"tcp://127.0.0.1:{_free_port()}"
    t0 = time.perf_counter()
    with pytest.raises(InputOSError, match="cannot reach Dask scheduler") as err:
        with dask_client(address, timeout=1):
            pass  # pragma: no cover - never reached
    assert time.perf_counter() - t0 < 10
    line = error_line("prog", err.value)
    assert "\n" not in line and address in line


def test_not_an_address_is_a_configuration_error():
    with pytest.raises(ConfigError, match="Dask scheduler address 'nonsense'.*tcp://host:port"):
        with dask_client("nonsense", timeout=1):
            pass  # pragma: no cover - never reached
