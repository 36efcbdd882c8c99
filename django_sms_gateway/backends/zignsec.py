"""ZignSec Two-Factor Authentication SMS v5: sessions, status polls, signed webhooks.

Wire protocol (``seeds/zignsec-2fa-sms-v5.txt`` and ``vendors.md``):

- Send: ``POST {base_url}/core/api/sessions/two_factor_auth/sms`` with
  ``Authorization: <api key>`` (the raw key, no scheme word) and JSON
  ``{"metadata": {"from", "to", "message", "max_message_parts"},
  "relay_state", "webhook"?}``; the answer is ``{"data": {"id", "status"}}``.
- Status: ``GET {base_url}/core/api/sessions/{id}`` gives ``data.status``
  (``pending``, ``delivered``, ...; the full list is not published) and
  ``data.number_of_message_parts``.
- Webhook (inferred from public implementations): the status envelope
  ``{"event", "id", "relay_state", "result": {"status", ...}}`` POSTed to the
  session's ``webhook`` URL, signed ``X-ZignSec-Hmac-SHA256: t=<unix>,v1=<hex>``
  with ``v1 = HMAC-SHA256(webhook_secret, "{t}.{raw body}")``. A subclass
  can change the scheme by overriding :meth:`ZignSecBackend.verify_webhook`.

The session id is kept as the delivery record's ``reference``; webhooks
(:mod:`django_sms_gateway.webhooks`) and :func:`refresh_delivery` update
its status.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote, urlsplit

from ..exceptions import GatewayError, GatewayUnavailable, RequestRejected
from ..vendor_json import UnreadableJSON, read_json
from .addressing import sender_problem
from .base import REQUIRED, BaseBackend, SendResult, SMSMessage
from .http import HTTPBackend, VendorResponse
from .vendor_text import summarize

if TYPE_CHECKING:
    from ..models import DeliveryRecord

__all__ = [
    "SIGNATURE_HEADER",
    "SessionStatus",
    "WebhookRefused",
    "ZignSecBackend",
    "poll_session",
    "record_session_status",
    "refresh_delivery",
]

logger = logging.getLogger("django_sms_gateway")

SEND_PATH = "/core/api/sessions/two_factor_auth/sms"
SESSION_PATH = "/core/api/sessions/{id}"
SIGNATURE_HEADER = "X-ZignSec-Hmac-SHA256"
#: What a session id may look like before it goes into a URL or the database.
SESSION_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
#: Most parts one concatenated SMS can have.
MAX_PARTS_LIMIT = 255
_HEX_DIGEST = re.compile(r"[0-9a-fA-F]{64}")


@dataclass(frozen=True, slots=True)
class SessionStatus:
    """A session's state as ZignSec reports it; ``status`` is kept raw."""

    session_id: str
    status: str
    segments: int | None = None
    final_statuses: frozenset[str] = frozenset({"delivered"})

    @property
    def final(self) -> bool:
        """True when the status cannot change any more (unknown words: False)."""
        return self.status in self.final_statuses


class WebhookRefused(Exception):
    """A webhook request failed verification; ``str()`` is a short reason."""


