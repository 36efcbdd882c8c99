"""Satellite and other non-geographic numbers (region 001) are refused like premium-rate
numbers, when a device is cleaned and again when a code would be sent, unless a site
allows their range by prefix."""

import pytest
from django.core.exceptions import ValidationError
from django.test import override_settings

from django_sms_gateway import checks, limits
from django_sms_gateway.exceptions import SendLimitExceeded
from django_sms_gateway.models import SMSDevice
from django_sms_gateway.phone import normalize_number

pytestmark = pytest.mark.django_db

IRIDIUM = "+881631234567"  # MOBILE of region 001
INMARSAT = "+870773111632"  # MOBILE of region 001
NETWORK = "+8823421234"  # international networks


@pytest.mark.parametrize("number", [IRIDIUM, INMARSAT, NETWORK, "+881 6 3123 4567"])
def test_non_geographic_numbers_are_refused_by_name(number):
    with pytest.raises(ValidationError) as refused:
        normalize_number(number)
    assert refused.value.code == "non_geographic"
    assert refused.value.messages == ["Satellite and other non-geographic numbers cannot receive codes."]


def test_even_when_only_mobile_numbers_are_allowed(user):
    device = SMSDevice(user=user, name="phone", number=IRIDIUM)
    with override_settings(OTP_SMS_ALLOWED_NUMBER_TYPES=["MOBILE"]), pytest.raises(ValidationError) as refused:
        device.full_clean()
    assert refused.value.error_dict["number"][0].code == "non_geographic"


def test_a_site_allows_a_range_by_prefix(user):
    with override_settings(OTP_SMS_ALLOWED_NON_GEOGRAPHIC=["+8816"]):
        assert normalize_number("+881 6 3123 4567") == IRIDIUM
        with pytest.raises(ValidationError):
            normalize_number(INMARSAT)  # another range
    with pytest.raises(ValidationError):  # the setting is read again after it changes
        normalize_number(IRIDIUM)


def test_a_stored_satellite_number_gets_no_code(user, sms_outbox):
    """A number written without full_clean (an import, the shell) is refused on the send path."""
    device = SMSDevice.objects.create(user=user, name="phone", number=IRIDIUM)
    with pytest.raises(SendLimitExceeded) as refused:
        device.generate_challenge()
    assert refused.value.limit == "non_geographic" and refused.value.retry_after is None
    assert str(refused.value) == "This phone number cannot receive text messages. Please check it."
    assert sms_outbox == []
    with override_settings(OTP_SMS_ALLOWED_NON_GEOGRAPHIC=["+88163"]):
        device.generate_challenge()
    assert [message.recipient for message in sms_outbox] == [IRIDIUM]


def test_geographic_numbers_still_pass():
    assert normalize_number("+47 987 65 432") == "+4798765432"
    assert limits.check_send("+4798765432") is not None


def test_a_bad_prefix_setting_is_e013():
    with override_settings(OTP_SMS_ALLOWED_NON_GEOGRAPHIC=["+47"]):
        [message] = [m for m in checks.check_limits() if m.id == "sms_gateway.E013"]
    assert "'+47'" in message.msg and "+881" in message.hint
    assert message.obj == "OTP_SMS_ALLOWED_NON_GEOGRAPHIC"
