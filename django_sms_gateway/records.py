"""The record of every send attempt: one :class:`DeliveryRecord` per gateway tried.

Defined here and imported by :mod:`django_sms_gateway.models`, so that the
send path (:mod:`django_sms_gateway.sending`) can write records without
importing the device model.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable
from functools import reduce
from typing import TYPE_CHECKING, Any

from django.db import models, router
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .backends.base import SEGMENTS_MAX
from .exceptions import Attempt
from .phone import mask_number

if TYPE_CHECKING:
    from .models import SMSDevice

__all__ = ["CHARGE_MAX", "SEGMENTS_MAX", "DeliveryRecord", "DeliveryRecordQuerySet"]

#: Largest value the ``charge`` column holds (on every database Django supports).
CHARGE_MAX = 2**31 - 1


def _clamped(value: int | None, most: int) -> int | None:
    """A vendor's count, kept within its column: a row must not fail after the SMS went out."""
    return None if value is None else max(0, min(int(value), most))


class DeliveryRecordQuerySet(models.QuerySet["DeliveryRecord"]):
    """Delivery records as vendor status reports find them."""

    def for_reference(self, gateway: str, reference: str) -> DeliveryRecordQuerySet:
        """The sent records of vendor reference ``reference`` through gateway ``gateway``."""
        return self.filter(gateway=gateway, reference=reference, outcome=DeliveryRecord.Outcome.SENT)

    def update_status(
        self, status: str, *, segments: int | None = None, final_statuses: Iterable[str] = ()
    ) -> int:
        """Store a vendor-reported ``status`` (kept raw, cut to the column) and
        part count; returns the rows updated. A record already in one of
        ``final_statuses`` (compared case-insensitively) keeps it when a late
        or replayed report carries a status that is not final."""
        finals = {word.casefold() for word in final_statuses}
        rows = self
        if status.casefold() not in finals and finals:
            rows = rows.exclude(reduce(operator.or_, (Q(status__iexact=word) for word in finals)))
        changes: dict[str, Any] = {"status": status[:32], "updated_at": timezone.now()}
        if segments is not None:
            changes["segments"] = _clamped(segments, SEGMENTS_MAX)
        return rows.update(**changes)


class DeliveryRecord(models.Model):
    """One attempt to send a code through one gateway. Never holds the code
    or the full number."""

    class Outcome(models.TextChoices):
        SENT = "sent", _("sent")
        FAILED = "failed", _("failed")
        SKIPPED = "skipped", _("skipped")

    created_at = models.DateTimeField(_("created"), default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    device = models.ForeignKey(
        "django_sms_gateway.SMSDevice", null=True, blank=True, on_delete=models.SET_NULL, related_name="deliveries"
    )
    gateway = models.CharField(_("gateway"), max_length=64, db_index=True)
    reference = models.CharField(_("vendor reference"), max_length=128, blank=True, db_index=True)
    outcome = models.CharField(_("outcome"), max_length=8, choices=Outcome.choices)
    status = models.CharField(_("vendor status"), max_length=32, blank=True)
    reason = models.CharField(_("reason"), max_length=255, blank=True)
    segments = models.PositiveSmallIntegerField(_("segments"), null=True, blank=True)
    charge = models.PositiveIntegerField(_("charge"), null=True, blank=True)
    elapsed_ms = models.PositiveIntegerField(_("elapsed (ms)"), default=0)
    number_masked = models.CharField(_("number"), max_length=24, blank=True)

    objects = DeliveryRecordQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("SMS delivery")
        verbose_name_plural = _("SMS deliveries")

    def __str__(self) -> str:
        return f"{self.gateway} {self.outcome} {self.number_masked}"

    @classmethod
    def record(
        cls, device: SMSDevice | None, attempts: tuple[Attempt, ...], result: Any = None, *, number: str = ""
    ) -> int:
        """Write one row per attempt, the sent attempt with ``result``, in one
        INSERT; returns the number of rows written. Without a ``device`` (a
        send for another package's device, such as django-two-factor-auth's),
        ``number`` (E.164) is stored masked.

        One row (the usual send) is saved on its own, in autocommit; several
        go in with one ``bulk_create``."""
        masked = device.masked_number if device is not None else mask_number(number)
        now = timezone.now()
        rows: list[DeliveryRecord] = []
        for attempt in attempts:
            sent = attempt.outcome == cls.Outcome.SENT and result is not None
            rows.append(
                cls(
                    created_at=now,
                    updated_at=now,
                    device_id=device.pk if device is not None else None,
                    gateway=attempt.alias[:64],
                    reference=(attempt.reference or "")[:128],
                    outcome=attempt.outcome,
                    status=(result.status if sent else "")[:32],
                    reason=attempt.reason[:255],
                    segments=_clamped(result.segments, SEGMENTS_MAX) if sent else None,
                    charge=_clamped(result.charge, CHARGE_MAX) if sent else None,
                    elapsed_ms=int(attempt.elapsed * 1000),
                    number_masked=masked,
                )
            )
        if not rows:
            return 0
        database = router.db_for_write(cls, instance=device)
        if len(rows) == 1:
            rows[0].save(force_insert=True, using=database)
            return 1
        return len(DeliveryRecord.objects.using(database).bulk_create(rows))
