"""Vonage (formerly Nexmo) SMS API: ``POST {base_url}/sms/json``.

Wire facts and their public sources:

- Send: form fields ``api_key``, ``api_secret``, ``from``, ``to`` (the
  number in international format without ``+``), ``text``, ``type=unicode``
  for text outside GSM-7, optional ``callback`` (the delivery receipt URL)
  (Vonage SMS API reference, https://developer.vonage.com/en/api/sms;
  vonage-python-sdk ``vonage_sms``). A ``from`` number is "in E.164 format,
  without a leading ``+`` or ``00``" (vonage-python-sdk
  ``vonage_sms.SmsMessage``), so a sender written ``+4740003410`` or
  ``004740003410`` goes as ``4740003410``.
- The answer is HTTP 200 even for a refused message:
  ``{"message-count": "1", "messages": [{"to", "message-id", "status",
  "remaining-balance", "message-price", "network"}]}``; ``status`` "0" is
  the only success, anything else comes with ``error-text``; a long text
  gives one entry per SMS part (Troubleshooting SMS,
  https://developer.vonage.com/en/messaging/sms/guides/troubleshooting-sms).
- Per-message ``status`` codes (SMS API errors,
  https://developer.vonage.com/en/api-errors/sms): 1 throttled, 2 missing
  parameters, 3 invalid parameters, 4 invalid credentials, 5 internal error,
  6 invalid message (unrecognised number prefix), 7 number barred, 8 partner
  account barred, 9 partner quota violation (no credit), 10 too many binds,
  11 account not enabled for HTTP, 12 message too long, 14 invalid
  signature, 15 invalid sender address, 22 invalid network code, 23 invalid
  callback URL, 29 non-whitelisted destination (a trial account), 32
  signature and API secret disallowed, 33 number de-activated.
- Credentials check: ``GET {base_url}/account/get-balance`` with HTTP Basic
  ``api_key:api_secret`` (so the secret is in no URL) answers 200
  ``{"value", "autoReload"}`` or 401 (Account API balance snippet,
  https://developer.vonage.com/en/account/code-snippets/account-balance).

*Inferred* (each a hook in :data:`STATUS_ERRORS`): 7 and 33 (a barred or
de-activated number) are refused by every vendor, so no other gateway is
tried; 6 is Vonage's routing table, not the number (which passed our own
validation), so the next gateway is tried; a multi-part text counts as sent
only when every part is accepted.
"""

from __future__ import annotations

from typing import Any, ClassVar

from ..exceptions import (
    GatewayAuthError,
    GatewayError,
    GatewayRateLimited,
    GatewayUnavailable,
    RecipientRefused,
    RequestRejected,
)
from ..text import UCS2
from .base import CredentialCheck, Option, SendResult, SMSMessage
from .http import HTTPBackend

__all__ = ["SIGNATURE_METHODS", "STATUS_ERRORS", "VonageBackend"]

SEND_PATH = "/sms/json"
BALANCE_PATH = "/account/get-balance"
#: Signature methods of signed delivery receipts (Vonage "Signing Messages").
SIGNATURE_METHODS = ("md5hash", "md5", "sha1", "sha256", "sha512")

#: Vonage per-message ``status`` -> (our error class, our reason).
STATUS_ERRORS: dict[str, tuple[type[GatewayError], str]] = {
    "1": (GatewayRateLimited, "throttled"),
    "2": (RequestRejected, "missing parameters"),
    "3": (RequestRejected, "invalid parameters"),
    "4": (GatewayAuthError, "invalid credentials"),
    "5": (GatewayUnavailable, "internal error"),
    "6": (RequestRejected, "message not routable (unrecognised number prefix)"),
    "7": (RecipientRefused, "number barred"),
    "8": (GatewayAuthError, "account barred"),
    "9": (GatewayRateLimited, "quota exceeded (no credit)"),
    "10": (GatewayRateLimited, "too many connections"),
    "11": (GatewayAuthError, "account not enabled for the HTTP API"),
    "12": (RequestRejected, "message too long"),
    "14": (GatewayAuthError, "invalid signature"),
    "15": (RequestRejected, "invalid sender address"),
    "22": (RequestRejected, "invalid network code"),
    "23": (RequestRejected, "invalid callback URL"),
    "29": (RequestRejected, "destination not whitelisted (trial account)"),
    "32": (GatewayAuthError, "signature and API secret both given"),
    "33": (RecipientRefused, "number de-activated"),
}


