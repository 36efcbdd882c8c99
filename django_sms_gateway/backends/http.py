"""Base for vendor backends that speak HTTP.

It owns what every vendor call shares, so that a vendor module only builds
its request and reads the answer:

- one keep-alive :class:`requests.Session` per backend instance, reused by
  every thread (its connection pool is thread-safe);
- a deadline on every call, bounding connecting, the status line, headers
  and interim answers, and the body, which is also cut off past
  ``max_response_bytes`` (:mod:`.deadline`);
- the mapping of transport failures and HTTP statuses to our
  :mod:`~django_sms_gateway.exceptions`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any, ClassVar
from urllib.parse import urlsplit

import requests
import urllib3
from django.conf import settings as django_settings

from .. import __version__
from ..exceptions import (
    GatewayAuthError,
    GatewayConnectionError,
    GatewayError,
    GatewayRateLimited,
    GatewayTimeout,
    GatewayUnavailable,
    RequestRejected,
)
from ..vendor_json import UnreadableJSON, read_json_object
from .base import BaseBackend, CredentialCheck, Option
from .deadline import Call, DeadlineAdapter, deadline

USER_AGENT = f"django-otp-sms-gateway/{__version__}"
#: The check reporting a vendor reached over plain http:// in production.
PLAIN_HTTP_CHECK_ID = "sms_gateway.E021"


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
                check_id=PLAIN_HTTP_CHECK_ID,
            )
        self.session = self.build_session()

    def vendor_base_url(self) -> str:
        """The vendor's URL when ``base_url`` is not given (``default_base_url``,
        or one built from other options, such as a region)."""
        return self.default_base_url

    def build_session(self) -> requests.Session:
        session = requests.Session()
        adapter = DeadlineAdapter(pool_connections=1, pool_maxsize=self.pool_size, max_retries=0)
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

        ``kwargs`` go to :meth:`requests.Session.request` (``json``, ``data``,
        ``headers``, where a None value removes a session header, ``auth``).
        Redirects are never followed: a 3xx is an answer like any other.

        The call ends by its deadline whatever the vendor sends (see
        :mod:`.deadline`): past it, or with no connection in time, it raises
        :class:`GatewayTimeout` (``not_sent`` when no connection was made);
        :class:`GatewayConnectionError` when the connection failed (``not_sent``
        when it was refused); :class:`GatewayUnavailable` for an answer over
        ``max_response_bytes``.
        """
        url = path_or_url if "://" in path_or_url else self.url(path_or_url)
        with deadline(timeout) as call:
            try:
                response = self.session.request(
                    method, url, timeout=(timeout, timeout), allow_redirects=False, stream=True,
                    hooks={"response": partial(self._read_body, call=call)}, **kwargs,
                )
            except requests.ConnectTimeout as exc:
                raise self.error(GatewayTimeout, "timeout", not_sent=True) from exc
            except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
                raise self.transport_error(exc, call) from exc
        return VendorResponse(response.status_code, response.headers, response.content)

    def transport_error(self, exc: BaseException, call: Call) -> GatewayError:
        """The error for a call that failed before a whole answer was read."""
        if call.expired or isinstance(exc, (requests.Timeout, urllib3.exceptions.TimeoutError, TimeoutError)):
            return self.error(GatewayTimeout, "timeout")
        if _connection_refused(exc):
            return self.error(GatewayConnectionError, "connection refused", not_sent=True)
        return self.error(GatewayConnectionError, "connection failed")

    def _read_body(self, response: requests.Response, *, call: Call, **kwargs: Any) -> None:
        """Read the whole answer, bounded by ``max_response_bytes`` (and by the
        call's deadline), before requests' redirect bookkeeping would read a
        3xx answer's body unbounded; the body is kept as ``response.content``."""
        try:
            response._content = self._bounded_body(response, call)
        except BaseException:
            response.close()
            raise
        response._content_consumed = True  # type: ignore[attr-defined]  # set as Response.content sets it
        response.close()  # back to the pool: the body was read whole

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
