"""Receipts are idempotent and final is final, for each vendor's scheme:
forged receipts are refused, replayed and out-of-order ones change nothing,
and only the one receipt that settles a record fails it over."""

from __future__ import annotations

import json
import time
from urllib.parse import urlencode

import pytest

from django_sms_gateway.models import DeliveryRecord
from django_sms_gateway.webhooks.vonage import signature as vonage_signature
from sms_sandbox import CREDENTIALS
from sms_sandbox.twilio import sign as twilio_sign
from sms_sandbox.zignsec import SIGNATURE_HEADER as ZIGNSEC_HEADER
from sms_sandbox.zignsec import sign as zignsec_sign

from .helpers import LOCMEM_ENTRY, gateway_entry, zignsec_entry

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.vendors.urls")]

Delivery = DeliveryRecord.Delivery
TWILIO_HOOK = "http://testserver/sms/webhooks/twilio/twilio/"
REFERENCES = {"twilio": "SM" + "a" * 32, "vonage": "0A0000001234ABCD",
              "zignsec": "26f5cc23-dbbb-45bb-a210-2818e70637bd"}
#: Each vendor's words: on the way, delivered, failed.
WORDS = {"twilio": ("sent", "delivered", "undelivered"), "vonage": ("buffered", "delivered", "rejected"),
         "zignsec": ("pending", "delivered", "failed")}


@pytest.fixture(autouse=True)
def receipt_gateways(sandbox, settings):
    settings.SMS_GATEWAYS = {
        "twilio": gateway_entry("twilio", sandbox, status_callback=TWILIO_HOOK),
        "vonage": gateway_entry("vonage", sandbox, signature_secret=CREDENTIALS["vonage"]["signature_secret"]),
        "zignsec": zignsec_entry(sandbox, webhook_secret=CREDENTIALS["zignsec"]["webhook_secret"]),
        "locmem": LOCMEM_ENTRY,
    }


def post(client, vendor, status, *, forged=False):
    reference = REFERENCES[vendor]
    if vendor == "twilio":
        fields = {"MessageSid": reference, "MessageStatus": status}
        token = "forged" if forged else CREDENTIALS["twilio"]["auth_token"]
        return client.post("/sms/webhooks/twilio/twilio/", urlencode(fields),
                           content_type="application/x-www-form-urlencoded",
                           headers={"X-Twilio-Signature": twilio_sign(token, TWILIO_HOOK, fields)})
    if vendor == "vonage":
        params = {"messageId": reference, "status": status, "err-code": "0", "msisdn": "4798765432",
                  "timestamp": str(int(time.time())), "nonce": "n1"}
        secret = "forged" if forged else CREDENTIALS["vonage"]["signature_secret"]
        params["sig"] = vonage_signature(secret, "md5hash", params)
        return client.post("/sms/webhooks/vonage/vonage/", urlencode(params),
                           content_type="application/x-www-form-urlencoded")
    body = json.dumps({"event": "session_updated", "id": reference, "result": {"status": status}}).encode()
    secret = "forged" if forged else CREDENTIALS["zignsec"]["webhook_secret"]
    return client.post("/sms/webhooks/zignsec/zignsec/", body, content_type="application/json",
                       headers={ZIGNSEC_HEADER: zignsec_sign(secret, int(time.time()), body)})


@pytest.fixture
def sent(phone):
    """``sent(vendor)``: a record the vendor accepted for the phone's held challenge."""
    phone.generate_challenge()
    phone.refresh_from_db()

    def make(vendor):
        DeliveryRecord.objects.all().delete()
        return DeliveryRecord.objects.create(
            device=phone, gateway=vendor, reference=REFERENCES[vendor], outcome="sent", status="queued",
            delivery=Delivery.ACCEPTED, challenge=phone.challenge, region="NO")
    return make


@pytest.mark.parametrize("vendor", ["twilio", "vonage", "zignsec"])
def test_a_forged_receipt_changes_nothing(client, sent, vendor, sms_outbox):
    record = sent(vendor)
    sms_outbox.clear()
    assert post(client, vendor, WORDS[vendor][2], forged=True).status_code == 403
    record.refresh_from_db()
    assert (record.delivery, record.status) == (Delivery.ACCEPTED, "queued") and sms_outbox == []


@pytest.mark.parametrize("vendor", ["twilio", "vonage", "zignsec"])
def test_delivered_then_replayed_failed_and_late_words_change_nothing(client, sent, vendor, sms_outbox):
    on_the_way, delivered, failed = WORDS[vendor]
    record = sent(vendor)
    sms_outbox.clear()
    assert post(client, vendor, on_the_way).status_code == 200
    record.refresh_from_db()
    assert (record.delivery, record.status) == (Delivery.ACCEPTED, on_the_way)
    assert post(client, vendor, delivered).status_code == 200
    record.refresh_from_db()
    first = (record.delivery, record.status, record.delivered_at, record.updated_at)
    assert first[:2] == (Delivery.DELIVERED, delivered) and first[2] is not None
    for word in (delivered, failed, on_the_way):  # a replay, another final word, a late word on the way
        assert post(client, vendor, word).status_code == 200
    record.refresh_from_db()
    assert (record.delivery, record.status, record.delivered_at, record.updated_at) == first
    assert record.failed_over_at is None and sms_outbox == []


@pytest.mark.parametrize("vendor", ["twilio", "vonage", "zignsec"])
def test_a_failed_receipt_replayed_fails_over_once(client, sent, vendor, sms_outbox):
    _, delivered, failed = WORDS[vendor]
    record = sent(vendor)
    sms_outbox.clear()
    for word in (failed, failed, delivered):
        assert post(client, vendor, word).status_code == 200
    record.refresh_from_db()
    assert (record.delivery, record.status) == (Delivery.FAILED, failed) and record.failed_over_at is not None
    [resent] = DeliveryRecord.objects.exclude(pk=record.pk)
    assert resent.challenge == record.challenge and resent.outcome == "sent" and resent.gateway != vendor
