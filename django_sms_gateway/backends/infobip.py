"""Infobip SMS API v3: ``POST /sms/3/messages``.

Wire facts and their sources:

- Send: ``POST {base_url}/sms/3/messages`` with ``Authorization: App <api
  key>`` and JSON ``{"messages": [{"sender", "destinations": [{"to"}],
  "content": {"text"}, "options": {"validityPeriod": {"amount", "timeUnit"}}}]}``
  (Infobip "Quickstart: Send an SMS", infobip.com/docs/developer-resources/quickstart;
  the official infobip-api-python-client models ``SmsRequest``, ``SmsMessage``,
  ``SmsMessageOptions`` and ``ValidityPeriod`` with units SECONDS/MINUTES/HOURS).
- ``base_url`` is per account (``https://xxxxx.api.infobip.com``): the
  quickstart's "Base URL of your account"; so it is required.
- Answer: ``200 {"bulkId", "messages": [{"messageId", "destination",
  "status": {"groupId", "groupName", "id", "name", "description"},
  "details": {"messageCount"}}]}`` (the client's ``SmsResponse`` and its
  tests). Status groups ``ACCEPTED``, ``PENDING``, ``UNDELIVERABLE``,
  ``DELIVERED``, ``EXPIRED``, ``REJECTED`` (``MessageGeneralStatus``; Infobip
  "Response status and error codes", infobip.com/docs/essentials/api-essentials/response-status-and-error-codes).
- Errors: 4xx/5xx ``{"errorCode", "description", "action", "violations",
  "resources"}`` (the client's ``ApiError``, documented for 400, 401, 403,
  500); older endpoints answer ``{"requestError": {"serviceException":
  {"messageId", "text"}}}`` (``ApiException``). Only the codes are read.
- ``to`` in international format without ``+`` (``41793026727`` in every
  Infobip example); whether ``+`` is also taken is not stated, so the
  format is an option (``number_format``: ``digits`` or ``e164``, *inferred*).
- Accepted means a message id with status group ``PENDING`` or ``ACCEPTED``;
  that other groups at submission mean refusal is *inferred* from the
  status-code page (hook: :meth:`InfobipBackend.accepted`). ``REJECTED``
  names about the destination (``REJECTED_DESTINATION``,
  ``REJECTED_INVALID_DESTINATION_ADDRESS``, ``REJECTED_PREFIX_MISSING``,
  ``REJECTED_NETWORK``) are the recipient's, not Infobip's health.
- The same page: ``REJECTED_FLOODING_FILTER`` (id 20) is Infobip's
  anti-flooding limit on one number ("a single number can only receive 20
  varied and 6 identical messages per hour"): the recipient's, so another
  vendor is tried and Infobip's circuit breaker is not charged.
  ``REJECTED_SYSTEM_ERROR`` (id 21) is Infobip's own error ("Retry the
  submission"): it counts against Infobip. ``REJECTED_NOT_ENOUGH_CREDITS``
  (id 12) is our account's quota.
- The 200 answer only says Infobip took the message ("The send response is
  an acceptance, not an outcome", Infobip "Message status codes",
  infobip.com/docs/developer-resources/api-fundamentals/message-status-codes):
  a send is recorded as accepted, and the outcome comes in a delivery report.
- Delivery reports: each message's ``webhooks`` object, ``{"delivery":
  {"url", "intermediateReport", "notify"}, "contentType"}`` (the client's
  ``SmsWebhooks`` and ``SmsMessageDeliveryReporting``; "Webhooks",
  infobip.com/docs/developer-resources/api-fundamentals/webhooks: "Per-request
  ... APIs with the webhooks.delivery object use url, contentType, and
  notify"). A per-request webhook carries no credentials: Infobip's basic,
  HMAC and OAuth security settings belong to Subscriptions Management
  ("Create security settings", infobip.com/docs/api/platform/subscriptions-api),
  not to a URL given with a message. So the URL sent is ``notify_url`` with
  this alias's ``notify_secret`` as its query (``?secret=...``), which
  :mod:`django_sms_gateway.webhooks.infobip` checks.
"""

from __future__ import annotations

from typing import Any, ClassVar

from ..checks import E035
from ..exceptions import GatewayError, GatewayRateLimited, GatewayUnavailable, RecipientRateLimited, RequestRejected
from .base import CredentialCheck, Option, SendResult, SMSMessage
from .http import (
    HTTPBackend,
    callback_secret_problem,
    callback_url,
    callback_url_in_clear,
    callback_url_problem,
    json_object_or_empty,
    summarize,
)

__all__ = ["InfobipBackend"]

SEND_PATH = "/sms/3/messages"
BALANCE_PATH = "/account/1/balance"
ACCEPTED_GROUPS = frozenset({"PENDING", "ACCEPTED"})
#: REJECTED status names about the number, not about Infobip or our account.
RECIPIENT_STATUSES = frozenset(
    {"REJECTED_DESTINATION", "REJECTED_INVALID_DESTINATION_ADDRESS", "REJECTED_PREFIX_MISSING",
     "REJECTED_NETWORK", "REJECTED_DESTINATION_NOT_REGISTERED"}
)
#: REJECTED status names -> our error, where it is not :class:`RequestRejected`.
STATUS_ERRORS: dict[str, type[GatewayError]] = {
    "REJECTED_NOT_ENOUGH_CREDITS": GatewayRateLimited,  # our account's quota
    "REJECTED_FLOODING_FILTER": RecipientRateLimited,  # a limit on one number
    "REJECTED_SYSTEM_ERROR": GatewayUnavailable,  # Infobip's own error
}
#: Status names and group names kept in a failure's reason (Infobip's status-code page).
KNOWN_STATUSES = RECIPIENT_STATUSES | frozenset(STATUS_ERRORS) | frozenset(
    {"REJECTED_SENDER", "REJECTED_SOURCE", "REJECTED", "UNDELIVERABLE", "EXPIRED", "DELIVERED"}
)


