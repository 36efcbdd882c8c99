"""``manage.py smsfailover``: one sweep of every SMS delivery that is overdue.

Run it every minute or so from cron (or a scheduled task) when the site has
no task worker for the delivery deadline, or as a backstop beside one: a
send through a gateway with receipts that has no "delivered" receipt by
``OTP_SMS_DELIVERY_DEADLINE`` is marked missing and its challenge goes
through the next gateway, as does a failed receipt whose fail-over a dead
process left undone (:func:`django_sms_gateway.failover.sweep`). Safe to run
beside the task and the webhooks: each record fails over at most once.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from ...conf import settings
from ...exceptions import ConfigurationError
from ...failover import sweep


class Command(BaseCommand):
    help = "Fail over SMS codes whose delivery receipt is overdue or failed (one sweep; run it from cron)."

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            deadline = settings.OTP_SMS_DELIVERY_DEADLINE
        except ConfigurationError as exc:
            raise CommandError(exc.message) from None
        sent = sweep()
        if deadline is None:
            self.stdout.write("OTP_SMS_DELIVERY_DEADLINE is None: only failed receipts were looked at.")
        self.stdout.write(f"{sent} code{'s' if sent != 1 else ''} sent through the next gateway.")
