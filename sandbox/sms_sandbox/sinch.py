"""Sinch SMS REST API, ``/xms/v1/{service_plan_id}/batches``.

As Sinch's API reference ("Batches") and status-code page document it:
``POST`` with ``Authorization: Bearer <token>`` and JSON ``{"from", "to":
[E.164, ...], "body", "max_number_of_message_parts"?, "expire_at"?}``
answers 201 with the batch (``id``, ``to``, ``from``, ``canceled``,
``body``, ``type``, ``created_at``, ``modified_at``, ``expire_at``);
``GET`` lists batches (``page``, ``page_size``, ``count``, ``batches``).
A wrong token is a 401; 400 and 403 answer ``{"code", "text"}``. A body that
and the values of ``from`` and ``to`` are checked as the reference
describes them. Numbers in the ``+1500555...`` range are
refused with 403 ``illegal_number_type``, so tests can reach that answer.

Delivery reports (the reference's "Delivery reports" and "Webhooks";
sinch-sdk-python's ``RecipientDeliveryReport`` and ``BatchDeliveryReport``):
a batch with a ``callback_url`` on a loopback host and a ``delivery_report``
of ``per_recipient_final`` gets, after the delivery delay, one JSON POST
``{"type": "recipient_delivery_report_sms", "batch_id", "recipient",
"code": 0, "status": "Delivered", "at", "operator_status_at",
"number_of_message_parts"?}`` there (``number_of_message_parts`` only when
the batch set ``max_number_of_message_parts``); ``per_recipient`` first
posts ``Dispatched`` (code 401); ``summary`` and ``full`` post one
``delivery_report_sms`` with ``statuses`` (``full`` adds ``recipients``);
``none`` (the default) posts nothing. Sinch signs none of them. Other hosts
are never called. The fault ``silent`` accepts the batch and never reports;
``undelivered`` accepts it and reports ``Aborted`` with code 412
("Unprovisioned region", sinch-sdk-java ``DeliveryReceiptStatusCode``; the
pair Sinch's own SDK tutorial shows, "Retrieving delivery reports with the
Node SDK").
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

from .base import E164, RECEIPT_FAULTS, SENDER, Receipts, Recorder, Request, Response, Vendor, iso_utc, same, utc_now
from .segments import segments

__all__ = ["CREDENTIALS", "DELIVERY_REPORTS", "ILLEGAL_NUMBER_PREFIX", "VENDOR", "Sinch"]

CREDENTIALS = MappingProxyType({"service_plan_id": "sandboxplan0001", "api_token": "sandbox-sinch-api-token"})
#: Recipients starting with this get 403 ``illegal_number_type``.
ILLEGAL_NUMBER_PREFIX = "+1500555"
_BODY_MAX = 2000
_URL_MAX = 2048
DELIVERY_REPORTS = ("none", "summary", "full", "per_recipient", "per_recipient_final")


def error(status: int, code: str, text: str) -> Response:
    """Sinch's ``{"code", "text"}`` error answer (401 has no code of its own)."""
    return Response.json(status, {"code": code, "text": text})


