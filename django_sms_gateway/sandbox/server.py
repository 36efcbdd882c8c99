"""The sandbox HTTP server: routing, shared state, fault injection, control.

One :class:`Sandbox` serves the four imitated vendor APIs under ``/signicat``,
``/zignsec``, ``/accuauth`` and ``/ip1``, plus the inbox page and the control
endpoints, on a loopback address only. HTTP/1.1 with keep-alive; every
response carries a ``Content-Length``.
"""

from __future__ import annotations

import io
import socket
import struct
import sys
import threading
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

from . import accuauth, aws, infobip, ip1, signicat, sinch, zignsec
from .base import Headers, Request, Response, Vendor, is_loopback_host, iso_utc, parse_body, utc_now
from .inbox import VendorStatus, render_inbox

__all__ = ["COMMON_FAULTS", "CREDENTIALS", "FAULTS", "VENDORS", "RecordedRequest", "Sandbox"]

VENDORS = ("signicat", "zignsec", "accuauth", "ip1", "infobip", "sinch", "aws")

#: Faults every fault key accepts:
#:
#: ``500``, ``401``, ``429``: the vendor's own error answer with that status;
#: ``refuse``: read the request, then reset the connection (SO_LINGER 0) without
#: answering -- a true "connection refused" is tested by pointing a client at a
#: closed port; ``hang``: read the request and never answer until the fault is
#: changed or cleared, the sandbox stops or ``hang_seconds`` pass, then close
#: the connection; ``malformed``: 200 whose body is not valid JSON although it
#: says ``application/json``; ``oversized``: 200 with a 5 MiB JSON body.
COMMON_FAULTS = ("500", "401", "429", "refuse", "hang", "malformed", "oversized")

_VENDOR_CLASSES: tuple[type[Vendor], ...] = (
    signicat.Signicat, zignsec.ZignSec, accuauth.AccuAuth, ip1.Ip1, infobip.Infobip, sinch.Sinch, aws.AWS
)

#: Fault key -> accepted fault names. Keys are the vendor names, plus
#: ``signicat-token`` for Signicat's token endpoint (``signicat`` covers
#: ``/sms/messages`` only).
FAULTS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    key: COMMON_FAULTS + variants
    for cls in _VENDOR_CLASSES
    for key, variants in cls.fault_variants.items()
})

#: What the sandbox accepts from clients, per vendor.
CREDENTIALS: Mapping[str, Mapping[str, str]] = MappingProxyType({
    "signicat": signicat.CREDENTIALS,
    "zignsec": zignsec.CREDENTIALS,
    "accuauth": accuauth.CREDENTIALS,
    "ip1": ip1.CREDENTIALS,
    "infobip": infobip.CREDENTIALS,
    "sinch": sinch.CREDENTIALS,
    "aws": aws.CREDENTIALS,
})

MAX_BODY = 64 * 1024
OVERSIZED_BYTES = 5 * 1024 * 1024
_CHUNK = 64 * 1024
_MALFORMED = b'<html><body>502 Bad Gateway</body></html>{"status": "OK", "data": {'
_OVERSIZED: bytes | None = None
_OVERSIZED_LOCK = threading.Lock()


def _oversized_body() -> bytes:
    """A valid JSON document of exactly :data:`OVERSIZED_BYTES`, built once."""
    global _OVERSIZED
    with _OVERSIZED_LOCK:
        if _OVERSIZED is None:
            head, tail = b'{"padding":"', b'"}'
            _OVERSIZED = head + b"x" * (OVERSIZED_BYTES - len(head) - len(tail)) + tail
        return _OVERSIZED


@dataclass(frozen=True)
class RecordedRequest:
    """A request as a vendor endpoint received it, for assertions in tests.

    ``parsed`` is the body decoded by its Content-Type (JSON, or a dict for a
    form), ``None`` when it does not decode.
    """

    method: str
    path: str
    headers: Headers
    body: bytes
    parsed: Any


@dataclass
class _Fault:
    name: str
    remaining: int | None


