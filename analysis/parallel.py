"""Running independent tasks (flow seeds, classifier folds) in-process or on a Dask cluster."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from typing import Any

from dimuon_ad.dask import dask_client

__all__ = ["TaskRunner"]

log = logging.getLogger(__name__)


class TaskRunner:
    """Map a function over independent argument tuples, locally or on Dask.

    Parameters
    ----------
    scheduler : str or None
        ``None``: run in this process, one task after the other (the default). ``"local"``: start
        a ``distributed.LocalCluster`` (one single-threaded worker process per core). Anything else
        is the address of a running scheduler (``tcp://host:8786``, e.g. coffea-casa's). The
        cluster comes from :func:`dimuon_ad.dask.dask_client` (one line for an unreachable
        address: :class:`~dimuon_ad.errors.InputOSError`).
    n_workers : int, optional
        Workers of the ``"local"`` cluster (default: number of cores).

    Notes
    -----
    The mapped function and its arguments are pickled to the workers, so they must be importable
    there (install this package on the cluster image). Results come back in argument order.
    """

    def __init__(self, scheduler: str | None = None, n_workers: int | None = None) -> None:
        self.scheduler = scheduler
        self._client = None
        self._stack = ExitStack()
        if scheduler is not None:
            self._client = self._stack.enter_context(dask_client(scheduler, n_workers))

    @property
    def distributed(self) -> bool:
        """True when tasks go to a Dask cluster."""
        return self._client is not None

    def map(self, fn: Callable[..., Any], args: Sequence[tuple], desc: str = "") -> list[Any]:
        """``[fn(*a) for a in args]``, on the cluster when there is one."""
        if self._client is None:
            return [fn(*a) for a in args]
        log.info("submitting %d %s task(s) to Dask", len(args), desc or fn.__name__)
        futures = [self._client.submit(fn, *a, pure=False) for a in args]
        return self._client.gather(futures)

    def as_completed(
        self, fn: Callable[..., Any], args: Sequence[tuple], desc: str = ""
    ) -> Iterator[tuple[int, Any]]:
        """Yield ``(index, fn(*args[index]))`` as each task finishes (in order when local).

        Lets the caller store each result as soon as it exists, so an interrupted run keeps the
        tasks that had finished.
        """
        if self._client is None:
            for i, a in enumerate(args):
                yield i, fn(*a)
            return
        from distributed import as_completed

        log.info("submitting %d %s task(s) to Dask", len(args), desc or fn.__name__)
        futures = {self._client.submit(fn, *a, pure=False): i for i, a in enumerate(args)}
        try:
            for future in as_completed(futures):
                yield futures[future], future.result()
        finally:
            for future in futures:
                future.cancel()

    def close(self) -> None:
        """Close the client and any cluster this runner started."""
        self._client = None
        self._stack.close()

    def __enter__(self) -> TaskRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
