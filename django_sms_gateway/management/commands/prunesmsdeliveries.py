"""``manage.py prunesmsdeliveries``: delete delivery records past their retention.

Run it daily (cron, a scheduled task). Rows older than
``OTP_SMS_DELIVERY_RECORD_DAYS`` days (default 90) are deleted in batches,
so a large backlog never holds one long lock on the table.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone

from ...conf import settings
from ...exceptions import ConfigurationError
from ...models import DeliveryRecord

BATCH_SIZE = 5000


def _days(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise CommandError(f"--days must be a whole number of days, at least 1 (got {value!r}).")
    return value


class Command(BaseCommand):
    help = "Delete SMS delivery records older than OTP_SMS_DELIVERY_RECORD_DAYS days (or --days)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--days", type=int, default=None,
            help="Keep this many days of records instead of OTP_SMS_DELIVERY_RECORD_DAYS.",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Only count the records that would be deleted.",
        )

    def handle(self, *args: Any, days: int | None = None, dry_run: bool = False, **options: Any) -> None:
        if days is not None:
            days = _days(days)
        else:
            try:
                configured = settings.OTP_SMS_DELIVERY_RECORD_DAYS
            except ConfigurationError as exc:
                raise CommandError(exc.message) from None
            if configured is None:
                self.stdout.write("OTP_SMS_DELIVERY_RECORD_DAYS is None: delivery records are kept; nothing deleted.")
                return
            days = configured
        cutoff = timezone.now() - timedelta(days=days)
        old = DeliveryRecord.objects.filter(created_at__lt=cutoff)
        if dry_run:
            count = old.count()
            self.stdout.write(f"Would delete {count} SMS delivery record{'s' if count != 1 else ''} "
                              f"older than {days} days (dry run).")
            return
        deleted = 0
        while True:
            with transaction.atomic():
                batch = list(old.order_by("pk").values_list("pk", flat=True)[:BATCH_SIZE])
                if not batch:
                    break
                deleted += DeliveryRecord.objects.filter(pk__in=batch).delete()[0]
        self.stdout.write(f"Deleted {deleted} SMS delivery record{'s' if deleted != 1 else ''} "
                          f"older than {days} days.")