class Sandbox:
    """Loopback HTTP server imitating four SMS vendors, with fault injection.

    Usage::

        with Sandbox() as sandbox:                 # port 0: a free port
            backend_url = sandbox.base_url("signicat")
            sandbox.set_fault("zignsec", "500", count=1)
            ...
            assert sandbox.messages[0]["text"] == "..."

    All public methods are thread-safe. Nothing is sent anywhere but loopback:
    the only outgoing requests are ZignSec webhooks, and only to loopback hosts.
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
        if not is_loopback_host(host):
            raise ValueError(f"the sandbox only listens on loopback addresses, not {host!r}")
        self.host = host
        self.port = port
        self.hang_seconds = hang_seconds
        self.latency = self._start_latency = _checked_latency(latency)
        self.log_requests = log_requests
        self.zignsec_webhook_secret = zignsec_webhook_secret
        self._cond = threading.Condition()
        self._messages: list[dict[str, str]] = []
        self._faults: dict[str, _Fault] = {}
        self._last: dict[str, RecordedRequest] = {}
        self._requests = dict.fromkeys((*VENDORS, "signicat-token"), 0)
        self._connections = dict.fromkeys(VENDORS, 0)
        # A hung handler waits until the generation of its fault key changes.
        self._generations = dict.fromkeys(FAULTS, 0)
        self._stopping = False
        self._zignsec = zignsec.ZignSec(self._record, webhook_secret=zignsec_webhook_secret,
                                        delivery_delay=zignsec_delivery_delay)
        self._vendors: dict[str, Vendor] = {
            "signicat": signicat.Signicat(self._record, token_ttl=signicat_token_ttl),
            "zignsec": self._zignsec,
            "accuauth": accuauth.AccuAuth(self._record),
            "ip1": ip1.Ip1(self._record),
            "infobip": infobip.Infobip(self._record),
            "sinch": sinch.Sinch(self._record),
            "aws": aws.AWS(self._record),
        }
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------

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
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        for vendor in self._vendors.values():
            vendor.stop()
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

    # -- addresses -----------------------------------------------------------

    @property
    def url(self) -> str:
        """Root URL, e.g. ``http://127.0.0.1:54321`` (the real port once started)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def base_url(self, vendor: str) -> str:
        """A backend's ``base_url`` for ``vendor``: ``{url}/{vendor}``."""
        if vendor not in VENDORS:
            raise ValueError(f"unknown vendor {vendor!r}; choose from {', '.join(VENDORS)}")
        return f"{self.url}/{vendor}"

    # -- faults ----------------------------------------------------------------

    def set_fault(self, vendor: str, fault: str | None, count: int | None = None) -> None:
        """Make requests for the fault key ``vendor`` fail with ``fault``.

        ``count=N`` affects only the next N requests; ``None`` lasts until
        cleared. ``fault=None`` (or ``""``) clears the key. Raises
        ``ValueError`` for an unknown key, fault or a count below 1.
        """
        if vendor not in FAULTS:
            raise ValueError(f"unknown fault key {vendor!r}; choose from {', '.join(FAULTS)}")
        if fault and fault not in FAULTS[vendor]:
            raise ValueError(f"unknown fault {fault!r} for {vendor}; choose from {', '.join(FAULTS[vendor])}")
        if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 1):
            raise ValueError(f"count must be a positive integer or None, not {count!r}")
        with self._cond:
            if fault:
                self._faults[vendor] = _Fault(fault, count)
            else:
                self._faults.pop(vendor, None)
            self._generations[vendor] += 1
            self._cond.notify_all()

    def set_latency(self, seconds: float) -> None:
        """Delay every vendor answer by ``seconds`` (0 to 10), as a vendor
        across the internet would; 0 answers at once. Raises ``ValueError``
        out of that range. Control endpoints are never delayed."""
        self.latency = _checked_latency(seconds)

    def clear_faults(self) -> None:
        """Clear every fault (and release hung requests)."""
        with self._cond:
            self._faults.clear()
            self._bump_all()

    @property
    def faults(self) -> dict[str, dict[str, Any]]:
        """Active faults: ``{key: {"fault": name, "remaining": N or None}}``."""
        with self._cond:
            return {k: {"fault": f.name, "remaining": f.remaining} for k, f in self._faults.items()}

    def reset(self) -> None:
        """Forget messages, counters, faults, last requests and vendor state
        (Signicat tokens, ZignSec sessions, iP1 authentications); the latency
        returns to the one the sandbox was started with."""
        with self._cond:
            self.latency = self._start_latency
            self._messages.clear()
            self._faults.clear()
            self._last.clear()
            self._requests = dict.fromkeys(self._requests, 0)
            self._connections = dict.fromkeys(self._connections, 0)
            self._bump_all()
        for vendor in self._vendors.values():
            vendor.reset()

    # -- observations -------------------------------------------------------

    @property
    def messages(self) -> list[dict[str, str]]:
        """Messages received, oldest first: ``{vendor, recipient (E.164), text, at}``."""
        with self._cond:
            return [dict(m) for m in self._messages]

    @property
    def stats(self) -> dict[str, Any]:
        """``{vendor: {"requests", "connections"}}`` for the four vendors, plus
        ``signicat_token_requests`` and ``zignsec_webhooks`` (sent, failed,
        skipped). ``requests`` counts every request under the vendor's prefix
        (Signicat's token requests included); a TCP connection counts for the
        vendor of its first request."""
        with self._cond:
            stats: dict[str, Any] = {
                v: {"requests": self._requests[v], "connections": self._connections[v]} for v in VENDORS
            }
            stats["signicat_token_requests"] = self._requests["signicat-token"]
        stats["zignsec_webhooks"] = self._zignsec.webhook_counts()
        return stats

    def last_request(self, vendor: str) -> RecordedRequest | None:
        """The latest request for a fault key (``signicat`` is ``/sms/messages``,
        ``signicat-token`` the token endpoint), or None."""
        if vendor not in FAULTS:
            raise ValueError(f"unknown key {vendor!r}; choose from {', '.join(FAULTS)}")
        with self._cond:
            return self._last.get(vendor)

    def state(self) -> dict[str, Any]:
        """What ``GET /_sandbox/state`` answers."""
        return {
            "url": self.url,
            "vendors": {v: self.base_url(v) for v in VENDORS},
            "faults": self.faults,
            "latency": self.latency,
            "stats": self.stats,
        }

    # -- used by the request handler ------------------------------------------

    def _bump_all(self) -> None:
        for key in self._generations:
            self._generations[key] += 1
        self._cond.notify_all()

    def _record(self, vendor: str, recipient: str, text: str) -> None:
        message = {"vendor": vendor, "recipient": recipient, "text": text, "at": iso_utc(utc_now())}
        with self._cond:
            self._messages.append(message)

    def _note_request(self, vendor: str, key: str, recorded: RecordedRequest, new_connection: bool) -> None:
        with self._cond:
            self._requests[vendor] += 1
            if key != vendor:
                self._requests[key] += 1
            if new_connection:
                self._connections[vendor] += 1
            self._last[key] = recorded

    def _take_fault(self, key: str) -> str | None:
        """The fault for this request, consuming one use of a counted fault."""
        with self._cond:
            fault = self._faults.get(key)
            if fault is None:
                return None
            if fault.remaining is not None:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    del self._faults[key]
            return fault.name

    def _hang(self, key: str) -> None:
        """Block until the fault of ``key`` changes, the sandbox stops or
        ``hang_seconds`` pass."""
        deadline = time.monotonic() + self.hang_seconds
        with self._cond:
            generation = self._generations[key]
            while not self._stopping and self._generations[key] == generation:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                self._cond.wait(remaining)


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
        path = urlsplit(self.path).path or "/"
        prefix = path.split("/", 2)[1]
        body = self._read_body()
        if body is None:
            return
        if prefix in VENDORS:
            self._serve_vendor(self.sandbox._vendors[prefix], path, body, new_connection)
        else:
            content_type = self.headers.get("Content-Type", "")
            self._write(_control(self.sandbox, self.command, path, content_type, body))

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

    def _serve_vendor(self, vendor: Vendor, path: str, body: bytes, new_connection: bool) -> None:
        headers = Headers(list(self.headers.items()))
        route = path[len(vendor.name) + 1:] or "/"
        request = Request(self.command, path, route, headers, body, self.sandbox.url)
        key = vendor.fault_key(request.route)
        recorded = RecordedRequest(request.method, path, headers, body, request.parsed())
        self.sandbox._note_request(vendor.name, key, recorded, new_connection)
        fault = self.sandbox._take_fault(key)
        if self.sandbox.latency and fault not in ("refuse", "hang"):
            _sleep(self.sandbox.latency)
        if fault == "refuse":
            self._reset_connection()
        elif fault == "hang":
            self.sandbox._hang(key)
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


