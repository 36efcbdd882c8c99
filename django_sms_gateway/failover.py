"""Fail-over: a challenge whose send failed after the vendor accepted it goes
through the next gateway.

A send through a gateway with receipts (``BaseBackend.receipts``) is
recorded ``Delivery.ACCEPTED`` with ``deliver_by`` = the send +
``OTP_SMS_DELIVERY_DEADLINE``. It fails over

- at once, when the vendor's receipt says it failed (the webhook calls
  :func:`fail_over`);
- when ``deliver_by`` passed without a final receipt: the record becomes
  ``Delivery.MISSING`` and fails over. The deadline task
  (:data:`django_sms_gateway.tasks.fail_over_when_overdue`, enqueued for
  ``deliver_by`` when the site's task backend can defer) and
  :func:`sweep` (``manage.py smsfailover``, from cron) both do this.

Each record fails over at most once, whoever gets there first: the claim is
a conditional UPDATE of ``failed_over_at``. The fail-over itself is
:meth:`SMSDevice.fail_over <django_sms_gateway.models.SMSDevice.fail_over>`.
"""

from __future__ import annotations

import functools
import logging
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Q
from django.utils import timezone

from .conf import settings
from .dispatch import Delivery
from .models import DeliveryRecord, SMSDevice

__all__ = ["fail_over", "schedule", "settle_overdue", "sweep"]

logger = logging.getLogger("django_sms_gateway")

#: Deliveries that send a record's challenge on to the next gateway.
FAILING = (DeliveryRecord.Delivery.FAILED, DeliveryRecord.Delivery.MISSING)


def fail_over(record: DeliveryRecord, *, now: datetime | None = None) -> Delivery | None:
    """Send ``record``'s challenge through the next gateway, once: only for
    a sent record whose delivery is FAILED or MISSING, that has not failed
    over yet, while its device still holds that challenge unused and
    unexpired. Returns the new delivery, or None when nothing was sent."""
    now = now or timezone.now()
    if record.delivery not in FAILING or record.failed_over_at is not None or not record.challenge:
        return None
    device = SMSDevice.objects.filter(
        pk=record.device_id, challenge=record.challenge, valid_until__gt=now, token__isnull=False
    ).first() if record.device_id is not None else None
    if device is None:
        return None
    # Exactly one of the receipt, the task and the sweep wins the record.
    if not DeliveryRecord.objects.filter(pk=record.pk, failed_over_at__isnull=True).update(failed_over_at=now):
        return None
    record.failed_over_at = now
    return device.fail_over(record.challenge, now=now)


def settle_overdue(challenge: str | None = None, *, now: datetime | None = None) -> int:
    """Mark records past their ``deliver_by`` without a final receipt
    MISSING, and fail over each challenge that still waits for a code (of
    ``challenge`` only, or of all); also finishes fail-overs a dead process
    left undone (FAILED or MISSING, never failed over, younger than
    ``OTP_SMS_TOKEN_VALIDITY``). Returns the fail-overs that sent a code."""
    now = now or timezone.now()
    records = DeliveryRecord.objects.filter(outcome=DeliveryRecord.Outcome.SENT)
    if challenge is not None:
        records = records.filter(challenge=challenge)
    for record in records.filter(delivery=DeliveryRecord.Delivery.ACCEPTED, deliver_by__lte=now):
        record.settle(DeliveryRecord.Delivery.MISSING, now=now)
    recent = now - timedelta(seconds=settings.OTP_SMS_TOKEN_VALIDITY)
    pending = records.filter(
        Q(delivery__in=FAILING), failed_over_at__isnull=True, created_at__gte=recent
    ).exclude(challenge="").order_by("created_at", "id")
    return sum(1 for record in pending if fail_over(record, now=now) is not None)


def sweep(*, now: datetime | None = None) -> int:
    """One pass over everything overdue (``manage.py smsfailover``); returns
    the fail-overs that sent a code."""
    return settle_overdue(now=now)


@functools.cache
def _task() -> Any:
    """The deadline task, or None when no task framework is installed
    (Django < 6.0 without django-tasks)."""
    try:
        from .tasks import fail_over_when_overdue
    except ImportError:
        logger.info("No task framework (django.tasks or django-tasks): overdue deliveries wait for "
                    "manage.py smsfailover")
        return None
    return fail_over_when_overdue


def schedule(challenge: str, deliver_by: datetime) -> bool:
    """Enqueue the deadline task for ``challenge`` to run at ``deliver_by``;
    returns whether it was. Nothing is enqueued when there is no task
    framework or the site's task backend cannot run a task later (Django's
    default ``ImmediateBackend``): then ``manage.py smsfailover`` covers the
    deadline. An enqueue that fails is logged, never raised: the code was
    sent."""
    try:
        task = _task()
        if task is None or not task.get_backend().supports_defer:
            return False
        task.using(run_after=deliver_by).enqueue(challenge)
    except Exception as exc:
        logger.warning("SMS delivery deadline not enqueued (%s): manage.py smsfailover covers it",
                       type(exc).__name__)
        return False
    return True
