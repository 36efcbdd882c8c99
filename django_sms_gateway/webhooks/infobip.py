"""Infobip SMS delivery reports, proved genuine by the alias's secret in the URL.

Set the gateway's ``notify_url`` to
``https://example.com/sms/webhooks/infobip/<alias>/`` and ``notify_secret``
to an unguessable value: every message then carries ``webhooks.delivery.url``
``.../infobip/<alias>/?secret=<notify_secret>``. A per-request webhook is not
signed: Infobip's basic, HMAC and OAuth "security settings" attach to
Subscriptions Management, not to a URL sent with a message (Subscriptions
API, "Create security settings",
https://www.infobip.com/docs/api/platform/subscriptions-api), so the secret
in the query, compared in constant time, is what a forger lacks (in the
query, not the path: ``django.request`` logs the path of every 4xx answer). Nothing in a
report is signed or dated: a captured report replays for ever, so a final
delivery, once recorded, never changes.

Report body (infobip-api-python-client ``SmsDeliveryResult`` and
``SmsDeliveryReport``; Infobip "Receive outbound SMS message report",
https://www.infobip.com/docs/api/channels/sms/sms-messaging/logs-and-status-reports/receive-outbound-sms-message-report):
JSON ``{"results": [{"bulkId", "messageId", "to", "sender", "sentAt",
"doneAt", "messageCount", "price", "status": {"groupId", "groupName", "id",
"name", "description"}, "error": {"groupId", "groupName", "id", "name",
"description", "permanent"}, "callbackData"?, "platform"?}]}``, up to 100
reports in one request.

Statuses (Infobip "Message status codes",
https://www.infobip.com/docs/developer-resources/api-fundamentals/message-status-codes):
``DELIVERED_TO_HANDSET`` (id 5) is final and delivered;
``DELIVERED_TO_OPERATOR`` (id 2) and the ``PENDING`` group are intermediate
("A further DLR may follow"); every name of the ``UNDELIVERABLE``,
``EXPIRED`` and ``REJECTED`` groups is a final failure. The raw word kept is
the status ``name``.

Answers: Infobip retries a report while the URL is "unavailable" (the
client's ``SmsMessageDeliveryReporting.url``: "1min + (1min * retryNumber *
retryNumber)") without saying which answers count as that, so reports for
messages we did not record are acknowledged (200 ``ignored``, *inferred*).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from django.http import HttpRequest, HttpResponse
from django.urls import NoReverseMatch, reverse

from ..backends.http import SECRET_PARAMETER, UnreadableJSON, read_json_object
from ..backends.infobip import InfobipBackend
from ..backends.sinch import SinchBackend
from ..checks import W024
from ..exceptions import ConfigurationWarning
from ..models import DeliveryRecord
from .base import MalformedWebhook, StatusReport, WebhookRefused, WebhookView, plain, secret_matches, status_word

__all__ = [
    "DELIVERED_NAME",
    "FAILED_GROUPS",
    "InfobipWebhookView",
    "delivery_of",
    "infobip_report_webhook",
    "parse_reports",
    "receipt_url_problems",
]

logger = logging.getLogger("django_sms_gateway")

DELIVERED_NAME = "DELIVERED_TO_HANDSET"
FAILED_GROUPS = frozenset({"UNDELIVERABLE", "EXPIRED", "REJECTED"})
#: Backend class -> (its receipt URL option, the URL name of its webhook).
RECEIPT_URLS: dict[type, tuple[str, str]] = {
    SinchBackend: ("callback_url", "django_sms_gateway:sinch-webhook"),
    InfobipBackend: ("notify_url", "django_sms_gateway:infobip-webhook"),
}
#: Reports one request may carry (Infobip: "the default number of delivery reports in a single request is 100").
REPORTS_MAX = 100
_PARTS_MAX = 255


def delivery_of(status: dict[str, Any]) -> str | None:
    """``DeliveryRecord.Delivery`` of an Infobip status object, None on the way."""
    if status.get("name") == DELIVERED_NAME:
        return DeliveryRecord.Delivery.DELIVERED
    if status.get("groupName") in FAILED_GROUPS:
        return DeliveryRecord.Delivery.FAILED
    return None


def _report(result: Any) -> StatusReport:
    status = result.get("status") if isinstance(result, dict) else None
    message_id = result.get("messageId") if isinstance(result, dict) else None
    name = status_word(status.get("name")) if isinstance(status, dict) else None
    if not isinstance(message_id, str) or not (0 < len(message_id) <= 100 and message_id.isprintable()) or (
        name is None or not isinstance(status, dict) or not isinstance(status.get("groupName"), str)
    ):
        raise MalformedWebhook("a result without a messageId or a status name and groupName")
    count = result.get("messageCount")
    segments = count if isinstance(count, int) and not isinstance(count, bool) and 0 < count <= _PARTS_MAX else None
    return StatusReport(message_id, name, segments, delivery_of(status))


def parse_reports(body: dict[str, Any]) -> list[StatusReport]:
    """The statuses an Infobip report body gives, one per result;
    :class:`MalformedWebhook` when any result is unreadable."""
    results = body.get("results")
    if not isinstance(results, list) or not 0 < len(results) <= REPORTS_MAX:
        raise MalformedWebhook(f"no 'results' list of 1 to {REPORTS_MAX} reports")
    return [_report(result) for result in results]


class InfobipWebhookView(WebhookView):
    """Records the statuses an Infobip delivery report gives for messages of the alias."""

    backend_class = InfobipBackend
    vendor = "Infobip"

    def accepts(self, backend: InfobipBackend) -> bool:
        return backend.receipts

    def verify(self, request: HttpRequest, body: bytes, backend: InfobipBackend) -> None:
        if not secret_matches(request.GET.get(SECRET_PARAMETER, ""), backend.config["notify_secret"]):
            raise WebhookRefused("wrong or missing notify secret in the URL")

    def parse(self, request: HttpRequest, body: bytes, backend: InfobipBackend) -> list[StatusReport]:
        try:
            return parse_reports(read_json_object(body))
        except UnreadableJSON as unreadable:
            raise MalformedWebhook("not a JSON object") from unreadable

    def final_statuses(self, backend: InfobipBackend) -> frozenset[str]:
        return frozenset({DELIVERED_NAME})

    def unknown_reference(self, alias: str) -> HttpResponse:
        logger.info("Infobip webhook for gateway %r: a message we did not record", alias)
        return plain("ignored", 200)


infobip_report_webhook = InfobipWebhookView.as_view()


def receipt_url_problems(backends: Iterable[Any]) -> list[ConfigurationWarning]:
    """W024 for each Sinch or Infobip gateway with receipts whose URL option
    does not end with the path this site's URLconf serves the alias's
    webhook at: every report would miss, and every send would fail over
    at the delivery deadline."""
    problems = []
    for backend in backends:
        option, name = next(((o, n) for cls, (o, n) in RECEIPT_URLS.items() if isinstance(backend, cls)),
                            (None, None))
        if option is None or not backend.receipts:
            continue
        try:
            path = reverse(name, args=[backend.alias])
        except NoReverseMatch:
            path = None
        if path is not None and urlsplit(backend.config[option]).path.endswith(path):
            continue
        where = f"this site serves them at {path!r}" if path else "this site's URLconf has no receipt webhook"
        problems.append(ConfigurationWarning(
            f"SMS gateway {backend.alias!r} asks for delivery reports at its option {option!r}, but {where}.",
            check_id=W024,
            hint='Include django_sms_gateway.urls (path("sms/", include("django_sms_gateway.urls"))) and set '
                 f"{option!r} to the absolute URL of that path: reports that miss leave every send unconfirmed, "
                 "so each fails over at the delivery deadline.",
            obj=f"SMS_GATEWAYS[{backend.alias!r}]",
        ))
    return problems
