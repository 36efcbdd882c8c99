"""Twilio Programmable Messaging (:class:`TwilioBackend`) and Twilio Verify
(:class:`TwilioVerifyBackend`, the vendor makes and checks the code).

Wire facts and their public sources:

- Every call: HTTP Basic with the Account SID and Auth Token, form-encoded
  fields, JSON answers (Twilio "Messages resource" API reference,
  https://www.twilio.com/docs/messaging/api/message-resource; twilio-python
  ``twilio/http/http_client.py``).
- Send: ``POST {base_url}/2010-04-01/Accounts/{AccountSid}/Messages.json``
  with ``To``, ``Body``, ``From`` or ``MessagingServiceSid``, optional
  ``StatusCallback``; the answer is ``201 Created`` with the Message resource:
  ``sid`` (``SM`` + 32 hex), ``status`` (``queued``, or ``accepted`` through a
  Messaging Service), ``num_segments`` (a string; "0" through a Messaging
  Service) (same page).
- Errors: ``{"code", "message", "more_info", "status"}`` with Twilio's error
  code (twilio-python ``TwilioRestException``): 21211 invalid ``To``, 21614
  ``To`` is not a mobile number, 21610 the recipient replied STOP, 21408 the
  region is not enabled, 21612 no route to the number, 20003 authentication,
  20429 too many requests (https://www.twilio.com/docs/api/errors/<code>).
- Account check: ``GET /2010-04-01/Accounts/{AccountSid}.json`` (Accounts
  resource, https://www.twilio.com/docs/iam/api/account).
- Verify (https://www.twilio.com/docs/verify/api/verification and
  ``/verification-check``): ``POST {base_url}/v2/Services/{ServiceSid}/Verifications``
  with ``To`` and ``Channel=sms`` answers 201 ``{"sid": "VE...", "status":
  "pending"}``; ``POST .../VerificationCheck`` with ``To`` and ``Code``
  answers 200 with ``status`` (``approved`` only for the right code) and
  ``valid`` (true only then); 404 (20404) when no pending verification is
  left (expired, approved, canceled, too many checks); 60200 invalid
  parameter, 60202 too many checks, 60203 too many sends (429). Service
  check: ``GET /v2/Services/{ServiceSid}`` with its ``code_length``.

*Inferred* (each a hook): which codes mean "every vendor would refuse this
number" (:attr:`TwilioAPI.recipient_refusals`; 21610 is among them, so an
opt-out is honoured rather than routed round through another vendor) and
which mean throttling (:attr:`TwilioAPI.rate_limit_codes`).
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from ..conf import settings
from ..exceptions import (
    GatewayAuthError,
    GatewayError,
    GatewayRateLimited,
    GatewayUnavailable,
    RecipientRefused,
    RequestRejected,
)
from ..vendor_json import UnreadableJSON, read_json_object
from .addressing import is_e164
from .base import REQUIRED, CredentialCheck, Option, SendResult, SMSMessage
from .http import HTTPBackend, VendorResponse
from .vendor_text import summarize

__all__ = ["ERROR_LABELS", "TwilioAPI", "TwilioBackend", "TwilioVerifyBackend"]

MESSAGE_SID = re.compile(r"(SM|MM)[0-9a-fA-F]{32}")
#: Message statuses that mean Twilio will not deliver it.
FAILED_STATUSES = frozenset({"failed", "undelivered", "canceled"})
#: Verify code lengths a Verify Service can be set to.
VERIFY_CODE_LENGTHS = range(4, 11)

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
}
_KNOWN_CODES = {str(code): f"{label} (Twilio {code})" for code, label in ERROR_LABELS.items()}


def _sid(prefix: str, doc: str, default: Any = REQUIRED) -> Option:
    """An option holding a Twilio SID: ``prefix`` and 32 hex digits."""
    pattern = re.compile(prefix + r"[0-9a-fA-F]{32}")
    return Option(
        default,
        kind="text",
        check=lambda value: None if pattern.fullmatch(value) else f"must be {prefix} followed by 32 hex digits",
        doc=doc,
    )


class TwilioAPI(HTTPBackend):
    """What Twilio's Messaging and Verify APIs share: the account
    credentials, HTTP Basic, and the error document."""

    options: ClassVar[dict[str, Any]] = {
        "base_url": HTTPBackend.options["base_url"],  # a sender only where one is sent (Messages)
        "account_sid": _sid("AC", "the Account SID"),
        "auth_token": Option(kind="secret", doc="the account's Auth Token"),
    }
    #: Error codes meaning the recipient, not this vendor, is the problem.
    recipient_refusals: ClassVar[frozenset[int]] = frozenset({21211, 21610, 21614})
    #: Error codes meaning we are throttled.
    rate_limit_codes: ClassVar[frozenset[int]] = frozenset({20429, 60203})

    @property
    def auth(self) -> tuple[str, str]:
        return (self.config["account_sid"], self.config["auth_token"])

    def twilio_error(self, response: VendorResponse) -> GatewayError:
        """Our error for a non-2xx answer, by Twilio's error code first."""
        code = _error_code(response.body)
        kwargs: dict[str, Any] = {"status_code": response.status, "vendor_status": str(code) if code else None}
        if code in ERROR_LABELS:
            reason = summarize([str(code)], known=_KNOWN_CODES)
        elif response.status >= 500:  # an undocumented code says nothing we can vouch for
            reason = f"HTTP {response.status}"
        else:
            reason = f"request rejected (HTTP {response.status})"
        if code in self.recipient_refusals:
            return self.error(RecipientRefused, reason, **kwargs)
        if code in self.rate_limit_codes or response.status == 429:
            return self.error(GatewayRateLimited, reason, **kwargs)
        if code == 20003 or response.status in (401, 403):
            return self.error(GatewayAuthError, reason, **kwargs)
        if response.status >= 500 or response.status < 400:
            return self.error(GatewayUnavailable, reason, **kwargs)
        return self.error(RequestRejected, reason, **kwargs)

    def _get_check(self, path: str, *, timeout: float) -> tuple[CredentialCheck, dict[str, Any] | None]:
        return self.read_check("Twilio", path, timeout=timeout, auth=self.auth)


