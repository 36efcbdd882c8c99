"""ZignSec Two-Factor Authentication SMS v5: send, status, signed webhook.

As ZignSec documents it (https://docs.zignsec.com/2fa/sms-verification/):

* ``POST /core/api/sessions/two_factor_auth/sms`` with the API key and
  ``{"metadata": {"from", "to", "message", "max_message_parts"},
  "relay_state"?, "webhook"?}`` answers ``200 {"data": {"id", "status":
  "pending"}}``; a malformed request is 400, a missing or wrong key 401.
* ``GET /core/api/sessions/{id}`` answers ``{"data": {"request_data", "id",
  "number_of_message_parts", "status"}}``; the status turns from ``pending``
  to ``delivered`` once the delivery delay has passed; an unknown id is 404.
* The key is taken from the legacy ``Authorization: <key>`` header or from
  ``Zs-Product-Key: <key>`` (https://docs.zignsec.com/api/api-general/).
* After the delay the sandbox POSTs a ``session_updated`` envelope (the
  generic shape of https://docs.zignsec.com/guides/webhooks/) to the
  session's ``webhook``, signed with ``X-ZignSec-Hmac-SHA256:
  t=<unix time>,v1=<hex HMAC-SHA256(secret, "{t}.{raw body}")>`` (the signed
  text is inferred), but only when the webhook host is a loopback address;
  other hosts are never called.

Errors carry ZignSec's published REST error object ``{"errors": [{"code",
"description"}]}`` with its codes ``INVALID_REQUEST``, ``INVALID_PHONE``,
``INVALID_WEBHOOK`` and ``SESSION_NOT_FOUND``
(https://docs.zignsec.com/api-2/error-handling/); *inferred*: that the v5
gateway still uses it (its page lists only the statuses), and the codes of
401, 405, 429 and 500, which that list lacks. Fault variants
``no-status`` (200 with an id but no status) and ``202`` (the documented
body under another 2xx) are answers a client must not take as a yes.
Delivery faults (the session request answers 200 ``pending`` as usual, the
message never reaches the inbox): ``silent`` leaves the session ``pending``
and sends no webhook; ``undelivered`` turns it ``failed`` after the delay
and sends that in the webhook (the word is *inferred*: the page lists no
failure status).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

from .base import E164, SENDER, Recorder, Request, Response, Vendor, call_back, is_loopback_host, same
from .segments import segments

__all__ = ["CREDENTIALS", "DELIVERY_FAULTS", "SIGNATURE_HEADER", "VENDOR", "WEBHOOK_EVENT", "ZignSec", "sign"]

#: Faults that let a send through and change what follows it: ``silent`` (no
#: webhook, never delivered), ``undelivered`` (the session ends ``failed``).
DELIVERY_FAULTS = ("silent", "undelivered")

#: ``api_key`` goes in the Authorization header; ``webhook_secret`` is the
#: default key of the webhook signatures.
CREDENTIALS = MappingProxyType(
    {"api_key": "sandbox-zignsec-api-key", "webhook_secret": "sandbox-zignsec-webhook-secret"}
)
SIGNATURE_HEADER = "X-ZignSec-Hmac-SHA256"
WEBHOOK_EVENT = "session_updated"
WEBHOOK_TIMEOUT = 2.0

SEND_ROUTE = "/core/api/sessions/two_factor_auth/sms"
_SESSION_ROUTE = re.compile(r"/core/api/sessions/([^/]+)")
#: Codes of ZignSec's published list where it has one (INVALID_REQUEST,
#: SESSION_NOT_FOUND); the others are ours.
_CODES = {400: "INVALID_REQUEST", 401: "UNAUTHORIZED", 404: "SESSION_NOT_FOUND",
          405: "METHOD_NOT_ALLOWED", 429: "TOO_MANY_REQUESTS", 500: "INTERNAL_ERROR"}


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-ZignSec-Hmac-SHA256`` header value for ``body`` sent at ``timestamp``."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def error(status: int, description: str, headers: dict[str, str] | None = None, *,
          code: str | None = None) -> Response:
    """A ZignSec error answer."""
    return Response.json(status, {"errors": [{"code": code or _CODES.get(status, "ERROR"),
                                              "description": description}]}, headers=headers)


def validate_session(payload: Any) -> str | None:
    """Why ``payload`` is not a valid send request, or None when it is."""
    if not isinstance(payload, dict):
        return "the request body must be a JSON object"
    metadata = payload.get("metadata")
    if not isinstance(metadata, dict):
        return "metadata: required object"
    for name in ("from", "to", "message"):
        if not isinstance(metadata.get(name), str) or not metadata[name]:
            return f"metadata.{name}: required non-empty string"
    if not SENDER.fullmatch(metadata["from"]):
        return "metadata.from: must be a phone number in international format or 1-11 letters/digits"
    if not E164.fullmatch(metadata["to"]):
        return "metadata.to: must be a phone number in international format, like +46701234567"
    parts = metadata.get("max_message_parts")
    if isinstance(parts, bool) or not isinstance(parts, int) or parts < 1:
        return "metadata.max_message_parts: required integer of at least 1"
    needed = segments(metadata["message"])
    if needed > parts:
        return f"metadata.message: needs {needed} message parts, max_message_parts is {parts}"
    if payload.get("relay_state") is not None and not isinstance(payload["relay_state"], str):
        return "relay_state: must be a string"
    webhook = payload.get("webhook")
    if webhook is not None:
        split = urlsplit(webhook) if isinstance(webhook, str) else None
        if split is None or split.scheme not in ("http", "https") or not split.hostname:
            return "webhook: must be an http(s) URL"
    return None


@dataclass
class _Session:
    id: str
    request_data: dict[str, Any]
    parts: int
    created: float
    #: ``delivered``, or a delivery fault.
    delivery: str = "delivered"


class ZignSec(Vendor):
    """ZignSec sessions, their status progression and webhooks."""

    name = "zignsec"
    fault_variants = {"zignsec": ("400", "404", "no-status", "202", *DELIVERY_FAULTS)}

    def __init__(self, record: Recorder, *, webhook_secret: str = CREDENTIALS["webhook_secret"],
                 delivery_delay: float = 0.05, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(record)
        self._secret = webhook_secret
        self._delay = delivery_delay
        self._clock = clock
        self._lock = threading.Lock()
        self._sessions: dict[str, _Session] = {}
        # Bumped by reset(): a webhook scheduled before a reset is not sent.
        self._generation = 0
        self._stopping = threading.Event()
        self._webhooks = {"sent": 0, "failed": 0, "skipped": 0}

    def reset(self) -> None:
        with self._lock:
            self._sessions.clear()
            self._generation += 1
            self._webhooks = dict.fromkeys(self._webhooks, 0)

    def stop(self) -> None:
        self._stopping.set()

    def webhook_counts(self) -> dict[str, int]:
        """Webhooks ``sent`` (2xx answer), ``failed`` and ``skipped`` (not loopback)."""
        with self._lock:
            return dict(self._webhooks)

    def handle(self, request: Request, *, delivery: str = "delivered") -> Response:
        """Answer ``request``; a session it creates ends ``delivery``: ``delivered``,
        or a delivery fault (:data:`DELIVERY_FAULTS`)."""
        key = request.headers.get("Zs-Product-Key", request.headers.get("Authorization", ""))
        if not same(key, CREDENTIALS["api_key"]):
            return error(401, "missing or invalid Authorization API key")
        if request.route == SEND_ROUTE:
            if request.method != "POST":
                return error(405, "use POST", {"Allow": "POST"})
            return self._create(request, delivery)
        match = _SESSION_ROUTE.fullmatch(request.route)
        if match is None:
            return error(404, "no such endpoint")
        if request.method != "GET":
            return error(405, "use GET", {"Allow": "GET"})
        return self._status(match.group(1))

    def fault_response(self, key: str, fault: str, request: Request) -> Response:
        if fault in DELIVERY_FAULTS:
            return self.handle(request, delivery=fault)
        if fault == "no-status":
            return Response.json(200, {"data": {"id": str(uuid.uuid4())}})
        if fault == "202":
            return Response.json(202, {"data": {"id": str(uuid.uuid4()), "status": "pending"}})
        status = int(fault)
        descriptions = {400: "the request is malformed", 401: "missing or invalid Authorization API key",
                        404: "the session ID does not exist", 429: "too many requests"}
        return error(status, descriptions.get(status, "an unexpected error occurred on the server"),
                     {"Retry-After": "1"} if status == 429 else None)

    def _create(self, request: Request, delivery: str = "delivered") -> Response:
        payload = request.parsed() if request.content_type == "application/json" else None
        problem = validate_session(payload)
        if problem is not None or payload is None:
            field = (problem or "").partition(":")[0]
            code = {"metadata.to": "INVALID_PHONE", "metadata.from": "INVALID_PHONE",
                    "webhook": "INVALID_WEBHOOK"}.get(field)
            return error(400, problem or "the body must be a JSON object", code=code)
        metadata = payload["metadata"]
        session = _Session(
            id=str(uuid.uuid4()),
            request_data={"metadata": dict(metadata), "relay_state": payload.get("relay_state"),
                          "webhook": payload.get("webhook")},
            parts=segments(metadata["message"]),
            created=self._clock(),
            delivery=delivery,
        )
        with self._lock:
            self._sessions[session.id] = session
            generation = self._generation
        if delivery == "delivered":
            self._record(self.name, metadata["to"], metadata["message"])
        if session.request_data["webhook"] and delivery != "silent":
            threading.Thread(target=self._deliver_webhook, args=(session, generation),
                             name=f"zignsec-webhook-{session.id}", daemon=True).start()
        return Response.json(200, {"data": {"id": session.id, "status": "pending"}})

    def _state(self, session: _Session) -> str:
        if session.delivery == "silent" or self._clock() - session.created < self._delay:
            return "pending"
        return "delivered" if session.delivery == "delivered" else "failed"

    def _status(self, session_id: str) -> Response:
        with self._lock:
            session = self._sessions.get(session_id)
        if session is None:
            return error(404, "the session ID does not exist")
        return Response.json(200, {"data": {
            "request_data": session.request_data,
            "id": session.id,
            "number_of_message_parts": session.parts,
            "status": self._state(session),
        }})

    def _count(self, outcome: str, generation: int) -> None:
        with self._lock:
            if generation == self._generation:
                self._webhooks[outcome] += 1

    def _deliver_webhook(self, session: _Session, generation: int) -> None:
        if self._stopping.wait(self._delay):
            return
        with self._lock:
            if generation != self._generation:
                return
        target = urlsplit(session.request_data["webhook"])
        if not is_loopback_host(target.hostname or ""):
            self._count("skipped", generation)
            return
        body = json.dumps({
            "event": WEBHOOK_EVENT,
            "id": session.id,
            "relay_state": session.request_data["relay_state"],
            "result": {"status": "delivered" if session.delivery == "delivered" else "failed", "errors": [],
                       "number_of_message_parts": session.parts},
        }, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json",
                   SIGNATURE_HEADER: sign(self._secret, int(time.time()), body)}
        self._count(call_back(target, "POST", body=body, headers=headers, timeout=WEBHOOK_TIMEOUT), generation)


VENDOR = ZignSec
