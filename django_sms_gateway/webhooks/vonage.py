"""Vonage SMS delivery receipts, signed with the account's signature secret.

Give ``https://example.com/sms/webhooks/vonage/<alias>/`` as the gateway's
``callback`` option, and set ``signature_secret`` (and ``signature_method``
as chosen in the Vonage dashboard, with signed webhooks enabled): receipts
are refused unless signed, since anyone could post an unsigned one.

Receipt fields (Vonage "Delivery receipts",
https://developer.vonage.com/en/messaging/sms/guides/delivery-receipts):
``messageId``, ``status`` (``delivered``, ``expired``, ``failed``,
``rejected`` are final: ``delivered`` is ``Delivery.DELIVERED``, the others
``Delivery.FAILED``; ``accepted``, ``buffered``, ``unknown`` are not),
``err-code``, ``msisdn``, ``to``, ``api-key``, ...; sent as a query string
(GET) or as POST form fields or JSON, as the dashboard's "Webhook format"
says (Vonage "API Settings",
https://developer.vonage.com/en/dashboard/control/api-settings). Receipts
are taken by POST only unless the gateway's ``receipts_by_get`` option is
set: a GET puts the recipient's full number (``msisdn``) in the URL, and so
in every web server's and proxy's access log; refused, it gets 405.

Signature (Vonage "Signing Messages",
https://developer.vonage.com/en/getting-started/concepts/signing-messages;
vonage-python-sdk ``Client.signature``): every parameter but ``sig``, names
sorted, as ``&name=value`` with ``&`` and ``=`` in values replaced by ``_``;
``md5hash`` is the MD5 of that followed by the secret, the others an HMAC
keyed with the secret; hex, compared case-insensitively. The signed
``timestamp`` (Unix seconds) must be within ``OTP_SMS_WEBHOOK_TOLERANCE``.
Vonage retries receipts that get an error, so one for a part we did not
record is acknowledged (200 ``ignored``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Mapping
from typing import ClassVar
from urllib.parse import parse_qsl

from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed

from ..backends.http import UnreadableJSON, read_json_object
from ..backends.vonage import VonageBackend
from ..models import DeliveryRecord
from .base import MalformedWebhook, StatusReport, WebhookRefused, WebhookView, check_fresh, plain, timestamp_seconds

__all__ = [
    "DELIVERY",
    "FINAL_STATUSES",
    "VonageWebhookView",
    "parse_receipt",
    "signature",
    "signature_valid",
    "vonage_receipt_webhook",
]

logger = logging.getLogger("django_sms_gateway")

STATUSES = frozenset({"delivered", "expired", "failed", "rejected", "accepted", "buffered", "unknown"})
FINAL_STATUSES = frozenset({"delivered", "expired", "failed", "rejected"})
#: Final status -> our delivery (Vonage "Delivery receipts").
DELIVERY = {
    "delivered": DeliveryRecord.Delivery.DELIVERED,
    "expired": DeliveryRecord.Delivery.FAILED,
    "failed": DeliveryRecord.Delivery.FAILED,
    "rejected": DeliveryRecord.Delivery.FAILED,
}
_HMAC_DIGESTS = {"md5": "md5", "sha1": "sha1", "sha256": "sha256", "sha512": "sha512"}


def signature(secret: str, method: str, params: Mapping[str, str]) -> str:
    """The ``sig`` Vonage computes over ``params`` (``sig`` itself left out)."""
    signed = "".join(
        f"&{name}={params[name].replace('&', '_').replace('=', '_')}" for name in sorted(params) if name != "sig"
    ).encode()
    if method == "md5hash":
        return hashlib.md5(signed + secret.encode(), usedforsecurity=False).hexdigest()
    return hmac.new(secret.encode(), signed, _HMAC_DIGESTS[method]).hexdigest()


def signature_valid(secret: str, method: str, params: Mapping[str, str], *, tolerance: float,
                    now: float | None = None) -> bool:
    """True when ``params`` carry a right ``sig`` and a fresh ``timestamp``."""
    seconds = timestamp_seconds(params.get("timestamp", ""))
    try:
        if seconds is None:
            raise WebhookRefused("missing timestamp")
        check_fresh(seconds, tolerance=tolerance, now=now)
    except WebhookRefused:
        return False
    given = params.get("sig", "").lower()
    return hmac.compare_digest(given.encode(), signature(secret, method, params).encode())


def parse_receipt(params: Mapping[str, str]) -> tuple[str, str, bool] | None:
    """``(message id, status, final?)`` from a delivery receipt, or None."""
    message_id, status = params.get("messageId", ""), params.get("status", "")
    if not (0 < len(message_id) <= 64 and message_id.isalnum() and message_id.isascii()) or status not in STATUSES:
        return None
    return message_id, status, status in FINAL_STATUSES


def receipt_fields(request: HttpRequest, body: bytes) -> dict[str, str] | None:
    """The receipt's fields from the query string, a form or a JSON body."""
    try:
        if request.method == "GET":
            return dict(parse_qsl(request.META.get("QUERY_STRING", ""), keep_blank_values=True))
        if request.content_type == "application/json":
            data = read_json_object(body)
            return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in data.items()}
        return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    except (UnreadableJSON, ValueError, UnicodeDecodeError):
        return None


class VonageWebhookView(WebhookView):
    """Records the status a signed Vonage delivery receipt reports (POST, and
    GET where the gateway's ``receipts_by_get`` allows it)."""

    http_method_names: ClassVar[list[str]] = ["get", "post"]  # type: ignore[misc]
    backend_class = VonageBackend
    vendor = "Vonage"

    def get(self, request: HttpRequest, alias: str) -> HttpResponse:
        backend = self.gateway(alias)
        if backend is not None and not backend.config["receipts_by_get"]:
            logger.warning("Vonage webhook for gateway %r refused: a receipt by GET; set the dashboard's webhook "
                           "format to POST (or the gateway's receipts_by_get option)", alias)
            return HttpResponseNotAllowed(["POST"])
        if len(request.META.get("QUERY_STRING", "")) > self.size_limit():
            return self.refuse(alias, "query string too long", "request too large", 413)
        return self.post(request, alias)

    def accepts(self, backend: VonageBackend) -> bool:
        return bool(backend.config["signature_secret"])

    def verify(self, request: HttpRequest, body: bytes, backend: VonageBackend) -> None:
        params = receipt_fields(request, body)
        if params is None or not signature_valid(
            backend.config["signature_secret"], backend.config["signature_method"], params,
            tolerance=self.tolerance(),
        ) or params.get("api-key", backend.config["api_key"]) != backend.config["api_key"]:
            raise WebhookRefused("bad or stale signature")

    def parse(self, request: HttpRequest, body: bytes, backend: VonageBackend) -> list[StatusReport]:
        report = parse_receipt(receipt_fields(request, body) or {})
        if report is None:
            raise MalformedWebhook("no usable messageId or status")
        return [StatusReport(report[0], report[1], delivery=DELIVERY.get(report[1]))]

    def final_statuses(self, backend: VonageBackend) -> frozenset[str]:
        return FINAL_STATUSES

    def unknown_reference(self, alias: str) -> HttpResponse:
        logger.info("Vonage webhook for gateway %r: a message part we did not record", alias)
        return plain("ignored", 200)


vonage_receipt_webhook = VonageWebhookView.as_view()
