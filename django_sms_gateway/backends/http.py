"""Base for vendor backends that speak HTTP: everything a vendor call
shares, so that a vendor module only builds its request and reads the answer.

- One keep-alive :class:`requests.Session` per backend instance, reused by
  every thread (its connection pool is thread-safe). A connection that
  fails before the request is sent (refused, or not made in time) is tried
  once more within the call's deadline (:data:`CONNECT_RETRY`); nothing is
  repeated once the request may have reached the vendor.
- A deadline on every call (:func:`deadline`), bounding connecting, the
  status line, headers and interim answers, and the body, which is also
  cut off past ``max_response_bytes``.
- The mapping of transport failures and HTTP statuses to our
  :mod:`~django_sms_gateway.exceptions`.
- Reading JSON that someone else wrote (:func:`read_json_object` and
  friends; webhooks use them too), and turning a vendor's error text into a
  short, safe part of ``GatewayError.reason`` (:func:`summarize`,
  :func:`scrub`).
- A receipt URL proved genuine by the alias's secret in its query, for
  vendors that sign no delivery report (:func:`callback_url` and its
  checks).

Why a deadline needs more than socket timeouts: they bound each read, not
the call, so a vendor trickling its status line or headers a byte at a
time, or sending ``100 Continue`` without end, keeps every read short and
the call going for ever. One watchdog thread per process holds the deadline
of every call under way; at a call's deadline it shuts down the sockets
that call is using (found through the connection classes of
:class:`DeadlineAdapter`), so the read blocked on them returns at once and
the call fails; :attr:`Call.expired` then tells that failure apart from a
broken connection, and the caller reports a timeout.

Why reason text is filtered: a reason goes to logs, signals,
``DeliveryRecord`` and the admin, so it holds only what we can vouch for.
A vendor module passes the error codes or messages it knows (from the
vendor's documentation) as ``known``, and :func:`summarize` keeps those and
nothing else. A vendor's free text may echo our request back (the number
in any format, the code, our ``Authorization`` header); :func:`scrub` masks
all of that wherever vendor text could still reach a log.
"""

from __future__ import annotations

import contextvars
import heapq
import ipaddress
import itertools
import json
import os
import re
import socket
import threading
import time
import weakref
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import urlsplit

import requests
import urllib3
from django.conf import settings as django_settings
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError
from urllib3.util.retry import Retry

from .. import __version__
from ..checks import E021
from ..exceptions import (
    GatewayAuthError,
    GatewayConnectionError,
    GatewayError,
    GatewayRateLimited,
    GatewayTimeout,
    GatewayUnavailable,
    RequestRejected,
)
from ..phone import mask_number
from .base import BaseBackend, CredentialCheck, Option

USER_AGENT = f"django-otp-sms-gateway/{__version__}"

#: The one retry of a vendor call: a connection that failed before the
#: request was sent (refused, no route, not made in time), which cannot have
#: sent an SMS. Never a read, a status or a redirect; no pause; the second
#: connection gets only what is left of the call's deadline.
CONNECT_RETRY = Retry(total=1, connect=1, read=False, redirect=0, status=0, other=0, backoff_factor=0,
                      respect_retry_after_header=False, raise_on_status=False)


# -- JSON that someone else wrote ------------------------------------------------------------------
# A vendor's answer or a webhook body may be anything: not UTF-8, not JSON, or JSON nested so deeply
# that the parser runs out of stack (RecursionError). Each is one UnreadableJSON, refused cleanly.


class UnreadableJSON(ValueError):
    """The body is not a JSON document of the expected shape."""


def read_json(body: bytes | str) -> Any:
    """The JSON document in ``body``, or :class:`UnreadableJSON`."""
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise UnreadableJSON(f"not JSON ({type(exc).__name__})") from None


def read_json_object(body: bytes | str) -> dict[str, Any]:
    """The JSON object in ``body``, or :class:`UnreadableJSON` for anything
    else (an array, a number, unreadable)."""
    data = read_json(body)
    if not isinstance(data, dict):
        raise UnreadableJSON("not a JSON object")
    return data


