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
  The token and its cache are :mod:`.oauth2`'s.
- No delivery receipts: a 200 "does not guarantee that the message will be
  delivered", and the API has no callback or status endpoint (the same SMS
  API page); ``receipts`` stays False.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, ClassVar

from ..exceptions import GatewayAuthError, GatewayError, GatewayUnavailable, RequestRejected
from .base import CredentialCheck, Option, SendResult, SMSMessage
from .http import VendorResponse, json_object_or_empty, summarize
from .oauth2 import ClientCredentialsBackend

__all__ = ["SignicatBackend"]

SEND_PATH = "/sms/messages"
DEFAULT_SCOPE = "client.sms.send"


class SignicatBackend(ClientCredentialsBackend):
    """Sends through Signicat's SMS API (options: :attr:`options`). One SMS
    part only: a longer text is refused before calling. A 400 is
    :class:`RequestRejected` even when a violation names the recipient: we
    send only E.164 numbers that passed our own checks, so the next vendor
    may well deliver."""

    options: ClassVar[Mapping[str, Any]] = {
        **ClientCredentialsBackend.options,
        "sender": Option(None, kind="sender", doc="numeric up to 15 digits, or 1-11 of A-Z a-z 0-9 and space"),
        "scope": Option(DEFAULT_SCOPE, kind="text", doc="scope asked for; the SMS API refuses tokens without it"),
    }
    default_base_url: ClassVar[str] = "https://id.signicat.com"
    token_path: ClassVar[str] = "/oidc/token"  # noqa: S105 (a path, not a password)
    max_segments = 1
    #: Violation messages a reason may repeat. Signicat's SMS API page shows
    #: the one for ``message``; the same wording for the other properties is
    #: *inferred*. Any other violation shows as "unlisted vendor message".
    known_violations: ClassVar[tuple[str, ...]] = tuple(
        f"The sms property '{name}' has to be set" for name in ("sender", "recipient", "message")
    )

    def check_options(self) -> None:
        if self.config["sender"] is None:
            raise self.config_error("option 'sender' is required by Signicat (or set OTP_SMS_SENDER)")

    def send(self, message: SMSMessage, *, timeout: float) -> SendResult:
        deadline = time.monotonic() + timeout
        sender, _info = self.checked_text_message(message, "Signicat sends one (160 GSM-7 or 70 UCS-2 units)")
        payload = {"sender": sender, "recipient": message.recipient, "message": message.text}
        response = self.authorized_request("POST", SEND_PATH, deadline=deadline, json=payload)
        if response.status == 400:
            raise self._rejected(response)
        self.raise_for_status(response)
        if not self.accepted(response):
            raise self.error(GatewayUnavailable, f"answer is not Signicat's yes (HTTP {response.status} "
                             f"with {len(response.body)} bytes)", status_code=response.status)
        return SendResult(status="accepted", segments=1)

    def accepted(self, response: VendorResponse) -> bool:
        """Signicat's documented yes: 200 with an empty body (anything else
        came from something in between, such as a proxy's page)."""
        return response.status == 200 and not response.body.strip()

    def _rejected(self, response: VendorResponse) -> GatewayError:
        violations = json_object_or_empty(response.body).get("violations")
        violations = violations if isinstance(violations, list) else []
        detail = summarize([v.get("message") for v in violations if isinstance(v, dict)], known=self.known_violations)
        return self.error(RequestRejected, "request rejected (HTTP 400)" + (f": {detail}" if detail else ""),
                          status_code=400)

    def check_credentials(self, *, timeout: float) -> CredentialCheck:
        """Fetch a token (no SMS is sent); it is kept for the next send."""
        try:
            self.renew_token(time.monotonic() + timeout)
        except GatewayAuthError as error:
            return CredentialCheck("refused", f"Signicat refused the client credentials (HTTP {error.status_code})")
        except GatewayError as error:
            return CredentialCheck("unchecked", f"Signicat could not answer: {error.reason}")
        return CredentialCheck("accepted", f"Signicat issued a token for scope {self.config['scope']!r}")
