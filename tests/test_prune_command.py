"""``manage.py prunesmsdeliveries`` deletes delivery records past their retention."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from django_sms_gateway.models import DeliveryRecord

pytestmark = pytest.mark.django_db


def make_records(ages_in_days):
    now = timezone.now()
    for age in ages_in_days:
        DeliveryRecord.objects.create(gateway="g", outcome="sent", created_at=now - timedelta(days=age))


def prune(*args):
    out = StringIO()
    call_command("prunesmsdeliveries", *args, stdout=out)
    return out.getvalue().strip()


def test_default_keeps_90_days():
    make_records([1, 89, 91, 400])
    assert prune() == "Deleted 2 SMS delivery records older than 90 days."
    assert DeliveryRecord.objects.count() == 2


def test_setting_changes_the_retention(settings):
    settings.OTP_SMS_DELIVERY_RECORD_DAYS = 30
    make_records([1, 31])
    assert prune() == "Deleted 1 SMS delivery record older than 30 days."
    assert DeliveryRecord.objects.count() == 1


def test_days_option_overrides_the_setting():
    make_records([1, 8, 20])
    assert prune("--days", "7") == "Deleted 2 SMS delivery records older than 7 days."


def test_dry_run_counts_without_deleting():
    make_records([1, 100, 200])
    assert prune("--dry-run") == "Would delete 2 SMS delivery records older than 90 days (dry run)."
    assert DeliveryRecord.objects.count() == 3


def test_many_rows_are_deleted_in_batches(monkeypatch):
    from django_sms_gateway.management.commands import prunesmsdeliveries

    monkeypatch.setattr(prunesmsdeliveries, "BATCH_SIZE", 3)
    make_records([100] * 10 + [1])
    assert prune() == "Deleted 10 SMS delivery records older than 90 days."
    assert DeliveryRecord.objects.count() == 1


def test_none_keeps_everything(settings):
    settings.OTP_SMS_DELIVERY_RECORD_DAYS = None
    make_records([1000])
    assert "nothing deleted" in prune()
    assert DeliveryRecord.objects.count() == 1


@pytest.mark.parametrize("days", ["0", "-5"])
def test_days_below_one_are_refused(days):
    with pytest.raises(CommandError, match="--days"):
        prune("--days", days)


def test_bad_setting_is_refused(settings):
    settings.OTP_SMS_DELIVERY_RECORD_DAYS = "90"
    with pytest.raises(CommandError, match="OTP_SMS_DELIVERY_RECORD_DAYS"):
        prune()
