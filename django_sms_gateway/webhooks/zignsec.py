"""ZignSec delivery reports: the signed webhook, and status polling.

Both write the session's status onto its :class:`~django_sms_gateway.models.DeliveryRecord`
(the session id is the record's ``reference``).

Wire facts and their sources:

- A webhook is POSTed to the session's ``webhook`` URL with the generic
  envelope ``{"event", "id", "integration_id", "relay_state", "result":
  {"errors", "status", "eventSpecificData"}, "workflow_session_id"}``
  (example status ``Finished``) and the header ``X-ZignSec-Hmac-SHA256``
  holding ``t=<timestamp>`` and one or more ``v1=<signature>``, an
  HMAC-SHA256 keyed with the webhook secret. Source: ZignSec, "Webhooks",
  https://docs.zignsec.com/guides/webhooks/ and
  https://support.zignsec.com/knowledge/webhooks
- *Inferred*: the signed text is ``"{t}.{raw body}"`` and ``v1`` its hex
  digest (hook :meth:`ZignSecWebhookView.signed_payload`); the unit of ``t``
  (seconds or milliseconds are both accepted); the SMS status and part count
  in ``result.eventSpecificData`` when it has them, else in ``result``
  (hook :meth:`ZignSecWebhookView.parse`);
  status words are compared without case (options ``final_statuses`` and
  ``failed_statuses``, :meth:`ZignSecBackend.delivery_of`).
"""

from __future__ import annotations

import logging
import re
from typing import Any

from django.http import HttpRequest

from ..backends.base import BaseBackend
from ..backends.http import UnreadableJSON, read_json_object, whole_number
from ..backends.zignsec import SESSION_ID, SessionStatus, ZignSecBackend
from ..dispatch import gateways
from ..failover import fail_over
from ..models import DeliveryRecord
from .base import (
    MalformedWebhook,
    StatusReport,
    WebhookRefused,
    WebhookView,
    any_digest_matches,
    check_fresh,
    hmac_sha256_hex,
    status_word,
    timestamp_seconds,
)

__all__ = [
    "SIGNATURE_HEADER",
    "ZignSecWebhookView",
    "parse_signature",
    "poll_session",
    "record_session_status",
    "refresh_delivery",
    "zignsec_webhook",
]

logger = logging.getLogger("django_sms_gateway")

SIGNATURE_HEADER = "X-ZignSec-Hmac-SHA256"
_HEX_DIGEST = re.compile(r"[0-9a-fA-F]{64}")


def parse_signature(header: str | None) -> tuple[str, list[str]] | None:
    """``(t, [v1, ...])`` from ``t=<time>,v1=<hex>[,v1=<hex>...]`` (parts in
    any order, other schemes ignored), or None when it is not one."""
    if not header or len(header) > 1024:
        return None
    timestamps: list[str] = []
    digests: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            return None
        if key == "t":
            timestamps.append(value)
        elif key == "v1":
            if not _HEX_DIGEST.fullmatch(value):
                return None
            digests.append(value)
    if len(timestamps) != 1 or not digests:
        return None
    return timestamps[0], digests


