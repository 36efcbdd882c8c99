"""Shared plumbing of the sandbox: requests, responses, delayed delivery
reports and small helpers.

Standard library only (no Django), like the rest of the sandbox package.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import http.client
import ipaddress
import json
import re
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import SplitResult, parse_qs, parse_qsl, urlsplit

__all__ = [
    "E164",
    "Headers",
    "RECEIPT_FAULTS",
    "Receipts",
    "Recorder",
    "SENDER",
    "Request",
    "Response",
    "Vendor",
    "basic_credentials",
    "call_back",
    "iso_utc",
    "is_loopback_host",
    "parse_body",
    "same",
    "utc_now",
]

#: E.164: a ``+``, a country code that does not start with 0, at most 15 digits.
E164 = re.compile(r"\+[1-9][0-9]{1,14}")

#: A sender ID: numeric (optional ``+``, up to 15 digits) or 1-11 of ``[A-Za-z0-9 ]``.
SENDER = re.compile(r"\+?[0-9]{1,15}|[A-Za-z0-9 ]{1,11}")

#: ``record(vendor, recipient_e164, text)``: how a vendor reports a sent SMS.
Recorder = Callable[[str, str, str], None]

#: Faults that accept a message and then report nothing, or a failure (DELIVERY.md's names).
RECEIPT_FAULTS = ("silent", "undelivered")


class Headers(Mapping[str, str]):
    """Read-only, case-insensitive view of HTTP headers (last value wins)."""

    def __init__(self, items: Mapping[str, str] | list[tuple[str, str]] | tuple[()] = ()) -> None:
        pairs = items.items() if isinstance(items, Mapping) else items
        self._items: dict[str, tuple[str, str]] = {k.lower(): (k, v) for k, v in pairs}

    def __getitem__(self, name: str) -> str:
        return self._items[name.lower()][1]

    def __iter__(self) -> Iterator[str]:
        return (original for original, _value in self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Headers({dict(self.items())!r})"


@dataclass(frozen=True)
class Request:
    """One HTTP request as a vendor module sees it.

    ``path`` is the full path without the query string; ``route`` is the part
    after the vendor prefix (``/signicat/sms/messages`` -> ``/sms/messages``);
    ``query`` is the query string, read by :attr:`params`.
    """

    method: str
    path: str
    route: str
    headers: Headers
    body: bytes
    base_url: str
    query: str = ""

    @property
    def params(self) -> dict[str, str]:
        """The query string's parameters (the first value of each)."""
        return {name: values[0] for name, values in parse_qs(self.query, keep_blank_values=True).items()}

    @property
    def content_type(self) -> str:
        """The media type of the body, lower-cased, without parameters."""
        return self.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()

    def parsed(self) -> Any:
        """The body decoded by its content type (see :func:`parse_body`)."""
        return parse_body(self.content_type, self.body)


@dataclass
class Response:
    """An HTTP response to write; ``Content-Length`` is always set from ``body``."""

    status: int
    body: bytes = b""
    content_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(
        cls,
        status: int,
        payload: Any,
        *,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> Response:
        """A response whose body is ``payload`` as compact UTF-8 JSON."""
        body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
        return cls(status, body, f"{content_type}; charset=utf-8", dict(headers or {}))


def parse_body(content_type: str, body: bytes) -> Any:
    """Decode ``body``: JSON for ``application/json`` and ``*+json``, a dict of
    the last value per name for form encoding, otherwise (or when it does not
    decode) ``None``."""
    try:
        if content_type == "application/json" or content_type.endswith("+json"):
            return json.loads(body.decode("utf-8"))
        if content_type == "application/x-www-form-urlencoded":
            pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body))
            return dict(pairs)
    except (UnicodeDecodeError, ValueError):
        return None
    return None


def basic_credentials(header: str) -> tuple[str, str] | None:
    """``(user, password)`` from a ``Basic`` Authorization header, else None."""
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, colon, password = decoded.partition(":")
    return (user, password) if colon else None


def same(given: str, expected: str) -> bool:
    """Constant-time string comparison."""
    return hmac.compare_digest(given.encode(), expected.encode())