def _control(sandbox: Sandbox, method: str, path: str, content_type: str, body: bytes) -> Response:
    """Answer the inbox page and the ``/messages.json`` and ``/_sandbox/*`` endpoints."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    is_form = media_type == "application/x-www-form-urlencoded"
    if method == "GET" and path == "/":
        page = render_inbox(sandbox.messages, _vendor_statuses(sandbox))
        return Response(200, page.encode(), "text/html; charset=utf-8", {"Cache-Control": "no-store"})
    if method == "GET" and path == "/messages.json":
        return Response.json(200, sandbox.messages)
    if method == "GET" and path == "/_sandbox/state":
        return Response.json(200, sandbox.state())
    if method == "POST" and path == "/_sandbox/reset":
        sandbox.reset()
        return _redirect_home() if is_form else Response.json(200, sandbox.state())
    if method == "POST" and path == "/_sandbox/faults":
        fields = parse_body(media_type, body)
        if not isinstance(fields, dict):
            return Response.json(400, {"error": "send a JSON object or form fields: vendor, fault, count"})
        try:
            sandbox.set_fault(str(fields.get("vendor", "")), _optional_text(fields.get("fault")),
                              _optional_count(fields.get("count")))
        except ValueError as exc:
            return Response.json(400, {"error": str(exc)})
        return _redirect_home() if is_form else Response.json(200, sandbox.state())
    if method == "POST" and path == "/_sandbox/latency":
        fields = parse_body(media_type, body)
        try:
            if not isinstance(fields, dict):
                raise ValueError("send a JSON object or form fields: seconds")
            sandbox.set_latency(_seconds(fields.get("seconds")))
        except ValueError as exc:
            return Response.json(400, {"error": str(exc)})
        return Response.json(200, sandbox.state())
    if path in ("/", "/messages.json", "/_sandbox/state", "/_sandbox/reset", "/_sandbox/faults",
                "/_sandbox/latency"):
        return Response.json(405, {"error": f"{method} is not allowed on {path}"})
    return Response.json(404, {"error": f"no such page: {path}"})


def _optional_text(value: Any) -> str | None:
    """A fault name from JSON or a form; ``500`` may come as a number."""
    return None if value is None or value == "" else str(value)


def _optional_count(value: Any) -> int | None:
    """A fault count from JSON (number) or a form (digits); empty means None."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            raise ValueError(f"count must be a positive integer, not {value!r}") from None
    return value


_sleep = time.sleep  # the vendor latency's wait (tests replace it)


def _checked_latency(seconds: float) -> float:
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not 0 <= seconds <= 10:
        raise ValueError(f"latency must be a number of seconds from 0 to 10, not {seconds!r}")
    return float(seconds)


def _seconds(value: Any) -> float:
    """Latency seconds from JSON (number) or a form (text)."""
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise ValueError(f"seconds must be a number, not {value!r}") from None
    return _checked_latency(value)


def _redirect_home() -> Response:
    return Response(303, b"", None, {"Location": "/"})


def _vendor_statuses(sandbox: Sandbox) -> list[VendorStatus]:
    faults, stats = sandbox.faults, sandbox.stats
    return [
        VendorStatus(v, sandbox.base_url(v), faults.get(v), stats[v]["requests"]) for v in VENDORS
    ]
