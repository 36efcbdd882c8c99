"""Sinch SMS REST API: one batch of one message per code.

Wire facts and their sources:

- Send: ``POST {base_url}/xms/v1/{service_plan_id}/batches`` with
  ``Authorization: Bearer {api_token}`` and JSON ``{"from", "to": [E.164],
  "body"}``; the answer is ``201`` with the batch ``{"id", "to", "from",
  "canceled", "body", "type": "mt_text", "created_at", ...}`` (Sinch SMS API
  reference, "Batches > Send", developers.sinch.com/docs/sms/api-reference/sms/batches).
- ``max_number_of_message_parts``: "Message will be dispatched only if it is
  not split to more parts than" this number, and ``expire_at`` (ISO 8601):
  the same reference, and the official Sinch SDKs (sinch-sdk-python,
  sinch-sdk-java) which carry both fields.
- Base URL per region, ``https://{region}.sms.api.sinch.com`` with regions
  ``us``, ``eu``, ``au``, ``br`` and ``ca`` (API reference "Servers"; option
  ``region``, or ``base_url`` for any other host).
- Errors: 400 and 403 answer ``{"code", "text"}``; 400 codes
  ``syntax_invalid_json``, ``syntax_invalid_parameter_format``,
  ``syntax_constraint_violation``; 403 codes such as ``blocked_account``,
  ``illegal_number_type``, ``unprovisioned_region`` (Sinch SMS API "HTTP Status
  Codes", developers.sinch.com/docs/sms/api-reference/status-codes, and the
  Sinch community article "Common SMS HTTP Statuses and Codes Explained").
  ``illegal_number_type`` is an "illegal phone number type of MSISDN for a
  chosen region" (the community article): tied to the region, so another
  vendor may deliver; whoever types the number causes it, so it is a
  :class:`RequestRejected`, never counted by the circuit breaker.
  401 is a wrong token, 429 throttling, 5xx Sinch's own trouble.
- What counts as accepted: a 201 whose batch has an ``id`` and is not
  ``canceled``. The reference documents that answer; that nothing else is a
  yes is *inferred* (hook: :meth:`SinchBackend.accepted`). A 201 means the
  batch is *queued* ("Batches are queued and sent at the rate limit", the
  reference's "Batches"): a blocked account, no credit, an unprovisioned
  region or too many parts come later, in delivery reports (the Java SDK's
  ``DeliveryReceiptStatusCode``: 412 unprovisioned region, 413 blocked,
  411 exceeded parts limit). So a send is recorded as accepted only.
- Delivery reports: the batch's ``callback_url`` and ``delivery_report``
  (``none``, ``summary``, ``full``, ``per_recipient``,
  ``per_recipient_final``; Batches > Send, and sinch-sdk-python's
  ``DeliveryReportType``). ``per_recipient_final`` posts one
  ``recipient_delivery_report_sms`` per recipient when its status is final,
  ``per_recipient`` also the intermediate ones (Queued, Dispatched).
  Sinch's SMS callbacks carry no signature of their own (the reference's
  "Webhooks" lists only basic auth, OAuth 2.0, mutual TLS and AWS SNS, each
  set up by the account manager), so the URL sent is ``callback_url`` with
  this alias's ``callback_secret`` as its query (``?secret=...``), which
  :mod:`django_sms_gateway.webhooks.sinch` checks. The query, unlike the
  path, stays out of Django's own log of 4xx answers (``django.request``
  logs ``request.path``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from ..checks import E035
from ..exceptions import GatewayAuthError, GatewayError, GatewayUnavailable, RequestRejected
from .base import CredentialCheck, Option, SendResult, SMSMessage
from .http import (
    HTTPBackend,
    VendorResponse,
    callback_secret_problem,
    callback_url,
    callback_url_in_clear,
    callback_url_problem,
    json_object_or_empty,
    summarize,
)

__all__ = [
    "DELIVERY_REPORTS",
    "REGIONS",
    "SinchBackend",
]

REGIONS = ("us", "eu", "au", "br", "ca")
REGION_URL = "https://{region}.sms.api.sinch.com"
BATCHES_PATH = "/xms/v1/{plan}/batches"
#: 403 codes that say the account or plan, not the message, is the problem.
ACCOUNT_CODES = frozenset({"blocked_account", "missing_callback_url", "unknown_campaign"})
#: ``delivery_report`` values that post one report per recipient (the kind the webhook reads).
DELIVERY_REPORTS = ("per_recipient_final", "per_recipient")
#: 400 and 403 codes kept in a failure's reason (Sinch's published codes).
KNOWN_CODES = frozenset(
    {"syntax_invalid_json", "syntax_invalid_parameter_format", "syntax_constraint_violation",
     "blocked_account", "illegal_number_type", "missing_callback_url", "unprovisioned_region",
     "unknown_campaign", "unknown_group", "missing_group", "missing_parameter"}
)


def _plan_problem(value: str) -> str | None:
    return None if value.isalnum() else "must hold only letters and digits (it is part of the URL path)"


class SinchBackend(HTTPBackend):
    """Sends through Sinch's SMS REST API (``/xms/v1``)."""

    options: ClassVar[dict[str, Any]] = {
        **HTTPBackend.options,
        "service_plan_id": Option(kind="credential", check=_plan_problem, doc="The service plan id of the dashboard."),
        "api_token": Option(kind="secret", doc="The service plan's API token (Bearer)."),
        "region": Option("us", kind="choice", choices=REGIONS, doc="Which regional API to call."),
        "max_message_parts": Option(1, kind="int", minimum=1, maximum=10, doc="Most SMS parts one code may take."),
        "callback_url": Option(None, kind="url", check=callback_url_problem,
                               doc="This alias's delivery-report webhook, .../webhooks/sinch/<alias>/."),
        "callback_secret": Option(None, kind="secret", check=callback_secret_problem,
                                  doc="Unguessable secret added to callback_url; Sinch signs no report."),
        "delivery_report": Option("per_recipient_final", kind="choice", choices=DELIVERY_REPORTS,
                                  doc="Which per-recipient reports Sinch posts: final ones, or every status."),
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.max_segments = self.config["max_message_parts"]
        self._path = BATCHES_PATH.format(plan=self.config["service_plan_id"])
        self._auth = {"Authorization": f"Bearer {self.config['api_token']}"}
        self._reports: dict[str, str] = {}
        if self.config["callback_url"]:
            self._reports = {
                "callback_url": callback_url(self.config["callback_url"], self.config["callback_secret"]),
                "delivery_report": self.config["delivery_report"],
            }

    @property
    def receipts(self) -> bool:
        """True when ``callback_url`` is set: each batch asks for per-recipient reports."""
        return bool(self._reports)

    def vendor_base_url(self) -> str:
        return REGION_URL.format(region=self.config["region"])

    def check_options(self) -> None:
        if self.config["sender"] is None:
            raise self.config_error("option 'sender' is required by Sinch (or set OTP_SMS_SENDER)")
        if bool(self.config["callback_url"]) != bool(self.config["callback_secret"]):
            raise self.config_error("options 'callback_url' and 'callback_secret' go together: Sinch signs no "
                                    "delivery report, so the secret in the URL is what proves one genuine")
        if self.config["callback_url"] and callback_url_in_clear(self.config["callback_url"]):
            raise self.config_error("option 'callback_url' is plain http:// to a host that is not loopback, which "
                                    "would carry its secret in clear; use https://", check_id=E035)

    def send(self, message: SMSMessage, *, timeout: float) -> SendResult:
        sender, info = self.checked_text_message(message, f"this gateway sends at most {self.max_segments}")
        expires = datetime.now(UTC) + timedelta(seconds=message.validity)
        payload = {
            "from": sender,
            "to": [message.recipient],
            "body": message.text,
            "max_number_of_message_parts": self.max_segments,
            "expire_at": expires.isoformat(timespec="seconds").replace("+00:00", "Z"),
            **self._reports,
        }
        response = self.request("POST", self._path, timeout=timeout, json=payload, headers=self._auth)
        if response.status in (400, 403):
            raise self._refused(response)
        self.raise_for_status(response)
        batch = self.read_json(response)
        if not self.accepted(response, batch):
            raise self.error(GatewayUnavailable, f"unexpected answer (HTTP {response.status})",
                             status_code=response.status)
        return SendResult(reference=batch["id"], status="accepted", segments=info.segments)

    def accepted(self, response: VendorResponse, batch: dict[str, Any]) -> bool:
        """Whether Sinch's answer says it took the batch: 201, an id, not canceled."""
        batch_id = batch.get("id")
        return (
            response.status == 201
            and isinstance(batch_id, str) and 0 < len(batch_id) <= 100 and batch_id.isprintable()
            and batch.get("canceled", False) is False
        )

    def _refused(self, response: VendorResponse) -> GatewayError:
        code = _error_code(response.body)
        shown = summarize([code], known=KNOWN_CODES)
        reason = f"request refused (HTTP {response.status}{', ' + shown if shown else ''})"
        kind: type[GatewayError] = RequestRejected
        if code in ACCOUNT_CODES:
            kind = GatewayAuthError
        return self.error(kind, reason, status_code=response.status,
                          vendor_status=code if code in KNOWN_CODES else None)

    def check_credentials(self, *, timeout: float) -> CredentialCheck:
        """List at most one batch ("Batches > List", ``page_size``): harmless,
        and refused without a valid token."""
        check, _batches = self.read_check("Sinch", f"{self._path}?page_size=1", timeout=timeout, headers=self._auth)
        return check


def _error_code(body: bytes) -> str | None:
    code = json_object_or_empty(body).get("code")
    return code if isinstance(code, str) else None
