"""Real servers on 127.0.0.1 for the tests: a Dask scheduler with worker processes that do not
have the toolkit, an XRootD server, an HTTP server, a listener that never answers.

Everything listens on the loopback interface on a free port and is stopped by the fixture that
started it (tests/conftest.py).
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

#: a worker process without the toolkit: the editable install's finder and path hook and every
#: path inside the repository are removed before distributed's ``dask worker`` starts
WORKER_LAUNCHER = """\
import sys
repo = {repo!r}
sys.meta_path[:] = [f for f in sys.meta_path if "__editable__" not in getattr(f, "__module__", "")]
sys.path_hooks[:] = [h for h in sys.path_hooks
                     if "__editable__" not in getattr(h, "__module__", "")]
sys.path_importer_cache.clear()
sys.path[:] = [p for p in sys.path
              if p and "site-packages" in p or not (p + "/").startswith(repo + "/")]
for name in list(sys.modules):
    if name.startswith("__editable__"):
        del sys.modules[name]
import importlib.util
assert importlib.util.find_spec("analysis") is None, "the worker must not see the toolkit"
assert importlib.util.find_spec("dimuon_ad") is None, "the worker must not see the toolkit"
from distributed.cli.dask_worker import main
sys.argv = ["dask-worker", *sys.argv[1:]]
main()
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port: int, proc: subprocess.Popen, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with status {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not listen on port {port} within {timeout} s")


def _wait_workers(address: str, n: int, timeout: float = 60.0) -> None:
    if n:
        from distributed import Client

        with Client(address, timeout=timeout) as client:
            client.wait_for_workers(n, timeout=timeout)


def _clean_env(python_path: list[str] | None = None) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONNOUSERSITE"] = "1"
    if python_path:
        env["PYTHONPATH"] = os.pathsep.join(python_path)
    return env


def _stop(procs) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(3)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def dask_cluster(
    folder: Path, n_workers: int = 2, python_path: list[str] | None = None
) -> Iterator[str]:
    """``dask scheduler`` and ``n_workers`` ``dask worker`` processes (separate processes, one
    thread each, no nanny, working directory under ``folder``, the toolkit NOT importable, only
    ``python_path`` added); yields the scheduler address once the workers have joined."""
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = _clean_env(python_path)
    logs = open(folder / "cluster.log", "w")  # noqa: SIM115 - closed below
    python = sys.executable
    scheduler = subprocess.Popen(
        [python, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port",
         str(port), "--dashboard-address", f"127.0.0.1:{free_port()}"],
        cwd=folder, env=env, stdout=logs, stderr=subprocess.STDOUT,
    )  # fmt: skip
    procs = [scheduler]
    try:
        _wait_port(port, scheduler, "dask scheduler")
        for i in range(n_workers):
            (folder / f"w{i}").mkdir(exist_ok=True)
            procs.append(subprocess.Popen(
                [python, "-c", WORKER_LAUNCHER.format(repo=str(REPO)), address,
                 "--nthreads", "1", "--no-nanny", "--no-dashboard", "--host", "127.0.0.1",
                 "--local-directory", str(folder / f"w{i}"), "--name", f"w{i}"],
                cwd=folder / f"w{i}", env=env, stdout=logs, stderr=subprocess.STDOUT,
            ))  # fmt: skip
        _wait_workers(address, n_workers)
        yield address
    finally:
        _stop(procs[::-1])
        logs.close()


@contextlib.contextmanager
def xrootd_server(export: Path, folder: Path) -> Iterator[int]:
    """An ``xrootd`` server on 127.0.0.1 exporting ``export`` read-only; yields its port."""
    binary = shutil.which("xrootd")
    if binary is None:
        raise FileNotFoundError("xrootd")
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o777)
    port = free_port()
    config = folder / "xrootd.cfg"
    config.write_text(
        f"xrd.port {port}\nall.export {export} r/o\nall.adminpath {folder}\nall.pidpath {folder}\n"
    )
    logs = open(folder / "xrootd.log", "w")  # noqa: SIM115 - closed below
    # xrootd refuses to run as root: it then drops to 'nobody' (``folder`` and ``export`` must be
    # readable by everyone, see :func:`open_folder`)
    as_user = ["-R", "nobody"] if os.geteuid() == 0 else []
    proc = subprocess.Popen(
        [binary, "-c", str(config), "-l", str(folder / "xrootd.out"), "-n", "dimuon-ad-test",
         *as_user],
        cwd=folder, stdout=logs, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        _wait_port(port, proc, "xrootd")
        yield port
    finally:
        _stop([proc])
        logs.close()


@contextlib.contextmanager
def open_folder() -> Iterator[Path]:
    """A new folder in the system's temporary directory that every user may read and write (the
    xrootd server may run as 'nobody'); removed afterwards."""
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="dimuon-ad-xrootd-"))
    try:
        folder.chmod(0o777)
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def http_server(directory: Path) -> Iterator[str]:
    """``http.server`` serving ``directory`` on 127.0.0.1 in a thread; yields its base URL."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):  # no request lines on stderr
            pass

    handler = functools.partial(Quiet, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@contextlib.contextmanager
def silent_listener() -> Iterator[int]:
    """A loopback TCP port that accepts connections and never answers; yields the port."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept():
        sock.settimeout(0.2)
        while not stop.is_set():
            with contextlib.suppress(OSError):
                held.append(sock.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield sock.getsockname()[1]
    finally:
        stop.set()
        thread.join(5)
        for conn in held:
            conn.close()
        sock.close()