class VonageBackend(HTTPBackend):
    """Sends our code through Vonage's SMS API.

    OPTIONS: ``api_key``, ``api_secret`` and ``sender`` (the ``from``;
    required here or through ``OTP_SMS_SENDER``); ``callback`` (delivery
    receipt URL: :func:`django_sms_gateway.webhooks.vonage.vonage_receipt_webhook`
    for this alias); ``signature_secret`` and ``signature_method`` (check
    signed receipts; default method ``md5hash``, Vonage's default);
    ``receipts_by_get`` (default False: receipts are taken by POST only);
    ``max_segments`` (default 1); ``base_url`` (default
    ``https://rest.nexmo.com``).
    """

    options: ClassVar[dict[str, Any]] = {
        **HTTPBackend.options,
        "sender": Option(None, kind="sender", doc="from: a number or an alphanumeric sender ID"),
        "api_key": Option(kind="credential", doc="the account's API key"),
        "api_secret": Option(kind="secret", doc="the account's API secret"),
        "callback": Option(None, kind="url", doc="URL Vonage sends delivery receipts to"),
        "signature_secret": Option(None, kind="secret", doc="checks signed delivery receipts"),
        "signature_method": Option("md5hash", kind="choice", choices=SIGNATURE_METHODS,
                                   doc="the dashboard's signature method"),
        "receipts_by_get": Option(False, kind="bool", doc="also take receipts by GET (puts msisdn in access logs)"),
        "max_segments": Option(1, kind="int", minimum=1, maximum=10, doc="most SMS parts per message"),
    }
    default_base_url: ClassVar[str] = "https://rest.nexmo.com"

    def check_options(self) -> None:
        if self.config["sender"] is None:
            raise self.config_error("option 'sender' is required by Vonage (or set OTP_SMS_SENDER)")
        self.max_segments = self.config["max_segments"]

    @property
    def receipts(self) -> bool:
        """True when ``callback`` and ``signature_secret`` are set: Vonage then
        sends each delivery receipt there, and the webhook can verify it."""
        return bool(self.config["callback"] and self.config["signature_secret"])

    def payload(self, message: SMSMessage) -> dict[str, str]:
        """The form fields for ``message``; a GatewayError, with nothing
        sent, when Vonage would refuse it."""
        sender, info = self.checked_text_message(message, f"this gateway sends at most {self.max_segments}")
        fields = {
            "api_key": self.config["api_key"],
            "api_secret": self.config["api_secret"],
            "from": vonage_sender(sender),
            "to": message.recipient.lstrip("+"),
            "text": message.text,
        }
        if info.encoding == UCS2:
            fields["type"] = "unicode"
        if self.config["callback"]:
            fields["callback"] = self.config["callback"]
        return fields

    def send(self, message: SMSMessage, *, timeout: float) -> SendResult:
        response = self.request("POST", SEND_PATH, timeout=timeout, data=self.payload(message))
        self.raise_for_status(response)
        data = self.read_json(response)
        parts = data.get("messages")
        if response.status != 200 or not isinstance(parts, list) or not parts:
            raise self.error(GatewayUnavailable, "answer without messages", status_code=response.status)
        for part in parts:
            status = part.get("status") if isinstance(part, dict) else None
            if status != "0":
                raise self.status_error(status, response.status)
            if not isinstance(part.get("message-id"), str) or not part["message-id"]:
                raise self.error(GatewayUnavailable, "accepted part without a message-id",
                                 status_code=response.status)
        return SendResult(reference=parts[0]["message-id"][:128], status="accepted", segments=len(parts))

    def status_error(self, status: object, http_status: int) -> GatewayError:
        """Our error for a per-message ``status`` other than "0"."""
        code = status if isinstance(status, str) and status.isdigit() and len(status) <= 4 else None
        cls, label = STATUS_ERRORS.get(code or "", (GatewayUnavailable, "message refused"))
        return self.error(cls, f"{label} (Vonage status {code or 'missing'})",
                          status_code=http_status, vendor_status=code)

    def check_credentials(self, *, timeout: float) -> CredentialCheck:
        """Read the balance over HTTP Basic, so the secret is in no URL."""
        check, _balance = self.read_check("Vonage", BALANCE_PATH, timeout=timeout,
                                          auth=(self.config["api_key"], self.config["api_secret"]))
        return check


def vonage_sender(sender: str) -> str:
    """``sender`` as Vonage's ``from`` takes it: a number without a leading
    ``+`` or ``00``; an alphanumeric sender as it is."""
    return sender.removeprefix("+").removeprefix("00") if sender.lstrip("+").isdigit() else sender
