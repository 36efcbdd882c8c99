"""Infobip SMS API v3, ``POST /sms/3/messages``.

As Infobip's quickstart, its "Response status and error codes" page and the
official API client's models describe it: ``Authorization: App <key>``, JSON
``{"messages": [{"sender", "destinations": [{"to"}], "content": {"text"},
"options"?}]}``; the answer is 200 ``{"bulkId", "messages": [{"messageId",
"status": {"groupId": 1, "groupName": "PENDING", "id": 26, "name":
"PENDING_ACCEPTED", "description"}, "destination", "details":
{"messageCount"}}]}``. Errors answer ``{"errorCode", "description", "action",
"violations", "resources"}``; a wrong key is a 401 with errorCode ``E401``.
``GET /account/1/balance`` answers ``{"balance", "currency"}``.

A message Infobip does not take is answered with HTTP 200 and a status of
the group ``REJECTED`` (id 5), with the ids of Infobip's "Response status and
error codes" page (infobip.com/docs/essentials/api-essentials/response-status-and-error-codes):

* ``REJECTED_DESTINATION`` (id 52), an invalid destination: the sandbox
  does that for numbers starting with ``+1500555``, so tests reach it;
* ``REJECTED_FLOODING_FILTER`` (id 20), Infobip's anti-flooding limit: "a
  single number can only receive 20 varied and 6 identical messages per
  hour"; the sandbox keeps that count per number until :meth:`Infobip.reset`;
* ``REJECTED_SYSTEM_ERROR`` (id 21), Infobip's own error ("Retry the
  submission"): the fault ``system-error``.

Delivery reports (Infobip "Receive outbound SMS message report"; the
client's ``SmsWebhooks``, ``SmsMessageDeliveryReporting``,
``SmsDeliveryResult`` and ``SmsDeliveryReport``): a message sent with
``webhooks.delivery.url`` on a loopback host (and ``notify`` not false, and
``webhooks.contentType`` absent or ``application/json``) gets, after the
delivery delay, one JSON POST ``{"results": [{"bulkId", "messageId", "to",
"sender", "sentAt", "doneAt", "messageCount", "mccMnc", "price", "status",
"error"}]}`` there, with the status ``DELIVERED_TO_HANDSET`` (group
``DELIVERED``, id 5) and the error ``NO_ERROR`` (id 0); with
``intermediateReport`` true, ``DELIVERED_TO_OPERATOR`` (id 2) comes first
("Message status codes"). Infobip signs no per-request report. Other hosts
are never called. The fault ``silent`` accepts the message and never
reports; ``undelivered`` accepts it and reports ``UNDELIVERABLE_NOT_DELIVERED``
(group ``UNDELIVERABLE``, id 9) with the error ``EC_ABSENT_SUBSCRIBER``
(handset errors, id 27) ("Response status and error codes").
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from .base import RECEIPT_FAULTS, Receipts, Recorder, Request, Response, Vendor, same
from .segments import segments

__all__ = ["CREDENTIALS", "FLOOD_IDENTICAL", "FLOOD_VARIED", "REJECTED_PREFIX", "VENDOR", "Infobip"]

CREDENTIALS = MappingProxyType({"api_key": "sandbox-infobip-api-key"})
REJECTED_PREFIX = "1500555"
#: Messages one number may receive per hour: any, and with the same text.
FLOOD_VARIED = 20
FLOOD_IDENTICAL = 6
FLOOD_WINDOW = 3600.0
_URL_MAX = 2048
_DIGITS = re.compile(r"\+?[1-9][0-9]{5,14}")
_PENDING = {"groupId": 1, "groupName": "PENDING", "id": 26, "name": "PENDING_ACCEPTED",
            "description": "Message sent to next instance"}
_REJECTED_DESTINATION = {"groupId": 5, "groupName": "REJECTED", "id": 52, "name": "REJECTED_DESTINATION",
                         "description": "Request rejected due to invalid destination"}
_REJECTED_FLOODING = {"groupId": 5, "groupName": "REJECTED", "id": 20, "name": "REJECTED_FLOODING_FILTER",
                      "description": "Message rejected due to an anti-flooding mechanism"}
_REJECTED_SYSTEM = {"groupId": 5, "groupName": "REJECTED", "id": 21, "name": "REJECTED_SYSTEM_ERROR",
                    "description": "Request rejected due to a system error, retry the submission"}
_DELIVERED = {"groupId": 3, "groupName": "DELIVERED", "id": 5, "name": "DELIVERED_TO_HANDSET",
              "description": "Message delivered to handset"}
_DELIVERED_TO_OPERATOR = {"groupId": 3, "groupName": "DELIVERED", "id": 2, "name": "DELIVERED_TO_OPERATOR",
                          "description": "Message delivered to operator"}
_UNDELIVERABLE = {"groupId": 2, "groupName": "UNDELIVERABLE", "id": 9, "name": "UNDELIVERABLE_NOT_DELIVERED",
                  "description": "Message sent not delivered"}
_NO_ERROR = {"groupId": 0, "groupName": "OK", "id": 0, "name": "NO_ERROR", "description": "No Error",
             "permanent": False}
_ABSENT_SUBSCRIBER = {"groupId": 1, "groupName": "HANDSET_ERRORS", "id": 27, "name": "EC_ABSENT_SUBSCRIBER",
                      "description": "Absent Subscriber", "permanent": False}


def api_error(status: int, code: str, description: str, violations: list[dict[str, str]] | None = None) -> Response:
    """Infobip's ``ApiError`` answer."""
    return Response.json(status, {"errorCode": code, "description": description,
                                  "action": "Check the request and try again.",
                                  "violations": violations or [], "resources": []})