class ZignSecBackend(HTTPBackend):
    """Sends through ZignSec's two-factor SMS sessions.

    OPTIONS: ``api_key`` (required), ``max_message_parts`` (default 1: the
    most SMS parts one message may take; also this gateway's
    ``max_segments``), ``webhook_url`` (sent as each session's ``webhook``),
    ``webhook_secret`` (verifies webhooks), ``base_url`` (default
    ``https://gateway.zignsec.com``) and ``sender`` (required here or through
    ``OTP_SMS_SENDER``).
    """

    options: ClassVar[Mapping[str, Any]] = {
        **HTTPBackend.options,
        "api_key": REQUIRED,
        "max_message_parts": 1,
        "webhook_url": None,
        "webhook_secret": None,
    }
    default_base_url: ClassVar[str] = "https://gateway.zignsec.com"
    #: Statuses after which a session does not change. Only ``delivered`` is
    #: documented; a subclass may add more.
    final_statuses: ClassVar[frozenset[str]] = frozenset({"delivered"})
    #: Error descriptions a reason may repeat: ZignSec's 2FA SMS v5 page lists
    #: these error types; the exact text of an answer's description is
    #: *inferred*. Any other shows as "unlisted vendor message".
    known_errors: ClassVar[tuple[str, ...]] = (
        "invalid request", "the request is malformed", "unauthorized", "not found",
    )

    def check_options(self) -> None:
        api_key = self.config["api_key"]
        if not isinstance(api_key, str) or not api_key.strip() or not api_key.isprintable():
            raise self.config_error("option 'api_key' must be a non-empty string of printable characters")
        parts = self.config["max_message_parts"]
        if isinstance(parts, bool) or not isinstance(parts, int) or not 1 <= parts <= MAX_PARTS_LIMIT:
            raise self.config_error(
                f"option 'max_message_parts' must be a whole number from 1 to {MAX_PARTS_LIMIT}, not {parts!r}"
            )
        self.max_segments = parts
        webhook_url = self.config["webhook_url"]
        if webhook_url is not None:
            split = urlsplit(webhook_url) if isinstance(webhook_url, str) else None
            if split is None or split.scheme not in ("http", "https") or not split.hostname:
                raise self.config_error(f"option 'webhook_url' must be an absolute http(s) URL, not {webhook_url!r}")
            if not self.config["webhook_secret"]:
                raise self.config_error(
                    "option 'webhook_url' needs 'webhook_secret' too, or its webhooks cannot be verified"
                )
        secret = self.config["webhook_secret"]
        if secret is not None and (not isinstance(secret, str) or not secret):
            raise self.config_error("option 'webhook_secret' must be a non-empty string")
        sender = self.config["sender"]
        if sender is None:
            raise self.config_error("option 'sender' is required by ZignSec (or set OTP_SMS_SENDER)")
        problem = sender_problem(sender)
        if problem:
            raise self.config_error(f"option 'sender' {problem}")

    @property
    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": self.config["api_key"]}

    # -- sending ------------------------------------------------------------

    def send(self, message: SMSMessage, *, timeout: float) -> SendResult:
        payload = self.build_payload(message)
        response = self.request("POST", SEND_PATH, timeout=timeout, json=payload, headers=self.auth_headers)
        if response.status == 400:
            raise self._rejected(response, message)
        self.raise_for_status(response)
        data = self.read_json(response).get("data")
        session_id = data.get("id") if isinstance(data, dict) else None
        status = data.get("status") if isinstance(data, dict) else None
        if not isinstance(session_id, str) or not SESSION_ID.fullmatch(session_id):
            raise self.error(GatewayUnavailable, "answer without a usable session id", status_code=response.status)
        if not isinstance(status, str) or not status:
            status = "pending"
        logger.debug(
            "ZignSec session %s for %s (relay_state %s)",
            session_id, message.masked_recipient, payload["relay_state"],
        )
        return SendResult(
            reference=session_id, status=status[:32], segments=payload["metadata"]["max_message_parts"]
        )

    def build_payload(self, message: SMSMessage) -> dict[str, Any]:
        """The session request for ``message``; a GatewayError, with nothing
        sent, when ZignSec could not take it."""
        sender, info = self.checked_text_message(message, f"max_message_parts is {self.max_segments}")
        payload: dict[str, Any] = {
            "metadata": {
                "from": sender,
                "to": message.recipient,
                "message": message.text,
                "max_message_parts": info.segments,
            },
            # Ours to correlate with logs; never the number or the code.
            "relay_state": f"{self.alias[:32]}.{secrets.token_hex(8)}",
        }
        if self.config["webhook_url"]:
            payload["webhook"] = self.config["webhook_url"]
        return payload

    def _rejected(self, response: VendorResponse, message: SMSMessage) -> GatewayError:
        detail = summarize(_error_descriptions(response.body), known=self.known_errors)
        reason = "request rejected (HTTP 400)" + (f": {detail}" if detail else "")
        return self.error(RequestRejected, reason, status_code=400)

    # -- status -------------------------------------------------------------

    def session_status(self, session_id: str, *, timeout: float | None = None) -> SessionStatus:
        """``GET /core/api/sessions/{id}``; see :func:`poll_session`."""
        if not isinstance(session_id, str) or not SESSION_ID.fullmatch(session_id):
            raise ValueError(f"not a ZignSec session id: {session_id!r}")
        path = SESSION_PATH.format(id=quote(session_id, safe=""))
        response = self.request("GET", path, timeout=self.timeout if timeout is None else timeout,
                                headers=self.auth_headers)
        if response.status == 404:
            raise self.error(RequestRejected, "session not found (HTTP 404)", status_code=404)
        self.raise_for_status(response)
        data = self.read_json(response).get("data")
        if not isinstance(data, dict):
            raise self.error(GatewayUnavailable, "status answer without data", status_code=response.status)
        status = data.get("status")
        if not isinstance(status, str) or not status:
            raise self.error(GatewayUnavailable, "status answer without a status", status_code=response.status)
        parts = data.get("number_of_message_parts")
        segments = parts if isinstance(parts, int) and not isinstance(parts, bool) and 0 <= parts <= 32767 else None
        return SessionStatus(session_id, status[:32], segments, self.final_statuses)

    # -- webhooks -----------------------------------------------------------

    def verify_webhook(self, signature: str | None, body: bytes, *, now: float | None = None,
                       tolerance: float = 300) -> None:
        """Check a webhook's ``X-ZignSec-Hmac-SHA256`` header against its raw
        body; raise :class:`WebhookRefused` unless it is genuine and its
        timestamp is within ``tolerance`` seconds of ``now``."""
        secret = self.config["webhook_secret"]
        if not secret:
            raise WebhookRefused("no webhook secret configured")
        parsed = _parse_signature(signature)
        if parsed is None:
            raise WebhookRefused("missing or malformed signature")
        timestamp, given = parsed
        now = time.time() if now is None else now
        if abs(now - timestamp) > tolerance:
            raise WebhookRefused("timestamp outside the tolerance")
        expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
        # Every candidate is compared, so timing says nothing about which matched.
        valid = False
        for candidate in given:
            valid |= hmac.compare_digest(candidate, expected)
        if not valid:
            raise WebhookRefused("signature does not match")


