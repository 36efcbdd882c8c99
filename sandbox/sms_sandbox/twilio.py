"""Twilio Messages and Twilio Verify, both under ``/twilio`` (Twilio serves
them from ``api.twilio.com`` and ``verify.twilio.com`` with one account's
credentials). Fault keys: ``twilio`` for the Messages and Account
resources, ``twilio-verify`` for Verify (``/v2/...``).

Wire contract (Twilio's API reference: "Messages resource",
https://www.twilio.com/docs/messaging/api/message-resource; "Test
credentials", https://www.twilio.com/docs/iam/test-credentials; Verify
"Verification" and "Verification Check",
https://www.twilio.com/docs/verify/api/verification):

* HTTP Basic with the Account SID and Auth Token, or with an API key's SID
  and secret ("API requests", https://www.twilio.com/docs/usage/requests-to-twilio);
  form-encoded fields; errors are ``{"code", "message", "more_info",
  "status"}``, 401 with code 20003. The sandbox's API key
  (:data:`API_KEY`) is a Standard key, which Twilio keeps from the Accounts
  resource ("Create API keys in the Twilio Console",
  https://www.twilio.com/docs/iam/api-keys/keys-in-console); the 401 20003
  it gets there is the sandbox's assumption (Twilio does not say what it
  answers).
* ``POST /2010-04-01/Accounts/{sid}/Messages.json`` with ``To``, ``Body`` and
  ``From`` or ``MessagingServiceSid`` answers 201 and the Message resource
  (``status`` ``queued``; ``accepted`` through a Messaging Service). The
  test-credential magic numbers answer as Twilio documents: ``To``
  +15005550001 21211 (invalid), +15005550002 21612 (cannot route),
  +15005550003 21408 (no international permission), +15005550004 21610
  (unsubscribed), +15005550009 21614 (not a mobile number); ``From``
  +15005550001 21212, +15005550007 21606, +15005550008 21611.
* ``GET /2010-04-01/Accounts/{sid}.json`` answers the Account resource;
  ``GET .../Messages.json`` one page (``PageSize``, default 50) of the
  account's messages, newest first.
* Verify: ``POST /v2/Services/{sid}/Verifications`` (``To``, ``Channel=sms``)
  sends a 6-digit code, the same one again while the verification is
  pending (the sixth send is 429 60203); ``POST .../VerificationCheck``
  (``To``, ``Code``) answers 200 ``approved``/``valid: true`` once for the
  right code, 200 ``pending``/``valid: false`` for a wrong one, 404 20404
  when no verification is pending: ten minutes after the send, after
  approval, or after the fifth wrong code, when Twilio deletes the
  verification (Twilio, "How to test Verify without getting rate limited",
  https://www.twilio.com/en-us/blog/test-verify-no-rate-limits);
  ``GET /v2/Services/{sid}`` answers the Service with its ``code_length``.
* A message sent with a ``StatusCallback`` on a loopback host gets, after
  the delivery delay, the form POSTs ``MessageStatus=sent`` then
  ``delivered`` there, signed with ``X-Twilio-Signature`` (base64
  HMAC-SHA1 with the Auth Token over the URL and each parameter name and
  value, names sorted: "Webhooks security",
  https://www.twilio.com/docs/usage/webhooks/webhooks-security). Other hosts
  are never called.
* Delivery faults on the ``twilio`` key (a send answers 201 as usual, the
  message never reaches the inbox): ``silent`` sends no callback at all;
  ``undelivered`` sends ``sent`` then ``undelivered`` with ``ErrorCode``
  30003, "Unreachable destination handset" (Twilio error 30003,
  https://www.twilio.com/docs/api/errors/30003).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import formatdate
from types import MappingProxyType
from typing import Any
from urllib.parse import urlencode, urlsplit

from .base import (
    E164,
    SENDER,
    Recorder,
    Request,
    Response,
    Vendor,
    basic_credentials,
    call_back,
    is_loopback_host,
    same,
)
from .segments import segments

__all__ = [
    "API_KEY",
    "CREDENTIALS",
    "DELIVERY_FAULTS",
    "MAGIC_FROM",
    "MAGIC_TO",
    "MESSAGING_SERVICE_SID",
    "VENDOR",
    "VERIFY_SERVICE_SID",
    "Twilio",
    "error",
    "sign",
]

ACCOUNT_SID = "AC7f3c9e2d41b8a6057e1d2c3b4a5f6e7d"
CREDENTIALS = MappingProxyType({"account_sid": ACCOUNT_SID, "auth_token": "sandbox-twilio-auth-token"})
#: A Standard API key of the sandbox account: ``{**CREDENTIALS, **API_KEY}``
#: (or the account SID alone with it) calls with the key.
API_KEY = MappingProxyType({"api_key_sid": "SK0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a",
                            "api_key_secret": "sandbox-twilio-api-key-secret"})
#: The Verify Service the sandbox account has.
VERIFY_SERVICE_SID = "VA9c8b7a6f5e4d3c2b1a0f9e8d7c6b5a4e"
#: The Messaging Service the sandbox account has.
MESSAGING_SERVICE_SID = "MG3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b"

#: Test-credential ``To`` numbers -> (error code, message).
MAGIC_TO = MappingProxyType({
    "+15005550001": (21211, "Invalid 'To' Phone Number: {to}"),
    "+15005550002": (21612, "The 'To' phone number: {to}, is not currently reachable using the 'From' "
                            "phone number via SMS."),
    "+15005550003": (21408, "Permission to send an SMS has not been enabled for the region indicated by the "
                            "'To' number: {to}."),
    "+15005550004": (21610, "Attempt to send to unsubscribed recipient"),
    "+15005550009": (21614, "'To' number is not a valid mobile number"),
})
#: Test-credential ``From`` numbers -> (error code, message).
MAGIC_FROM = MappingProxyType({
    "+15005550001": (21212, "The 'From' number {sender} is not a valid phone number, shortcode, or "
                            "alphanumeric sender ID."),
    "+15005550007": (21606, "The 'From' phone number provided ({sender}) is not a valid message-capable "
                            "Twilio phone number for this destination/account."),
    "+15005550008": (21611, "This 'From' number has exceeded the maximum number of queued messages."),
})
#: Faults that let a send through and change what follows it: ``silent`` (no
#: callback, never delivered), ``undelivered`` (the failure callback).
DELIVERY_FAULTS = ("silent", "undelivered")

#: Status faults' codes and messages (fault name -> code, HTTP status, message).
_FAULTS = {
    "500": (20500, 500, "Internal Server Error"),
    "401": (20003, 401, "Authenticate"),
    "429": (20429, 429, "Too Many Requests"),
    "21211": (21211, 400, "Invalid 'To' Phone Number"),
    "21408": (21408, 400, "Permission to send an SMS has not been enabled for the region"),
    "21610": (21610, 400, "Attempt to send to unsubscribed recipient"),
    "21612": (21612, 400, "The 'To' phone number is not currently reachable via SMS."),
    "21614": (21614, 400, "'To' number is not a valid mobile number"),
    "60200": (60200, 400, "Invalid parameter"),
    "60202": (60202, 429, "Max check attempts reached"),
    "60203": (60203, 429, "Max send attempts reached"),
    "20404": (20404, 404, "The requested resource was not found"),
}
VERIFY_LIFETIME = 600.0
VERIFY_MAX_SENDS = 5
VERIFY_MAX_CHECKS = 5


def error(code: int, status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    """A Twilio error document."""
    return Response.json(status, {"code": code, "message": message,
                                  "more_info": f"https://www.twilio.com/docs/errors/{code}", "status": status},
                         headers=headers)


def sign(auth_token: str, url: str, fields: dict[str, str]) -> str:
    """The ``X-Twilio-Signature`` of form ``fields`` posted to ``url``."""
    signed = url + "".join(name + fields[name] for name in sorted(fields))
    return base64.b64encode(hmac.new(auth_token.encode(), signed.encode(), hashlib.sha1).digest()).decode()


def _sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


def _caller(request: Request, account_sid: str) -> str | None:
    """``"account"`` (Account SID and Auth Token), ``"api_key"`` or None
    (refused) for a request on the resources of ``account_sid``."""
    credentials = basic_credentials(request.headers.get("Authorization", ""))
    if credentials is None or not same(account_sid, CREDENTIALS["account_sid"]):
        return None
    user, password = credentials
    if same(user, CREDENTIALS["account_sid"]) & same(password, CREDENTIALS["auth_token"]):
        return "account"
    if same(user, API_KEY["api_key_sid"]) & same(password, API_KEY["api_key_secret"]):
        return "api_key"
    return None


def _form(request: Request) -> dict[str, str] | None:
    fields = request.parsed() if request.content_type == "application/x-www-form-urlencoded" else None
    return fields if isinstance(fields, dict) else None


@dataclass
class _Verification:
    sid: str
    to: str
    code: str
    created: float
    sends: int = 1
    checks: int = 0


class Twilio(Vendor):
    """The Messages and Account resources and one Verify Service of one
    test account; verifications live in memory until :meth:`reset`."""

    name = "twilio"
    fault_variants = {
        "twilio": ("21211", "21408", "21610", "21612", "21614", "silent", "undelivered"),
        "twilio-verify": ("20404", "60200", "60202", "60203"),
    }
    code_length = 6

    def __init__(self, record: Recorder, *, clock: Callable[[], float] = time.monotonic,
                 delivery_delay: float = 0.05) -> None:
        super().__init__(record)
        self._clock = clock
        self._delay = delivery_delay
        self._lock = threading.Lock()
        self._pending: dict[str, _Verification] = {}
        self._sent: deque[dict[str, Any]] = deque(maxlen=1000)  # Message resources, oldest first
        self._callbacks = {"sent": 0, "failed": 0, "skipped": 0}
        self._generation = 0
        self._stopping = threading.Event()

    def fault_key(self, route: str) -> str:
        return "twilio-verify" if route.startswith("/v2/") else "twilio"

    def reset(self) -> None:
        with self._lock:
            self._pending.clear()
            self._sent.clear()
            self._callbacks = dict.fromkeys(self._callbacks, 0)
            self._generation += 1

    def stop(self) -> None:
        self._stopping.set()

    def callback_counts(self) -> dict[str, int]:
        """Status callbacks ``sent`` (2xx), ``failed`` and ``skipped`` (not loopback)."""
        with self._lock:
            return dict(self._callbacks)

    def fault_response(self, key: str, fault: str, request: Request) -> Response:
        if fault in DELIVERY_FAULTS:
            return self.handle(request, delivery=fault)
        code, status, text = _FAULTS[fault]
        return error(code, status, text, {"Retry-After": "1"} if status == 429 else None)

    def _unauthorized(self) -> Response:
        return error(20003, 401, "Authenticate", {"WWW-Authenticate": 'Basic realm="Twilio API"'})

    def _not_found(self, request: Request) -> Response:
        return error(20404, 404, f"The requested resource {request.route} was not found")

    def handle(self, request: Request, *, delivery: str = "delivered") -> Response:
        """Answer ``request``; a message it sends ends ``delivery``: ``delivered``,
        or a delivery fault (:data:`DELIVERY_FAULTS`)."""
        parts = request.route.strip("/").split("/")
        if parts[:2] == ["v2", "Services"] and len(parts) in (3, 4):
            return self._verify(request, parts)
        if parts[:2] != ["2010-04-01", "Accounts"] or len(parts) not in (3, 4):
            return self._not_found(request)
        account = parts[2].removesuffix(".json")
        caller = _caller(request, account)
        if caller is None:
            return self._unauthorized()
        if len(parts) == 3 and request.method == "GET" and parts[2].endswith(".json"):
            if caller == "api_key":  # a Standard key: no access to the Accounts resource
                return self._unauthorized()
            return Response.json(200, {"sid": account, "friendly_name": "Sandbox account", "status": "active",
                                       "type": "Full"})
        if len(parts) == 4 and parts[3] == "Messages.json" and request.method == "POST":
            fields = _form(request)
            if fields is None:
                return error(20001, 400, "Unable to parse the request body")
            return self._create_message(request, account, fields, delivery)
        if len(parts) == 4 and parts[3] == "Messages.json" and request.method == "GET":
            return self._message_page(request, account)
        return self._not_found(request)

    def _message_page(self, request: Request, account: str) -> Response:
        size = request.params.get("PageSize", "50")
        if not size.isdigit() or not 1 <= int(size) <= 1000:
            return error(20001, 400, "PageSize must be between 1 and 1000")
        with self._lock:
            sent = list(self._sent)[::-1][:int(size)]
        uri = f"/2010-04-01/Accounts/{account}/Messages.json?PageSize={size}&Page=0"
        return Response.json(200, {"messages": sent, "page": 0, "page_size": int(size), "start": 0,
                                   "end": max(0, len(sent) - 1), "first_page_uri": uri, "uri": uri,
                                   "next_page_uri": None, "previous_page_uri": None})

    def _create_message(self, request: Request, account: str, fields: dict[str, str],
                        delivery: str = "delivered") -> Response:
        to, body = fields.get("To", ""), fields.get("Body", "")
        sender, service = fields.get("From", ""), fields.get("MessagingServiceSid", "")
        if not to:
            return error(21604, 400, "A 'To' phone number is required.")
        if not sender and not service:
            return error(21603, 400, "A 'From' phone number is required.")
        if service and service != MESSAGING_SERVICE_SID:
            return error(21705, 400, "The Messaging Service Sid is invalid.")
        if not body:
            return error(21602, 400, "Message body is required.")
        if len(body) > 1600:
            return error(21617, 400, "The concatenated message body exceeds the 1600 character limit.")
        if sender and (sender in MAGIC_FROM or not SENDER.fullmatch(sender)):
            code, text = MAGIC_FROM.get(sender, (21212, "The 'From' number {sender} is not a valid phone "
                                                        "number, shortcode, or alphanumeric sender ID."))
            return error(code, 400, text.format(sender=sender))
        if to in MAGIC_TO or not E164.fullmatch(to):
            code, text = MAGIC_TO.get(to, MAGIC_TO["+15005550001"])
            return error(code, 400, text.format(to=to))
        if sender and not sender.lstrip("+").isdigit() and to.startswith("+1"):
            return error(21612, 400, f"The 'To' phone number: {to}, is not currently reachable using the "
                                     "'From' phone number via SMS.")
        if delivery == "delivered":
            self._record(self.name, to, body)
        sid, now = _sid("SM"), formatdate(usegmt=True)
        if fields.get("StatusCallback") and delivery != "silent":
            with self._lock:
                generation = self._generation
            final = "delivered" if delivery == "delivered" else "undelivered"
            threading.Thread(target=self._call_back,
                             args=(fields["StatusCallback"], sid, account, to, generation, final),
                             name=f"twilio-callback-{sid}", daemon=True).start()
        resource = {
            "account_sid": account, "api_version": "2010-04-01", "body": body,
            "date_created": now, "date_sent": None, "date_updated": now, "direction": "outbound-api",
            "error_code": None, "error_message": None, "from": sender or None,
            "messaging_service_sid": service or None,
            "num_media": "0", "num_segments": "0" if service else str(segments(body)),
            "price": None, "price_unit": "USD", "sid": sid, "status": "accepted" if service else "queued",
            "to": to, "uri": f"/2010-04-01/Accounts/{account}/Messages/{sid}.json",
        }
        with self._lock:
            self._sent.append(resource)
        return Response.json(201, resource)

    def _call_back(self, url: str, sid: str, account: str, to: str, generation: int, final: str) -> None:
        target = urlsplit(url)
        for status in ("sent", final):
            if self._stopping.wait(self._delay):
                return
            with self._lock:
                if generation != self._generation:
                    return
                if not is_loopback_host(target.hostname or ""):
                    self._callbacks["skipped"] += 1
                    return
            fields = {"MessageSid": sid, "SmsSid": sid, "MessageStatus": status, "SmsStatus": status,
                      "AccountSid": account, "To": to, "ApiVersion": "2010-04-01"}
            if status == "undelivered":
                fields["ErrorCode"] = "30003"
            headers = {"Content-Type": "application/x-www-form-urlencoded",
                       "X-Twilio-Signature": sign(CREDENTIALS["auth_token"], url, fields)}
            outcome = call_back(target, "POST", body=urlencode(fields).encode(), headers=headers)
            with self._lock:
                if generation == self._generation:
                    self._callbacks[outcome] += 1

    def _verify(self, request: Request, parts: list[str]) -> Response:
        if _caller(request, CREDENTIALS["account_sid"]) is None:
            return self._unauthorized()
        if not same(parts[2], VERIFY_SERVICE_SID):
            return self._not_found(request)
        action = parts[3] if len(parts) == 4 else ""
        if action == "" and request.method == "GET":
            return Response.json(200, {"sid": parts[2], "account_sid": CREDENTIALS["account_sid"],
                                       "friendly_name": "Sandbox", "code_length": self.code_length})
        if action not in ("Verifications", "VerificationCheck") or request.method != "POST":
            return self._not_found(request)
        fields = _form(request)
        to = (fields or {}).get("To", "")
        if not E164.fullmatch(to):
            return error(60200, 400, "Invalid parameter `To`")
        if action == "Verifications":
            if fields and fields.get("Channel") != "sms":
                return error(60200, 400, "Invalid parameter: Channel")
            return self._start(to)
        code = (fields or {}).get("Code", "")
        if not code:
            return error(60200, 400, "Invalid parameter: Code")
        return self._check(request, to, code)

    def _live(self, to: str, now: float) -> _Verification | None:
        verification = self._pending.get(to)
        if verification is not None and now - verification.created >= VERIFY_LIFETIME:
            del self._pending[to]
            return None
        return verification

    def _start(self, to: str) -> Response:
        with self._lock:
            now = self._clock()
            verification = self._live(to, now)
            if verification is None:
                code = "".join(secrets.choice("0123456789") for _ in range(self.code_length))
                verification = self._pending[to] = _Verification(_sid("VE"), to, code, now)
            elif verification.sends >= VERIFY_MAX_SENDS:
                return error(60203, 429, "Max send attempts reached")
            else:
                verification.sends += 1
        self._record(self.name, to, f"Your Sandbox verification code is: {verification.code}")
        return Response.json(201, self._resource(verification, "pending"))

    def _check(self, request: Request, to: str, code: str) -> Response:
        with self._lock:
            verification = self._live(to, self._clock())
            if verification is None:
                return self._not_found(request)
            if hmac.compare_digest(verification.code.encode(), code.encode()):
                del self._pending[to]
                return Response.json(200, self._resource(verification, "approved"))
            verification.checks += 1
            if verification.checks >= VERIFY_MAX_CHECKS:
                del self._pending[to]
            return Response.json(200, self._resource(verification, "pending"))

    def _resource(self, verification: _Verification, status: str) -> dict[str, Any]:
        return {
            "sid": verification.sid, "service_sid": VERIFY_SERVICE_SID,
            "account_sid": CREDENTIALS["account_sid"], "to": verification.to, "channel": "sms",
            "status": status, "valid": status == "approved", "amount": None, "payee": None,
            "date_created": formatdate(usegmt=True), "date_updated": formatdate(usegmt=True),
        }


VENDOR = Twilio
