"""The sandbox's real signed webhook reaches a running Django server and
updates the delivery record, end to end over loopback HTTP."""

import json
import time

import pytest
import requests
from django.test import override_settings

from django_sms_gateway.models import DeliveryRecord
from sms_sandbox import CREDENTIALS, Sandbox
from sms_sandbox.zignsec import SIGNATURE_HEADER, WEBHOOK_EVENT, sign

from .helpers import gateway_entry, zignsec_entry

pytestmark = pytest.mark.urls("tests.vendors.urls")


@pytest.fixture
def slow_sandbox():
    # The webhook follows 0.3 s after the send, well after the delivery
    # record is written, as with the real vendor.
    with Sandbox(zignsec_delivery_delay=0.3) as running:
        yield running


def test_sandbox_webhook_updates_the_delivery_record(transactional_db, live_server, slow_sandbox, device):
    webhook_url = f"{live_server.url}/sms/webhooks/zignsec/zignsec/"
    entry = zignsec_entry(slow_sandbox, webhook_url=webhook_url,
                          webhook_secret=CREDENTIALS["zignsec"]["webhook_secret"])
    with override_settings(SMS_GATEWAYS={"zignsec": entry}):
        device.generate_challenge()
        record = DeliveryRecord.objects.get()
        assert record.status == "pending"
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and slow_sandbox.stats["zignsec_webhooks"] == {
            "sent": 0, "failed": 0, "skipped": 0
        }:
            time.sleep(0.02)
    assert slow_sandbox.stats["zignsec_webhooks"] == {"sent": 1, "failed": 0, "skipped": 0}
    record.refresh_from_db()
    assert record.status == "delivered" and record.segments == 1


def test_webhook_answers_over_real_http(transactional_db, live_server, sandbox, device, settings):
    """The view behind a real HTTP server: signature, replay window, unit of
    the timestamp and size limit, as ZignSec's requests would meet them."""
    secret = CREDENTIALS["zignsec"]["webhook_secret"]
    settings.SMS_GATEWAYS = {"zignsec": zignsec_entry(sandbox, webhook_secret=secret)}
    settings.OTP_SMS_WEBHOOK_MAX_BYTES = 2048
    session = "26f5cc23-dbbb-45bb-a210-2818e70637bd"
    record = DeliveryRecord.objects.create(device=device, gateway="zignsec", reference=session, outcome="sent",
                                           status="pending")
    url = f"{live_server.url}/sms/webhooks/zignsec/zignsec/"
    body = json.dumps({"event": WEBHOOK_EVENT, "id": session, "result": {"status": "delivered"}}).encode()

    def post(payload, signature):
        return requests.post(url, data=payload, timeout=5,
                             headers={"Content-Type": "application/json", SIGNATURE_HEADER: signature})

    now = int(time.time())
    assert post(body, sign(secret, now, body).replace(str(now), "1", 1)).status_code == 403
    assert post(body, sign(secret, now - 3600, body)).status_code == 403
    assert post(b"x" * 4096, sign(secret, now, b"x" * 4096)).status_code == 413
    record.refresh_from_db()
    assert record.status == "pending"
    answer = post(body, sign(secret, now * 1000, body))
    assert (answer.status_code, answer.text) == (200, "ok\n")
    record.refresh_from_db()
    assert record.status == "delivered"


def test_sandbox_twilio_status_callbacks_update_the_delivery_record(transactional_db, live_server, sandbox, device):
    callback = f"{live_server.url}/sms/webhooks/twilio/twilio/"
    twilio = sandbox.vendors["twilio"]
    with override_settings(SMS_GATEWAYS={"twilio": gateway_entry("twilio", sandbox, status_callback=callback)}):
        device.generate_challenge()
        record = DeliveryRecord.objects.get()
        assert record.status == "queued"
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and sum(twilio.callback_counts().values()) < 2:
            time.sleep(0.02)
    assert twilio.callback_counts() == {"sent": 2, "failed": 0, "skipped": 0}  # "sent", then "delivered"
    record.refresh_from_db()
    assert record.status == "delivered"


@pytest.mark.parametrize(("webhook_format", "options", "taken"), [
    ("POST-JSON", {}, True),
    ("POST", {}, True),
    ("GET", {}, False),  # the full msisdn would sit in the access log: refused unless the gateway allows it
    ("GET", {"receipts_by_get": True}, True),
])
def test_sandbox_vonage_receipts_update_the_delivery_record(transactional_db, live_server, sandbox, device,
                                                             webhook_format, options, taken):
    callback = f"{live_server.url}/sms/webhooks/vonage/vonage/"
    vonage = sandbox.vendors["vonage"]
    vonage.set_webhook_format(webhook_format)
    entry = gateway_entry("vonage", sandbox, callback=callback,
                          signature_secret=CREDENTIALS["vonage"]["signature_secret"], **options)
    with override_settings(SMS_GATEWAYS={"vonage": entry}):
        device.generate_challenge()
        record = DeliveryRecord.objects.get()
        assert record.status == "accepted"
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not sum(vonage.receipt_counts().values()):
            time.sleep(0.02)
    assert vonage.receipt_counts() == {"sent": int(taken), "failed": int(not taken), "skipped": 0}
    record.refresh_from_db()
    assert record.status == ("delivered" if taken else "accepted")