def _parse_signature(header: str | None) -> tuple[int, list[str]] | None:
    """``(t, [v1, ...])`` from ``t=<unix>,v1=<hex>[,v1=<hex>...]`` (parts in any
    order, other schemes ignored), or None when it is not one."""
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
            digests.append(value.lower())
    if len(timestamps) != 1 or not timestamps[0].isascii() or not timestamps[0].isdigit() \
            or len(timestamps[0]) > 12 or not digests:
        return None
    return int(timestamps[0]), digests


def _error_descriptions(body: bytes) -> list[object]:
    """Messages of a ZignSec error answer; its shape is not published, so
    ``{"errors": [{"description"|"message"}]}`` and ``{"message"}`` are read."""
    try:
        answer = read_json(body)
    except UnreadableJSON:
        return []
    if not isinstance(answer, dict):
        return []
    messages: list[object] = []
    errors = answer.get("errors")
    if isinstance(errors, list):
        for item in errors:
            if isinstance(item, dict):
                messages.append(item.get("description") or item.get("message"))
            elif isinstance(item, str):
                messages.append(item)
    if not messages:
        messages.append(answer.get("message"))
    return messages


def _zignsec_backend(backend_or_alias: BaseBackend | str) -> ZignSecBackend:
    if isinstance(backend_or_alias, str):
        from ..gateways import gateways

        backend: BaseBackend = gateways[backend_or_alias]
    else:
        backend = backend_or_alias
    if not isinstance(backend, ZignSecBackend):
        raise TypeError(f"SMS gateway {backend.alias!r} is not a ZignSec gateway")
    return backend


def poll_session(backend_or_alias: BaseBackend | str, session_id: str, *,
                 timeout: float | None = None) -> SessionStatus:
    """Ask ZignSec for the state of ``session_id``.

    ``backend_or_alias`` is a :class:`ZignSecBackend` or its ``SMS_GATEWAYS``
    alias; ``timeout`` defaults to the gateway's. Unknown status words are
    kept as they are and are not final. Raises a
    :class:`~django_sms_gateway.exceptions.GatewayError` when ZignSec cannot
    answer (:class:`RequestRejected` for an unknown session), ``ValueError``
    for a malformed ``session_id``, ``KeyError`` for an unknown alias and
    ``TypeError`` for a gateway that is not ZignSec.
    """
    return _zignsec_backend(backend_or_alias).session_status(session_id, timeout=timeout)


def record_session_status(alias: str, session_id: str, status: str, segments: int | None = None,
                          *, final_statuses: frozenset[str] = frozenset({"delivered"})) -> int:
    """Write a vendor-reported status onto the delivery records of
    ``session_id`` sent through gateway ``alias``; returns the rows updated.

    A record already in a final status keeps it when a late or replayed
    report carries a non-final one.
    """
    from django.utils import timezone

    from ..models import DeliveryRecord

    rows = DeliveryRecord.objects.filter(
        gateway=alias, reference=session_id, outcome=DeliveryRecord.Outcome.SENT
    )
    if status not in final_statuses:
        rows = rows.exclude(status__in=final_statuses)
    changes: dict[str, Any] = {"status": status[:32], "updated_at": timezone.now()}
    if segments is not None:
        changes["segments"] = segments
    return rows.update(**changes)


def refresh_delivery(record: DeliveryRecord, *, timeout: float | None = None) -> SessionStatus:
    """Poll ZignSec for ``record``'s session and store the answer on it
    (``status``, and ``segments`` when reported). Raises ``ValueError`` for
    a record that has no session id, and what :func:`poll_session` raises."""
    if not record.reference:
        raise ValueError(f"delivery record {record.pk} has no vendor reference to poll")
    backend = _zignsec_backend(record.gateway)
    state = backend.session_status(record.reference, timeout=timeout)
    record_session_status(record.gateway, record.reference, state.status, state.segments,
                          final_statuses=backend.final_statuses)
    record.refresh_from_db(fields=["status", "segments", "updated_at"])
    logger.info(
        "ZignSec session %s for %s is %s", record.reference, record.number_masked, state.status
    )
    return state
