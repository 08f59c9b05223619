"""The one place that starts or attaches to a Dask cluster (the skim's ``dask`` executor and the
analysis' :class:`analysis.parallel.TaskRunner` both use it).

``dask_client("local", n)`` starts a ``distributed.LocalCluster`` of ``n`` single-threaded worker
processes (default: one per core) with its dashboard on a free port; any other value is the
address of a running scheduler (``tcp://host:8786``, coffea-casa's ``tls://localhost:8786``),
attached to with a timeout; there the toolkit's code is sent to workers that lack it or hold
another version, and the modules the tasks need are imported on each worker
(:func:`dimuon_ad.workers.ship_code`: one line naming the worker for an import error or for no
worker within the timeout). Either way the dashboard link is logged, the cluster's chatter (and
the workers' tracebacks of failed tasks) is silenced unless ``verbose``, and what was started is
closed on exit.
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
    modules: tuple[str, ...] = (),
    worker_timeout: float = 60.0,
    verbose: bool | None = None,
) -> Iterator[Any]:
    """A ``distributed.Client`` on a new LocalCluster or on a running scheduler.

    Parameters
    ----------
    scheduler : str or None
        ``"local"`` or ``None``: start a LocalCluster (one single-threaded worker process per
        core, dashboard on a free port). Anything else: the address of a running scheduler.
    n_workers : int, optional
        Workers of the LocalCluster (default: number of cores); for an address, the workers to
        wait for (default 1).
    timeout : float
        Seconds to wait for a scheduler at an address before giving up.
    modules : tuple of str
        Modules the tasks import, checked on every worker of a cluster at an address after the
        toolkit's code is shipped there (:func:`dimuon_ad.workers.ship_code`).
    worker_timeout : float
        Seconds to wait for ``n_workers`` workers at an address.
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
    dimuon_ad.workers.WorkerError
        No worker joined, or a worker cannot import ``modules`` (an InputOSError).
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
            # (error: a failed task's traceback is the caller's to report, in one line)
            stack.enter_context(quiet_logger("distributed", logging.ERROR))
            stack.enter_context(dask.config.set({"logging.distributed": "error"}))
        if scheduler in (None, LOCAL):
            cluster = stack.enter_context(
                LocalCluster(
                    n_workers=n_workers,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=":0",
                    # a failed task's "Compute Failed" is logged at ERROR in the worker
                    silence_logs=False if verbose else logging.CRITICAL,
                )
            )
            client = stack.enter_context(Client(cluster))
            log.info(
                "started a Dask LocalCluster of %d worker(s); dashboard %s",
                len(cluster.workers),
                client.dashboard_link,
            )
        else:
            from dimuon_ad.workers import ship_code

            client = stack.enter_context(_attach(Client, scheduler, timeout))
            log.info(
                "attached to Dask scheduler %s; dashboard %s", scheduler, client.dashboard_link
            )
            ship_code(client, modules, n_workers=n_workers or 1, timeout=worker_timeout)
        yield client
