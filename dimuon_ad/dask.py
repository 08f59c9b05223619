"""The one place that starts or attaches to a Dask cluster (the skim's ``dask`` executor and the
analysis' :class:`analysis.parallel.TaskRunner` both use it).

``dask_client("local", n)`` starts a ``distributed.LocalCluster`` of ``n`` single-threaded worker
processes (default: one per core) with its dashboard on a free port; any other value is the
address of a running scheduler (``tcp://host:8786``, coffea-casa's ``tls://localhost:8786``),
attached to with a timeout. Either way the dashboard link is logged, the cluster's start/stop
INFO chatter is silenced unless ``verbose``, and what was started is closed on exit.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

from dimuon_ad.errors import ConfigError, InputOSError
from dimuon_ad.logs import quiet_logger

__all__ = ["LOCAL", "dask_client"]

log = logging.getLogger(__name__)

#: the ``scheduler`` value that starts a LocalCluster (``None`` does too)
LOCAL = "local"


def _attach(client_class: Any, address: str, timeout: float) -> Any:
    """``Client(address)``, or one line saying why the scheduler cannot be used."""
    try:
        return client_class(address, timeout=timeout)
    except ValueError as err:  # not an address: no scheme, no port, unknown protocol
        raise ConfigError(
            f"Dask scheduler address {address!r}: {err}; expected tcp://host:port, "
            f"tls://host:port or '{LOCAL}'"
        ) from None
    except OSError as err:  # refused, unknown host, or no answer within the timeout
        raise InputOSError(
            f"cannot reach Dask scheduler {address!r} ({err}); check the address "
            "(tcp://host:port) and that the scheduler is running, or run without --scheduler"
        ) from None


@contextmanager
def dask_client(
    scheduler: str | None = LOCAL,
    n_workers: int | None = None,
    *,
    timeout: float = 20.0,
    verbose: bool | None = None,
) -> Iterator[Any]:
    """A ``distributed.Client`` on a new LocalCluster or on a running scheduler.

    Parameters
    ----------
    scheduler : str or None
        ``"local"`` or ``None``: start a LocalCluster (one single-threaded worker process per
        core, dashboard on a free port). Anything else: the address of a running scheduler.
    n_workers : int, optional
        Workers of the LocalCluster (default: number of cores); ignored for an address.
    timeout : float
        Seconds to wait for a scheduler at an address before giving up.
    verbose : bool, optional
        Keep distributed's INFO messages (cluster start/stop, connections); default: when this
        module's logger shows DEBUG (the CLIs' ``-v``).

    Yields
    ------
    distributed.Client
        Closed on exit, with the LocalCluster it started.

    Raises
    ------
    ConfigError
        ``scheduler`` is not a Dask address.
    InputOSError
        No scheduler answered at the address within ``timeout`` seconds.
    """
    try:
        from distributed import Client, LocalCluster
    except ImportError as err:  # pragma: no cover - distributed is a pinned dependency
        raise ImportError("running on Dask needs the 'distributed' package") from err
    if verbose is None:
        verbose = log.isEnabledFor(logging.DEBUG)
    with ExitStack() as stack:
        if not verbose:
            import dask

            # the in-process scheduler and nannies log through "distributed"; worker processes
            # get the dask config (and LocalCluster's silence_logs) instead of our logger levels
            stack.enter_context(quiet_logger("distributed", logging.WARNING))
            stack.enter_context(dask.config.set({"logging.distributed": "warning"}))
        if scheduler in (None, LOCAL):
            cluster = stack.enter_context(
                LocalCluster(
                    n_workers=n_workers,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=":0",
                    silence_logs=False if verbose else logging.WARNING,
                )
            )
            client = stack.enter_context(Client(cluster))
            log.info(
                "started a Dask LocalCluster of %d worker(s); dashboard %s",
                len(cluster.workers),
                client.dashboard_link,
            )
        else:
            client = stack.enter_context(_attach(Client, scheduler, timeout))
            log.info(
                "attached to Dask scheduler %s; dashboard %s", scheduler, client.dashboard_link
            )
        yield client
