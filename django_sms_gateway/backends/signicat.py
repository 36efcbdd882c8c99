"""Signicat SMS API (``POST {base_url}/sms/messages``) with an OAuth2 token.

Wire protocol (``seeds/signicat-sms-api.txt`` and ``vendors.md``):

- Token: ``POST {token_url}`` (default ``{base_url}/oidc/token``) with
  ``Authorization: Basic base64(client_id:client_secret)`` and the form body
  ``grant_type=client_credentials&scope=client.sms.send``; the answer is
  ``{"access_token", "token_type", "scope", "expires_in"}``.
- Send: JSON ``{"sender", "recipient", "message"}`` with
  ``Authorization: Bearer <token>``. 200 with an empty body means one of
  Signicat's gateways took the message; 400 is a problem document with
  ``violations``; 500 means no Signicat gateway took it.

One token serves every message until shortly before it expires. It is
shared by all threads of the process: when it must be fetched, one thread
fetches it while the others wait (the lock is never held during an SMS
call). A 401 from the SMS API gets one new token and one retry.
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
from .addressing import sender_problem
from .base import REQUIRED, SendResult, SMSMessage
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
    """Sends through Signicat's SMS API.

    OPTIONS: ``client_id`` and ``client_secret`` (required), ``token_url``
    (default ``{base_url}/oidc/token``), ``scope`` (default
    ``client.sms.send``), ``base_url`` (default ``https://id.signicat.com``)
    and ``sender`` (required here or through ``OTP_SMS_SENDER``: numeric up
    to 15 digits, or 1-11 of ``[A-Za-z0-9 ]``).

    Only one SMS part is allowed: a longer text is refused before calling.
    A 400 is :class:`RequestRejected` even when a violation names the
    recipient: we send only E.164 numbers that passed our own checks, so
    such a 400 means Signicat's rules differ from ours, and the next
    vendor may well deliver.
    """

    options: ClassVar[Mapping[str, Any]] = {
        **HTTPBackend.options,
        "client_id": REQUIRED,
        "client_secret": REQUIRED,
        "token_url": None,
        "scope": DEFAULT_SCOPE,
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
        for name in ("client_id", "client_secret", "scope"):
            value = self.config[name]
            if not isinstance(value, str) or not value.strip():
                raise self.config_error(f"option {name!r} must be a non-empty string")
        if ":" in self.config["client_id"]:
            raise self.config_error("option 'client_id' may not contain ':' (HTTP Basic authentication)")
        token_url = self.config["token_url"]
        if token_url is not None and (
            not isinstance(token_url, str) or not token_url.startswith(("http://", "https://"))
        ):
            raise self.config_error(f"option 'token_url' must be an http(s) URL, not {token_url!r}")
        sender = self.config["sender"]
        if sender is None:
            raise self.config_error("option 'sender' is required by Signicat (or set OTP_SMS_SENDER)")
        problem = sender_problem(sender)
        if problem:
            raise self.config_error(f"option 'sender' {problem}")

    # -- sending ------------------------------------------------------------

    def send(self, message: SMSMessage, *, timeout: float) -> SendResult:
        deadline = time.monotonic() + timeout
        payload = self.build_payload(message)
        token = self.access_token(deadline)
        response = self._post_message(payload, token, deadline)
        if response.status == 401:
            # The token was revoked or expired early: one new token, one retry.
            self.discard_token(token)
            token = self.access_token(deadline)
            response = self._post_message(payload, token, deadline)
        if response.status == 400:
            raise self._rejected(response, message)
        self.raise_for_status(response)
        if response.status != 200 or not _empty_or_json(response.body):
            # Signicat answers 200 with an empty body; anything else came from
            # something in between (a proxy's error page), not from Signicat.
            raise self.error(GatewayUnavailable, f"unexpected answer (HTTP {response.status})",
                             status_code=response.status)
        return SendResult(status="accepted", segments=1)

    def build_payload(self, message: SMSMessage) -> dict[str, str]:
        """The Sms object for ``message``, or a GatewayError when Signicat
        would refuse it (checked here so that nothing is sent)."""
        sender, _info = self.checked_text_message(message, "Signicat sends one (160 GSM-7 or 70 UCS-2 units)")
        return {"sender": sender, "recipient": message.recipient, "message": message.text}

    def _post_message(self, payload: dict[str, str], token: str, deadline: float) -> VendorResponse:
        return self.request(
            "POST",
            SEND_PATH,
            timeout=self._remaining(deadline),
            json=payload,
            headers={"Authorization": f"Bearer {token}"},
        )

    def _rejected(self, response: VendorResponse, message: SMSMessage) -> GatewayError:
        violations: list[object] = []
        try:
            problem = read_json(response.body)
        except UnreadableJSON:
            problem = None
        if isinstance(problem, dict) and isinstance(problem.get("violations"), list):
            violations = [v.get("message") for v in problem["violations"] if isinstance(v, dict)]
        detail = summarize(violations, known=self.known_violations)
        reason = "request rejected (HTTP 400)" + (f": {detail}" if detail else "")
        return self.error(RequestRejected, reason, status_code=400)

    # -- the access token ---------------------------------------------------

    def access_token(self, deadline: float) -> str:
        """A usable bearer token: the cached one, or one fetched now.

        Threads that find no usable token queue on a lock; the first fetches,
        the rest reuse its token. Waiting is bounded by ``deadline``.
        """
        token = self._token
        if token is not None and token.usable(self.clock()):
            return token.value
        if not self._token_lock.acquire(timeout=self._remaining(deadline)):
            raise self.error(GatewayTimeout, "no access token within the time allowed")
        try:
            token = self._token
            if token is None or not token.usable(self.clock()):
                token = self._fetch_token(deadline)
                self._token = token
            return token.value
        finally:
            self._token_lock.release()

    def discard_token(self, value: str) -> None:
        """Forget the cached token if it is still ``value`` (another thread
        may have replaced it already)."""
        with self._token_lock:
            if self._token is not None and self._token.value == value:
                self._token = None

    def _fetch_token(self, deadline: float) -> AccessToken:
        started = self.clock()
        response = self.request(
            "POST",
            self.token_url,
            timeout=self._remaining(deadline),
            data={"grant_type": "client_credentials", "scope": self.config["scope"]},
            headers={"Authorization": self._basic_auth},
        )
        if not response.ok:
            raise self._token_error(response)
        answer = self.read_json(response)
        value = answer.get("access_token")
        if not isinstance(value, str) or not value or not value.isprintable():
            raise self.error(GatewayUnavailable, "token answer without an access_token", status_code=response.status)
        token_type = answer.get("token_type", "Bearer")
        if not isinstance(token_type, str) or token_type.lower() != "bearer":
            raise self.error(GatewayAuthError, "token answer is not a bearer token", status_code=response.status)
        lifetime = answer.get("expires_in")
        if isinstance(lifetime, str) and lifetime.isdigit():
            lifetime = int(lifetime)
        if isinstance(lifetime, bool) or not isinstance(lifetime, (int, float)) or lifetime <= 0:
            lifetime = self.default_token_lifetime
        margin = min(self.token_expiry_margin, lifetime / 10)
        return AccessToken(value, started + lifetime - margin)

    def _token_error(self, response: VendorResponse) -> GatewayError:
        status = response.status
        kwargs: dict[str, Any] = {"status_code": status}
        if status == 429:
            return self.error(GatewayRateLimited, "token request rate limited (HTTP 429)", **kwargs)
        if status >= 500:
            return self.error(GatewayUnavailable, f"token endpoint error (HTTP {status})", **kwargs)
        if 400 <= status < 500:
            error = _oauth_error_code(response.body)
            kwargs["vendor_status"] = error
            detail = f", {error}" if error else ""
            return self.error(GatewayAuthError, f"token request refused (HTTP {status}{detail})", **kwargs)
        return self.error(GatewayUnavailable, f"unexpected token answer (HTTP {status})", **kwargs)

    def _remaining(self, deadline: float) -> float:
        left = deadline - time.monotonic()
        if left <= 0:
            raise self.error(GatewayTimeout, "time allowed for this gateway spent")
        return left


def _empty_or_json(body: bytes) -> bool:
    if not body.strip():
        return True
    try:
        read_json(body)
    except UnreadableJSON:
        return False
    return True


def _oauth_error_code(body: bytes) -> str | None:
    """The RFC 6749 ``error`` code of a token error answer, if it looks like one."""
    try:
        answer = read_json(body)
    except UnreadableJSON:
        return None
    error = answer.get("error") if isinstance(answer, dict) else None
    if isinstance(error, str) and 0 < len(error) <= 40 and error.replace("_", "").isalpha() and error.isascii():
        return error
    return None
