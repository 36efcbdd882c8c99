"""Vonage SMS delivery receipts, signed with the account's signature secret.

Give the URL of :func:`vonage_receipt_webhook` for the gateway alias,
``https://example.com/sms/webhooks/vonage/<alias>/``, as the gateway's
``callback`` option, and set ``signature_secret`` (and ``signature_method``
as chosen in the Vonage dashboard, with signed webhooks enabled): receipts
are refused unless signed, since anyone could post an unsigned one.

Receipt fields (Vonage "Delivery receipts",
https://developer.vonage.com/en/messaging/sms/guides/delivery-receipts):
``messageId``, ``status`` (``delivered``, ``expired``, ``failed``,
``rejected`` are final; ``accepted``, ``buffered``, ``unknown`` are not),
``err-code``, ``msisdn``, ``to``, ``api-key``, ...; sent as a query string
(GET) or as POST form fields or JSON, as the dashboard says.

Signature (Vonage "Signing Messages",
https://developer.vonage.com/en/getting-started/concepts/signing-messages;
vonage-python-sdk ``Client.signature``): every parameter but ``sig``, names
sorted, as ``&name=value`` with ``&`` and ``=`` in values replaced by ``_``;
``md5hash`` is the MD5 of that followed by the secret, the others an HMAC
keyed with the secret; hex, compared case-insensitively. The signed
``timestamp`` (Unix seconds) must be within ``OTP_SMS_WEBHOOK_TOLERANCE``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from ..backends.vonage import VonageBackend
from ..backends.zignsec import record_session_status
from ..conf import settings
from ..gateways import gateways
from . import _plain, _read_limited

logger = logging.getLogger("django_sms_gateway")

__all__ = ["FINAL_STATUSES", "parse_receipt", "signature", "signature_valid", "vonage_receipt_webhook"]

STATUSES = frozenset({"delivered", "expired", "failed", "rejected", "accepted", "buffered", "unknown"})
FINAL_STATUSES = frozenset({"delivered", "expired", "failed", "rejected"})
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
    stamp = params.get("timestamp", "")
    if not stamp.isdigit() or abs((time.time() if now is None else now) - int(stamp)) > tolerance:
        return False
    given = params.get("sig", "").lower()
    return hmac.compare_digest(given.encode(), signature(secret, method, params).encode())


def parse_receipt(params: Mapping[str, str]) -> tuple[str, str, bool] | None:
    """``(message id, status, final?)`` from a delivery receipt, or None."""
    message_id, status = params.get("messageId", ""), params.get("status", "")
    if not (0 < len(message_id) <= 64 and message_id.isalnum() and message_id.isascii()) or status not in STATUSES:
        return None
    return message_id, status, status in FINAL_STATUSES


@csrf_exempt
@require_http_methods(["GET", "POST"])
def vonage_receipt_webhook(request: HttpRequest, alias: str) -> HttpResponse:
    """Record the status a Vonage delivery receipt reports."""
    backend = _vonage_gateway(alias)
    if backend is None:
        return _plain("unknown webhook", 404)
    limit = int(settings.OTP_SMS_WEBHOOK_MAX_BYTES)
    body = _read_limited(request, limit)
    if body is None or len(request.META.get("QUERY_STRING", "")) > limit:
        logger.warning("Vonage webhook for gateway %r refused: over %d bytes", alias, limit)
        return _plain("request too large", 413)
    params = _params(request, body)
    if params is None or not signature_valid(
        backend.config["signature_secret"], backend.config["signature_method"], params,
        tolerance=float(settings.OTP_SMS_WEBHOOK_TOLERANCE),
    ) or params.get("api-key", backend.config["api_key"]) != backend.config["api_key"]:
        logger.warning("Vonage webhook for gateway %r refused: bad or stale signature", alias)
        return _plain("signature refused", 403)
    report = parse_receipt(params)
    if report is None:
        logger.warning("Vonage webhook for gateway %r refused: malformed receipt", alias)
        return _plain("malformed body", 400)
    message_id, status, _final = report
    if not record_session_status(alias, message_id, status, final_statuses=FINAL_STATUSES):
        # Vonage retries receipts that get an error; one for a part we did not record is acknowledged.
        logger.info("Vonage webhook for gateway %r: message %s is not ours or already final", alias, message_id)
        return _plain("ignored", 200)
    logger.info("Vonage webhook for gateway %r: message %s is %s", alias, message_id, status)
    return _plain("ok", 200)


def _params(request: HttpRequest, body: bytes) -> dict[str, str] | None:
    """The receipt's fields from the query string, a form or a JSON body."""
    try:
        if request.method == "GET":
            return dict(parse_qsl(request.META.get("QUERY_STRING", ""), keep_blank_values=True))
        if request.content_type == "application/json":
            data: Any = json.loads(body)
            if not isinstance(data, dict):
                return None
            return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in data.items()}
        return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    except (ValueError, UnicodeDecodeError):
        return None


def _vonage_gateway(alias: str) -> VonageBackend | None:
    """The Vonage backend of ``alias`` if it checks receipt signatures."""
    try:
        backend = gateways[alias]
    except KeyError:
        return None
    if not isinstance(backend, VonageBackend) or not backend.config["signature_secret"]:
        return None
    return backend
