"""OTP_SMS_DELIVERY_DEADLINE: seconds above 0 or None, checked with E030."""

import pytest

from django_sms_gateway import checks
from django_sms_gateway.checks import E030
from django_sms_gateway.conf import settings as sms_settings


@pytest.mark.parametrize(("value", "read"), [(30, 30.0), (0.5, 0.5), (None, None)])
def test_the_deadline_is_seconds_or_none(settings, value, read):
    settings.OTP_SMS_DELIVERY_DEADLINE = value
    assert sms_settings.OTP_SMS_DELIVERY_DEADLINE == read
    assert [m for m in checks.check_codes() if m.id == E030] == []


@pytest.mark.parametrize("value", [0, -1, "30", float("inf"), True])
def test_a_wrong_deadline_is_e030(settings, value):
    settings.OTP_SMS_DELIVERY_DEADLINE = value
    [error] = [m for m in checks.check_codes() if m.id == E030]
    assert "OTP_SMS_DELIVERY_DEADLINE" in error.msg and error.hint


def test_the_default_is_thirty_seconds():
    assert sms_settings.OTP_SMS_DELIVERY_DEADLINE == 30.0


def test_a_broken_task_setting_never_breaks_a_send(settings, monkeypatch):
    from django.utils import timezone

    from django_sms_gateway import failover

    def broken():
        raise RuntimeError("TASKS is wrong")

    monkeypatch.setattr(failover, "_task", broken)
    assert failover.schedule("0" * 32, timezone.now()) is False