class TwilioBackend(TwilioAPI):
    """Sends our code through Twilio's Messages resource.

    OPTIONS: ``account_sid`` and ``auth_token`` (required); ``sender`` (the
    ``From``: a Twilio number, short code or alphanumeric sender ID) or
    ``messaging_service_sid`` (``MG...``; then Twilio picks the sender from
    the service and ``From`` is not sent); ``status_callback`` (the URL of
    :func:`django_sms_gateway.webhooks.twilio.twilio_status_webhook` for this
    alias); ``max_segments`` (default 10: Twilio takes up to 1600
    characters); ``base_url`` (default ``https://api.twilio.com``).
    """

    options: ClassVar[dict[str, Any]] = {
        **TwilioAPI.options,
        "sender": Option(None, kind="sender", doc="From: a Twilio number, short code or alphanumeric ID"),
        "messaging_service_sid": _sid("MG", "a Messaging Service to send through instead of sender", None),
        "status_callback": Option(None, kind="url", doc="URL Twilio posts status changes to"),
        "max_segments": Option(10, kind="int", minimum=1, maximum=10, doc="most SMS parts per message"),
    }
    default_base_url: ClassVar[str] = "https://api.twilio.com"

    def check_options(self) -> None:
        if self.config["sender"] is None and self.config["messaging_service_sid"] is None:
            raise self.config_error("option 'sender' or 'messaging_service_sid' is required by Twilio")
        self.max_segments = self.config["max_segments"]

    def payload(self, message: SMSMessage) -> dict[str, str]:
        """The form fields for ``message``; a GatewayError, with nothing
        sent, when Twilio would refuse it."""
        service = self.config["messaging_service_sid"]
        parts_note = f"this gateway sends at most {self.max_segments}"
        if service:
            self.checked_parts(message, parts_note)
            fields = {"To": message.recipient, "MessagingServiceSid": service}
        else:
            sender, _info = self.checked_text_message(message, parts_note)
            fields = {"To": message.recipient, "From": sender}
        fields["Body"] = message.text
        if self.config["status_callback"]:
            fields["StatusCallback"] = self.config["status_callback"]
        return fields

    def send(self, message: SMSMessage, *, timeout: float) -> SendResult:
        path = f"/2010-04-01/Accounts/{self.config['account_sid']}/Messages.json"
        response = self.request("POST", path, timeout=timeout, data=self.payload(message), auth=self.auth)
        if not response.ok:
            raise self.twilio_error(response)
        data = self.read_json(response)
        sid, status = data.get("sid"), data.get("status")
        if response.status != 201 or not isinstance(sid, str) or not MESSAGE_SID.fullmatch(sid):
            raise self.error(GatewayUnavailable, f"answer is not a created message (HTTP {response.status})",
                             status_code=response.status)
        if not isinstance(status, str) or not status or status in FAILED_STATUSES:
            code = data.get("error_code")
            raise self.error(GatewayUnavailable, f"message {status or 'without status'} (Twilio {code})",
                             status_code=response.status, vendor_status=str(status)[:32])
        return SendResult(reference=sid, status=status[:32], segments=_segments(data.get("num_segments")))

    def check_credentials(self, *, timeout: float) -> CredentialCheck:
        outcome, _account = self._get_check(f"/2010-04-01/Accounts/{self.config['account_sid']}.json",
                                            timeout=timeout)
        return outcome


