"""Remote inputs (``root://`` files, ``http(s)://`` golden JSON) fail within a timeout, in one line.

The XRootD client retries a host that does not answer for minutes, and a failed DNS lookup comes
back as ``[FATAL] Invalid address`` with a Python object's repr. Before a ``root://`` file is
opened, :func:`check_xrootd_server` resolves the host, connects and sends the XRootD handshake,
and raises :class:`RemoteError` (one line: URL, host, what failed, the timeout, what to do) when
any step fails or gets no answer within :func:`remote_timeout` seconds (environment variable
``DIMUON_AD_REMOTE_TIMEOUT``, default 60; ``run_skim.py --timeout``).
"""

from __future__ import annotations

import os
import socket
import struct
from urllib.parse import urlsplit

from dimuon_ad.errors import ConfigError, InputOSError

__all__ = ["DEFAULT_TIMEOUT", "TIMEOUT_ENV", "RemoteError", "check_xrootd_server", "remote_timeout"]

#: seconds a remote server has to answer (resolve, connect, handshake, a request)
DEFAULT_TIMEOUT = 60.0
#: environment variable overriding :data:`DEFAULT_TIMEOUT` (inherited by worker processes)
TIMEOUT_ENV = "DIMUON_AD_REMOTE_TIMEOUT"
#: the XRootD port when the URL has none
XROOTD_PORT = 1094
#: the client's opening handshake of the XRootD protocol (0, 0, 0, 4, 2012)
_HANDSHAKE = struct.pack(">5i", 0, 0, 0, 4, 2012)


class RemoteError(InputOSError):
    """A remote server cannot be resolved, refuses, or does not answer within the timeout."""


def remote_timeout() -> float:
    """Seconds a remote server has to answer: ``$DIMUON_AD_REMOTE_TIMEOUT`` or 60."""
    raw = os.environ.get(TIMEOUT_ENV)
    if raw is None or raw == "":
        return DEFAULT_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise ConfigError(f"{TIMEOUT_ENV}={raw!r}: expected a positive number of seconds")
    return value


def check_xrootd_server(url: str, timeout: float | None = None) -> None:
    """Resolve, connect to and handshake with the XRootD server of ``url`` within ``timeout``.

    Raises
    ------
    RemoteError
        The host name does not resolve, the port refuses, or the server does not answer the
        handshake within ``timeout`` seconds (default :func:`remote_timeout`).
    """
    timeout = remote_timeout() if timeout is None else timeout
    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port or XROOTD_PORT
    fix = "check the URL and the network, or pass --skip-bad-files"
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise RemoteError(f"cannot open {url}: host {host!r} not found ({exc}); {fix}") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(address)
        except TimeoutError:
            raise RemoteError(
                f"cannot open {url}: no connection to {host}:{port} within {timeout:g} s; {fix}"
            ) from None
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise RemoteError(
                f"cannot open {url}: {host}:{port} {reason.lower()}; is an XRootD server "
                f"running there? {fix}"
            ) from None
        try:
            sock.sendall(_HANDSHAKE)
            answer = sock.recv(8)
        except TimeoutError:
            answer = None
        except OSError as exc:
            raise RemoteError(
                f"cannot open {url}: {host}:{port} closed the connection ({exc}); {fix}"
            ) from None
        if not answer:
            raise RemoteError(
                f"cannot open {url}: {host}:{port} accepted the connection but did not answer "
                f"the XRootD handshake within {timeout:g} s; {fix}"
            )
