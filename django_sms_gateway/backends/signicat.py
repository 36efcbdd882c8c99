"""Signicat SMS API with an OAuth2 client-credentials token.

Wire facts and their sources:

- Send ``POST {base_url}/sms/messages``, JSON ``{"sender", "recipient",
  "message"}`` with ``Authorization: Bearer <token>``; one recipient per call,
  one-time passwords only, one SMS (160 GSM-7 / 70 UCS-2); sender numeric up
  to 15 digits or 1-11 of ``[A-Za-z0-9 ]``. "An empty response with HTTP
  response code 200" is the only success; 400 is a problem document with
  ``violations``; 500 means no Signicat gateway took the message. Hosts
  ``https://id.signicat.com``, ``https://preprod.signicat.com``,
  ``https://beta.signicat.com``. Source: Signicat, "SMS API",
  https://developer.signicat.com/enterprise/apis/sms-api/
- Token ``POST {base_url}/oidc/token`` (form ``grant_type=client_credentials``
  and ``scope``, here ``client.sms.send``) with ``Authorization: Basic
  base64(client_id:client_secret)``; the answer ``{"access_token",
  "token_type", "scope", "expires_in"}``; European tenants at
  ``https://eu01.signicat.com``. Source: Signicat, "Accessing Signicat REST
  services", https://developer.signicat.com/enterprise/apis/accessing-rest-services.html
- *Inferred*: token errors follow RFC 6749 (``{"error"}``); how early a token
  is renewed (:attr:`SignicatBackend.token_expiry_margin`) and the lifetime
  assumed without ``expires_in`` (:attr:`SignicatBackend.default_token_lifetime`);
  that a 401 from the SMS API means a stale token (one new token, one retry).

One token serves every thread of the process until shortly before it
expires; when it must be fetched, one thread fetches it while the others
wait (the lock is never held during an SMS call).
"""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..exceptions import (
    GatewayAuthError,
    GatewayError,
    GatewayRateLimited,
    GatewayTimeout,
    GatewayUnavailable,
    RequestRejected,
)
from ..vendor_json import UnreadableJSON, read_json
from .base import CredentialCheck, Option, SendResult, SMSMessage
from .http import HTTPBackend, VendorResponse
from .vendor_text import summarize

__all__ = ["AccessToken", "SignicatBackend"]

SEND_PATH = "/sms/messages"
DEFAULT_SCOPE = "client.sms.send"


@dataclass(frozen=True, slots=True)
class AccessToken:
    """A bearer token and the monotonic time after which it is not used."""

    value: str = field(repr=False)
    use_until: float

    def usable(self, now: float) -> bool:
        return now < self.use_until


