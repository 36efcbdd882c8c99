"""The sandbox's HTTP server: :class:`Sandbox`, its listener and request handler.

One :class:`Sandbox` serves every registered vendor API under ``/{vendor}``,
plus its own pages (:mod:`.pages`), on a loopback address only. HTTP/1.1
with keep-alive; every response carries a ``Content-Length``.

Only loopback ``Host`` headers are answered (``127.0.0.1``, ``localhost``,
``[::1]``, with or without the port), so a web page whose domain is rebound
to 127.0.0.1 cannot read codes; and a write to the control endpoints from a
browser must come from the sandbox's own origin (``Origin`` and
``Sec-Fetch-Site``), so another site cannot switch faults with a form.
"""

from __future__ import annotations

import io
import socket
import struct
import sys
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from . import zignsec
from .base import Headers, Request, Response, Vendor, is_loopback_host
from .pages import CONTROL_PATHS, answer_control
from .state import VENDORS, RecordedRequest, SandboxState

__all__ = ["MAX_BODY", "Sandbox"]

MAX_BODY = 64 * 1024
OVERSIZED_BYTES = 5 * 1024 * 1024
_CHUNK = 64 * 1024
_MALFORMED = b'<html><body>502 Bad Gateway</body></html>{"status": "OK", "data": {'
_OVERSIZED: bytes | None = None
_OVERSIZED_LOCK = threading.Lock()
#: ``Sec-Fetch-Site`` values of a request the sandbox's own page (or no page) made.
_OWN_FETCH_SITES = frozenset({"same-origin", "none"})


def _oversized_body() -> bytes:
    """A valid JSON document of exactly :data:`OVERSIZED_BYTES`, built once."""
    global _OVERSIZED
    with _OVERSIZED_LOCK:
        if _OVERSIZED is None:
            head, tail = b'{"padding":"', b'"}'
            _OVERSIZED = head + b"x" * (OVERSIZED_BYTES - len(head) - len(tail)) + tail
        return _OVERSIZED


