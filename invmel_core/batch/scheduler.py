"""Where a Dask scheduler is: its address checked (:func:`parse_scheduler`) and probed
(:func:`probe_scheduler`) before Dask is imported, so a wrong address is refused in one line
within about :data:`PROBE_TIMEOUT_S` seconds instead of a hang or Dask's traceback.
:class:`invmel_core.batch.pool.DaskPool` connects after these."""

from __future__ import annotations

import ipaddress
import re
import socket
import ssl
import struct
import threading
import time
import urllib.parse

from invmel_core.errors import InputError

__all__ = ["parse_scheduler", "probe_scheduler", "PROBE_TIMEOUT_S"]

PROBE_TIMEOUT_S = 1.5  # for the scheduler's address to resolve, accept and greet (a scheduler greets at once)
SCHEMES = ("tcp", "tls")  # what `dask scheduler` listens on; ucx, ws, inproc are not supported here
DEFAULT_PORT = 8786


def parse_scheduler(address) -> tuple[str, str, int]:
    """``(scheme, host, port)`` of a Dask scheduler's address, or :class:`InputError` saying
    what is wrong with it. ``HOST:PORT`` is read as ``tcp://HOST:PORT``; the port defaults to 8786.

    >>> parse_scheduler("tcp://10.0.0.5:8786"), parse_scheduler("node7"), parse_scheduler("tls://[::1]:9000")
    (('tcp', '10.0.0.5', 8786), ('tcp', 'node7', 8786), ('tls', '::1', 9000))
    """
    example = "give the address `dask scheduler` prints, like tcp://HOST:8786"
    if not isinstance(address, str) or not address.strip():
        raise InputError(f"--scheduler must be an address like tcp://HOST:8786, got {address!r}")
    text = address.strip()
    if "://" not in text:
        text = "tcp://" + text
    scheme = text.split("://", 1)[0].lower()
    if scheme not in SCHEMES:
        raise InputError(f"--scheduler {address!r}: the batch connects to a Dask scheduler over "
                         f"{' or '.join(s + '://' for s in SCHEMES)} only, not {scheme}://; {example}")
    try:
        parts = urllib.parse.urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise InputError(f"--scheduler {address!r} is not an address ({exc}); {example}") from None
    host = parts.hostname or ""
    if re.search(r"\s", text) or parts.path.strip("/") or parts.query or parts.fragment or parts.username \
            or not _valid_host(host):
        raise InputError(f"--scheduler {address!r} is not an address; {example}")
    if port == 0:
        raise InputError(f"--scheduler {address!r}: port 0 is no port to connect to; {example}")
    return scheme, host, DEFAULT_PORT if port is None else port


def _valid_host(host: str) -> bool:
    if ":" in host:
        try:
            ipaddress.IPv6Address(host)
            return True
        except ValueError:
            return False
    return bool(re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9._-]{0,252})", host)) and ".." not in host


def _resolve(host: str, port: int, timeout: float) -> list:
    """``getaddrinfo``, given up after ``timeout`` seconds (the resolver itself may wait far longer)."""
    answer: list = []

    def look_up():
        try:
            answer.append(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
        except OSError as exc:
            answer.append(exc)

    thread = threading.Thread(target=look_up, daemon=True, name="invmel-resolve")
    thread.start()
    thread.join(timeout)
    if not answer:
        raise TimeoutError(f"the name {host!r} did not resolve within {timeout:g} s")
    if isinstance(answer[0], OSError):
        raise answer[0]
    return answer[0]


def probe_scheduler(address: str, timeout: float | None = None) -> str:
    """Refuse, within about ``timeout`` seconds (:data:`PROBE_TIMEOUT_S`), an ``address``
    where no Dask scheduler listens: nothing there, or a server that does not greet like
    one (a scheduler sends its handshake as soon as a connection opens; a web server or a
    silent listener sends nothing). Returns the address Dask is given (``tcp://`` added).
    Over ``tls://`` (the scheduler waits for the client's TLS hello) the check is that a TLS
    server answers; Dask's own connect timeout bounds the rest."""
    timeout = PROBE_TIMEOUT_S if timeout is None else timeout
    scheme, host, port = parse_scheduler(address)
    shown = f"{host}:{port}" if ":" not in host else f"[{host}]:{port}"
    where = f"{scheme}://{shown}"
    advice = (f"Start one with `dask scheduler` and workers with `dask worker {where}`, or leave out "
              "--scheduler to use local processes")
    deadline = time.monotonic() + timeout
    try:
        sock = _connect_any(_resolve(host, port, timeout), deadline)
    except TimeoutError as exc:  # the connection's ("timed out"), or the name's (_resolve says so)
        why = str(exc) if str(exc) not in ("", "timed out") else f"no answer within {timeout:g} s"
        raise InputError(f"cannot reach the Dask scheduler at {address!r} ({why}). {advice}") from None
    except OSError as exc:
        raise InputError(f"cannot reach the Dask scheduler at {address!r} ({exc.strerror or exc}). "
                         f"{advice}") from None
    with sock:
        if scheme == "tls":
            if not _speaks_tls(sock, deadline):
                raise InputError(
                    f"something answers at {address!r} but it does not speak TLS (it gave no TLS answer within "
                    f"{timeout:g} s). Give the scheduler's own address (`dask scheduler` prints it)") from None
            return where
        greeting = b""
        try:
            while len(greeting) < 8:
                sock.settimeout(max(0.01, deadline - time.monotonic()))
                chunk = sock.recv(8 - len(greeting))
                if not chunk:
                    break
                greeting += chunk
        except (OSError, TimeoutError):
            pass
        if len(greeting) < 8 or not 0 < struct.unpack("Q", greeting)[0] < 2**24:
            raise InputError(
                f"something answers at {address!r} but it is not a Dask scheduler (it did not greet "
                f"within {timeout:g} s as one does: perhaps a web server, a dashboard's port, or another "
                f"service). Give the scheduler's own address (`dask scheduler` prints it; port 8786 by "
                f"default)") from None
    return where


def _connect_any(addresses: list, deadline: float) -> socket.socket:
    """A socket connected to the first of ``addresses`` (``getaddrinfo``'s) that accepts before
    ``deadline`` (a name may resolve to IPv6 and IPv4, the scheduler listening on one)."""
    error: OSError = TimeoutError()
    for family, kind, proto, _, sockaddr in addresses:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(left)
            sock.connect(sockaddr)
            return sock
        except OSError as exc:  # TimeoutError included
            sock.close()
            error = exc
    raise error


# What OpenSSL says when the other end answered, but not in TLS (a plain server, a web page).
_NOT_TLS = ("WRONG_VERSION_NUMBER", "PACKET_LENGTH_TOO_LONG", "HTTP_REQUEST", "RECORD_LAYER_FAILURE",
            "UNKNOWN_PROTOCOL")


def _speaks_tls(sock: socket.socket, deadline: float) -> bool:
    """Whether a TLS server answers on ``sock`` before ``deadline``: a handshake, or a TLS alert
    (such as a client certificate required, which Dask's own TLS settings supply)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    try:
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        with context.wrap_socket(sock, do_handshake_on_connect=False) as tls:
            tls.do_handshake()
        return True
    except ssl.SSLError as exc:
        return not any(reason in str(exc) for reason in _NOT_TLS)
    except (OSError, TimeoutError):  # no answer in time, or the connection was closed
        return False
