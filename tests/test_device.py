"""SMSDevice: codes are single-use, expire, are stored hashed, and malformed input is refused."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.test import override_settings
from freezegun import freeze_time

from django_sms_gateway.models import DeliveryRecord, SMSDevice
from django_sms_gateway.testing import last_code

pytestmark = pytest.mark.django_db


def test_challenge_sends_code_and_returns_masked_sentence(device, sms_outbox):
    sentence = device.generate_challenge()
    assert len(sms_outbox) == 1
    msg = sms_outbox[0]
    assert msg.recipient == "+4798765432" and msg.gateway == "locmem"
    assert msg.code in msg.text and len(msg.code) == 6 and msg.code.isdigit()
    assert "+47******32" in sentence and msg.code not in sentence and "98765432" not in sentence


def test_code_is_stored_only_as_keyed_hash(device, sms_outbox):
    device.generate_challenge()
    code = last_code()
    stored = SMSDevice.objects.get(pk=device.pk).token
    assert code not in stored and len(stored) == 64
    with override_settings(SECRET_KEY="another-key"):
        assert not device.verify_token(code)  # the hash is keyed with SECRET_KEY


def test_code_verifies_once(device, sms_outbox):
    device.generate_challenge()
    code = last_code()
    assert device.verify_token(code) is True
    assert device.verify_token(code) is False
    stale = SMSDevice.objects.get(pk=device.pk)
    assert stale.verify_token(code) is False


def test_stale_instance_cannot_reuse_a_code(device, sms_outbox):
    device.generate_challenge()
    code = last_code()
    other = SMSDevice.objects.get(pk=device.pk)  # loaded before the use
    assert device.verify_token(code)
    assert other.verify_token(code) is False


@override_settings(OTP_SMS_TOKEN_VALIDITY=60, OTP_SMS_THROTTLE_FACTOR=0)
def test_code_expires(device, sms_outbox):
    with freeze_time() as clock:
        device.generate_challenge()
        code = last_code()
        clock.tick(timedelta(seconds=61))
        assert device.verify_token(code) is False


@override_settings(OTP_SMS_THROTTLE_FACTOR=0)
@pytest.mark.parametrize(
    "transform",
    [
        lambda c: c[:3] + " " + c[3:],  # whitespace inside
        lambda c: c.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")),  # Arabic-Indic digits
        lambda c: c.translate(str.maketrans("0123456789", "０１２３４５６７８９")),  # full-width digits
        lambda c: c[:-1],  # too short
        lambda c: c + "0",  # too long
        lambda c: None,
        lambda c: 12.5,
        lambda c: [c],
        lambda c: b"123456",
        lambda c: "",
    ],
)
def test_malformed_codes_are_refused(device, sms_outbox, transform):
    device.generate_challenge()
    code = last_code()
    assert device.verify_token(transform(code)) is False
    assert device.verify_token(code) is True  # the real code still works afterwards


def test_outer_whitespace_is_forgiven(device, sms_outbox):
    device.generate_challenge()
    assert device.verify_token(f"  {last_code()}\n") is True


def test_failed_guesses_count_and_a_new_code_does_not_reset_them(device, sms_outbox):
    with override_settings(OTP_SMS_THROTTLE_FACTOR=0):
        device.generate_challenge()
        for _ in range(3):
            assert not device.verify_token("000000" if last_code() != "000000" else "111111")
        device.generate_challenge()
    assert SMSDevice.objects.get(pk=device.pk).throttling_failure_count == 3


def test_another_devices_code_is_refused(user, device, sms_outbox):
    other = SMSDevice.objects.create(user=user, name="other", number="+4741234567")
    other.generate_challenge()
    with override_settings(OTP_SMS_THROTTLE_FACTOR=0):
        device.generate_challenge()
        own = last_code("+4798765432")
        foreign = last_code("+4741234567")
        if foreign != own:
            assert device.verify_token(foreign) is False


@override_settings(OTP_SMS_COOLDOWN_DURATION=0)
def test_without_cooldown_every_challenge_sends_a_new_code(device, sms_outbox):
    device.generate_challenge()
    device.generate_challenge()
    assert len(sms_outbox) == 2
    assert device.verify_token(sms_outbox[-1].code) is True


@override_settings(OTP_SMS_COOLDOWN_DURATION=60)
def test_cooldown_sends_nothing_and_says_when(device, sms_outbox):
    device.generate_challenge()
    sentence = device.generate_challenge()
    assert len(sms_outbox) == 1
    assert "seconds" in sentence


@override_settings(OTP_SMS_COOLDOWN_DURATION=60)
def test_cooldown_is_claimed_atomically_even_from_a_stale_instance(device, sms_outbox):
    stale = SMSDevice.objects.get(pk=device.pk)
    device.generate_challenge()
    stale.generate_challenge()  # its in-memory state says "allowed"
    assert len(sms_outbox) == 1


def test_delivery_is_recorded_without_code_or_number(device, sms_outbox):
    device.generate_challenge()
    record = DeliveryRecord.objects.get()
    assert record.gateway == "locmem" and record.outcome == "sent" and record.device == device
    assert record.number_masked == "+47******32"
    values = " ".join(str(v) for v in DeliveryRecord.objects.values().get().values())
    assert last_code() not in values and "98765432" not in values


@pytest.mark.parametrize(
    "raw, expected",
    [("+47 987 65 432", "+4798765432"), ("+47-987-65-432", "+4798765432"), ("+1 (650) 253-0000", "+16502530000")],
)
def test_full_clean_normalises(user, raw, expected):
    device = SMSDevice(user=user, name="p", number=raw)
    device.full_clean()
    assert device.number == expected


@pytest.mark.parametrize(
    "raw, code",
    [
        ("+47 987 65 abc", "letters"),
        ("+47 987 65 432 ext. 12", "extension"),
        ("+47 987 65 432;ext=1", "extension"),
        ("+44 909 876 5432", "premium_rate"),
        ("+47 1881", "short_code"),
        ("+999 123 456 789", "unknown_country"),
        ("+47 987\x0065 432", "control_characters"),
        ("+47 987\u200b65 432", "control_characters"),
        ("+47 2212 3456", "not_mobile"),
        ("+1 800 555 0100", "toll_free"),
        ("98765432", "international_format"),
        ("+47 " + "9" * 40, "too_long"),
        ("", "required"),
        ("+47 987 65 43", "invalid"),
        ("+47 987 ٦٥ 432", "invalid_characters"),
    ],
)
def test_full_clean_refuses_bad_numbers(user, raw, code):
    device = SMSDevice(user=user, name="p", number=raw)
    with pytest.raises(ValidationError) as info:
        device.full_clean()
    assert [e.code for e in info.value.error_dict["number"]] == [code]


@override_settings(OTP_SMS_DEFAULT_REGION="NO")
def test_default_region_reads_national_numbers(user):
    device = SMSDevice(user=user, name="p", number="987 65 432")
    device.full_clean()
    assert device.number == "+4798765432"
