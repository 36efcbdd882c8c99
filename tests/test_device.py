"""SMSDevice: codes are single-use, expire, are stored hashed, and malformed input is refused."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.test import override_settings
from freezegun import freeze_time

from django_sms_gateway import signals
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


@override_settings(OTP_SMS_COOLDOWN_DURATION=60)
def test_send_challenge_says_sent_then_cooldown_even_to_a_stale_instance(device, sms_outbox):
    stale = SMSDevice.objects.get(pk=device.pk)
    sent = device.send_challenge()
    assert (sent.status, sent.message) == ("sent", "We sent a code by text message to +47******32.")
    assert device.has_pending_code() and 59 <= device.cooldown_seconds() <= 60
    for waiting in (device, stale):  # the stale one loses the claim: nothing was sent, so not "sent"
        outcome = waiting.send_challenge()
        assert outcome.status == "cooldown" and not outcome.failed
        assert outcome.message.startswith("A code was sent recently. You can ask for a new one in ")
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


class RecordingRouter:
    """Routes nothing; remembers each write's model and instance hint."""

    hints: list = []

    def db_for_write(self, model, **hints):
        RecordingRouter.hints.append((model.__name__, hints.get("instance")))
        return None


def test_the_claim_and_the_records_pass_the_device_as_routing_hint(device, settings, sms_outbox):
    RecordingRouter.hints = []
    settings.DATABASE_ROUTERS = [f"{__name__}.RecordingRouter"]
    device.generate_challenge()
    assert ("SMSDevice", device) in RecordingRouter.hints
    assert ("DeliveryRecord", device) in RecordingRouter.hints


def test_vendor_counts_beyond_a_column_are_kept_within_it(device):
    from django_sms_gateway.exceptions import Attempt
    from django_sms_gateway.models import CHARGE_MAX, SEGMENTS_MAX

    class Result:
        status, segments, charge = "OK", 10**6, 10**12

    DeliveryRecord.record(device, (Attempt("accuauth", "sent", "accepted", 0.01),), Result())
    row = DeliveryRecord.objects.get()
    assert (row.segments, row.charge) == (SEGMENTS_MAX, CHARGE_MAX) == (32767, 2**31 - 1)


def test_the_records_of_one_walk_are_one_insert(device):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from django_sms_gateway.exceptions import Attempt

    attempts = (Attempt("a", "failed", "timeout", 0.5), Attempt("b", "skipped", "circuit open"),
                Attempt("c", "sent", "accepted", 0.02, reference="ref-1"))

    class Result:
        status, segments, charge = "accepted", 1, None

    with CaptureQueriesContext(connection) as ctx:
        assert DeliveryRecord.record(device, attempts, Result()) == 3
    assert [q["sql"].split()[0] for q in ctx.captured_queries] == ["INSERT"]
    rows = DeliveryRecord.objects.order_by("id").values_list("gateway", "outcome", "reference", "number_masked")
    assert list(rows) == [("a", "failed", "", "+47******32"), ("b", "skipped", "", "+47******32"),
                          ("c", "sent", "ref-1", "+47******32")]
    assert DeliveryRecord.record(device, ()) == 0


# -- the lock-out is bounded ---------------------------------------------------------------


def test_the_throttle_wait_is_capped_but_the_count_is_not(device, sms_outbox):
    """23 failures: django-otp would wait 2^22 s (seven weeks)."""
    from django.utils import timezone

    device.generate_challenge()
    now = timezone.now()
    SMSDevice.objects.filter(pk=device.pk).update(throttling_failure_count=23, throttling_failure_timestamp=now)
    device.refresh_from_db()
    allowed, details = device.verify_is_allowed()
    assert allowed is False and details["failure_count"] == 23
    assert details["locked_until"] == now + timedelta(hours=1)
    with override_settings(OTP_SMS_THROTTLE_MAX_DELAY=60):
        assert device.verify_is_allowed()[1]["locked_until"] == now + timedelta(seconds=60)


