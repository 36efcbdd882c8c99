"""What Twilio's Messaging and Verify APIs share: :class:`TwilioAPI`.

Wire facts and their public sources:

- Every call: HTTP Basic, form-encoded fields, JSON answers (Twilio
  "Messages resource" API reference,
  https://www.twilio.com/docs/messaging/api/message-resource; twilio-python
  ``twilio/http/http_client.py``). The Basic credentials are an API key's SID
  (``SK`` + 32 hex) and secret, "the recommended way to authenticate", or
  the Account SID and Auth Token, "limit your use to local testing" (Twilio
  "API requests", https://www.twilio.com/docs/usage/requests-to-twilio). A
  Standard API key reaches every resource but Accounts and Keys (Twilio
  "Create API keys in the Twilio Console",
  https://www.twilio.com/docs/iam/api-keys/keys-in-console).
- Errors: ``{"code", "message", "more_info", "status"}`` with Twilio's error
  code (twilio-python ``TwilioRestException``): 21211 invalid ``To``, 21614
  ``To`` is not a mobile number, 21610 the recipient replied STOP, 21408 the
  region is not enabled, 21612 no route to the number, 20003 authentication,
  20429 too many requests (https://www.twilio.com/docs/api/errors/<code>).
- Verify's limits on one number (HTTP 429): 60203 more than 5 sends to one
  verification, 60212 too many concurrent verifications for one phone
  number; and 20429, which at Verify also stands for its per-number
  safeguards (many starts for the same number, attempt limits, Service Rate
  Limits keyed by phone number) (the 20429, 60203 and 60212 error pages).

*Inferred* (each a hook): which codes mean "every vendor would refuse this
number" (:attr:`TwilioAPI.recipient_refusals`; 21610 is among them, so an
opt-out is honoured rather than routed round through another vendor), which
mean that Twilio limits this one recipient, so another vendor is tried and
Twilio's circuit breaker is not charged (:attr:`TwilioAPI.recipient_limit_codes`),
and which mean our account is throttled (:attr:`TwilioAPI.rate_limit_codes`).
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from ..exceptions import (
    GatewayAuthError,
    GatewayError,
    GatewayRateLimited,
    GatewayUnavailable,
    RecipientRateLimited,
    RecipientRefused,
    RequestRejected,
)
from .base import REQUIRED, CredentialCheck, Option
from .http import HTTPBackend, VendorResponse, json_object_or_empty, summarize

__all__ = ["ERROR_LABELS", "TwilioAPI", "error_code", "sid_option"]

#: Twilio error code -> our short reason (never Twilio's ``message``, which
#: may repeat the number).
ERROR_LABELS: dict[int, str] = {
    20003: "credentials refused",
    20404: "resource not found",
    20429: "too many requests",
    21211: "invalid To number",
    21212: "invalid From number",
    21408: "sending to this region is not enabled",
    21606: "From number is not an SMS-capable number of this account",
    21610: "recipient has unsubscribed (replied STOP)",
    21611: "From number's queue is full",
    21612: "no route to this number",
    21614: "To number is not a mobile number",
    60200: "invalid parameter",
    60202: "too many checks of this verification",
    60203: "too many codes sent to this number",
    60212: "too many concurrent verifications for this number",
}
_KNOWN_CODES = {str(code): f"{label} (Twilio {code})" for code, label in ERROR_LABELS.items()}


def sid_option(prefix: str, doc: str, default: Any = REQUIRED) -> Option:
    """An option holding a Twilio SID: ``prefix`` and 32 hex digits."""
    pattern = re.compile(prefix + r"[0-9a-fA-F]{32}")
    return Option(
        default,
        kind="credential",
        check=lambda value: None if pattern.fullmatch(value) else f"must be {prefix} followed by 32 hex digits",
        doc=doc,
    )


class TwilioAPI(HTTPBackend):
    """What Twilio's Messaging and Verify APIs share: the account
    credentials, HTTP Basic, and the error document.

    Calls authenticate with ``api_key_sid`` and ``api_key_secret`` when they
    are given (Twilio's advice for production), else with ``account_sid``
    and ``auth_token``."""

    options: ClassVar[dict[str, Any]] = {
        "base_url": HTTPBackend.options["base_url"],  # a sender only where one is sent (Messages)
        "account_sid": sid_option("AC", "the Account SID"),
        "auth_token": Option(None, kind="secret", doc="the account's Auth Token"),
        "api_key_sid": sid_option("SK", "an API key to call with instead of the Auth Token", None),
        "api_key_secret": Option(None, kind="secret", doc="that API key's secret"),
    }
    #: Error codes meaning the recipient, not this vendor, is the problem.
    recipient_refusals: ClassVar[frozenset[int]] = frozenset({21211, 21610, 21614})
    #: Error codes meaning Twilio limits this one recipient, not our account.
    recipient_limit_codes: ClassVar[frozenset[int]] = frozenset({60203, 60212})
    #: Error codes meaning our account is throttled.
    rate_limit_codes: ClassVar[frozenset[int]] = frozenset({20429})

    #: HTTP Basic credentials of every call.
    auth: tuple[str, str]

    def check_options(self) -> None:
        key, secret = self.config["api_key_sid"], self.config["api_key_secret"]
        if (key is None) != (secret is None):
            raise self.config_error("options 'api_key_sid' and 'api_key_secret' go together")
        if key is None and self.config["auth_token"] is None:
            raise self.config_error("option 'auth_token' is required (or 'api_key_sid' and 'api_key_secret')")
        self.auth = (key, secret) if self.uses_api_key else (self.config["account_sid"], self.config["auth_token"])

    @property
    def uses_api_key(self) -> bool:
        return self.config["api_key_sid"] is not None

    def twilio_error(self, response: VendorResponse) -> GatewayError:
        """Our error for a non-2xx answer, by Twilio's error code first."""
        code = error_code(response.body)
        kwargs: dict[str, Any] = {"status_code": response.status, "vendor_status": str(code) if code else None}
        if code in ERROR_LABELS:
            reason = summarize([str(code)], known=_KNOWN_CODES)
        elif response.status >= 500:  # an undocumented code says nothing we can vouch for
            reason = f"HTTP {response.status}"
        else:
            reason = f"request rejected (HTTP {response.status})"
        if code in self.recipient_refusals:
            return self.error(RecipientRefused, reason, **kwargs)
        if code in self.recipient_limit_codes:
            return self.error(RecipientRateLimited, reason, **kwargs)
        if code in self.rate_limit_codes or response.status == 429:
            return self.error(GatewayRateLimited, reason, **kwargs)
        if code == 20003 or response.status in (401, 403):
            return self.error(GatewayAuthError, reason, **kwargs)
        if response.status >= 500 or response.status < 400:
            return self.error(GatewayUnavailable, reason, **kwargs)
        return self.error(RequestRejected, reason, **kwargs)

    def _get_check(self, path: str, *, timeout: float) -> tuple[CredentialCheck, dict[str, Any] | None]:
        return self.read_check("Twilio", path, timeout=timeout, auth=self.auth)


def error_code(body: bytes) -> int | None:
    """Twilio's numeric error ``code`` from an error document, if any."""
    code = json_object_or_empty(body).get("code")
    return code if isinstance(code, int) and not isinstance(code, bool) and 0 < code < 10**6 else None
