"""Sinch SMS delivery reports, proved genuine by the alias's secret in the URL.

Set the gateway's ``callback_url`` to
``https://example.com/sms/webhooks/sinch/<alias>/`` and ``callback_secret``
to an unguessable value: every batch then asks Sinch to post its reports to
``.../sinch/<alias>/?secret=<callback_secret>`` (``delivery_report``
``per_recipient_final``, or ``per_recipient``). Sinch signs no SMS callback
(the SMS API reference, "Webhooks",
https://developers.sinch.com/docs/sms/api-reference/sms/tag/Webhooks/: basic
auth, OAuth 2.0, mutual TLS or AWS SNS, each provisioned by the account
manager), so the secret in the query, compared in constant time, is what
a forger lacks (in the query, not the path: ``django.request`` logs the path
of every 4xx answer, and a genuine report can get one). Nothing in a report is signed or dated: a captured report
replays for ever, so a final delivery, once recorded, never changes.

Report body (sinch-sdk-python ``RecipientDeliveryReport``; sinch-sdk-java's
``RecipientDeliveryReportSMSDto.json``): JSON ``{"type":
"recipient_delivery_report_sms", "batch_id", "recipient", "code", "status",
"at", "number_of_message_parts"?, "operator_status_at"?, ...}``. Batch
reports (``delivery_report_sms``, for ``summary``/``full``) name no recipient
and are acknowledged without a change.

Statuses (the reference's "Delivery reports", "Delivery report statuses",
https://developers.sinch.com/docs/sms/api-reference/sms/tag/Delivery-reports/):
``Delivered`` ("Message has been delivered") is final and delivered;
``Aborted`` (before reaching the SMSC), ``Cancelled``, ``Rejected`` (by the
SMSC), ``Deleted`` (by a remote SMSC: "an invalid MSISDN or opted out
subscriber"), ``Failed`` ("failed to be delivered") and ``Expired`` are final
failures; ``Queued`` and ``Dispatched`` are intermediate. ``Unknown`` is
final too ("Final type. Message was delivered to the SMSC but no Delivery
Receipt has been received or a Delivery Receipt that couldn't be
interpreted was received", sinch-sdk-java ``DeliveryStatus``): not a failure
in Sinch's words, so it settles nothing and the delivery deadline decides.

Answers: Sinch retries a callback on 5xx and 429 and not on another 4xx
(the same "Webhooks" section), so a report for a batch we did not record
gets the base's 404 and is not retried.
"""

from __future__ import annotations

import logging
from typing import Any

from django.http import HttpRequest

from ..backends.http import SECRET_PARAMETER, UnreadableJSON, read_json_object
from ..backends.sinch import SinchBackend
from ..models import DeliveryRecord
from .base import MalformedWebhook, StatusReport, WebhookRefused, WebhookView, secret_matches, status_word

__all__ = [
    "DELIVERED",
    "FAILED",
    "FINAL_STATUSES",
    "SinchWebhookView",
    "parse_report",
    "sinch_report_webhook",
]

logger = logging.getLogger("django_sms_gateway")

DELIVERED = frozenset({"Delivered"})
FAILED = frozenset({"Aborted", "Cancelled", "Rejected", "Deleted", "Failed", "Expired"})
#: Sinch's words for which nothing follows (``Unknown`` included: sinch-sdk-java ``DeliveryStatus``).
FINAL_STATUSES = DELIVERED | FAILED | {"Unknown"}
STATUSES = FINAL_STATUSES | {"Queued", "Dispatched"}
RECIPIENT_REPORT = "recipient_delivery_report_sms"
BATCH_REPORT = "delivery_report_sms"
_PARTS_MAX = 255


def delivery_of(status: str) -> str | None:
    """``DeliveryRecord.Delivery`` of a Sinch status word, None on the way."""
    if status in DELIVERED:
        return DeliveryRecord.Delivery.DELIVERED
    if status in FAILED:
        return DeliveryRecord.Delivery.FAILED
    return None


def parse_report(report: dict[str, Any]) -> list[StatusReport]:
    """The status a Sinch callback body reports; [] for a batch report;
    :class:`MalformedWebhook` for anything else."""
    kind = report.get("type")
    if kind == BATCH_REPORT:
        return []
    batch_id, status = report.get("batch_id"), status_word(report.get("status"))
    if kind != RECIPIENT_REPORT or not isinstance(batch_id, str) or not (
        0 < len(batch_id) <= 100 and batch_id.isascii() and batch_id.isalnum()
    ) or status not in STATUSES:
        raise MalformedWebhook("no recipient_delivery_report_sms with a batch_id and a known status")
    parts = report.get("number_of_message_parts")
    segments = parts if isinstance(parts, int) and not isinstance(parts, bool) and 0 < parts <= _PARTS_MAX else None
    return [StatusReport(batch_id, status, segments, delivery_of(status))]


class SinchWebhookView(WebhookView):
    """Records the status a Sinch delivery report gives for a batch of the alias."""

    backend_class = SinchBackend
    vendor = "Sinch"

    def accepts(self, backend: SinchBackend) -> bool:
        return backend.receipts

    def verify(self, request: HttpRequest, body: bytes, backend: SinchBackend) -> None:
        if not secret_matches(request.GET.get(SECRET_PARAMETER, ""), backend.config["callback_secret"]):
            raise WebhookRefused("wrong or missing callback secret in the URL")

    def parse(self, request: HttpRequest, body: bytes, backend: SinchBackend) -> list[StatusReport]:
        try:
            report = read_json_object(body)
        except UnreadableJSON as unreadable:
            raise MalformedWebhook("not a JSON object") from unreadable
        return parse_report(report)

    def final_statuses(self, backend: SinchBackend) -> frozenset[str]:
        return FINAL_STATUSES


sinch_report_webhook = SinchWebhookView.as_view()