def json_object_or_none(body: bytes | str) -> dict[str, Any] | None:
    """The JSON object in ``body``, or None for anything else (an answer
    that need not be JSON, such as a vendor's error page)."""
    try:
        return read_json_object(body)
    except UnreadableJSON:
        return None


def json_object_or_empty(body: bytes | str) -> dict[str, Any]:
    """The JSON object in ``body``, or an empty one for anything else: for
    an error answer, which is read only for the codes it may carry."""
    return json_object_or_none(body) or {}


def whole_number(value: Any, low: int | None = None, high: int | None = None) -> int | None:
    """``value`` when it is a JSON integer (``true`` and ``false`` are not)
    from ``low`` to ``high``, else None."""
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    if (low is not None and value < low) or (high is not None and value > high):
        return None
    return value


# -- a vendor's error text -------------------------------------------------------------------------

#: Longest reason built from vendor text (``DeliveryRecord.reason`` holds 255).
MAX_REASON = 200
#: Said instead of a message that is not in the vendor's known list.
UNLISTED = "unlisted vendor message"

# Four digits or more, with an optional "+" and any spaces, dashes, dots,
# slashes or brackets between them: a phone number in any format, or a code
# written "123 456" or "12-34-56".
_DIGIT_RUN = re.compile(r"\+?\(?\d(?:[\s\-./()]{0,3}\d){3,}\)?")
_CREDENTIAL = re.compile(r"\b(Basic|Bearer|Digest|Token|ApiKey)\s+[^\s,;\"']+", re.IGNORECASE)
_MASK = "***"


