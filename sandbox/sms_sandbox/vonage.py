"""Vonage SMS API (``/vonage``): ``POST /sms/json`` and the account balance.

Wire contract (Vonage SMS API reference, https://developer.vonage.com/en/api/sms;
"Troubleshooting SMS" and "SMS API errors",
https://developer.vonage.com/en/api-errors/sms; Account API,
https://developer.vonage.com/en/api/account):

* ``POST /sms/json`` takes form fields (or JSON) ``api_key``, ``api_secret``,
  ``from``, ``to`` (digits, no ``+``), ``text`` and ``type`` (``text`` or
  ``unicode``). It answers HTTP 200 whatever happens, with ``{"message-count",
  "messages": [...]}``: per SMS part ``{"to", "message-id", "status": "0",
  "remaining-balance", "message-price", "network"}``, or one ``{"status",
  "error-text"}`` with a non-zero status (2 missing parameter, 3 invalid
  value, 4 bad credentials, 15 illegal sender address, ...). The reference
  documents no other answer: no HTTP error status, no problem document.
* A ``from`` number is "in E.164 format, without a leading ``+`` or ``00``"
  (vonage-python-sdk ``vonage_sms.SmsMessage``): one with either is an
  invalid value, status 3.
* Without ``type=unicode``, characters outside GSM-7 arrive as ``?``.
* ``GET /account/get-balance`` with HTTP Basic ``api_key:api_secret`` answers
  ``{"value", "autoReload"}``, or 401 for other credentials (the Account
  API's balance snippet, https://developer.vonage.com/en/account/code-snippets/account-balance).

* A message sent with a ``callback`` on a loopback host gets, after the
  delivery delay, a delivery receipt there for each part with
  ``messageId``, ``msisdn``, ``to``, ``status=delivered``, ``err-code=0``,
  ``api-key``, ``message-timestamp``, ``timestamp``, ``nonce`` and ``sig``,
  signed with ``CREDENTIALS["signature_secret"]`` by the ``md5hash`` method
  (Vonage "Delivery receipts" and "Signing Messages",
  https://developer.vonage.com/en/getting-started/concepts/signing-messages).
  It comes in the webhook format the dashboard sets
  (:meth:`Vonage.set_webhook_format`): ``GET`` (a query string), ``POST`` (a
  form) or ``POST-JSON`` (a JSON body, the dashboard's recommended format
  and the sandbox's default) (Vonage "API Settings",
  https://developer.vonage.com/en/dashboard/control/api-settings). Other
  hosts are never called.

Delivery faults on ``/sms/json`` (the send answers status 0 as usual, the
message never reaches the inbox): ``silent`` sends no receipt;
``undelivered`` sends each part's receipt with ``status=failed`` and
``err-code=1`` (a final failure status of Vonage "Delivery receipts"; the
error code is the sandbox's pick).

Status faults ``1`` ... ``33`` answer 200 with that per-message status, as
Vonage does; so do the common faults ``401`` (status 4), ``429`` (status 1)
and ``500`` (status 5) on ``/sms/json``. The balance answers them as HTTP
errors with Vonage's problem document (``type``, ``title``, ``detail``).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import secrets
import threading
import time
from types import MappingProxyType
from typing import Any
from urllib.parse import urlencode, urlsplit

from .base import SENDER, Recorder, Request, Response, Vendor, basic_credentials, call_back, is_loopback_host, same
from .segments import is_gsm7, segments

__all__ = ["CREDENTIALS", "DELIVERY_FAULTS", "FAULT_STATUSES", "STATUS_TEXTS", "VENDOR", "WEBHOOK_FORMATS", "Vonage",
           "sign"]

CREDENTIALS = MappingProxyType(
    {"api_key": "5a1db0c5", "api_secret": "SandboxSecret1", "signature_secret": "sandbox-vonage-signature-secret"}
)

#: Per-message status -> Vonage's ``error-text``.
STATUS_TEXTS = MappingProxyType({
    "1": "Throughput Rate Exceeded - please wait [ 30 ] and retry",
    "2": "Missing to param",
    "3": "Invalid to address",
    "4": "Bad Credentials",
    "5": "Internal Error",
    "6": "Unroutable message - rejected",
    "7": "Number barred.",
    "8": "Partner account barred.",
    "9": "Quota Exceeded - rejected",
    "15": "Illegal Sender Address - rejected",
    "29": "Non-White-listed Destination - rejected",
    "33": "Number de-activated.",
})
#: Faults that let a send through and change what follows it: ``silent`` (no
#: receipt, never delivered), ``undelivered`` (a ``failed`` receipt).
DELIVERY_FAULTS = ("silent", "undelivered")
#: The status ``/sms/json`` answers for each common HTTP fault.
FAULT_STATUSES = MappingProxyType({"401": "4", "429": "1", "500": "5"})
#: The dashboard's delivery-receipt webhook formats.
WEBHOOK_FORMATS = ("GET", "POST", "POST-JSON")
_DIGITS = re.compile(r"[1-9][0-9]{6,14}")
_PROBLEMS = {
    500: ("internal-error", "Internal Server Error", "Something went wrong."),
    401: ("unauthorized", "Unauthorized", "You did not provide correct credentials."),
    429: ("rate-limit", "Too Many Requests", "You have exceeded the rate limit for this API."),
}


def sign(secret: str, params: dict[str, str]) -> str:
    """The ``md5hash`` ``sig`` of ``params``: MD5 of ``&name=value`` for the
    sorted names (``&`` and ``=`` in values as ``_``) followed by the secret."""
    signed = "".join(f"&{k}={v.replace('&', '_').replace('=', '_')}" for k, v in sorted(params.items()))
    return hashlib.md5((signed + secret).encode(), usedforsecurity=False).hexdigest()


def refused(status: str, text: str | None = None) -> Response:
    """Vonage's answer for a message it did not take: HTTP 200 and a status."""
    return Response.json(200, {"message-count": "1",
                               "messages": [{"status": status, "error-text": text or STATUS_TEXTS[status]}]})