class ZignSecWebhookView(WebhookView):
    """Records the status a ZignSec webhook reports for one of our sessions."""

    backend_class = ZignSecBackend
    vendor = "ZignSec"

    def accepts(self, backend: ZignSecBackend) -> bool:
        return bool(backend.config["webhook_secret"])

    def signed_payload(self, timestamp: str, body: bytes) -> bytes:
        """What ``v1`` signs (*inferred*: ``"{t}.{raw body}"``)."""
        return timestamp.encode("ascii") + b"." + body

    def verify(self, request: HttpRequest, body: bytes, backend: ZignSecBackend, *,
               now: float | None = None) -> None:
        parsed = parse_signature(request.headers.get(SIGNATURE_HEADER))
        seconds = timestamp_seconds(parsed[0]) if parsed else None
        if parsed is None or seconds is None:
            raise WebhookRefused("missing or malformed signature")
        check_fresh(seconds, tolerance=self.tolerance(), now=now)
        expected = hmac_sha256_hex(backend.config["webhook_secret"], self.signed_payload(parsed[0], body))
        if not any_digest_matches(parsed[1], expected):
            raise WebhookRefused("signature does not match")

    def parse(self, request: HttpRequest, body: bytes, backend: ZignSecBackend) -> list[StatusReport]:
        try:
            payload = read_json_object(body)
        except UnreadableJSON:
            raise MalformedWebhook("body is not a JSON object") from None
        session_id = payload.get("id")
        if not isinstance(session_id, str) or not SESSION_ID.fullmatch(session_id):
            raise MalformedWebhook("no usable session id")
        result = _object(payload.get("result"))
        details = _object(result.get("eventSpecificData"))
        # The product's own data first: result.status may be the generic session state ("Finished").
        status = status_word(details.get("status", result.get("status", payload.get("status"))))
        if status is None:
            raise MalformedWebhook("no usable status")
        parts = details.get("number_of_message_parts", result.get("number_of_message_parts"))
        return [StatusReport(session_id, status, whole_number(parts, 0), delivery=backend.delivery_of(status))]

    def final_statuses(self, backend: ZignSecBackend) -> frozenset[str]:
        return backend.final_statuses | backend.failed_statuses


zignsec_webhook = ZignSecWebhookView.as_view()


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _zignsec_backend(backend_or_alias: BaseBackend | str) -> ZignSecBackend:
    backend = gateways[backend_or_alias] if isinstance(backend_or_alias, str) else backend_or_alias
    if not isinstance(backend, ZignSecBackend):
        raise TypeError(f"SMS gateway {backend.alias!r} is not a ZignSec gateway")
    return backend


def poll_session(backend_or_alias: BaseBackend | str, session_id: str, *,
                 timeout: float | None = None) -> SessionStatus:
    """Ask ZignSec for the state of ``session_id``.

    ``backend_or_alias`` is a :class:`ZignSecBackend` or its ``SMS_GATEWAYS``
    alias; ``timeout`` defaults to the gateway's. Raises a
    :class:`~django_sms_gateway.exceptions.GatewayError` when ZignSec cannot
    answer (``RequestRejected`` for an unknown session), ``ValueError`` for a
    malformed ``session_id``, ``KeyError`` for an unknown alias and
    ``TypeError`` for a gateway that is not ZignSec.
    """
    return _zignsec_backend(backend_or_alias).session_status(session_id, timeout=timeout)


def record_session_status(alias: str, session_id: str, status: str, segments: int | None = None,
                          *, final_statuses: frozenset[str] = frozenset({"delivered"})) -> int:
    """Write a reported status onto the delivery records of ``session_id``
    through gateway ``alias``; returns the rows updated (see
    :meth:`~django_sms_gateway.models.DeliveryRecordQuerySet.update_status`)."""
    return DeliveryRecord.objects.for_reference(alias, session_id).update_status(
        status, segments=segments, final_statuses=final_statuses
    )


def refresh_delivery(record: DeliveryRecord, *, timeout: float | None = None) -> SessionStatus:
    """Poll ZignSec for ``record``'s session and store the answer on it.
    Raises ``ValueError`` for a record without a session id, and what
    :func:`poll_session` raises."""
    if not record.reference:
        raise ValueError(f"delivery record {record.pk} has no vendor reference to poll")
    backend = _zignsec_backend(record.gateway)
    state = backend.session_status(record.reference, timeout=timeout)
    record_session_status(record.gateway, record.reference, state.status, state.segments,
                          final_statuses=backend.final_statuses | backend.failed_statuses)
    delivery = backend.delivery_of(state.status)
    if delivery is not None and record.settle(delivery, status=state.status, segments=state.segments) \
            and delivery == DeliveryRecord.Delivery.FAILED:
        fail_over(record)
    record.refresh_from_db(fields=["status", "segments", "updated_at", "delivery", "delivered_at"])
    logger.info("ZignSec session %s for %s is %s", record.reference, record.number_masked, state.status)
    return state