class Sinch(Vendor):
    """Sinch batches. Fault key ``sinch``; its own fault ``403`` answers ``blocked_account``."""

    name = "sinch"
    fault_variants = {"sinch": ("400", "403", *RECEIPT_FAULTS)}

    def __init__(self, record: Recorder, *, delivery_delay: float = 0.05) -> None:
        super().__init__(record)
        self._lock = threading.Lock()
        self._batches: list[dict[str, Any]] = []
        self._receipts = Receipts(self.name, delivery_delay)

    def reset(self) -> None:
        with self._lock:
            self._batches.clear()
        self._receipts.reset()

    def stop(self) -> None:
        self._receipts.stop()

    def report_counts(self) -> dict[str, int]:
        """Delivery reports ``sent`` (2xx), ``failed`` and ``skipped`` (not loopback)."""
        return self._receipts.counts()

    def handle(self, request: Request, receipt: str = "delivered") -> Response:
        plan, _, rest = request.route.removeprefix("/xms/v1/").partition("/")
        if not request.route.startswith("/xms/v1/") or rest != "batches":
            return error(404, "not_found", "Resource not found")
        if not same(request.headers.get("Authorization", ""), f"Bearer {CREDENTIALS['api_token']}") or not same(
            plan, CREDENTIALS["service_plan_id"]
        ):
            return Response.json(401, {"code": "unauthorized", "text": "Unauthorized"})
        if request.method == "GET":
            with self._lock:
                batches = list(self._batches[-1:])
            return Response.json(200, {"count": len(self._batches), "page": 0, "page_size": len(batches),
                                       "batches": batches})
        if request.method != "POST":
            return Response(405, headers={"Allow": "GET, POST"})
        return self._send(request, receipt)

    def fault_response(self, key: str, fault: str, request: Request) -> Response:
        if fault in RECEIPT_FAULTS:
            return self.handle(request, fault)
        if fault == "400":
            return error(400, "syntax_invalid_json", "The JSON input is invalid")
        if fault == "403":
            return error(403, "blocked_account", "Account is blocked")
        if fault == "401":
            return Response.json(401, {"code": "unauthorized", "text": "Unauthorized"})
        if fault == "429":
            return Response(429, b"Too Many Requests", "text/plain", {"Retry-After": "1"})
        return Response(500, b"Internal Server Error", "text/plain")

    def _send(self, request: Request, receipt: str) -> Response:
        payload = request.parsed() if request.content_type == "application/json" else None
        if not isinstance(payload, dict):
            return error(400, "syntax_invalid_json", "The JSON input is invalid")
        problem = _violation(payload)
        if problem:
            return error(400, "syntax_constraint_violation", problem)
        recipient = payload["to"][0]
        if recipient.startswith(ILLEGAL_NUMBER_PREFIX):
            return error(403, "illegal_number_type", f"Illegal number type for {recipient}")
        now = iso_utc(utc_now())
        batch = {
            "id": secrets.token_hex(13).upper(), "to": payload["to"], "from": payload["from"],
            "canceled": False, "body": payload["body"], "type": "mt_text", "created_at": now, "modified_at": now,
            "delivery_report": payload.get("delivery_report", "none"), "expire_at": payload.get("expire_at", now),
            "flash_message": False,
        }
        if payload.get("callback_url"):
            batch["callback_url"] = payload["callback_url"]
        with self._lock:
            self._batches.append(batch)
        self._record(self.name, recipient, payload["body"])
        if payload.get("callback_url") and batch["delivery_report"] != "none" and receipt != "silent":
            self._report(batch, payload, receipt)
        return Response.json(201, batch)

    def _report(self, batch: dict[str, Any], payload: dict[str, Any], receipt: str) -> None:
        kind = batch["delivery_report"]
        status, code = ("Aborted", 412) if receipt == "undelivered" else ("Delivered", 0)
        recipient = batch["to"][0]
        if kind in ("summary", "full"):
            entry: dict[str, Any] = {"code": code, "count": 1, "status": status}
            if kind == "full":
                entry["recipients"] = [recipient]
            self._receipts.post_later(payload["callback_url"], [lambda: {
                "type": "delivery_report_sms", "batch_id": batch["id"], "total_message_count": 1,
                "statuses": [entry]}], batch["id"])
            return
        parts = payload.get("max_number_of_message_parts")

        def report(status: str, code: int) -> Callable[[], dict[str, Any]]:
            def body() -> dict[str, Any]:
                at = iso_utc(utc_now())
                made: dict[str, Any] = {"type": "recipient_delivery_report_sms", "batch_id": batch["id"],
                                        "recipient": recipient, "code": code, "status": status, "at": at,
                                        "operator_status_at": at}
                if parts is not None:
                    made["number_of_message_parts"] = segments(payload["body"])
                return made
            return body

        bodies = [report(status, code)]
        if kind == "per_recipient":
            bodies.insert(0, report("Dispatched", 401))
        self._receipts.post_later(payload["callback_url"], bodies, batch["id"])


def _violation(payload: dict[str, Any]) -> str | None:
    to, sender, body = payload.get("to"), payload.get("from"), payload.get("body")
    if not isinstance(to, list) or len(to) != 1 or not isinstance(to[0], str) or not E164.fullmatch(to[0]):
        return "to: must be a list of E.164 numbers (this sandbox takes one)"
    if not isinstance(sender, str) or not SENDER.fullmatch(sender):
        return "from: must be a phone number, short code or alphanumeric sender"
    if not isinstance(body, str) or not 0 < len(body) <= _BODY_MAX:
        return f"body: must be 1 to {_BODY_MAX} characters"
    parts = payload.get("max_number_of_message_parts")
    if parts is not None and (isinstance(parts, bool) or not isinstance(parts, int) or parts < 1):
        return "max_number_of_message_parts: must be at least 1"
    if payload.get("delivery_report", "none") not in DELIVERY_REPORTS:
        return f"delivery_report: must be one of {', '.join(DELIVERY_REPORTS)}"
    url = payload.get("callback_url")
    if url is not None and (not isinstance(url, str) or len(url) > _URL_MAX
                            or urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname):
        return f"callback_url: must be an http(s) URL of at most {_URL_MAX} characters"
    return None


VENDOR = Sinch