def scrub(text: str, *, recipient: str | None = None, secrets: Iterable[str] = ()) -> str:
    """``text`` on one line, without control characters, credentials after an
    authorization scheme, ``secrets`` (the code, keys), or runs of four or
    more digits (numbers in any format and codes with spaces or dashes; the
    recipient shows masked as :func:`~django_sms_gateway.phone.mask_number`
    does)."""
    text = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    for secret in secrets:
        if secret:
            text = text.replace(secret, _MASK)
    text = _CREDENTIAL.sub(lambda match: f"{match.group(1)} {_MASK}", text)
    recipient_digits = re.sub(r"\D", "", recipient or "")

    def mask(match: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", match.group())
        if recipient_digits and len(digits) >= 6 and (
            recipient_digits.endswith(digits) or digits.endswith(recipient_digits)
        ):
            return mask_number(recipient or "")
        return _MASK

    return _DIGIT_RUN.sub(mask, text)


def _key(text: str) -> str:
    return " ".join(text.split()).casefold().rstrip(".")


def summarize(
    messages: Iterable[object],
    *,
    known: Iterable[str] | Mapping[str, str] | None = None,
    recipient: str | None = None,
    secrets: Iterable[str] = (),
    limit: int = MAX_REASON,
) -> str:
    """The vendor's messages, joined with ``"; "`` and cut to ``limit`` characters.

    With ``known`` (the vendor's documented error codes or messages, or a
    mapping of them to what to say), only those are kept, matched without
    regard to case, spacing or a final full stop; anything else becomes
    :data:`UNLISTED` once. Without it, each message is passed through
    :func:`scrub`.
    """
    texts = [message for message in messages if isinstance(message, str) and message.strip()]
    parts: list[str] = []
    if known is not None:
        said = dict(known) if isinstance(known, Mapping) else {entry: entry for entry in known}
        table = {_key(entry): shown for entry, shown in said.items()}
        unlisted = False
        for text in texts:
            shown = table.get(_key(text))
            if shown is None:
                unlisted = True
            elif shown not in parts:
                parts.append(shown)
        if unlisted:
            parts.append(UNLISTED)
    else:
        parts = [scrub(text, recipient=recipient, secrets=secrets) for text in texts]
    joined = "; ".join(part for part in parts if part)
    if len(joined) > limit:
        joined = joined[: limit - 1].rstrip() + "…"
    return joined


# -- the deadline of a vendor call -----------------------------------------------------------------


def monotonic() -> float:
    """The system's monotonic clock, read so that test clocks (freezegun
    patches ``time.monotonic``) cannot move a deadline into the far future."""
    return time.clock_gettime(time.CLOCK_MONOTONIC)


#: Longest the watchdog sleeps before looking at its deadlines again.
MAX_WAIT = 0.1


class Call:
    """One vendor call with a deadline (seconds of :func:`monotonic`)."""

    __slots__ = ("deadline", "expired", "_done", "_sockets", "_lock")

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.expired = False
        self._done = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()

    def attach(self, sock: socket.socket | None) -> None:
        """Watch ``sock`` until the call ends; shut it down now if the deadline passed.

        The call becomes the socket's owner: a kept-alive connection that an
        earlier call returned to the pool is never shut down for that call.
        """
        if sock is None:
            return
        _owners[sock] = self
        with self._lock:
            if self._done:
                return
            if not self.expired:
                self._sockets.append(sock)
                return
        _shut_down(sock)

    def expire(self) -> None:
        """The deadline passed: shut down every socket of a call still under way."""
        with self._lock:
            if self._done:
                return
            self.expired = True
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            if _owners.get(sock) is self:
                _shut_down(sock)

    def finish(self) -> None:
        """The call ended: its sockets (maybe back in the pool) are no longer watched."""
        with self._lock:
            self._done = True
            self._sockets = []


#: The call each watched socket serves now.
_owners: weakref.WeakKeyDictionary[socket.socket, Call] = weakref.WeakKeyDictionary()


def _shut_down(sock: socket.socket) -> None:
    # socket.socket.shutdown on the file descriptor, bypassing SSLSocket.shutdown,
    # which would also unwrap TLS under a read still running in the caller's thread.
    try:
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:
        pass  # already closed or never connected


class Watchdog:
    """One thread expiring the calls whose deadline passed, earliest first."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._heap: list[tuple[float, int, Call]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    def watch(self, call: Call) -> None:
        with self._condition:
            heapq.heappush(self._heap, (call.deadline, next(self._order), call))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="sms-gateway-deadlines", daemon=True)
                self._thread.start()
            elif self._heap[0][2] is call:
                self._condition.notify()

    def _run(self) -> None:
        while True:
            with self._condition:
                while not self._heap:
                    self._condition.wait()
                deadline, _order, call = self._heap[0]
                wait = deadline - monotonic()
                if wait > 0:
                    self._condition.wait(min(wait, MAX_WAIT))
                    continue
                heapq.heappop(self._heap)
            call.expire()  # a no-op for a call that already finished

    def after_fork(self) -> None:
        """A forked child has no watchdog thread: start afresh."""
        self._condition = threading.Condition()
        self._heap = []
        self._thread = None


watchdog = Watchdog()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=watchdog.after_fork)

_current: contextvars.ContextVar[Call | None] = contextvars.ContextVar("sms_gateway_call", default=None)


@contextmanager
def deadline(seconds: float) -> Iterator[Call]:
    """Run the block as one call that ends within ``seconds``: requests made
    through a :class:`DeadlineAdapter` in it are cut off at the deadline."""
    call = Call(monotonic() + seconds)
    watchdog.watch(call)
    token = _current.set(call)
    try:
        yield call
    finally:
        _current.reset(token)
        call.finish()


def _attach_current(sock: socket.socket | None) -> None:
    call = _current.get()
    if call is not None:
        call.attach(sock)


class _WatchedConnection:
    """Connects within what is left of the call under way, and registers
    the connection's socket with it."""

    sock: socket.socket | None
    timeout: float | None

    def connect(self) -> None:
        call = _current.get()
        if call is not None:
            left = call.deadline - monotonic()
            if left <= 0:
                raise ConnectTimeoutError(self, "no time left to connect")
            self.timeout = left if self.timeout is None else min(self.timeout, left)
        super().connect()  # type: ignore[misc]
        _attach_current(self.sock)

    def request(self, *args: Any, **kwargs: Any) -> None:
        _attach_current(self.sock)  # a kept-alive connection, connected by an earlier call
        super().request(*args, **kwargs)  # type: ignore[misc]


class WatchedHTTPConnection(_WatchedConnection, HTTPConnection):
    pass


class WatchedHTTPSConnection(_WatchedConnection, HTTPSConnection):
    pass


class WatchedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = WatchedHTTPConnection


class WatchedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = WatchedHTTPSConnection


class DeadlineAdapter(HTTPAdapter):
    """An ``HTTPAdapter`` whose connections obey :func:`deadline`."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": WatchedHTTPConnectionPool,
            "https": WatchedHTTPSConnectionPool,
        }


# -- the HTTP backend ------------------------------------------------------------------------------


#: What :meth:`HTTPBackend.request` passes on to :meth:`requests.PreparedRequest.prepare`.
_REQUEST_ARGUMENTS = frozenset({"data", "json", "params", "auth", "files"})


@dataclass(frozen=True, slots=True)
class VendorResponse:
    """A vendor's answer, read whole (and bounded) before the socket is freed."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


class HTTPBackend(BaseBackend):
    """A backend that calls a vendor's HTTP API.

    Subclasses set ``default_base_url`` and extend ``options`` with
    ``{**HTTPBackend.options, ...}``; they implement ``send`` with
    :meth:`request`, :meth:`raise_for_status` and :meth:`read_json`.
    """

    options: ClassVar[Mapping[str, Any]] = {
        "base_url": Option(None, kind="url", doc="The vendor's API address (default: its production host)."),
        "sender": Option(None, kind="sender", doc="Sender ID (default: OTP_SMS_SENDER)."),
    }
    default_base_url: ClassVar[str] = ""
    #: Answers longer than this are cut off, never held whole.
    max_response_bytes: ClassVar[int] = 64 * 1024
    #: Connections kept per backend; one is used while calls are sequential.
    pool_size: ClassVar[int] = 16
    #: 4xx statuses that say ``base_url`` reaches no such API: the gateway is
    #: unavailable (the next one is tried), not the request at fault.
    wrong_url_statuses: ClassVar[frozenset[int]] = frozenset()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.base_url = (self.config.get("base_url") or self.vendor_base_url()).rstrip("/")
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise self.config_error(f"option 'base_url' must be an http(s) URL, not {self.base_url!r}")
        if parts.scheme == "http" and not django_settings.DEBUG and not _is_loopback(parts.hostname or ""):
            raise self.config_error(
                f"option 'base_url' is plain http:// to {parts.hostname!r}, which would send credentials and "
                "codes in clear; use https:// (http:// is allowed to loopback hosts, or with DEBUG = True)",
                check_id=E021,
            )
        self.session = self.build_session()

    def vendor_base_url(self) -> str:
        """The vendor's URL when ``base_url`` is not given (``default_base_url``,
        or one built from other options, such as a region)."""
        return self.default_base_url

    def build_session(self) -> requests.Session:
        session = requests.Session()
        adapter = DeadlineAdapter(pool_connections=1, pool_maxsize=self.pool_size, max_retries=CONNECT_RETRY)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        # Answers are small JSON; asked for uncompressed, max_response_bytes bounds what the
        # vendor sent, not what a small compressed body would decode to.
        session.headers.update({"User-Agent": USER_AGENT, "Accept": "application/json", "Accept-Encoding": "identity"})
        session.trust_env = False  # no proxies or .netrc credentials picked up by surprise
        return session

    def url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}"

    def request(self, method: str, path_or_url: str, *, timeout: float, **kwargs: Any) -> VendorResponse:
        """Make one call and read its answer, all within ``timeout`` seconds.

        ``kwargs`` go to :meth:`requests.PreparedRequest.prepare` (``json``, ``data``,
        ``headers``, where a None value removes a session header, ``auth``).
        Redirects are never followed: a 3xx is an answer like any other.

        The call ends by its deadline whatever the vendor sends (see
        :func:`deadline`): past it, or with no connection in time, it raises
        :class:`GatewayTimeout` (``not_sent`` when no connection was made);
        :class:`GatewayConnectionError` when the connection failed (``not_sent``
        when it was refused); :class:`GatewayUnavailable` for an answer over
        ``max_response_bytes``.
        """
        url = path_or_url if "://" in path_or_url else self.url(path_or_url)
        prepared = self._prepare(method, url, kwargs)
        session = self.session
        with deadline(timeout) as call:
            try:
                response = session.get_adapter(url).send(
                    prepared, stream=True, timeout=(timeout, timeout), cert=session.cert,
                    verify=True if session.verify is None else session.verify,
                    proxies=session.proxies,
                )
            except requests.ConnectTimeout as exc:
                raise self.error(GatewayTimeout, "timeout", not_sent=True) from exc
            except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
                raise self.transport_error(exc, call) from exc
            try:
                body = self._bounded_body(response, call)
            except BaseException:
                response.close()
                raise
            response._content_consumed = True  # type: ignore[attr-defined]  # read whole: close() keeps the socket
            response.close()  # back to the pool
        if response.cookies:
            session.cookies.update(response.cookies)
        return VendorResponse(response.status_code, response.headers, body)

    def _prepare(self, method: str, url: str, kwargs: dict[str, Any]) -> requests.PreparedRequest:
        """The request :meth:`request` sends: the session's headers and
        cookies, then ``kwargs``. The session's adapter sends it without
        :meth:`requests.Session.send`'s bookkeeping, none of which a vendor
        call uses (no redirects followed, no environment, no hooks)."""
        headers = self.session.headers
        if extra := kwargs.pop("headers", None):
            headers = requests.structures.CaseInsensitiveDict(headers)
            for name, value in extra.items():
                if value is None:
                    headers.pop(name, None)
                else:
                    headers[name] = value
        if unknown := set(kwargs) - _REQUEST_ARGUMENTS:
            raise TypeError(f"request() got unexpected keyword arguments: {', '.join(sorted(unknown))}")
        prepared = requests.PreparedRequest()
        prepared.prepare(method=method, url=url, headers=headers, cookies=self.session.cookies or None, **kwargs)
        return prepared

    def transport_error(self, exc: BaseException, call: Call) -> GatewayError:
        """The error for a call that failed before a whole answer was read."""
        if call.expired or isinstance(exc, (requests.Timeout, urllib3.exceptions.TimeoutError, TimeoutError)):
            return self.error(GatewayTimeout, "timeout")
        if _connection_refused(exc):
            return self.error(GatewayConnectionError, "connection refused", not_sent=True)
        return self.error(GatewayConnectionError, "connection failed")

    def _bounded_body(self, response: requests.Response, call: Call) -> bytes:
        limit = self.max_response_bytes
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > limit:
            raise self.error(GatewayUnavailable, "answer too large", status_code=response.status_code)
        chunks: list[bytes] = []
        size = 0
        try:
            for chunk in _pieces(response.raw):
                size += len(chunk)
                if size > limit:
                    raise self.error(GatewayUnavailable, "answer too large", status_code=response.status_code)
                chunks.append(chunk)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise self.transport_error(exc, call) from exc
        if call.expired:
            # Cut off at the deadline, the socket reads as closed: the headers or
            # the body that seem to end there are only what came before the cut.
            raise self.error(GatewayTimeout, "timeout")
        return b"".join(chunks)

    def raise_for_status(self, response: VendorResponse, *, vendor_status: str | None = None) -> None:
        """Map a non-2xx answer to our errors: 401/403 auth, 429 throttled,
        5xx unavailable, other 4xx :meth:`client_error`."""
        status = response.status
        if response.ok:
            return
        kwargs: dict[str, Any] = {"status_code": status, "vendor_status": vendor_status}
        if status in (401, 403):
            raise self.error(GatewayAuthError, "credentials refused", **kwargs)
        if status == 429:
            raise self.error(GatewayRateLimited, "rate limited", **kwargs)
        if status >= 500:
            raise self.error(GatewayUnavailable, f"HTTP {status}", **kwargs)
        raise self.client_error(response, vendor_status)

    def client_error(self, response: VendorResponse, vendor_status: str | None) -> GatewayError:
        """The error for a 4xx answer other than 401/403/429."""
        if response.status in self.wrong_url_statuses:
            return self.error(GatewayUnavailable, f"API not found (HTTP {response.status}, check base_url)",
                              status_code=response.status, vendor_status=vendor_status)
        return self.error(
            RequestRejected, f"request rejected (HTTP {response.status})",
            status_code=response.status, vendor_status=vendor_status,
        )

    def read_json(self, response: VendorResponse) -> dict[str, Any]:
        """The answer as a JSON object, or :class:`GatewayUnavailable` for
        anything else, however malformed or deeply nested."""
        try:
            return read_json_object(response.body)
        except UnreadableJSON as exc:
            raise self.error(GatewayUnavailable, "unreadable answer", status_code=response.status) from exc

    def read_check(self, vendor: str, path: str, *, timeout: float,
                   **kwargs: Any) -> tuple[CredentialCheck, dict[str, Any] | None]:
        """A credential check by one harmless GET of ``path`` (``kwargs`` as
        for :meth:`request`): accepted on a 200 JSON object, returned with
        it; refused on 401/403; unchecked for anything else."""
        try:
            response = self.request("GET", path, timeout=timeout, **kwargs)
        except GatewayError as exc:
            return CredentialCheck("unchecked", f"{vendor} could not be asked: {exc.reason}"), None
        if response.status in (401, 403):
            return CredentialCheck("refused", f"{vendor} refused the credentials (HTTP {response.status})"), None
        if response.status != 200:
            return CredentialCheck("unchecked", f"unexpected answer (HTTP {response.status})"), None
        try:
            return CredentialCheck("accepted", f"{vendor} accepted the credentials"), self.read_json(response)
        except GatewayError:
            return CredentialCheck("unchecked", "unreadable answer"), None

    def close(self) -> None:
        self.session.close()


