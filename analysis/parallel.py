"""Running independent tasks (flow seeds, classifier folds) in-process or on a Dask cluster."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from typing import Any

from dimuon_ad.dask import dask_client
from dimuon_ad.workers import task_failure

__all__ = ["TASK_MODULES", "TaskRunner"]

log = logging.getLogger(__name__)

#: modules whose functions the analysis maps over a cluster (imported on each worker first)
TASK_MODULES = ("ml.cathode", "ml.kfold", "ml.cluster_scan", "ml.massbin",
                "analysis.pipeline",
                "analysis.significance")


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
        Workers of the ``"local"`` cluster (default: number of cores); for an address, the
        workers to wait for (default 1).
    log_file : str or Path, optional
        Where a failed task's traceback goes (its error is one line,
        :class:`~dimuon_ad.workers.TaskError`); default: none, the error keeps its traceback.
    worker_timeout : float
        Seconds to wait for the workers of a cluster at an address.

    Notes
    -----
    The mapped function and its arguments are pickled to the workers. Workers of a cluster at an
    address that lack the toolkit or hold another version get its code first
    (:func:`dimuon_ad.workers.ship_code`), and :data:`TASK_MODULES` are imported on each (one
    line naming the worker and the module if that fails). Results come back in argument order.
    """

    def __init__(
        self,
        scheduler: str | None = None,
        n_workers: int | None = None,
        *,
        log_file=None,
        worker_timeout: float = 60.0,
    ) -> None:
        self.scheduler = scheduler
        self.log_file = log_file
        self._client = None
        self._stack = ExitStack()
        if scheduler is not None:
            self._client = self._stack.enter_context(
                dask_client(
                    scheduler, n_workers, modules=TASK_MODULES, worker_timeout=worker_timeout
                )
            )

    def _result(self, future, what: str):
        try:
            return future.result()
        except Exception as exc:  # noqa: BLE001 - one line, the traceback in the log file
            if self.log_file is None:
                raise
            raise task_failure(what, exc, self.log_file) from None

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
        try:
            return [self._result(f, f"Dask task {fn.__name__} #{i}") for i, f in enumerate(futures)]
        finally:
            for future in futures:
                future.cancel()

    def as_completed(
        self, fn: Callable[..., Any], args: Sequence[tuple], desc: str = "",
        progress: bool = False,
    ) -> Iterator[tuple[int, Any]]:
        """Yield ``(index, fn(*args[index]))`` as each task finishes (in order when local).

        Lets the caller store each result as soon as it exists, so an interrupted run keeps the
        tasks that had finished. With ``progress`` a bar on stderr counts the finished tasks of
        a Dask cluster (in-process tasks show their own progress).
        """
        if self._client is None:
            for i, a in enumerate(args):
                yield i, fn(*a)
            return
        from distributed import as_completed
        from tqdm.auto import tqdm

        log.info("submitting %d %s task(s) to Dask", len(args), desc or fn.__name__)
        futures = {self._client.submit(fn, *a, pure=False): i for i, a in enumerate(args)}
        bar = tqdm(total=len(futures), desc=f"{desc or fn.__name__} (Dask)", unit="task",
                   disable=not progress or not futures, leave=False)
        try:
            for future in as_completed(futures):
                i = futures[future]
                result = self._result(future, f"Dask task {fn.__name__} #{i}")
                bar.update(1)
                yield i, result
        finally:
            bar.close()
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
