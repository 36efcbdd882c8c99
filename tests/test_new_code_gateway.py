"""The SMS step's "send a new code" goes first to a gateway that has not
failed to confirm the held code; a confirmed one keeps the usual order."""

import pytest

from django_sms_gateway.forms import SMSTokenForm
from django_sms_gateway.models import DeliveryRecord, SMSDevice

LOCMEM = {"BACKEND": "django_sms_gateway.backends.locmem.LocmemBackend"}

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def two_gateways(settings):
    settings.SMS_GATEWAYS = {"first": LOCMEM, "second": LOCMEM, "third": LOCMEM}


def ask_again(phone):
    form = SMSTokenForm(phone.user, data={"otp_device": phone.persistent_id, "otp_challenge": "1"})
    assert not form.is_valid()


def test_a_new_code_goes_to_the_next_gateway_while_the_last_is_unconfirmed(phone, sms_outbox):
    ask_again(phone)
    ask_again(SMSDevice.objects.get(pk=phone.pk))
    ask_again(SMSDevice.objects.get(pk=phone.pk))
    assert [m.gateway for m in sms_outbox] == ["first", "second", "third"]


def test_a_delivered_receipt_keeps_the_usual_order(phone, sms_outbox):
    ask_again(phone)
    DeliveryRecord.objects.update(delivery=DeliveryRecord.Delivery.DELIVERED)
    ask_again(SMSDevice.objects.get(pk=phone.pk))
    assert [m.gateway for m in sms_outbox] == ["first", "first"]


def test_without_a_held_code_the_usual_order(phone, sms_outbox):
    ask_again(phone)
    SMSDevice.objects.filter(pk=phone.pk).clear_codes()
    ask_again(SMSDevice.objects.get(pk=phone.pk))
    assert [m.gateway for m in sms_outbox] == ["first", "first"]


def test_django_otps_own_challenge_keeps_the_usual_order(phone, sms_outbox):
    phone.generate_challenge()
    SMSDevice.objects.get(pk=phone.pk).generate_challenge()
    assert [m.gateway for m in sms_outbox] == ["first", "first"]
