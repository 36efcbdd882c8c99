"""Vendor webhooks: delivery reports that update :class:`DeliveryRecord` rows.

Include ``django_sms_gateway.urls`` in the site's URLconf (for example under
``sms/``) and give ZignSec the URL of :func:`zignsec_webhook` for the
gateway alias, ``https://example.com/sms/webhooks/zignsec/<alias>/``, as the
gateway's ``webhook_url`` option.

Requests are checked in this order, each failure answered with a short
plain-text body that never repeats the input: known alias with a
``webhook_secret`` (404), body size (413, before anything is parsed),
signature and timestamp on the raw body (403), JSON shape (400), a session
this site sent through that gateway (404).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from ..backends.zignsec import (
    SESSION_ID,
    SIGNATURE_HEADER,
    WebhookRefused,
    ZignSecBackend,
    record_session_status,
)
from ..conf import settings
from ..gateways import gateways
from ..models import DeliveryRecord

logger = logging.getLogger("django_sms_gateway")

__all__ = ["zignsec_webhook"]


def _plain(text: str, status: int) -> HttpResponse:
    return HttpResponse(text + "\n", status=status, content_type="text/plain; charset=utf-8")


def _read_limited(request: HttpRequest, limit: int) -> bytes | None:
    """The raw body, or None when it is longer than ``limit`` bytes (only
    ``limit + 1`` bytes are ever read)."""
    declared = request.META.get("CONTENT_LENGTH") or ""
    if declared.isdigit() and int(declared) > limit:
        return None
    body = request.read(limit + 1)
    return None if len(body) > limit else body


@csrf_exempt
@require_POST
def zignsec_webhook(request: HttpRequest, alias: str) -> HttpResponse:
    """Record the status a ZignSec webhook reports for one of our sessions."""
    backend = _zignsec_gateway(alias)
    if backend is None:
        return _plain("unknown webhook", 404)

    limit = int(settings.OTP_SMS_WEBHOOK_MAX_BYTES)
    body = _read_limited(request, limit)
    if body is None:
        logger.warning("ZignSec webhook for gateway %r refused: body over %d bytes", alias, limit)
        return _plain("request too large", 413)

    try:
        backend.verify_webhook(
            request.headers.get(SIGNATURE_HEADER), body, tolerance=float(settings.OTP_SMS_WEBHOOK_TOLERANCE)
        )
    except WebhookRefused as refused:
        logger.warning("ZignSec webhook for gateway %r refused: %s", alias, refused)
        return _plain("signature refused", 403)

    report = _read_report(body)
    if report is None:
        logger.warning("ZignSec webhook for gateway %r refused: malformed body", alias)
        return _plain("malformed body", 400)
    session_id, status, segments = report

    updated = record_session_status(alias, session_id, status, segments, final_statuses=backend.final_statuses)
    if not updated and not _known_session(alias, session_id):
        logger.warning("ZignSec webhook for gateway %r refused: unknown session %s", alias, session_id)
        return _plain("unknown session", 404)
    logger.info("ZignSec webhook for gateway %r: session %s is %s", alias, session_id, status)
    return _plain("ok", 200)


def _zignsec_gateway(alias: str) -> ZignSecBackend | None:
    """The ZignSec backend of ``alias`` if it may receive webhooks."""
    try:
        backend = gateways[alias]
    except KeyError:
        return None
    if not isinstance(backend, ZignSecBackend) or not backend.config["webhook_secret"]:
        return None
    return backend


def _read_report(body: bytes) -> tuple[str, str, int | None] | None:
    """``(session id, status, parts)`` from a webhook envelope, or None."""
    try:
        payload: Any = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(payload, dict):
        return None
    session_id = payload.get("id")
    result = payload.get("result")
    result = result if isinstance(result, dict) else {}
    status = result.get("status", payload.get("status"))
    if not isinstance(session_id, str) or not SESSION_ID.fullmatch(session_id):
        return None
    if not isinstance(status, str) or not status or not status.isprintable() or len(status) > 32:
        return None
    parts = result.get("number_of_message_parts")
    segments = parts if isinstance(parts, int) and not isinstance(parts, bool) and 0 <= parts <= 32767 else None
    return session_id, status, segments


def _known_session(alias: str, session_id: str) -> bool:
    """A session we recorded (its status may already be final)."""
    return DeliveryRecord.objects.filter(
        gateway=alias, reference=session_id, outcome=DeliveryRecord.Outcome.SENT
    ).exists()
