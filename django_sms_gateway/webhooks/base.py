"""What every vendor's delivery-report webhook shares.

A vendor module subclasses :class:`WebhookView` and fills in two steps;
the view runs every request through the same order, each refusal a short
plain-text answer that never repeats the input:

1. :meth:`WebhookView.gateway` finds the ``SMS_GATEWAYS`` alias of the URL
   and :meth:`WebhookView.accepts` says whether it takes webhooks (else 404);
2. the raw body is read, at most ``OTP_SMS_WEBHOOK_MAX_BYTES`` (else 413,
   before anything is parsed);
3. :meth:`WebhookView.verify` checks the signature on the raw body and
   raises :class:`WebhookRefused` (403);
4. :meth:`WebhookView.parse` turns the body into :class:`StatusReport`
   items or raises :class:`MalformedWebhook` (400; the log shows only the
   envelope's shape, :func:`describe_envelope`);
5. :meth:`WebhookView.record` writes each report onto the delivery records
   of that gateway and reference: a final one (``StatusReport.delivery``)
   settles an accepted record once, and a failed one fails its challenge
   over (no known record: :meth:`WebhookView.unknown_reference`, 404 unless
   a vendor overrides it);
6. 200 ``ok`` (also for a verified body that reports nothing).

Subclasses set :attr:`WebhookView.backend_class` and
:attr:`WebhookView.vendor`, implement ``verify`` and ``parse``, and may
override ``accepts``, ``final_statuses``, ``tolerance`` and
``http_method_names`` (POST only by default).

The signature helpers (:func:`hmac_sha256_hex`, :func:`any_digest_matches`,
:func:`secret_matches`, :func:`timestamp_seconds`, :func:`check_fresh`) are
for the vendor modules.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from ..backends.base import BaseBackend
from ..backends.http import UnreadableJSON, read_json
from ..conf import settings
from ..dispatch import gateways
from ..failover import fail_over
from ..models import DeliveryRecord

__all__ = [
    "MalformedWebhook",
    "StatusReport",
    "WebhookRefused",
    "WebhookView",
    "any_digest_matches",
    "check_fresh",
    "describe_envelope",
    "hmac_sha256_hex",
    "plain",
    "read_limited",
    "secret_matches",
    "status_word",
    "timestamp_seconds",
]

logger = logging.getLogger("django_sms_gateway")

#: Deliveries no report changes.
FINAL_DELIVERIES = (DeliveryRecord.Delivery.DELIVERED, DeliveryRecord.Delivery.FAILED, DeliveryRecord.Delivery.MISSING)

#: Unix times from this value on are taken as milliseconds (it is the year 5138 in seconds).
MILLISECONDS_FROM = 10**11


class WebhookRefused(Exception):
    """A webhook request failed verification; ``str()`` is a short reason of ours."""


class MalformedWebhook(Exception):
    """A verified webhook whose body we cannot read; ``str()`` is a short reason of ours."""


@dataclass(frozen=True, slots=True)
class StatusReport:
    """One status a vendor reports for one of its references (kept raw).

    ``delivery`` is the vendor's word normalised by its module:
    ``DeliveryRecord.Delivery.DELIVERED`` or ``.FAILED`` for a final word,
    None for a word on the way (queued, sent, buffered...)."""

    reference: str
    status: str
    segments: int | None = None
    delivery: str | None = None


def plain(text: str, status: int) -> HttpResponse:
    """A short plain-text answer."""
    return HttpResponse(text + "\n", status=status, content_type="text/plain; charset=utf-8")


def read_limited(request: HttpRequest, limit: int) -> bytes | None:
    """The raw body, or None when it is longer than ``limit`` bytes (at most
    ``limit + 1`` bytes are read)."""
    declared = request.META.get("CONTENT_LENGTH") or ""
    if declared.isdigit() and int(declared) > limit:
        return None
    body = request.read(limit + 1)
    return None if len(body) > limit else body


def hmac_sha256_hex(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def any_digest_matches(candidates: Iterable[str], expected: str) -> bool:
    """True when one of ``candidates`` is ``expected``; every candidate is
    compared in constant time, so timing tells nothing about which matched."""
    matched = False
    for candidate in candidates:
        matched |= hmac.compare_digest(candidate.lower(), expected.lower())
    return matched


def secret_matches(given: str, expected: str | None) -> bool:
    """Whether the URL's secret ``given`` is ``expected``, in constant time
    (False when the alias has none)."""
    return bool(expected) and hmac.compare_digest(given.encode(), str(expected).encode())


def timestamp_seconds(raw: str) -> float | None:
    """A signed Unix time given in seconds or in milliseconds, in seconds;
    None unless ``raw`` is 1-13 ASCII digits."""
    if not raw or len(raw) > 13 or not raw.isascii() or not raw.isdigit():
        return None
    value = int(raw)
    return value / 1000 if value >= MILLISECONDS_FROM else float(value)


def check_fresh(timestamp: float, *, tolerance: float, now: float | None = None) -> None:
    """Refuse a signed time more than ``tolerance`` seconds from ``now`` (a replay)."""
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        raise WebhookRefused("timestamp outside the tolerance")


def status_word(value: Any) -> str | None:
    """``value`` when it can be stored as a status (1-32 printable characters)."""
    if isinstance(value, str) and value.strip() and value.isprintable() and len(value) <= 32:
        return value
    return None


def describe_envelope(body: bytes) -> str:
    """The shape of a body, safe to log: top-level field names and value
    types, never a value (a value may hold a number or a code)."""
    try:
        payload = read_json(body)
    except UnreadableJSON:
        return f"not JSON ({len(body)} bytes)"
    if not isinstance(payload, dict):
        return f"JSON {type(payload).__name__}, not an object"
    fields = [f"{str(key)[:24]!r}: {type(value).__name__}" for key, value in list(payload.items())[:12]]
    return "{" + ", ".join(fields) + (", ..." if len(payload) > 12 else "") + "}"


@method_decorator(csrf_exempt, name="dispatch")
class WebhookView(View):
    """Base of a vendor's webhook view (the steps are in the module docstring).

    Subclasses set :attr:`backend_class` and :attr:`vendor` and implement
    :meth:`verify` and :meth:`parse`; the URL passes ``alias``.
    """

    http_method_names: ClassVar[list[str]] = ["post"]  # type: ignore[misc]
    backend_class: ClassVar[type[BaseBackend]] = BaseBackend
    vendor: ClassVar[str] = ""

    def post(self, request: HttpRequest, alias: str) -> HttpResponse:
        backend = self.gateway(alias)
        if backend is None:
            return plain("unknown webhook", 404)
        limit = self.size_limit()
        body = read_limited(request, limit)
        if body is None:
            return self.refuse(alias, f"body over {limit} bytes", "request too large", 413)
        try:
            self.verify(request, body, backend)
        except WebhookRefused as refused:
            return self.refuse(alias, str(refused), "signature refused", 403)
        try:
            reports = self.parse(request, body, backend)
        except MalformedWebhook as malformed:
            return self.refuse(alias, f"{malformed}; envelope {describe_envelope(body)}", "malformed body", 400)
        if reports and not self.record(alias, reports, backend):
            return self.unknown_reference(alias)
        for report in reports:
            logger.info("%s webhook for gateway %r: %s is %s", self.vendor, alias, report.reference, report.status)
        return plain("ok", 200)

    def gateway(self, alias: str) -> BaseBackend | None:
        """The backend of ``alias`` when it may receive this view's webhooks."""
        try:
            backend = gateways[alias]
        except KeyError:
            return None
        except ImproperlyConfigured:
            logger.error("%s webhook for gateway %r: SMS_GATEWAYS is misconfigured (see manage.py check)",
                         self.vendor, alias)
            return None
        return backend if isinstance(backend, self.backend_class) and self.accepts(backend) else None

    def accepts(self, backend: Any) -> bool:
        """Whether ``backend`` (an instance of :attr:`backend_class`) takes webhooks."""
        return True

    def size_limit(self) -> int:
        """Bytes a webhook body may have (``OTP_SMS_WEBHOOK_MAX_BYTES``)."""
        return settings.OTP_SMS_WEBHOOK_MAX_BYTES

    def tolerance(self) -> float:
        """Seconds a signed timestamp may differ from now."""
        return settings.OTP_SMS_WEBHOOK_TOLERANCE

    def verify(self, request: HttpRequest, body: bytes, backend: Any) -> None:
        """Raise :class:`WebhookRefused` unless the request is genuine."""
        raise NotImplementedError

    def parse(self, request: HttpRequest, body: bytes, backend: Any) -> list[StatusReport]:
        """The reports in a verified body; :class:`MalformedWebhook` when unreadable."""
        raise NotImplementedError

    def final_statuses(self, backend: Any) -> Iterable[str]:
        """Final statuses: once a record holds one, no report changes it."""
        return ()

    def record(self, alias: str, reports: list[StatusReport], backend: Any) -> int:
        """Write ``reports``; returns how many named a record of ``alias``.

        A final report (``delivery`` set) settles each ``ACCEPTED`` record
        of its reference (:meth:`DeliveryRecord.settle`): a record already
        final keeps its delivery and status, so a replayed, forged-late or
        out-of-order report changes nothing. A FAILED report fails the
        record's challenge over at once (:func:`~django_sms_gateway.failover.fail_over`).
        A word on the way only updates the raw ``status`` of a record not
        yet final. Records without a delivery (sent before it was recorded)
        only get the raw status, which a final word makes final."""
        known = 0
        for report in reports:
            rows = DeliveryRecord.objects.for_reference(alias, report.reference)
            if report.delivery is None:
                updated = rows.exclude(delivery__in=FINAL_DELIVERIES).update_status(
                    report.status, segments=report.segments, final_statuses=self.final_statuses(backend)
                )
                known += 1 if updated or rows.exists() else 0
                continue
            # Records written before deliveries were kept: the raw status alone, final words final.
            rows.filter(delivery="").update_status(
                report.status, segments=report.segments, final_statuses=self.final_statuses(backend)
            )
            found = list(rows)
            known += 1 if found else 0
            for record in found:
                if record.settle(report.delivery, status=report.status, segments=report.segments) and \
                        report.delivery == DeliveryRecord.Delivery.FAILED:
                    self.fail_over(record)
        return known

    def fail_over(self, record: DeliveryRecord) -> None:
        """Send ``record``'s challenge through the next gateway; a failure is
        logged, never turned into an error answer (the report was recorded)."""
        try:
            fail_over(record)
        except Exception as exc:
            logger.error("%s webhook: fail-over after a failed receipt did not complete (%s); "
                         "manage.py smsfailover retries it", self.vendor, type(exc).__name__, exc_info=True)

    def unknown_reference(self, alias: str) -> HttpResponse:
        """The answer to a verified report for no record of ``alias`` (404;
        vendors that retry on errors get a 200 from their subclass)."""
        return self.refuse(alias, "no delivery record for its reference", "unknown reference", 404)

    def refuse(self, alias: str, reason: str, answer: str, status: int) -> HttpResponse:
        logger.warning("%s webhook for gateway %r refused: %s", self.vendor, alias, reason)
        return plain(answer, status)
