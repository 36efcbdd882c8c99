"""Twilio message status callbacks, signed with ``X-Twilio-Signature``.

Give ``https://example.com/sms/webhooks/twilio/<alias>/`` as the gateway's
``status_callback`` option: Twilio then POSTs form fields (``MessageSid``,
``MessageStatus``, ``ErrorCode``, ...) to it at each status change.

Signature (Twilio "Webhooks security",
https://www.twilio.com/docs/usage/webhooks/webhooks-security; twilio-python
``twilio/request_validator.py``): base64 of HMAC-SHA1, keyed with the Auth
Token, over the full URL Twilio called followed by every POST parameter name
and value, names sorted, and a name's values de-duplicated and sorted, as
twilio-python's ``RequestValidator`` computes it. The URL checked is the
``status_callback`` option, the one we gave Twilio, so that proxies
rewriting host or scheme do not matter; as the validator does, a signature
over that URL without its port, or with the scheme's default port when it
has none, is accepted too (Twilio's signing is not consistent about the
port). Twilio signs no timestamp, so a captured callback verifies for ever:
a final status, once recorded, is never changed
(:meth:`~django_sms_gateway.models.DeliveryRecordQuerySet.update_status`).

Statuses (Messages resource, "Message status values",
https://www.twilio.com/docs/messaging/api/message-resource#message-status-values):
``delivered``, ``undelivered``, ``failed``, ``canceled`` and ``read`` are
final; ``delivered`` and ``read`` say the handset got it
(``Delivery.DELIVERED``), the others that it will not
(``Delivery.FAILED``, :data:`DELIVERY`). Twilio
only logs our answers, so a callback for a message we did not record is
acknowledged (200 ``ignored``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from collections.abc import Mapping, Sequence
from urllib.parse import parse_qs, urlsplit

from django.http import HttpRequest, HttpResponse

from ..backends.twilio import MESSAGE_SID, TwilioBackend
from ..models import DeliveryRecord
from .base import MalformedWebhook, StatusReport, WebhookRefused, WebhookView, plain

__all__ = [
    "DELIVERY",
    "FINAL_STATUSES",
    "SIGNATURE_HEADER",
    "TwilioWebhookView",
    "parse_status",
    "signature",
    "signed_urls",
    "twilio_status_webhook",
]

logger = logging.getLogger("django_sms_gateway")

SIGNATURE_HEADER = "X-Twilio-Signature"
STATUSES = frozenset({
    "accepted", "scheduled", "queued", "sending", "sent", "delivered", "undelivered", "failed", "canceled",
    "read", "partially_delivered",
})
FINAL_STATUSES = frozenset({"delivered", "undelivered", "failed", "canceled", "read"})
#: Final status -> our delivery (Twilio's "Message status values"; the other statuses are on the way).
DELIVERY = {
    "delivered": DeliveryRecord.Delivery.DELIVERED,
    "read": DeliveryRecord.Delivery.DELIVERED,
    "undelivered": DeliveryRecord.Delivery.FAILED,
    "failed": DeliveryRecord.Delivery.FAILED,
    "canceled": DeliveryRecord.Delivery.FAILED,
}


def signature(auth_token: str, url: str, params: Mapping[str, Sequence[str]]) -> str:
    """The ``X-Twilio-Signature`` Twilio sends for ``params`` (name -> values)
    posted to ``url``: each name with each of its distinct values, both sorted."""
    signed = url + "".join(name + value for name in sorted(params) for value in sorted(set(params[name])))
    digest = hmac.new(auth_token.encode(), signed.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def signed_urls(url: str) -> tuple[str, ...]:
    """The URLs a signature for ``url`` may have been made over: ``url``
    without its port, and ``url`` with a port (the scheme's default when it
    has none)."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        return (url,)
    if port is None:
        default = 443 if parts.scheme == "https" else 80
        return url, parts._replace(netloc=f"{parts.netloc}:{default}").geturl()
    return parts._replace(netloc=parts.netloc.rsplit(":", 1)[0]).geturl(), url


def parse_status(params: Mapping[str, Sequence[str]]) -> tuple[str, str, bool] | None:
    """``(message sid, status, final?)`` from a status callback, or None."""
    sid = (params.get("MessageSid") or [""])[0]
    status = (params.get("MessageStatus") or [""])[0]
    if not MESSAGE_SID.fullmatch(sid) or status not in STATUSES:
        return None
    return sid, status, status in FINAL_STATUSES


def _form(body: bytes) -> dict[str, list[str]] | None:
    try:
        return parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body))
    except (UnicodeDecodeError, ValueError):
        return None


class TwilioWebhookView(WebhookView):
    """Records the status Twilio reports for a message sent through the alias."""

    backend_class = TwilioBackend
    vendor = "Twilio"

    def accepts(self, backend: TwilioBackend) -> bool:
        return bool(backend.config["status_callback"])

    def verify(self, request: HttpRequest, body: bytes, backend: TwilioBackend) -> None:
        params = _form(body)
        given = request.headers.get(SIGNATURE_HEADER, "").encode()
        matched = False
        for url in signed_urls(backend.config["status_callback"]):
            expected = signature(backend.config["auth_token"], url, params or {})
            matched |= hmac.compare_digest(given, expected.encode())
        if params is None or not matched:
            raise WebhookRefused("bad signature")

    def parse(self, request: HttpRequest, body: bytes, backend: TwilioBackend) -> list[StatusReport]:
        report = parse_status(_form(body) or {})
        if report is None:
            raise MalformedWebhook("no usable MessageSid or MessageStatus")
        return [StatusReport(report[0], report[1], delivery=DELIVERY.get(report[1]))]

    def final_statuses(self, backend: TwilioBackend) -> frozenset[str]:
        return FINAL_STATUSES

    def unknown_reference(self, alias: str) -> HttpResponse:
        logger.info("Twilio webhook for gateway %r: a message we did not record", alias)
        return plain("ignored", 200)


twilio_status_webhook = TwilioWebhookView.as_view()