class Sandbox(SandboxState):
    """Loopback HTTP server imitating the SMS vendors, with fault injection.

    Usage::

        with Sandbox() as sandbox:                 # port 0: a free port
            backend_url = sandbox.base_url("signicat")
            sandbox.set_fault("zignsec", "500", count=1)
            ...
            assert sandbox.messages[0]["text"] == "..."

    All public methods are thread-safe. Nothing is sent anywhere but loopback:
    the only outgoing requests are webhooks (ZignSec, Twilio status callbacks,
    Vonage receipts), and only to loopback hosts.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        signicat_token_ttl: int = 600,
        zignsec_webhook_secret: str = zignsec.CREDENTIALS["webhook_secret"],
        zignsec_delivery_delay: float = 0.05,
        hang_seconds: float = 30.0,
        latency: float = 0.0,
        log_requests: bool = False,
    ) -> None:
        """Configure, without binding; :meth:`start` binds and serves.

        ``latency`` (seconds) delays every vendor answer, like a real vendor's
        round trip (see :meth:`set_latency`). Raises ``ValueError`` when
        ``host`` is not a loopback address or ``latency`` is out of range.
        """
        super().__init__(
            host, port, hang_seconds=hang_seconds, latency=latency,
            vendor_options={
                "signicat": {"token_ttl": signicat_token_ttl},
                "zignsec": {"webhook_secret": zignsec_webhook_secret, "delivery_delay": zignsec_delivery_delay},
            },
        )
        self.log_requests = log_requests
        self.zignsec_webhook_secret = zignsec_webhook_secret
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> Sandbox:
        """Bind and serve on a background daemon thread; returns ``self``.

        Raises ``RuntimeError`` when already started or once stopped (a
        stopped sandbox is not restarted: make a new one), ``OSError`` when
        the address cannot be bound.
        """
        if self._server is not None:
            raise RuntimeError("the sandbox is already started")
        if self._stopping:
            raise RuntimeError("a stopped sandbox cannot be restarted; create a new Sandbox")
        self._server = _Server((self.host, self.port), self)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"sms-sandbox-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving: release hung handlers, close connections and the listener."""
        server = self._server
        if server is None:
            return
        self.stopping()
        server.shutdown()
        server.close_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=1.0)
        self._server = self._thread = None

    def __enter__(self) -> Sandbox:
        return self if self._server is not None else self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class _Server(ThreadingHTTPServer):
    """A threading server that tracks its connections so stop() can end them."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], sandbox: Sandbox) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.sandbox = sandbox
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, _Handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        try:
            super().finish_request(request, client_address)
        finally:
            with self._open_lock:
                self._open.discard(request)

    def close_connections(self) -> None:
        """Shut down every open connection; idle keep-alive readers see EOF."""
        with self._open_lock:
            connections = list(self._open)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], OSError):
            return  # the client went away; nothing to report
        super().handle_error(request, client_address)


def host_problem(host: str | None, port: int) -> str | None:
    """Why a ``Host`` header is not one of the sandbox's own names, or None.

    Loopback names only (``127.0.0.1``, ``localhost``, ``[::1]``), and the
    sandbox's port when one is given.
    """
    if not host:
        return "a Host header is required"
    if host.startswith("["):
        name, _bracket, rest = host.partition("]")
        name += _bracket
        given_port = rest[1:] if rest.startswith(":") else (None if not rest else "")
    else:
        name, colon, given_port_text = host.partition(":")
        given_port = given_port_text if colon else None
    if given_port is not None and (not given_port.isdigit() or int(given_port) != port):
        return "the Host header names another port"
    if ":" in name.strip("[]") and not name.startswith("["):
        return "the Host header is malformed"
    if name.lower() not in ("localhost", "127.0.0.1", "[::1]") and not (
        is_loopback_host(name) and name.strip("[]").replace(".", "").isdigit()
    ):
        return "the sandbox answers only loopback Host names (127.0.0.1, localhost, [::1])"
    return None


def cross_origin(headers: Any, host: str) -> bool:
    """True for a browser request made by a page of another origin: an
    ``Origin`` other than ``http://{host}``, or a ``Sec-Fetch-Site`` other
    than same-origin or none (typed in, bookmarked). Requests without these
    headers come from programs, not from a page."""
    origin = headers.get("Origin")
    if origin is not None and origin != f"http://{host}":
        return True
    fetch_site = headers.get("Sec-Fetch-Site")
    return fetch_site is not None and fetch_site.lower() not in _OWN_FETCH_SITES


class _Handler(BaseHTTPRequestHandler):
    """Routes one connection's requests; keep-alive is HTTP/1.1's default."""

    protocol_version = "HTTP/1.1"
    server_version = "sms-vendor-sandbox/1"
    # Headers and body leave in two writes; with Nagle's algorithm the body
    # waits for the client's delayed ACK (~40 ms on Linux), which no real
    # vendor's server makes a client wait.
    disable_nagle_algorithm = True
    # Idle keep-alive connections are dropped after this many seconds.
    timeout = 60
    server: _Server

    def setup(self) -> None:
        super().setup()
        self._seen_request = False

    @property
    def sandbox(self) -> Sandbox:
        return self.server.sandbox

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (base class name)
        if self.sandbox.log_requests:
            super().log_message(format, *args)

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    # -- request plumbing -----------------------------------------------------

    def _serve(self) -> None:
        new_connection, self._seen_request = not self._seen_request, True
        target = urlsplit(self.path)
        path = target.path or "/"
        prefix = path.split("/", 2)[1]
        body = self._read_body()
        if body is None:
            return
        host = self.headers.get("Host")
        problem = host_problem(host, self.sandbox.port)
        if problem is not None:
            self._write(Response(421, f"{problem}\n".encode(), "text/plain; charset=utf-8"))
            return
        if prefix in VENDORS:
            self._serve_vendor(self.sandbox.vendors[prefix], path, target.query, body, new_connection)
        elif self.command != "GET" and path in CONTROL_PATHS and cross_origin(self.headers, str(host)):
            self._write(Response(403, b"cross-origin writes are refused\n", "text/plain; charset=utf-8"))
        else:
            content_type = self.headers.get("Content-Type", "")
            self._write(answer_control(self.sandbox, self.command, path, content_type, body))

    def _read_body(self) -> bytes | None:
        """The request body, or None after answering 411/413/400 and closing."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self._refuse_body(411, "chunked request bodies are not supported; send a Content-Length")
            return None
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            length = -1
        if length < 0:
            self._refuse_body(400, "invalid Content-Length")
            return None
        if length > MAX_BODY:
            self._refuse_body(413, f"request body larger than {MAX_BODY} bytes")
            return None
        body = self.rfile.read(length) if length else b""
        if len(body) < length:
            self.close_connection = True
            return None
        return body

    def _refuse_body(self, status: int, reason: str) -> None:
        # The unread body would be taken for the next request: close instead.
        self.close_connection = True
        self._write(Response(status, reason.encode(), "text/plain; charset=utf-8"))

    def _serve_vendor(self, vendor: Vendor, path: str, query: str, body: bytes, new_connection: bool) -> None:
        headers = Headers(list(self.headers.items()))
        route = path[len(vendor.name) + 1:] or "/"
        request = Request(self.command, path, route, headers, body, self.sandbox.url, query)
        key = vendor.fault_key(request.route)
        recorded = RecordedRequest(request.method, path, headers, body, request.parsed())
        self.sandbox.note_request(vendor.name, key, recorded, new_connection)
        fault = self.sandbox.take_fault(key)
        if self.sandbox.latency and fault not in ("refuse", "hang"):
            _sleep(self.sandbox.latency)
        if fault == "refuse":
            self._reset_connection()
        elif fault == "hang":
            self.sandbox.hang(key)
            self.close_connection = True
        elif fault == "malformed":
            self._write(Response(200, _MALFORMED, "application/json"))
        elif fault == "oversized":
            self._write(Response(200, _oversized_body(), "application/json"))
        else:
            self._write(self._answer(vendor, key, fault, request))

    def _answer(self, vendor: Vendor, key: str, fault: str | None, request: Request) -> Response:
        try:
            if fault is not None:
                return vendor.fault_response(key, fault, request)
            return vendor.handle(request)
        except Exception:  # a sandbox bug must still produce a vendor-shaped answer
            self.log_error("vendor %s failed:\n%s", vendor.name, traceback.format_exc())
            return vendor.fault_response(key, "500", request)

    def _reset_connection(self) -> None:
        """Drop the connection with a TCP reset instead of an answer."""
        self.close_connection = True
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()
        # The socket's file objects keep the descriptor open until they are
        # closed too; inert buffers take their place for the base class's
        # final flush.
        self.rfile.close()
        self.wfile.close()
        self.rfile, self.wfile = io.BytesIO(), io.BytesIO()

    def _write(self, response: Response) -> None:
        try:
            self.send_response(response.status)
            if response.content_type:
                self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
            for name, value in response.headers.items():
                self.send_header(name, value)
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            view = memoryview(response.body)
            for start in range(0, len(view), _CHUNK):
                self.wfile.write(view[start:start + _CHUNK])
        except OSError:
            self.close_connection = True


_sleep = time.sleep  # the vendor latency's wait (tests replace it)
