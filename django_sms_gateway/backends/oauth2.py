"""HTTP backends whose vendor takes an OAuth 2.0 bearer token got with the
client-credentials grant.

Wire facts and their sources:

- Token ``POST {token_url}``, form ``grant_type=client_credentials`` and
  ``scope``, the client authenticated with HTTP Basic
  ``base64(client_id:client_secret)``; the answer ``{"access_token",
  "token_type", "expires_in"}``, refusals ``{"error"}``. Source: RFC 6749
  sections 2.3.1, 4.4, 5.1 and 5.2, https://www.rfc-editor.org/rfc/rfc6749
- A bearer token the API no longer takes is answered 401. Source: RFC 6750
  section 3.1, https://www.rfc-editor.org/rfc/rfc6750
- *Inferred*: how early a token is renewed
  (:attr:`ClientCredentialsBackend.token_expiry_margin`) and the lifetime
  assumed without ``expires_in``
  (:attr:`ClientCredentialsBackend.default_token_lifetime`).

One token serves every thread of the process until shortly before it
expires; when it must be fetched, one thread fetches it while the others
wait (the lock is never held during a vendor call other than the token's).
"""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..exceptions import GatewayAuthError, GatewayRateLimited, GatewayTimeout, GatewayUnavailable
from .base import Option
from .http import HTTPBackend, VendorResponse, json_object_or_empty

__all__ = ["AccessToken", "ClientCredentialsBackend"]


@dataclass(frozen=True, slots=True)
class AccessToken:
    """A bearer token and the monotonic time after which it is not used."""

    value: str = field(repr=False)
    use_until: float

    def usable(self, now: float) -> bool:
        return now < self.use_until


def _client_id_problem(value: str) -> str | None:
    return "may not contain ':' (HTTP Basic)" if ":" in value else None


class ClientCredentialsBackend(HTTPBackend):
    """An HTTP backend that sends its calls with a bearer token from
    ``token_url`` (default ``{base_url}{token_path}``), asked for
    ``scope`` with ``client_id`` and ``client_secret``. Subclasses set
    ``token_path`` and the ``scope`` option's default, and make their calls
    with :meth:`authorized_request`."""

    options: ClassVar[Mapping[str, Any]] = {
        **HTTPBackend.options,
        "client_id": Option(kind="credential", check=_client_id_problem, doc="OAuth client id of your API client"),
        "client_secret": Option(kind="secret", doc="its secret, sent only to token_url as HTTP Basic"),
        "token_url": Option(None, kind="url", doc="where tokens come from (default: base_url and token_path)"),
        "scope": Option(kind="text", doc="scope asked for"),
    }
    #: Where tokens come from when ``token_url`` is not given, below ``base_url``.
    token_path: ClassVar[str] = ""
    #: A token is dropped this many seconds before ``expires_in`` runs out, at
    #: most; short-lived tokens lose a tenth of their lifetime instead.
    token_expiry_margin: ClassVar[float] = 30.0
    #: Lifetime assumed when the token answer has no usable ``expires_in``.
    default_token_lifetime: ClassVar[float] = 60.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.token_url: str = self.config["token_url"] or self.url(self.token_path)
        credentials = f"{self.config['client_id']}:{self.config['client_secret']}".encode()
        self._basic_auth = "Basic " + base64.b64encode(credentials).decode("ascii")
        self._token: AccessToken | None = None
        self._token_lock = threading.Lock()
        #: Clock of token lifetimes (monotonic seconds); tests may replace it.
        self.clock: Callable[[], float] = time.monotonic

    def authorized_request(self, method: str, path: str, *, deadline: float, **kwargs: Any) -> VendorResponse:
        """One call with the bearer token, all by the monotonic ``deadline``
        (``kwargs`` as for :meth:`request`, ``headers`` aside); a 401 is
        answered by one new token and one retry."""
        token = self.access_token(deadline)
        response = self._bearer_request(method, path, token, deadline, **kwargs)
        if response.status == 401:
            self.discard_token(token)
            token = self.access_token(deadline)
            response = self._bearer_request(method, path, token, deadline, **kwargs)
        return response

    def _bearer_request(self, method: str, path: str, token: str, deadline: float, **kwargs: Any) -> VendorResponse:
        return self.request(method, path, timeout=self.time_left(deadline),
                            headers={"Authorization": f"Bearer {token}"}, **kwargs)

    def access_token(self, deadline: float) -> str:
        """A usable bearer token: the cached one, or one fetched now (threads
        that find none queue on a lock, bounded by ``deadline``)."""
        token = self._token
        if token is not None and token.usable(self.clock()):
            return token.value
        if not self._token_lock.acquire(timeout=self.time_left(deadline)):
            raise self.error(GatewayTimeout, "no access token within the time allowed")
        try:
            if self._token is None or not self._token.usable(self.clock()):
                self._token = self._fetch_token(deadline)
            return self._token.value
        finally:
            self._token_lock.release()

    def renew_token(self, deadline: float) -> None:
        """Fetch a new token now and keep it for the calls that follow."""
        token = self._fetch_token(deadline)
        with self._token_lock:
            self._token = token

    def discard_token(self, value: str) -> None:
        """Forget the cached token if it is still ``value``."""
        with self._token_lock:
            if self._token is not None and self._token.value == value:
                self._token = None

    def _fetch_token(self, deadline: float) -> AccessToken:
        started = self.clock()
        response = self.request("POST", self.token_url, timeout=self.time_left(deadline),
                                data={"grant_type": "client_credentials", "scope": self.config["scope"]},
                                headers={"Authorization": self._basic_auth})
        status = response.status
        if status == 429:
            raise self.error(GatewayRateLimited, "token request rate limited (HTTP 429)", status_code=status)
        if not 200 <= status < 500:
            raise self.error(GatewayUnavailable, f"token endpoint error (HTTP {status})", status_code=status)
        if status >= 400:
            error = json_object_or_empty(response.body).get("error")
            code = error if isinstance(error, str) and error.isascii() and error.replace("_", "").isalpha() \
                and len(error) <= 40 else None
            raise self.error(GatewayAuthError, f"token request refused (HTTP {status}{f', {code}' if code else ''})",
                             status_code=status, vendor_status=code)
        answer = self.read_json(response)
        value, token_type, lifetime = answer.get("access_token"), answer.get("token_type"), answer.get("expires_in")
        if not isinstance(value, str) or not value or not value.isprintable():
            raise self.error(GatewayUnavailable, "token answer without an access_token", status_code=status)
        if not isinstance(token_type, str) or token_type.lower() != "bearer":
            raise self.error(GatewayAuthError, "token answer is not a bearer token", status_code=status)
        if isinstance(lifetime, str) and lifetime.isdigit():
            lifetime = int(lifetime)
        if isinstance(lifetime, bool) or not isinstance(lifetime, int | float) or lifetime <= 0:
            lifetime = self.default_token_lifetime
        return AccessToken(value, started + lifetime - min(self.token_expiry_margin, lifetime / 10))

    def time_left(self, deadline: float) -> float:
        """Seconds until the monotonic ``deadline``; GatewayTimeout once it has passed."""
        left = deadline - time.monotonic()
        if left <= 0:
            raise self.error(GatewayTimeout, "time allowed for this gateway spent")
        return left