def _pieces(raw: Any) -> Iterator[bytes]:
    """The decoded body in pieces of at most 8 KiB, each from one socket read.

    ``read1`` returns what one read brought, so a server trickling a byte at
    a time is noticed at the deadline; ``stream`` (older urllib3) waits for
    a full piece, which a trickle can stretch far past the timeout.
    """
    read1 = getattr(raw, "read1", None)
    if read1 is None:
        yield from raw.stream(8192, decode_content=True)
        return
    while chunk := read1(8192, decode_content=True):
        yield chunk


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _connection_refused(exc: BaseException) -> bool:
    """True when the chain of causes shows the TCP connection was never made."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, (ConnectionRefusedError, urllib3.exceptions.NewConnectionError)):
            return True
        for arg in getattr(current, "args", ()):
            if isinstance(arg, BaseException) and _connection_refused(arg):
                return True
        reason = getattr(current, "reason", None)
        if isinstance(reason, BaseException) and id(reason) not in seen:
            current = reason
            continue
        current = current.__cause__ or current.__context__
    return False


# -- a receipt URL with the alias's secret in its query --------------------------------------------
# A vendor that signs no delivery report (Sinch's callback_url, Infobip's notify_url) is given a
# URL whose query holds an unguessable per-alias secret, which the webhook compares. The query, not
# the path: django.request logs the path of every 4xx answer.

#: The query parameter of a receipt URL that holds the alias's secret.
SECRET_PARAMETER = "secret"  # noqa: S105 (a parameter name, not a secret)
#: Fewest characters of a callback secret: 32 URL-safe characters hold 192 bits.
SECRET_MIN_LENGTH = 32
_URL_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def callback_secret_problem(value: str) -> str | None:
    """Why ``value`` cannot be a per-alias callback secret: it goes into a URL
    query unencoded, so only ``A-Z a-z 0-9 - _``, and at least :data:`SECRET_MIN_LENGTH`
    of them (``secrets.token_urlsafe(32)`` makes one)."""
    if len(value) < SECRET_MIN_LENGTH or not set(value) <= _URL_SAFE:
        return (f"must be at least {SECRET_MIN_LENGTH} characters of A-Z, a-z, 0-9, '-' and '_' "
                "(python -c 'import secrets; print(secrets.token_urlsafe(32))')")
    return None


def callback_url_problem(value: str) -> str | None:
    """Why ``value`` cannot take a callback secret as its query."""
    if "?" in value or "#" in value or not value.endswith("/"):
        return "must end with '/' and have no query or fragment (the callback secret is added as the query)"
    return None


def callback_url_in_clear(url: str) -> bool:
    """Whether a receipt URL would carry its secret in clear: plain http://
    to a host that is not loopback, with ``DEBUG = False``."""
    parts = urlsplit(url)
    if parts.scheme != "http" or django_settings.DEBUG:
        return False
    return not _is_loopback(parts.hostname or "")


def callback_url(base: str, secret: str) -> str:
    """The URL a vendor is given: ``base`` with ``secret`` as its query."""
    return f"{base}?{SECRET_PARAMETER}={secret}"