class Infobip(Vendor):
    """Infobip SMS v3. Fault key ``infobip``; its own faults are ``400`` (a
    validation error) and ``system-error`` (``REJECTED_SYSTEM_ERROR``)."""

    name = "infobip"
    fault_variants = {"infobip": ("400", "system-error", *RECEIPT_FAULTS)}

    def __init__(self, record: Recorder, *, clock: Callable[[], float] = time.monotonic,
                 delivery_delay: float = 0.05) -> None:
        super().__init__(record)
        self._clock = clock
        self._lock = threading.Lock()
        self._received: defaultdict[str, deque[tuple[float, str]]] = defaultdict(deque)
        self._receipts = Receipts(self.name, delivery_delay)

    def reset(self) -> None:
        with self._lock:
            self._received.clear()
        self._receipts.reset()

    def stop(self) -> None:
        self._receipts.stop()

    def report_counts(self) -> dict[str, int]:
        """Delivery reports ``sent`` (2xx), ``failed`` and ``skipped`` (not loopback)."""
        return self._receipts.counts()

    def _flooded(self, number: str, text: str) -> bool:
        """Whether ``number`` has had its hour's fill (counting this message when it has not)."""
        with self._lock:
            now = self._clock()
            received = self._received[number]
            while received and now - received[0][0] >= FLOOD_WINDOW:
                received.popleft()
            if len(received) >= FLOOD_VARIED or sum(seen == text for _at, seen in received) >= FLOOD_IDENTICAL:
                return True
            received.append((now, text))
            return False

    def handle(self, request: Request, receipt: str = "delivered") -> Response:
        if request.route not in ("/sms/3/messages", "/account/1/balance"):
            return api_error(404, "E404", "Resource not found.")
        if not same(request.headers.get("Authorization", ""), f"App {CREDENTIALS['api_key']}"):
            return api_error(401, "E401", "Invalid login details.")
        if request.route == "/account/1/balance":
            return Response.json(200, {"balance": 47.79, "currency": "EUR"})
        if request.method != "POST":
            return api_error(405, "E405", "Method not allowed.")
        payload = request.parsed() if request.content_type == "application/json" else None
        problem = _violation(payload)
        if problem or not isinstance(payload, dict):
            problem = problem or ("messages", "must be given")
            return api_error(400, "E400", "Request cannot be processed.", [{"property": problem[0],
                                                                              "violation": problem[1]}])
        message = payload["messages"][0]
        to = message["destinations"][0]["to"]
        text = message["content"]["text"]
        number = "+" + to.lstrip("+")
        status = _PENDING
        if number.startswith("+" + REJECTED_PREFIX):
            status = _REJECTED_DESTINATION
        elif self._flooded(number, text):
            status = _REJECTED_FLOODING
        answer = sent(to, text, status)
        if status is _PENDING:
            self._record(self.name, number, text)
            if receipt != "silent":
                self._report(message, answer, receipt)
        return answer

    def _report(self, message: dict[str, Any], answer: Response, receipt: str) -> None:
        webhooks = message.get("webhooks", {})
        delivery = webhooks.get("delivery", {})
        if not delivery.get("url") or delivery.get("notify") is False or (
            webhooks.get("contentType", "application/json") != "application/json"
        ):
            return
        taken = json.loads(answer.body)
        bulk_id, accepted = taken["bulkId"], taken["messages"][0]
        sent_at = _infobip_time()
        final = (_UNDELIVERABLE, _ABSENT_SUBSCRIBER) if receipt == "undelivered" else (_DELIVERED, _NO_ERROR)
        steps = [(_DELIVERED_TO_OPERATOR, _NO_ERROR)] if delivery.get("intermediateReport") is True else []

        def report(status: dict[str, Any], error: dict[str, Any]) -> Callable[[], dict[str, Any]]:
            return lambda: {"results": [{
                "bulkId": bulk_id, "messageId": accepted["messageId"], "to": accepted["destination"],
                "sender": message.get("sender") or "InfoSMS", "sentAt": sent_at, "doneAt": _infobip_time(),
                "messageCount": accepted["details"]["messageCount"], "mccMnc": "24201",
                "price": {"pricePerMessage": 0.01, "currency": "EUR"}, "status": status, "error": error,
            }]}

        self._receipts.post_later(delivery["url"], [report(*step) for step in [*steps, final]],
                                  accepted["messageId"])

    def fault_response(self, key: str, fault: str, request: Request) -> Response:
        if fault in RECEIPT_FAULTS:
            return self.handle(request, fault)
        if fault == "system-error":
            payload = request.parsed() if request.content_type == "application/json" else None
            if isinstance(payload, dict) and _violation(payload) is None:
                message = payload["messages"][0]
                return sent(message["destinations"][0]["to"], message["content"]["text"], _REJECTED_SYSTEM)
            fault = "400"
        if fault == "400":
            return api_error(400, "E400", "Request cannot be processed.",
                             [{"property": "messages[0].content.text", "violation": "must not be blank"}])
        if fault == "401":
            return api_error(401, "E401", "Invalid login details.")
        if fault == "429":
            return api_error(429, "E429", "Too many requests.")
        return api_error(500, "E500", "Something went wrong.")