@override_settings(OTP_SMS_THROTTLE_FACTOR=0, OTP_SMS_MAX_FAILURES=3)
def test_after_the_most_failures_the_device_needs_a_new_binding(device, sms_outbox):
    refusals = []

    def receiver(sender, reason, **kwargs):
        refusals.append(reason)

    signals.code_refused.connect(receiver)
    try:
        device.generate_challenge()
        code = last_code()
        for _ in range(3):
            assert device.verify_token("000000" if code != "000000" else "111111") is False
        assert device.verify_token(code) is False  # the right code, refused
        allowed, details = device.verify_is_allowed()
        assert allowed is False and "must be set up again" in details["error_message"]
        assert refusals[-1] == "too many failures"
        assert SMSDevice.objects.get(pk=device.pk).throttling_failure_count == 3  # refusals are not counted
        device.rebind("+47 987 65 432")
        device.generate_challenge()
        assert device.verify_token(last_code()) is True
    finally:
        signals.code_refused.disconnect(receiver)


@pytest.mark.parametrize(("name", "value"), [("OTP_SMS_THROTTLE_MAX_DELAY", 0), ("OTP_SMS_MAX_FAILURES", -1),
                                             ("OTP_SMS_MAX_FAILURES", 2.5), ("OTP_SMS_THROTTLE_FACTOR", "1")])
def test_lockout_settings_are_checked_where_they_are_read(name, value):
    from django_sms_gateway.conf import settings as conf_settings
    from django_sms_gateway.exceptions import ConfigurationError

    with override_settings(**{name: value}), pytest.raises(ConfigurationError) as info:
        conf_settings.lockout  # noqa: B018  (read: raises)
    assert info.value.check_id == "sms_gateway.E020" and name in str(info.value)


# -- a new number is a new binding ---------------------------------------------------------


def test_changing_the_number_unconfirms_the_device_and_clears_its_code(device, sms_outbox):
    SMSDevice.objects.filter(pk=device.pk).update(confirmed=True)
    device.refresh_from_db()
    device.generate_challenge()
    code = last_code()
    device.number = "+4790000000"
    device.save()
    stored = SMSDevice.objects.get(pk=device.pk)
    assert (stored.number, stored.confirmed, stored.token) == ("+4790000000", False, None)
    assert stored.verify_token(code) is False


def test_saving_other_fields_keeps_the_binding(device, sms_outbox):
    SMSDevice.objects.filter(pk=device.pk).update(confirmed=True)
    device.refresh_from_db()
    device.generate_challenge()
    device.name = "work phone"
    device.save()
    assert device.confirmed is True and device.verify_token(last_code()) is True


def test_rebind_validates_the_number_and_changes_nothing_when_it_is_bad(device, sms_outbox):
    SMSDevice.objects.filter(pk=device.pk).update(confirmed=True)
    device.refresh_from_db()
    with pytest.raises(ValidationError):
        device.rebind("+47 800 12 345")  # toll-free
    assert SMSDevice.objects.get(pk=device.pk).confirmed is True
    device.rebind("+46 70 123 45 67")
    stored = SMSDevice.objects.get(pk=device.pk)
    assert (stored.number, stored.confirmed) == ("+46701234567", False)


def test_a_device_reloaded_after_another_rebound_it_is_not_unbound_again(device, sms_outbox):
    other = SMSDevice.objects.get(pk=device.pk)
    other.rebind("+4790000000")
    SMSDevice.objects.filter(pk=device.pk).update(confirmed=True)  # the new number was confirmed
    device.refresh_from_db()
    device.name = "renamed"
    device.save()
    assert SMSDevice.objects.get(pk=device.pk).confirmed is True


@override_settings(OTP_SMS_MAX_FAILURES=1)
def test_the_lock_out_message_is_translated(device):
    from django.utils import translation

    SMSDevice.objects.filter(pk=device.pk).update(throttling_failure_count=1)
    device.refresh_from_db()
    with translation.override("nb"):
        assert "settes opp på nytt" in device.verify_is_allowed()[1]["error_message"]