class TwilioVerifyBackend(TwilioAPI):
    """Twilio Verify makes, sends and checks the code (like iP1).

    OPTIONS: ``account_sid``, ``auth_token`` and ``service_sid`` (``VA...``,
    required); ``locale`` (Twilio's ``Locale`` of the SMS text; omitted:
    Twilio picks); ``base_url`` (default ``https://verify.twilio.com``).

    The text is the Verify Service's, so ``OTP_SMS_MESSAGE`` is not used;
    the Service's code length must equal ``OTP_SMS_TOKEN_LENGTH`` (codes of
    another length are refused on our side; ``sendtestsms --check`` says so).
    """

    options: ClassVar[dict[str, Any]] = {
        **TwilioAPI.options,
        "service_sid": _sid("VA", "the Verify Service"),
        "locale": Option(None, kind="text", doc="Locale of Verify's SMS text, such as 'nb'"),
    }
    default_base_url: ClassVar[str] = "https://verify.twilio.com"
    verifies_codes: ClassVar[bool] = True
    uses_site_message: bool = False

    def check_options(self) -> None:
        length = int(settings.OTP_SMS_TOKEN_LENGTH)
        if length not in VERIFY_CODE_LENGTHS:
            raise self.config_error(f"Twilio Verify makes codes of 4 to 10 digits; OTP_SMS_TOKEN_LENGTH is {length}")

    @property
    def service_path(self) -> str:
        return f"/v2/Services/{self.config['service_sid']}"

    def send(self, message: SMSMessage, *, timeout: float) -> SendResult:
        if not is_e164(message.recipient):
            raise self.error(RecipientRefused, "recipient is not an E.164 number")
        fields = {"To": message.recipient, "Channel": "sms"}
        if self.config["locale"]:
            fields["Locale"] = self.config["locale"]
        response = self.request("POST", f"{self.service_path}/Verifications", timeout=timeout, data=fields,
                                auth=self.auth)
        if not response.ok:
            raise self.twilio_error(response)
        data = self.read_json(response)
        sid = data.get("sid")
        if response.status != 201 or not isinstance(sid, str) or not sid.startswith("VE") \
                or data.get("status") != "pending":
            raise self.error(GatewayUnavailable, f"answer is not a pending verification (HTTP {response.status})",
                             status_code=response.status)
        return SendResult(reference=sid[:128], status="pending")

    def verify(self, recipient: str, code: str, *, timeout: float) -> bool:
        """True only for a 200 whose ``status`` is ``approved`` and whose
        ``valid`` is true; False when Verify says no (200 pending, 404 no
        pending verification, 60202 too many checks, 60200 a code it cannot
        take). Raises a GatewayError when Verify cannot answer, so the
        device neither accepts nor counts a failure."""
        response = self.request("POST", f"{self.service_path}/VerificationCheck", timeout=timeout,
                                data={"To": recipient, "Code": code}, auth=self.auth)
        if response.status == 200:
            data = self.read_json(response)
            return data.get("status") == "approved" and data.get("valid") is True
        if response.status == 404 or _error_code(response.body) in (60200, 60202):
            return False
        if response.ok:  # a 2xx other than the documented 200 says nothing about the code
            raise self.error(GatewayUnavailable, f"unexpected answer (HTTP {response.status})",
                             status_code=response.status)
        raise self.twilio_error(response)

    def check_credentials(self, *, timeout: float) -> CredentialCheck:
        outcome, service = self._get_check(self.service_path, timeout=timeout)
        length = service.get("code_length") if service else None
        expected = int(settings.OTP_SMS_TOKEN_LENGTH)
        if outcome.outcome == "accepted" and length != expected:
            return CredentialCheck("accepted", f"Twilio accepted the credentials, but the Verify Service makes "
                                               f"codes of {length} digits and OTP_SMS_TOKEN_LENGTH is {expected}")
        return outcome


def _error_code(body: bytes) -> int | None:
    """Twilio's numeric error ``code`` from an error document, if any."""
    try:
        code = read_json_object(body).get("code")
    except UnreadableJSON:
        return None
    return code if isinstance(code, int) and not isinstance(code, bool) and 0 < code < 10**6 else None


def _segments(value: Any) -> int | None:
    """``num_segments`` (a string of digits); None for "0" (not known yet)."""
    if isinstance(value, str) and value.isdigit() and value != "0":
        return int(value)
    return None