def _infobip_time() -> str:
    """Now as Infobip writes report times: ``yyyy-MM-dd'T'HH:mm:ss.SSSZ``
    (``2019-11-09T16:00:00.000+0000``)."""
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}+0000"


def sent(to: str, text: str, status: dict[str, Any]) -> Response:
    """Infobip's 200 answer for one message with ``status``."""
    return Response.json(200, {"bulkId": secrets.token_hex(10), "messages": [{
        "messageId": secrets.token_hex(18), "status": status, "destination": to,
        "details": {"messageCount": segments(text)},
    }]})


def _violation(payload: Any) -> tuple[str, str] | None:
    messages = payload.get("messages") if isinstance(payload, dict) else None
    if not isinstance(messages, list) or len(messages) != 1 or not isinstance(messages[0], dict):
        return "messages", "must hold one message (in this sandbox)"
    message = messages[0]
    destinations = message.get("destinations")
    if (not isinstance(destinations, list) or len(destinations) != 1 or not isinstance(destinations[0], dict)
            or not isinstance(destinations[0].get("to"), str) or not _DIGITS.fullmatch(destinations[0]["to"])):
        return "messages[0].destinations", "must hold one number in international format"
    content = message.get("content")
    if not isinstance(content, dict) or not isinstance(content.get("text"), str) or not content["text"].strip():
        return "messages[0].content.text", "must not be blank"
    sender = message.get("sender")
    if sender is not None and (not isinstance(sender, str) or not 0 < len(sender) <= 14):
        return "messages[0].sender", "must be 1 to 14 characters"
    webhooks = message.get("webhooks", {})
    delivery = webhooks.get("delivery", {}) if isinstance(webhooks, dict) else None
    if not isinstance(delivery, dict):
        return "messages[0].webhooks", "must be an object whose delivery is an object"
    url = delivery.get("url")
    if url is not None and (not isinstance(url, str) or len(url) > _URL_MAX or not url.startswith(("http://", "https://"))):
        return "messages[0].webhooks.delivery.url", f"must be an http(s) URL of at most {_URL_MAX} characters"
    return None


VENDOR = Infobip