class SignicatBackend(HTTPBackend):
    """Sends through Signicat's SMS API (options: :attr:`options`). One SMS
    part only: a longer text is refused before calling. A 400 is
    :class:`RequestRejected` even when a violation names the recipient: we
    send only E.164 numbers that passed our own checks, so the next vendor
    may well deliver."""

    options: ClassVar[Mapping[str, Any]] = {
        **HTTPBackend.options,
        "sender": Option(None, kind="sender", doc="numeric up to 15 digits, or 1-11 of A-Z a-z 0-9 and space"),
        "client_id": Option(kind="text", check=lambda v: "may not contain ':' (HTTP Basic)" if ":" in v else None,
                            doc="OAuth client id of your Signicat API client"),
        "client_secret": Option(kind="secret", doc="its secret, sent only to token_url as HTTP Basic"),
        "token_url": Option(None, kind="url", doc="where tokens come from (default {base_url}/oidc/token)"),
        "scope": Option(DEFAULT_SCOPE, kind="text", doc="scope asked for; the SMS API refuses tokens without it"),
    }
    default_base_url: ClassVar[str] = "https://id.signicat.com"
    max_segments = 1
    #: A token is dropped this many seconds before ``expires_in`` runs out, at
    #: most; short-lived tokens lose a tenth of their lifetime instead.
    token_expiry_margin: ClassVar[float] = 30.0
    #: Lifetime assumed when the token answer has no usable ``expires_in``.
    default_token_lifetime: ClassVar[float] = 60.0
    #: Violation messages a reason may repeat. Signicat's SMS API page shows
    #: the one for ``message``; the same wording for the other properties is
    #: *inferred*. Any other violation shows as "unlisted vendor message".
    known_violations: ClassVar[tuple[str, ...]] = tuple(
        f"The sms property '{name}' has to be set" for name in ("sender", "recipient", "message")
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.token_url: str = self.config["token_url"] or self.url("/oidc/token")
        credentials = f"{self.config['client_id']}:{self.config['client_secret']}".encode()
        self._basic_auth = "Basic " + base64.b64encode(credentials).decode("ascii")
        self._token: AccessToken | None = None
        self._token_lock = threading.Lock()
        #: Clock of token lifetimes (monotonic seconds); tests may replace it.
        self.clock: Callable[[], float] = time.monotonic

    def check_options(self) -> None:
        if self.config["sender"] is None:
            raise self.config_error("option 'sender' is required by Signicat (or set OTP_SMS_SENDER)")

    def send(self, message: SMSMessage, *, timeout: float) -> SendResult:
        deadline = time.monotonic() + timeout
        sender, _info = self.checked_text_message(message, "Signicat sends one (160 GSM-7 or 70 UCS-2 units)")
        payload = {"sender": sender, "recipient": message.recipient, "message": message.text}
        token = self.access_token(deadline)
        response = self._post_message(payload, token, deadline)
        if response.status == 401:
            self.discard_token(token)
            token = self.access_token(deadline)
            response = self._post_message(payload, token, deadline)
        if response.status == 400:
            raise self._rejected(response, message)
        self.raise_for_status(response)
        if not self.accepted(response):
            raise self.error(GatewayUnavailable, f"answer is not Signicat's yes (HTTP {response.status} "
                             f"with {len(response.body)} bytes)", status_code=response.status)
        return SendResult(status="accepted", segments=1)

    def accepted(self, response: VendorResponse) -> bool:
        """Signicat's documented yes: 200 with an empty body (anything else
        came from something in between, such as a proxy's page)."""
        return response.status == 200 and not response.body.strip()

    def _post_message(self, payload: dict[str, str], token: str, deadline: float) -> VendorResponse:
        return self.request("POST", SEND_PATH, timeout=self._remaining(deadline), json=payload,
                            headers={"Authorization": f"Bearer {token}"})

    def _rejected(self, response: VendorResponse, message: SMSMessage) -> GatewayError:
        violations = _json_object(response.body).get("violations")
        violations = violations if isinstance(violations, list) else []
        detail = summarize([v.get("message") for v in violations if isinstance(v, dict)], known=self.known_violations)
        return self.error(RequestRejected, "request rejected (HTTP 400)" + (f": {detail}" if detail else ""),
                          status_code=400)

    def check_credentials(self, *, timeout: float) -> CredentialCheck:
        """Fetch a token (no SMS is sent)."""
        try:
            token = self._fetch_token(time.monotonic() + timeout)
        except GatewayAuthError as error:
            return CredentialCheck("refused", f"Signicat refused the client credentials (HTTP {error.status_code})")
        except GatewayError as error:
            return CredentialCheck("unchecked", f"Signicat could not answer: {error.reason}")
        with self._token_lock:
            self._token = token
        return CredentialCheck("accepted", f"Signicat issued a token for scope {self.config['scope']!r}")

    def access_token(self, deadline: float) -> str:
        """A usable bearer token: the cached one, or one fetched now (threads
        that find none queue on a lock, bounded by ``deadline``)."""
        token = self._token
        if token is not None and token.usable(self.clock()):
            return token.value
        if not self._token_lock.acquire(timeout=self._remaining(deadline)):
            raise self.error(GatewayTimeout, "no access token within the time allowed")
        try:
            if self._token is None or not self._token.usable(self.clock()):
                self._token = self._fetch_token(deadline)
            return self._token.value
        finally:
            self._token_lock.release()

    def discard_token(self, value: str) -> None:
        """Forget the cached token if it is still ``value``."""
        with self._token_lock:
            if self._token is not None and self._token.value == value:
                self._token = None

    def _fetch_token(self, deadline: float) -> AccessToken:
        started = self.clock()
        response = self.request("POST", self.token_url, timeout=self._remaining(deadline),
                                data={"grant_type": "client_credentials", "scope": self.config["scope"]},
                                headers={"Authorization": self._basic_auth})
        status = response.status
        if status == 429:
            raise self.error(GatewayRateLimited, "token request rate limited (HTTP 429)", status_code=status)
        if not 200 <= status < 500:
            raise self.error(GatewayUnavailable, f"token endpoint error (HTTP {status})", status_code=status)
        if status >= 400:
            error = _json_object(response.body).get("error")
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

    def _remaining(self, deadline: float) -> float:
        left = deadline - time.monotonic()
        if left <= 0:
            raise self.error(GatewayTimeout, "time allowed for this gateway spent")
        return left


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        answer = read_json(body)
    except UnreadableJSON:
        return {}
    return answer if isinstance(answer, dict) else {}