def problem(status: int, headers: dict[str, str] | None = None) -> Response:
    kind, title, detail = _PROBLEMS[status]
    return Response.json(status, {"type": f"https://developer.vonage.com/api-errors#{kind}", "title": title,
                                  "detail": detail}, headers=headers)


class Vonage(Vendor):
    """One Vonage account with credit; message ids count up from 1."""

    name = "vonage"
    fault_variants = {"vonage": (*STATUS_TEXTS, *DELIVERY_FAULTS)}

    def __init__(self, record: Recorder, *, delivery_delay: float = 0.05) -> None:
        super().__init__(record)
        self._delay = delivery_delay
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._receipts = {"sent": 0, "failed": 0, "skipped": 0}
        self._generation = 0
        self._webhook_format = "POST-JSON"
        self._stopping = threading.Event()

    def reset(self) -> None:
        with self._lock:
            self._ids = itertools.count(1)
            self._receipts = dict.fromkeys(self._receipts, 0)
            self._generation += 1
            self._webhook_format = "POST-JSON"

    def set_webhook_format(self, webhook_format: str) -> None:
        """How delivery receipts are sent, as the dashboard's "Webhook format"
        says: one of :data:`WEBHOOK_FORMATS` (until :meth:`reset`)."""
        if webhook_format not in WEBHOOK_FORMATS:
            raise ValueError(f"unknown webhook format {webhook_format!r}; choose from {', '.join(WEBHOOK_FORMATS)}")
        with self._lock:
            self._webhook_format = webhook_format

    def stop(self) -> None:
        self._stopping.set()

    def receipt_counts(self) -> dict[str, int]:
        """Delivery receipts ``sent`` (2xx), ``failed`` and ``skipped`` (not loopback)."""
        with self._lock:
            return dict(self._receipts)

    def fault_response(self, key: str, fault: str, request: Request) -> Response:
        if fault in DELIVERY_FAULTS:
            return self.handle(request, delivery=fault)
        if fault in STATUS_TEXTS:
            return refused(fault)
        if request.route == "/sms/json":
            return refused(FAULT_STATUSES[fault])
        status = int(fault)
        return problem(status, {"Retry-After": "1"} if status == 429 else None)

    def handle(self, request: Request, *, delivery: str = "delivered") -> Response:
        """Answer ``request``; a message it sends ends ``delivery``: ``delivered``,
        or a delivery fault (:data:`DELIVERY_FAULTS`)."""
        if request.route == "/account/get-balance" and request.method == "GET":
            user, password = basic_credentials(request.headers.get("Authorization", "")) or ("", "")
            if not self._authorized({"api_key": user, "api_secret": password}):
                return problem(401)
            return Response.json(200, {"value": 10.0, "autoReload": False})
        if request.route != "/sms/json":
            return Response.json(404, {"type": "https://developer.vonage.com/api-errors#not-found",
                                       "title": "Not Found", "detail": f"{request.route} does not exist"})
        if request.method != "POST":
            return Response.json(405, {"title": "Method Not Allowed"}, headers={"Allow": "POST"})
        fields = request.parsed()
        if not isinstance(fields, dict):
            return refused("2", "Missing api_key")
        return self._send(fields, delivery)

    def _authorized(self, fields: dict[str, Any]) -> bool:
        key, secret = str(fields.get("api_key", "")), str(fields.get("api_secret", ""))
        return bool(same(key, CREDENTIALS["api_key"]) & same(secret, CREDENTIALS["api_secret"]))

    def _send(self, fields: dict[str, Any], delivery: str = "delivered") -> Response:
        for name in ("api_key", "api_secret"):
            if not fields.get(name):
                return refused("2", f"Missing {name}")
        if not self._authorized(fields):
            return refused("4")
        for name in ("from", "to", "text"):
            if not isinstance(fields.get(name), str) or not fields[name]:
                return refused("2", f"Missing {name} param")
        sender, to, text = fields["from"], fields["to"], fields["text"]
        if sender.startswith(("+", "00")) and sender.lstrip("+").isdigit():
            return refused("3", "Invalid from param")
        if not SENDER.fullmatch(sender):
            return refused("15")
        if not _DIGITS.fullmatch(to):
            return refused("3")
        kind = fields.get("type", "text")
        if kind not in ("text", "unicode"):
            return refused("3", "Invalid type param")
        delivered = text if kind == "unicode" else "".join(c if is_gsm7(c) else "?" for c in text)
        parts = segments(delivered)
        with self._lock:
            ids = [f"{next(self._ids):016X}" for _ in range(parts)]
            generation, webhook_format = self._generation, self._webhook_format
        if delivery == "delivered":
            self._record(self.name, "+" + to, delivered)
        if isinstance(fields.get("callback"), str) and fields["callback"] and delivery != "silent":
            final = "delivered" if delivery == "delivered" else "failed"
            threading.Thread(target=self._send_receipts,
                             args=(fields["callback"], ids, sender, to, generation, webhook_format, final),
                             name=f"vonage-receipt-{ids[0]}", daemon=True).start()
        return Response.json(200, {
            "message-count": str(parts),
            "messages": [{"to": to, "message-id": ident, "status": "0", "remaining-balance": "10.00000000",
                          "message-price": "0.03330000", "network": "24201"} for ident in ids],
        })

    def _send_receipts(self, url: str, ids: list[str], sender: str, to: str, generation: int,
                       webhook_format: str, final: str = "delivered") -> None:
        if self._stopping.wait(self._delay):
            return
        target = urlsplit(url)
        for message_id in ids:
            with self._lock:
                if generation != self._generation:
                    return
                if not is_loopback_host(target.hostname or ""):
                    self._receipts["skipped"] += 1
                    continue
            params = {"msisdn": to, "to": sender, "network-code": "24201", "messageId": message_id,
                      "price": "0.03330000", "status": final, "scts": time.strftime("%y%m%d%H%M"),
                      "err-code": "0" if final == "delivered" else "1", "api-key": CREDENTIALS["api_key"],
                      "message-timestamp": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
                      "timestamp": str(int(time.time())), "nonce": secrets.token_hex(8)}
            params["sig"] = sign(CREDENTIALS["signature_secret"], params)
            if webhook_format == "GET":
                outcome = call_back(target, "GET", query=urlencode(params))
            elif webhook_format == "POST":
                outcome = call_back(target, "POST", body=urlencode(params).encode(),
                                    headers={"Content-Type": "application/x-www-form-urlencoded"})
            else:
                outcome = call_back(target, "POST", body=json.dumps(params).encode(),
                                    headers={"Content-Type": "application/json"})
            with self._lock:
                if generation == self._generation:
                    self._receipts[outcome] += 1


VENDOR = Vonage
