"""The toolkit's code on Dask workers: sent when missing or different, checked, errors in one line.

A cluster attached to by address (``--scheduler tcp://...``, coffea-casa) may run workers that do
not have this toolkit, have an older copy, or have an unrelated package of the same name (there
are many ``processors``). :func:`ship_code` compares a SHA-256 of the source of the packages a
run needs (every ``.py`` file, as :func:`analysis.cache.code_version` hashes it) between this
process and each worker, uploads a zip of them as a worker plugin (workers that join later get it
too) to the workers whose hash differs, puts it first on their ``sys.path`` and drops the stale
modules, then imports the modules the tasks need on every worker. Whatever goes wrong is one line
naming the worker and the package (:class:`WorkerError`).

:func:`task_failure` turns a task's exception into one line, with its traceback in a log file.

The functions sent to the workers are built inside factories, so ``cloudpickle`` ships them by
value: a worker without this package can still run them.
"""

from __future__ import annotations

import io
import logging
import traceback
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dimuon_ad.errors import InputError, InputOSError

__all__ = ["PACKAGES", "TaskError", "WorkerError", "code_hash", "ship_code", "task_failure"]

log = logging.getLogger(__name__)

#: every package of the toolkit (what a task may import)
PACKAGES = ("dimuon_ad", "processors", "ml", "stats", "analysis", "toymc")
#: top-level module inside the zip whose name carries the hash (how a worker knows it has it)
MARKER = "_dimuon_ad_code_"


class WorkerError(InputOSError):
    """A Dask worker cannot run the toolkit (no worker, an import or environment error)."""


class TaskError(InputError):
    """A task failed on a worker; the message is one line, the traceback is in a log file."""


def _make_probe():
    def probe(packages, marker):
        """On a worker (or here): 'uploaded', 'missing <pkg>', or the source hash it imports."""
        import hashlib
        import importlib.util
        import sys
        from pathlib import Path

        if marker in sys.modules or importlib.util.find_spec(marker) is not None:
            return "uploaded"
        digest = hashlib.sha256()
        for name in packages:
            spec = importlib.util.find_spec(name)
            if spec is None or not spec.submodule_search_locations:
                return f"missing {name}"
            root = Path(list(spec.submodule_search_locations)[0])
            if not root.is_dir():
                return f"other {name} ({root})"
            for f in sorted(root.rglob("*.py")):
                rel = f"{name}/{f.relative_to(root).as_posix()}"
                digest.update(rel.encode() + b"\0" + f.read_bytes() + b"\0")
        return digest.hexdigest()

    return probe


def _make_import_check():
    def check(modules, packages, zip_name):
        """On a worker: None, or why a module cannot be imported / comes from elsewhere."""
        import importlib

        for name in modules:
            try:
                importlib.import_module(name)
            except BaseException as exc:  # noqa: BLE001 - reported in one line
                return f"cannot import {name} ({type(exc).__name__}: {exc})"
        if zip_name:
            import sys

            for name in packages:
                origin = str(getattr(sys.modules.get(name), "__file__", "") or "")
                if name in sys.modules and zip_name not in origin:
                    return f"package {name} is imported from {origin}, not the uploaded code"
        return None

    return check


def _make_plugin(filename: str, data: bytes, packages: Sequence[str]):
    from distributed.diagnostics.plugin import WorkerPlugin

    class CodeUpload(WorkerPlugin):
        """Write the zip into the worker's directory, first on sys.path; forget stale modules."""

        name = f"dimuon-ad-code-{filename}"

        def __init__(self):
            self.filename, self.data, self.packages = filename, data, tuple(packages)

        def setup(self, worker):
            import importlib
            import os
            import sys

            path = os.path.join(worker.local_directory, self.filename)
            with open(path, "wb") as f:
                f.write(self.data)
            if path in sys.path:
                sys.path.remove(path)
            sys.path.insert(0, path)
            for mod in list(sys.modules):
                if mod.split(".")[0] in self.packages:
                    del sys.modules[mod]
            importlib.invalidate_caches()

    return CodeUpload()


def code_hash(packages: Sequence[str] = PACKAGES) -> str:
    """SHA-256 of the source of ``packages`` as this process imports them."""
    digest = _make_probe()(tuple(packages), MARKER)
    if len(digest) != 64:
        raise InputError(f"cannot hash the toolkit's source here: {digest}")
    return digest


