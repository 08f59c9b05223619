"""Run a function over work items on one of three executors, yielding results as they finish.

- ``iterative``: in this process, one item after the other (easiest to debug);
- ``futures``: a local process pool (``concurrent.futures``, spawn start method);
- ``dask``: ``dask.distributed`` (through :func:`dimuon_ad.dask.dask_client`) — a ``LocalCluster``
  of ``workers`` single-threaded processes, or an existing scheduler given by address
  (``tcp://...``; coffea-casa provides one). Workers of an existing cluster that lack this
  toolkit or hold another version of it get its code (:func:`dimuon_ad.workers.ship_code`,
  compared by a hash of the source); they need coffea, awkward and uproot installed, and the
  input files must be readable from them.

Each item's outcome is yielded as ``(item, result, exception)``; the caller decides what a failure
means. At most ``2 × workers`` items are in flight, so results stream instead of piling up.
"""

from __future__ import annotations

import concurrent.futures
import logging
import multiprocessing
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from dimuon_ad.errors import ConfigError

log = logging.getLogger(__name__)

EXECUTORS = ("iterative", "futures", "dask")


def _iterative(items, function) -> Iterator[tuple[Any, Any, BaseException | None]]:
    for item in items:
        try:
            result = function(item)
        except Exception as exc:  # noqa: BLE001 - handed to the caller
            yield item, None, exc
        else:
            yield item, result, None


def _bounded(submit, items, limit, wait_any) -> Iterator[tuple[Any, Any, BaseException | None]]:
    """Keep at most ``limit`` submissions in flight; yield each as it completes."""
    pending: dict = {}
    queue = list(items)[::-1]
    while queue or pending:
        while queue and len(pending) < limit:
            item = queue.pop()
            pending[submit(item)] = item
        for future in wait_any(list(pending)):
            item = pending.pop(future)
            exc = future.exception()
            yield item, (None if exc is not None else future.result()), exc


def _futures(items, function, workers) -> Iterator[tuple[Any, Any, BaseException | None]]:
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:

        def wait_any(futures):
            done, _ = concurrent.futures.wait(
                futures, return_when=concurrent.futures.FIRST_COMPLETED
            )
            return done

        try:
            yield from _bounded(
                lambda item: pool.submit(function, item), items, 2 * workers, wait_any
            )
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise


def _capturing(function: Callable, item: Any) -> tuple[bool, Any]:
    """On a Dask worker: ``(True, result)``, or ``(False, error)`` for a bad-input error.

    Such an error comes back as a value, pickled plainly: distributed pickles a task's exception
    with its traceback (tblib), which the multiply-inherited errors of :mod:`dimuon_ad.errors`
    do not survive (they would arrive as a bare ``Exception`` holding their repr).
    """
    from dimuon_ad.errors import DimuonADError

    try:
        return True, function(item)
    except DimuonADError as exc:
        return False, exc


def _dask(items, function, workers, scheduler) -> Iterator[tuple[Any, Any, BaseException | None]]:
    from distributed import wait

    from dimuon_ad.dask import dask_client

    # on a cluster at an address the toolkit's code is shipped to workers that lack it or hold
    # another version, and the chunk function's module is imported on each (one line if not)
    with dask_client(scheduler, workers, modules=(function.__module__,)) as client:
        n_workers = max(1, len(client.scheduler_info().get("workers", {})) or workers)

        def submit(item):
            return client.submit(_capturing, function, item, pure=False, retries=0)

        def wait_any(futures):
            return wait(futures, return_when="FIRST_COMPLETED").done

        for item, result, exc in _bounded(submit, items, 2 * n_workers, wait_any):
            if exc is None and not result[0]:
                yield item, None, result[1]
            else:
                yield item, (None if exc is not None else result[1]), exc


def execute(
    items: Sequence,
    function: Callable,
    *,
    executor: str = "iterative",
    workers: int = 1,
    scheduler: str | None = None,
) -> Iterator[tuple[Any, Any, BaseException | None]]:
    """Apply ``function`` to every item; yield ``(item, result, exception)`` in completion order.

    Parameters
    ----------
    items : sequence
        Picklable work items.
    function : callable
        Module-level function (picklable) taking one item.
    executor : {"iterative", "futures", "dask"}
    workers : int
        Processes for ``futures`` and the ``dask`` LocalCluster; for a scheduler address, the
        workers to wait for.
    scheduler : str, optional
        Address of an existing Dask scheduler (``dask`` only); ``None`` or ``"local"``: a
        LocalCluster of ``workers`` processes (:func:`dimuon_ad.dask.dask_client`).
    """
    if executor not in EXECUTORS:
        raise ConfigError(f"unknown executor '{executor}'; expected one of {', '.join(EXECUTORS)}")
    if workers < 1:
        raise ConfigError(f"workers must be >= 1, got {workers}")
    if not items:
        return iter(())
    if executor == "iterative":
        return _iterative(items, function)
    if executor == "futures":
        return _futures(items, function, workers)
    return _dask(items, function, workers, scheduler)
