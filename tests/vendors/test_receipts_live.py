"""Sinch and Infobip receipts end to end over loopback HTTP: the sandbox
accepts the message, then posts the vendor's documented report to the
callback the request named, at a running Django server."""

import json
import re
import time

import pytest
import requests
from django.test import override_settings

from django_sms_gateway.dispatch import build_backend, build_message
from django_sms_gateway.models import DeliveryRecord

from .helpers import LOCMEM_ENTRY, gateway_entry

pytestmark = pytest.mark.urls("tests.vendors.urls")

SECRET = "live-receipt-secret-0123456789abcdefghijk"
#: Vendor -> the gateway's options naming the receipt webhook, given its base URL.
OPTIONS = {
    "sinch": lambda url: {"callback_url": url, "callback_secret": SECRET},
    "infobip": lambda url: {"notify_url": url, "notify_secret": SECRET},
}
#: Vendor -> the raw final word of the sandbox's delivered and undelivered reports.
WORDS = {"sinch": ("Delivered", "Aborted"), "infobip": ("DELIVERED_TO_HANDSET", "UNDELIVERABLE_NOT_DELIVERED")}
Delivery = DeliveryRecord.Delivery
VENDORS = pytest.mark.parametrize("vendor", sorted(OPTIONS))


def entry(vendor, sandbox, live_server, **options):
    base = f"{live_server.url}/sms/webhooks/{vendor}/{vendor}/"
    return gateway_entry(vendor, sandbox, **OPTIONS[vendor](base), **options)


def wait_for_reports(sandbox, vendor, count):
    counts = sandbox.vendors[vendor].report_counts
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and sum(counts().values()) < count:
        time.sleep(0.02)
    return counts()


