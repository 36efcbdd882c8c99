"""Twilio message status callbacks, signed with ``X-Twilio-Signature``.

Give the URL of :func:`twilio_status_webhook` for the gateway alias,
``https://example.com/sms/webhooks/twilio/<alias>/``, as the gateway's
``status_callback`` option: Twilio then POSTs form fields (``MessageSid``,
``MessageStatus``, ``ErrorCode``, ...) to it at each status change.

Signature (Twilio "Webhooks security",
https://www.twilio.com/docs/usage/webhooks/webhooks-security; twilio-python
``twilio/request_validator.py``): base64 of HMAC-SHA1, keyed with the Auth
Token, over the full URL Twilio called followed by every POST parameter name
and value, names sorted. The URL checked is the ``status_callback`` option,
the one we gave Twilio, so that proxies rewriting host or scheme do not matter.

Statuses (Messages resource, "Message status values"): ``delivered``,
``undelivered``, ``failed``, ``canceled`` and ``read`` are final.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from collections.abc import Mapping, Sequence
from urllib.parse import parse_qs

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from ..backends.twilio import MESSAGE_SID, TwilioBackend
from ..backends.zignsec import record_session_status
from ..conf import settings
from ..gateways import gateways
from . import _plain, _read_limited

logger = logging.getLogger("django_sms_gateway")

__all__ = ["FINAL_STATUSES", "SIGNATURE_HEADER", "parse_status", "signature", "twilio_status_webhook"]

SIGNATURE_HEADER = "X-Twilio-Signature"
STATUSES = frozenset({
    "accepted", "scheduled", "queued", "sending", "sent", "delivered", "undelivered", "failed", "canceled",
    "read", "partially_delivered",
})
FINAL_STATUSES = frozenset({"delivered", "undelivered", "failed", "canceled", "read"})


def signature(auth_token: str, url: str, params: Mapping[str, Sequence[str]]) -> str:
    """The ``X-Twilio-Signature`` Twilio sends for ``params`` (name -> values) posted to ``url``."""
    signed = url + "".join(name + value for name in sorted(params) for value in sorted(params[name]))
    digest = hmac.new(auth_token.encode(), signed.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def parse_status(params: Mapping[str, Sequence[str]]) -> tuple[str, str, bool] | None:
    """``(message sid, status, final?)`` from a status callback, or None."""
    sid = (params.get("MessageSid") or [""])[0]
    status = (params.get("MessageStatus") or [""])[0]
    if not MESSAGE_SID.fullmatch(sid) or status not in STATUSES:
        return None
    return sid, status, status in FINAL_STATUSES


@csrf_exempt
@require_POST
def twilio_status_webhook(request: HttpRequest, alias: str) -> HttpResponse:
    """Record the status Twilio reports for a message sent through ``alias``."""
    backend = _twilio_gateway(alias)
    if backend is None:
        return _plain("unknown webhook", 404)
    limit = int(settings.OTP_SMS_WEBHOOK_MAX_BYTES)
    body = _read_limited(request, limit)
    if body is None:
        logger.warning("Twilio webhook for gateway %r refused: body over %d bytes", alias, limit)
        return _plain("request too large", 413)
    try:
        params = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body))
    except (UnicodeDecodeError, ValueError):
        params = None
    given = request.headers.get(SIGNATURE_HEADER, "")
    expected = signature(backend.config["auth_token"], backend.config["status_callback"], params or {})
    if params is None or not hmac.compare_digest(given.encode(), expected.encode()):
        logger.warning("Twilio webhook for gateway %r refused: bad signature", alias)
        return _plain("signature refused", 403)
    report = parse_status(params)
    if report is None:
        logger.warning("Twilio webhook for gateway %r refused: malformed body", alias)
        return _plain("malformed body", 400)
    sid, status, _final = report
    if not record_session_status(alias, sid, status, final_statuses=FINAL_STATUSES):
        # Twilio only logs answers; a message we did not record is acknowledged, not retried.
        logger.info("Twilio webhook for gateway %r: message %s is not ours or already final", alias, sid)
        return _plain("ignored", 200)
    logger.info("Twilio webhook for gateway %r: message %s is %s", alias, sid, status)
    return _plain("ok", 200)


def _twilio_gateway(alias: str) -> TwilioBackend | None:
    """The Twilio backend of ``alias`` if it has a ``status_callback``."""
    try:
        backend = gateways[alias]
    except KeyError:
        return None
    if not isinstance(backend, TwilioBackend) or not backend.config["status_callback"]:
        return None
    return backend
