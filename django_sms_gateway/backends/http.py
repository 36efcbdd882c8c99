"""Base for vendor backends that speak HTTP.

It owns what every vendor call shares, so that a vendor module only builds
its request and reads the answer:

- one keep-alive :class:`requests.Session` per backend instance, reused by
  every thread (its connection pool is thread-safe);
- a timeout on every call, bounding connecting, each read and the whole
  answer, which is also cut off past ``max_response_bytes``;
- the mapping of transport failures and HTTP statuses to our
  :mod:`~django_sms_gateway.exceptions`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict

from .. import __version__
from ..exceptions import (
    GatewayAuthError,
    GatewayConnectionError,
    GatewayError,
    GatewayRateLimited,
    GatewayTimeout,
    GatewayUnavailable,
    RecipientRefused,
    RequestRejected,
)
from ..text import SegmentInfo
from .addressing import is_e164, sender_problem
from .base import BaseBackend, SMSMessage

USER_AGENT = f"django-sms-gateway/{__version__}"


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

    options: ClassVar[Mapping[str, Any]] = {"base_url": None, "sender": None}
    default_base_url: ClassVar[str] = ""
    #: Answers longer than this are cut off, never held whole.
    max_response_bytes: ClassVar[int] = 64 * 1024
    #: Connections kept per backend; one is used while calls are sequential.
    pool_size: ClassVar[int] = 16

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.base_url = (self.config.get("base_url") or self.vendor_base_url()).rstrip("/")
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise self.config_error(f"option 'base_url' must be an http(s) URL, not {self.base_url!r}")
        self.session = self.build_session()

    def vendor_base_url(self) -> str:
        """The vendor's URL when ``base_url`` is not given (``default_base_url``,
        or one built from other options, such as a region)."""
        return self.default_base_url

    def build_session(self) -> requests.Session:
        session = requests.Session()
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=self.pool_size, max_retries=0)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        # Answers are small JSON; uncompressed, each socket read is bounded by the deadline
        # (a compressed body trickled in is read until it decodes to something).
        session.headers.update({"User-Agent": USER_AGENT, "Accept": "application/json", "Accept-Encoding": "identity"})
        session.trust_env = False  # no proxies or .netrc credentials picked up by surprise
        return session

    def checked_text_message(self, message: SMSMessage, parts_note: str) -> tuple[str, SegmentInfo]:
        """The sender and SMS parts of ``message`` for a vendor that sends the
        text it is given; a GatewayError, with nothing sent, for a sender
        outside the rules (:mod:`.addressing`), a recipient that is not E.164,
        an empty text or more parts than ``max_segments`` (``parts_note``
        says what the vendor allows)."""
        sender = self.config["sender"] or message.sender
        if sender is None:
            raise self.error(RequestRejected, "no sender configured")
        problem = sender_problem(sender)
        if problem:
            raise self.error(RequestRejected, f"sender {problem}")
        if not is_e164(message.recipient):
            raise self.error(RecipientRefused, "recipient is not an E.164 number")
        if not message.text:
            raise self.error(RequestRejected, "message is empty")
        info = message.segment_info()
        if info.segments > self.max_segments:
            raise self.error(
                RequestRejected,
                f"message needs {info.segments} SMS parts ({info.units} {info.encoding} units); {parts_note}",
            )
        return str(sender), info

    def prepare(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str | None] | None = None,
        json: Any = None,
        data: Any = None,
        auth: Any = None,
    ) -> requests.PreparedRequest:
        """The request as :meth:`requests.Session.request` would prepare it
        with this backend's session, without its per-call merging of
        environment, hooks and settings we never set (``trust_env`` is off):
        the session's headers under ``headers`` (a None value removes one),
        its cookies, ``auth`` (else credentials written in the URL)."""
        prepared = requests.PreparedRequest()
        prepared.prepare_method(method)
        prepared.prepare_url(url, None)
        prepared.prepare_headers(self._headers(headers) if headers else self.session.headers)
        # Even with no cookie: requests' redirect handling (Session.send, for
        # anyone sending this request there) needs the prepared cookie jar.
        prepared.prepare_cookies(self.session.cookies)
        prepared.prepare_body(data, None, json)
        prepared.prepare_auth(auth, url)  # after the body, as requests does: an auth may sign it
        prepared.prepare_hooks(None)
        return prepared

    def _headers(self, extra: Mapping[str, str | None]) -> CaseInsensitiveDict[str | bytes]:
        merged: CaseInsensitiveDict[str | bytes] = CaseInsensitiveDict(self.session.headers)
        for name, value in extra.items():
            if value is None:
                merged.pop(name, None)
            else:
                merged[name] = value
        return merged

    def url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}"

    def request(self, method: str, path_or_url: str, *, timeout: float, **kwargs: Any) -> VendorResponse:
        """Make one call and read its answer, all within ``timeout`` seconds.

        Raises :class:`GatewayTimeout` or :class:`GatewayConnectionError`
        (``not_sent`` set when the connection was never made) and
        :class:`GatewayUnavailable` for an answer over ``max_response_bytes``.
        """
        url = path_or_url if "://" in path_or_url else self.url(path_or_url)
        deadline = time.monotonic() + timeout
        try:
            prepared = self.prepare(method, url, **kwargs)
            response = self._send(prepared, timeout)
        except requests.ConnectTimeout as exc:
            raise self.error(GatewayTimeout, f"no connection within {timeout:g}s", not_sent=True) from exc
        except requests.ReadTimeout as exc:
            raise self.error(GatewayTimeout, f"no answer within {timeout:g}s") from exc
        except requests.ConnectionError as exc:
            if _connection_refused(exc):
                raise self.error(GatewayConnectionError, "connection refused", not_sent=True) from exc
            raise self.error(GatewayConnectionError, "connection failed") from exc
        except requests.RequestException as exc:
            raise self.error(GatewayConnectionError, f"request failed ({type(exc).__name__})") from exc
        with response:
            body = self._read_bounded(response, deadline, timeout)
            return VendorResponse(response.status_code, response.headers, body)

    def _send(self, prepared: requests.PreparedRequest, timeout: float) -> requests.Response:
        """Send through the session's adapter, as ``Session.send`` does with
        redirects off, but without its redirect bookkeeping: on a 3xx answer
        that reads the whole body, unbounded in size and time."""
        session = self.session
        response: requests.Response = session.get_adapter(prepared.url or "").send(
            prepared, stream=True, timeout=(timeout, timeout),
            verify=session.verify,  # type: ignore[arg-type]  # passed as Session.send passes it
            cert=session.cert, proxies=dict(session.proxies),
        )
        requests.cookies.extract_cookies_to_jar(session.cookies, prepared, response.raw)
        return response

    def _read_bounded(self, response: requests.Response, deadline: float, timeout: float) -> bytes:
        limit = self.max_response_bytes
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > limit:
            raise self.error(GatewayUnavailable, f"answer larger than {limit} bytes", status_code=response.status_code)
        chunks: list[bytes] = []
        size = 0
        try:
            for chunk in _pieces(response.raw):
                size += len(chunk)
                if size > limit:
                    raise self.error(
                        GatewayUnavailable, f"answer larger than {limit} bytes", status_code=response.status_code
                    )
                if time.monotonic() > deadline:
                    raise self.error(GatewayTimeout, f"answer not complete within {timeout:g}s")
                chunks.append(chunk)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            if isinstance(exc, urllib3.exceptions.ReadTimeoutError):
                raise self.error(GatewayTimeout, f"answer not complete within {timeout:g}s") from exc
            raise self.error(GatewayConnectionError, "connection broke while reading the answer") from exc
        return b"".join(chunks)

    def error(self, cls: type[GatewayError], reason: str, **kwargs: Any) -> GatewayError:
        return cls(reason, alias=self.alias, **kwargs)

    def raise_for_status(self, response: VendorResponse, *, vendor_status: str | None = None) -> None:
        """Map a non-2xx answer to our errors: 401/403 auth, 429 throttled,
        5xx unavailable, other 4xx :meth:`client_error`."""
        status = response.status
        if response.ok:
            return
        kwargs: dict[str, Any] = {"status_code": status, "vendor_status": vendor_status}
        if status in (401, 403):
            raise self.error(GatewayAuthError, f"credentials refused (HTTP {status})", **kwargs)
        if status == 429:
            raise self.error(GatewayRateLimited, "rate limited (HTTP 429)", **kwargs)
        if status >= 500:
            raise self.error(GatewayUnavailable, f"vendor error (HTTP {status})", **kwargs)
        raise self.client_error(response, vendor_status)

    def client_error(self, response: VendorResponse, vendor_status: str | None) -> GatewayError:
        """The error for a 4xx answer other than 401/403/429."""
        return self.error(
            RequestRejected, f"request rejected (HTTP {response.status})",
            status_code=response.status, vendor_status=vendor_status,
        )

    def read_json(self, response: VendorResponse) -> dict[str, Any]:
        """The answer as a JSON object, or :class:`GatewayUnavailable`."""
        try:
            data = json.loads(response.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise self.error(GatewayUnavailable, "unreadable answer (not JSON)", status_code=response.status) from exc
        if not isinstance(data, dict):
            raise self.error(GatewayUnavailable, "unreadable answer (not a JSON object)", status_code=response.status)
        return data

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