class InfobipBackend(HTTPBackend):
    """Sends through Infobip's SMS API v3."""

    options: ClassVar[dict[str, Any]] = {
        **HTTPBackend.options,
        "base_url": Option(kind="url", doc="Your account's base URL (https://xxxxx.api.infobip.com)."),
        "api_key": Option(kind="secret", doc="An API key (sent as 'Authorization: App <key>')."),
        "number_format": Option("digits", kind="choice", choices=("digits", "e164"),
                                doc="'digits' (4798765432) or 'e164' (+4798765432)."),
        "max_message_parts": Option(1, kind="int", minimum=1, maximum=10, doc="Most SMS parts one code may take."),
        "notify_url": Option(None, kind="url", check=callback_url_problem,
                             doc="This alias's delivery-report webhook, .../webhooks/infobip/<alias>/."),
        "notify_secret": Option(None, kind="secret", check=callback_secret_problem,
                                doc="Unguessable secret added to notify_url; a per-request webhook is unsigned."),
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.max_segments = self.config["max_message_parts"]
        self._auth = {"Authorization": f"App {self.config['api_key']}"}
        self._webhooks: dict[str, Any] = {}
        if self.config["notify_url"]:
            self._webhooks = {"webhooks": {
                "delivery": {"url": callback_url(self.config["notify_url"], self.config["notify_secret"]),
                             "intermediateReport": False, "notify": True},
                "contentType": "application/json",
            }}

    @property
    def receipts(self) -> bool:
        """True when ``notify_url`` is set: each message asks for its delivery report."""
        return bool(self._webhooks)

    def check_options(self) -> None:
        if self.config["sender"] is None:
            raise self.config_error("option 'sender' is required by Infobip (or set OTP_SMS_SENDER)")
        if bool(self.config["notify_url"]) != bool(self.config["notify_secret"]):
            raise self.config_error("options 'notify_url' and 'notify_secret' go together: a report to a "
                                    "per-request webhook is unsigned, so the secret in the URL is what proves "
                                    "one genuine")
        if self.config["notify_url"] and callback_url_in_clear(self.config["notify_url"]):
            raise self.config_error("option 'notify_url' is plain http:// to a host that is not loopback, which "
                                    "would carry its secret in clear; use https://", check_id=E035)

    def send(self, message: SMSMessage, *, timeout: float) -> SendResult:
        sender, info = self.checked_text_message(message, f"this gateway sends at most {self.max_segments}")
        to = message.recipient if self.config["number_format"] == "e164" else message.recipient.lstrip("+")
        payload = {"messages": [{
            "sender": sender,
            "destinations": [{"to": to}],
            "content": {"text": message.text},
            "options": {"validityPeriod": {"amount": message.validity, "timeUnit": "SECONDS"}},
            **self._webhooks,
        }]}
        response = self.request("POST", SEND_PATH, timeout=timeout, json=payload, headers=self._auth)
        self.raise_for_status(response, vendor_status=_error_code(response.body) if not response.ok else None)
        answer = self.read_json(response)
        messages = answer.get("messages")
        sent = messages[0] if isinstance(messages, list) and len(messages) == 1 else None
        if not isinstance(sent, dict) or not isinstance(sent.get("status"), dict):
            raise self.error(GatewayUnavailable, "unexpected answer (no message status)", status_code=response.status)
        if not self.accepted(sent):
            raise self._refused(sent["status"])
        count = (sent.get("details") or {}).get("messageCount") if isinstance(sent.get("details"), dict) else None
        return SendResult(
            reference=sent["messageId"],
            status=str(sent["status"].get("name") or "accepted")[:40],
            segments=count if isinstance(count, int) and not isinstance(count, bool) else info.segments,
        )

    def accepted(self, sent: dict[str, Any]) -> bool:
        """Whether Infobip says it took the message: an id and a PENDING or ACCEPTED status."""
        message_id = sent.get("messageId")
        return (
            isinstance(message_id, str) and 0 < len(message_id) <= 100 and message_id.isprintable()
            and sent["status"].get("groupName") in ACCEPTED_GROUPS
        )

    def _refused(self, status: dict[str, Any]) -> GatewayError:
        name = status.get("name")
        whose = "recipient" if name in RECIPIENT_STATUSES else "message"
        shown = summarize([name or status.get("groupName")], known=KNOWN_STATUSES)
        kind = STATUS_ERRORS.get(name, RequestRejected) if isinstance(name, str) else RequestRejected
        return self.error(kind, f"{whose} refused ({shown or 'no status name'})",
                          vendor_status=name if name in KNOWN_STATUSES else None)

    def check_credentials(self, *, timeout: float) -> CredentialCheck:
        """Read the account balance (``GET /account/1/balance``, Infobip's
        "Get account balance"): harmless, and refused without a valid key."""
        check, _balance = self.read_check("Infobip", BALANCE_PATH, timeout=timeout, headers=self._auth)
        return check


def _error_code(body: bytes) -> str | None:
    """The ``errorCode`` (v3) or ``messageId`` (older API) of an error answer."""
    answer = json_object_or_empty(body)
    code = answer.get("errorCode")
    if code is None and isinstance(answer.get("requestError"), dict):
        exception = answer["requestError"].get("serviceException")
        code = exception.get("messageId") if isinstance(exception, dict) else None
    if isinstance(code, str) and 0 < len(code) <= 40 and code.isascii() and code.replace("_", "").isalnum():
        return code
    return None