def utc_now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def iso_utc(moment: datetime) -> str:
    """ISO-8601 UTC with milliseconds and a ``Z`` suffix."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def is_loopback_host(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ``::1``)."""
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def call_back(target: SplitResult, method: str, *, body: bytes | None = None, query: str = "",
              headers: Mapping[str, str] | None = None, timeout: float = 2.0) -> str:
    """Call a site's webhook at the split URL ``target`` (``query`` joins its
    own): "sent" for a 2xx answer, else "failed". Callers check that the
    host is loopback first."""
    connection_class = http.client.HTTPSConnection if target.scheme == "https" else http.client.HTTPConnection
    connection = connection_class(target.hostname or "", target.port, timeout=timeout)
    joined = "&".join(part for part in (target.query, query) if part)
    path = (target.path or "/") + (f"?{joined}" if joined else "")
    try:
        connection.request(method, path, body, dict(headers or {}))
        status = connection.getresponse().status
    except (OSError, http.client.HTTPException):
        return "failed"
    finally:
        connection.close()
    return "sent" if 200 <= status < 300 else "failed"


class Receipts:
    """Posts a vendor's delivery reports from a background thread, after a
    delay, to loopback hosts only; counts them ``sent`` (2xx), ``failed``
    and ``skipped`` (not loopback). :meth:`reset` drops reports not yet sent."""

    def __init__(self, vendor: str, delay: float) -> None:
        self._vendor, self._delay = vendor, delay
        self._lock = threading.Lock()
        self._counts = {"sent": 0, "failed": 0, "skipped": 0}
        self._generation = 0
        self._stopping = threading.Event()

    def reset(self) -> None:
        with self._lock:
            self._counts = dict.fromkeys(self._counts, 0)
            self._generation += 1

    def stop(self) -> None:
        self._stopping.set()

    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def post_later(self, url: str, bodies: list[Callable[[], Any]], name: str) -> None:
        """POST each of ``bodies`` (each made when sent) to ``url`` as JSON, in order."""
        with self._lock:
            generation = self._generation
        threading.Thread(target=self._post, args=(url, bodies, generation),
                         name=f"{self._vendor}-report-{name}", daemon=True).start()

    def _post(self, url: str, bodies: list[Callable[[], Any]], generation: int) -> None:
        target = urlsplit(url)
        for body in bodies:
            if self._stopping.wait(self._delay):
                return
            with self._lock:
                if generation != self._generation:
                    return
                if not is_loopback_host(target.hostname or ""):
                    self._counts["skipped"] += 1
                    return
            outcome = call_back(target, "POST", body=json.dumps(body(), separators=(",", ":")).encode(),
                                headers={"Content-Type": "application/json"})
            with self._lock:
                if generation == self._generation:
                    self._counts[outcome] += 1


class Vendor(ABC):
    """One imitated vendor API, mounted under ``/{name}``.

    Subclasses answer API requests (:meth:`handle`) and build the vendor's own
    error responses for status faults (:meth:`fault_response`); the server
    does routing, fault selection, statistics and the transport-level faults.
    Implementations guard their state with their own lock: handlers run on
    many threads.
    """

    #: Path prefix and vendor name in recorded messages.
    name: ClassVar[str]
    #: Fault key -> the vendor's own error faults beyond the common ones.
    fault_variants: ClassVar[Mapping[str, tuple[str, ...]]]

    def __init__(self, record: Recorder) -> None:
        self._record = record

    def fault_key(self, route: str) -> str:
        """The fault key that applies to a request for ``route``."""
        return self.name

    @abstractmethod
    def handle(self, request: Request) -> Response:
        """Answer an API request as the vendor would."""

    @abstractmethod
    def fault_response(self, key: str, fault: str, request: Request) -> Response:
        """The vendor's error response for a status fault (``"500"``, ``"401"``,
        ``"429"`` or one of ``fault_variants[key]``)."""

    def reset(self) -> None:  # noqa: B027 (optional hook)
        """Forget everything the vendor holds (sessions, tokens, codes)."""

    def stop(self) -> None:  # noqa: B027 (optional hook)
        """Release background work; the server is shutting down."""