def wait_for_delivery(record):
    """``record`` once its delivery is final, or as it is after 5 s."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        record.refresh_from_db()
        if record.delivery not in ("", Delivery.ACCEPTED):
            break
        time.sleep(0.02)
    return record


def sent_code(sandbox):
    return re.search(r"\b(\d{6})\b", sandbox.messages[-1]["text"]).group(1)


@VENDORS
def test_the_delivered_report_marks_the_record_delivered(transactional_db, live_server, sandbox, device, vendor):
    with override_settings(SMS_GATEWAYS={vendor: entry(vendor, sandbox, live_server)}):
        device.generate_challenge()
        record = DeliveryRecord.objects.get()
        assert record.delivery == Delivery.ACCEPTED  # the vendor's 2xx only queued it
        assert wait_for_reports(sandbox, vendor, 1) == {"sent": 1, "failed": 0, "skipped": 0}
        wait_for_delivery(record)
    assert (record.status, record.delivery) == (WORDS[vendor][0], Delivery.DELIVERED)
    assert record.delivered_at is not None


@VENDORS
def test_the_undelivered_report_marks_the_record_failed(transactional_db, live_server, sandbox, device, vendor):
    sandbox.set_fault(vendor, "undelivered", count=1)
    with override_settings(SMS_GATEWAYS={vendor: entry(vendor, sandbox, live_server)}):
        device.generate_challenge()
        record = DeliveryRecord.objects.get()
        assert record.delivery == Delivery.ACCEPTED  # the fault answers the vendor's normal yes
        assert wait_for_reports(sandbox, vendor, 1) == {"sent": 1, "failed": 0, "skipped": 0}
        wait_for_delivery(record)
    assert (record.status, record.delivery) == (WORDS[vendor][1], Delivery.FAILED)


@VENDORS
def test_the_silent_fault_sends_no_report(transactional_db, live_server, sandbox, device, vendor, settings):
    sandbox.set_fault(vendor, "silent", count=1)
    settings.OTP_SMS_COOLDOWN_DURATION = 0
    with override_settings(SMS_GATEWAYS={vendor: entry(vendor, sandbox, live_server)}):
        device.generate_challenge()
        silent = DeliveryRecord.objects.get()
        device.refresh_from_db()
        device.generate_challenge()  # the fault is spent: this one is reported
        reported = DeliveryRecord.objects.exclude(pk=silent.pk).get()
        assert wait_for_reports(sandbox, vendor, 1) == {"sent": 1, "failed": 0, "skipped": 0}
        wait_for_delivery(reported)
    silent.refresh_from_db()
    assert (silent.delivery, reported.delivery) == (Delivery.ACCEPTED, Delivery.DELIVERED)
    assert wait_for_reports(sandbox, vendor, 2)["sent"] == 1  # the silent message never gets one


@VENDORS
def test_a_failed_receipt_fails_over_to_the_next_gateway(transactional_db, live_server, sandbox, device, vendor,
                                                          sms_outbox):
    sandbox.set_fault(vendor, "undelivered", count=1)
    gateways = {vendor: entry(vendor, sandbox, live_server), "locmem": LOCMEM_ENTRY}
    with override_settings(SMS_GATEWAYS=gateways):
        device.generate_challenge()
        first = DeliveryRecord.objects.get()
        first_code = sent_code(sandbox)
        assert wait_for_reports(sandbox, vendor, 1)["sent"] == 1
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not sms_outbox:
            time.sleep(0.02)
        assert [message.gateway for message in sms_outbox] == ["locmem"]
        wait_for_delivery(first)
        assert first.delivery == Delivery.FAILED and first.failed_over_at is not None
        device.refresh_from_db()
        assert device.verify_token(sms_outbox[0].code) is True
        device.refresh_from_db()
        assert device.verify_token(first_code) is False  # one code used consumes all of the challenge's codes


@VENDORS
def test_reports_go_to_loopback_hosts_only(sandbox, vendor):
    """A callback on another host is never called (the sandbox is no open relay)."""
    sandbox.set_fault(vendor, "undelivered", count=1)
    base = "https://example.com/sms/webhooks/x/x/"
    backend = build_backend(vendor, gateway_entry(vendor, sandbox, **OPTIONS[vendor](base)))
    try:
        backend.send(build_message("+4798765432", "123456"), timeout=2)
    finally:
        backend.close()
    assert wait_for_reports(sandbox, vendor, 1) == {"sent": 0, "failed": 0, "skipped": 1}


@VENDORS
def test_forged_and_malformed_reports_over_real_http(transactional_db, live_server, sandbox, device, vendor):
    """At a running server: a report at the URL without the secret is 403, an
    unreadable one 400, and neither touches the record."""
    with override_settings(SMS_GATEWAYS={vendor: entry(vendor, sandbox, live_server)}):
        sandbox.set_fault(vendor, "silent", count=1)
        device.generate_challenge()
        record = DeliveryRecord.objects.get()
        if vendor == "sinch":
            forged = {"type": "recipient_delivery_report_sms", "batch_id": record.reference, "code": 0,
                      "recipient": "+4798765432", "status": "Delivered", "at": "2026-12-06T05:00:00.000Z"}
        else:
            forged = {"results": [{"messageId": record.reference, "messageCount": 1, "status": {
                "groupId": 3, "groupName": "DELIVERED", "id": 5, "name": "DELIVERED_TO_HANDSET"}}]}
        base = f"{live_server.url}/sms/webhooks/{vendor}/{vendor}/"
        wrong = requests.post(f"{base}?secret={'x' * len(SECRET)}", data=json.dumps(forged), timeout=5,
                              headers={"Content-Type": "application/json"})
        broken = requests.post(f"{base}?secret={SECRET}", data=b'{"results": [', timeout=5,
                               headers={"Content-Type": "application/json"})
        assert (wrong.status_code, broken.status_code) == (403, 400)
        record.refresh_from_db()
        assert (record.delivery, record.delivered_at) == (Delivery.ACCEPTED, None)
        genuine = requests.post(f"{base}?secret={SECRET}", data=json.dumps(forged), timeout=5,
                                headers={"Content-Type": "application/json"})
        assert genuine.status_code == 200
        record.refresh_from_db()
        assert record.delivery == Delivery.DELIVERED