def code_zip(packages: Sequence[str] = PACKAGES) -> tuple[str, bytes]:
    """``(file name, bytes)`` of a zip of the packages' ``.py`` files plus the hash marker."""
    import importlib.util

    digest = code_hash(packages)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in packages:
            root = Path(list(importlib.util.find_spec(name).submodule_search_locations)[0])
            for f in sorted(root.rglob("*.py")):
                archive.write(f, f"{name}/{f.relative_to(root).as_posix()}")
        archive.writestr(f"{MARKER}{digest[:16]}.py", f"CODE_HASH = {digest!r}\n")
    return f"dimuon_ad_code_{digest[:16]}.zip", buffer.getvalue()


def _run_on_workers(client: Any, function, *args) -> dict[str, Any]:
    try:
        return client.run(function, *args)
    except Exception as exc:  # noqa: BLE001 - a worker died or could not run the probe
        raise WorkerError(
            f"cannot run a check on the Dask workers ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''})"
        ) from None


def ship_code(
    client: Any,
    modules: Sequence[str],
    packages: Sequence[str] = PACKAGES,
    *,
    n_workers: int = 1,
    timeout: float = 60.0,
) -> bool:
    """Make ``modules`` importable from this process' source on every worker of ``client``.

    Parameters
    ----------
    client : distributed.Client
    modules : sequence of str
        Modules the tasks need (imported on every worker as the check), e.g. ``processors.chunks``.
    packages : sequence of str
        Packages shipped when a worker's copy differs (hash of their source).
    n_workers : int
        Workers to wait for (at least one) before checking.
    timeout : float
        Seconds to wait for them.

    Returns
    -------
    bool
        Whether the code was uploaded.

    Raises
    ------
    WorkerError
        No worker within ``timeout``; a worker cannot import a module (its dependencies are
        missing), or still imports another copy of a package after the upload.
    """
    try:
        client.wait_for_workers(max(1, n_workers), timeout=timeout)
    except TimeoutError:
        have = len(client.scheduler_info().get("workers", {}))
        raise WorkerError(
            f"{have} Dask worker(s) joined the scheduler within {timeout:g} s, {max(1, n_workers)} "
            "needed; start workers (dask worker <scheduler address>) or lower --workers"
        ) from None
    packages = tuple(packages)
    # (a module outside the toolkit, e.g. a test's, is the caller's to provide)
    modules = tuple(m for m in modules if m.split(".")[0] in packages)
    digest = code_hash(packages)
    marker = f"{MARKER}{digest[:16]}"
    found = _run_on_workers(client, _make_probe(), packages, marker)
    stale = {w: v for w, v in found.items() if v not in (digest, "uploaded")}
    zip_name = ""
    if stale:
        zip_name, data = code_zip(packages)
        log.info(
            "sending the toolkit's code (%s, %d kB) to %d Dask worker(s): %s",
            zip_name,
            len(data) // 1024,
            len(stale),
            "; ".join(f"{w}: {v}" for w, v in stale.items()),
        )
        try:
            client.register_plugin(_make_plugin(zip_name, data, packages))
        except Exception as exc:  # noqa: BLE001 - one line
            raise WorkerError(
                f"cannot upload the toolkit's code to the Dask workers "
                f"({type(exc).__name__}: {exc})"
            ) from None
    problems = _run_on_workers(client, _make_import_check(), tuple(modules), packages, zip_name)
    for worker, problem in sorted(problems.items()):
        if problem:
            raise WorkerError(
                f"Dask worker {worker}: {problem}; install the toolkit's dependencies "
                "(pip install dimuon-ad's requirements) in the workers' environment"
            )
    return bool(stale)


def task_failure(what: str, exc: BaseException, log_file: str | Path | None) -> TaskError:
    """One-line :class:`TaskError` for a failed task; its traceback is appended to ``log_file``."""
    first = str(exc).splitlines()[0] if str(exc) else ""
    where = ""
    if log_file is not None:
        path = Path(log_file)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("a") as f:
                f.write(f"--- {what}\n")
                f.write("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
            where = f"; traceback in {path}"
        except OSError:
            where = "; re-run with -v for the traceback"
    return TaskError(f"{what} failed: {type(exc).__name__}: {first}{where}")
