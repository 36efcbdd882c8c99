"""Delivery assured, over real HTTP against the sandbox: a vendor that
accepts and then reports failure, or never reports, hands the challenge to
the next vendor; every code sent for the challenge works, once."""

from __future__ import annotations

import re
import threading
import time
from datetime import timedelta

import django
import pytest
from django.core.management import call_command
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from django_sms_gateway import failover, signals
from django_sms_gateway.models import DeliveryRecord, SMSDevice
from sms_sandbox import CREDENTIALS

from .helpers import LOCMEM_ENTRY, gateway_entry, zignsec_entry

pytestmark = pytest.mark.urls("tests.vendors.urls")

Delivery = DeliveryRecord.Delivery
#: Seconds the sandbox waits before a receipt: the delivery record is written well before it.
RECEIPT_DELAY = 0.3


def receipts_entry(vendor, sandbox, live_server):
    """``vendor``'s gateway at the sandbox, with its receipts sent to the live server."""
    hook = f"{live_server.url}/sms/webhooks/{vendor}/{vendor}/"
    if vendor == "twilio":
        return gateway_entry("twilio", sandbox, status_callback=hook)
    if vendor == "vonage":
        return gateway_entry("vonage", sandbox, callback=hook,
                             signature_secret=CREDENTIALS["vonage"]["signature_secret"])
    return zignsec_entry(sandbox, webhook_url=hook, webhook_secret=CREDENTIALS["zignsec"]["webhook_secret"])


#: Each vendor with receipts, and the sandbox vendor that takes over from it.
PAIRS = [("twilio", "vonage"), ("vonage", "zignsec"), ("zignsec", "twilio")]


@pytest.fixture
def slow_receipts(sandbox, monkeypatch):
    for vendor in ("twilio", "vonage", "zignsec"):
        monkeypatch.setattr(sandbox.vendors[vendor], "_delay", RECEIPT_DELAY)
    return sandbox


def code_in(text):
    return re.search(r"\d{6}", text).group(0)


def first_code(sandbox, vendor):
    """The code the vendor was asked to send (it never reached the inbox)."""
    request = sandbox.last_request(vendor)
    body = request.parsed
    text = {"twilio": lambda: body["Body"], "vonage": lambda: body["text"],
            "zignsec": lambda: body["metadata"]["message"]}[vendor]()
    return code_in(text)


def wait_for(predicate, seconds=10.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def inbox(sandbox, vendor):
    return [m for m in sandbox.messages if m["vendor"] == vendor]


@pytest.mark.parametrize(("first", "second"), PAIRS)
def test_a_failed_receipt_sends_the_same_challenge_through_the_next_vendor(
    transactional_db, live_server, slow_receipts, phone, first, second, settings
):
    sandbox = slow_receipts
    settings.SMS_GATEWAYS = {first: receipts_entry(first, sandbox, live_server),
                             second: receipts_entry(second, sandbox, live_server)}
    sandbox.set_fault(first, "undelivered", count=1)
    reported = []
    signals.delivery_reported.connect(lambda **kw: reported.append(kw), weak=False,
                                      dispatch_uid="test-failover-reported")
    try:
        phone.generate_challenge()
        assert wait_for(lambda: DeliveryRecord.objects.filter(challenge=phone.challenge).count() == 2)
    finally:
        signals.delivery_reported.disconnect(dispatch_uid="test-failover-reported")
    [message] = inbox(sandbox, second)
    assert inbox(sandbox, first) == []
    failed, resent = DeliveryRecord.objects.order_by("id")
    assert (failed.gateway, failed.delivery) == (first, Delivery.FAILED) and failed.failed_over_at is not None
    assert resent.gateway == second and resent.challenge == failed.challenge == phone.challenge
    assert failed.region == "NO" and resent.region == "NO"
    assert {"alias": first, "region": "NO", "delivered": False, "seconds": None} in [
        {k: r[k] for k in ("alias", "region", "delivered", "seconds")} for r in reported]
    assert SMSDevice.objects.get(pk=phone.pk).verify_token(code_in(message["text"])) is True


def test_a_silent_vendor_fails_over_with_smsfailover_and_both_codes_work_once(
    transactional_db, live_server, slow_receipts, phone, settings
):
    sandbox = slow_receipts
    settings.SMS_GATEWAYS = {"twilio": receipts_entry("twilio", sandbox, live_server),
                             "vonage": receipts_entry("vonage", sandbox, live_server)}
    settings.OTP_SMS_DELIVERY_DEADLINE = 0.05
    sandbox.set_fault("twilio", "silent", count=1)
    phone.generate_challenge()
    late = first_code(sandbox, "twilio")
    time.sleep(0.1)
    call_command("smsfailover", stdout=open("/dev/null", "w"))  # noqa: SIM115
    [message] = inbox(sandbox, "vonage")
    silent, resent = DeliveryRecord.objects.order_by("id")
    assert silent.delivery == Delivery.MISSING and silent.failed_over_at is not None
    assert resent.gateway == "vonage" and resent.challenge == silent.challenge

    call_command("smsfailover", stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert len(inbox(sandbox, "vonage")) == 1  # once per record
    device = SMSDevice.objects.get(pk=phone.pk)
    assert device.verify_token(late) is True  # the first code arrived after all
    assert device.verify_token(code_in(message["text"])) is False  # spent with it


def test_after_the_new_code_is_used_the_late_first_code_is_refused(
    transactional_db, live_server, slow_receipts, phone, settings
):
    sandbox = slow_receipts
    settings.SMS_GATEWAYS = {"zignsec": receipts_entry("zignsec", sandbox, live_server),
                             "twilio": receipts_entry("twilio", sandbox, live_server)}
    settings.OTP_SMS_DELIVERY_DEADLINE = 0.05
    sandbox.set_fault("zignsec", "silent", count=1)
    phone.generate_challenge()
    late = first_code(sandbox, "zignsec")
    time.sleep(0.1)
    assert failover.sweep() == 1
    [message] = inbox(sandbox, "twilio")
    device = SMSDevice.objects.get(pk=phone.pk)
    assert device.other_tokens.strip() and code_in(message["text"]) not in device.other_tokens
    assert device.verify_token(code_in(message["text"])) is True
    assert device.verify_token(late) is False
    assert SMSDevice.objects.get(pk=phone.pk).other_tokens == ""


def _tasks_path(backend):
    package = "django.tasks" if django.VERSION >= (6, 0) else "django_tasks"
    return {"default": {"BACKEND": f"{package}.backends.{backend}"}}


def test_the_deadline_task_is_enqueued_for_deliver_by_and_fails_over(
    transactional_db, live_server, slow_receipts, phone, settings
):
    pytest.importorskip("django.tasks" if django.VERSION >= (6, 0) else "django_tasks")
    from django_sms_gateway.tasks import fail_over_when_overdue

    sandbox = slow_receipts
    settings.TASKS = _tasks_path("dummy.DummyBackend")
    settings.SMS_GATEWAYS = {"vonage": receipts_entry("vonage", sandbox, live_server),
                             "twilio": receipts_entry("twilio", sandbox, live_server)}
    settings.OTP_SMS_DELIVERY_DEADLINE = 0.05
    sandbox.set_fault("vonage", "silent", count=1)
    backend = fail_over_when_overdue.get_backend()
    backend.clear()
    phone.generate_challenge()
    record = DeliveryRecord.objects.get()
    [result] = backend.results
    assert result.args == [record.challenge] or list(result.args) == [record.challenge]
    assert result.task.run_after == record.deliver_by
    time.sleep(0.1)
    assert fail_over_when_overdue.call(record.challenge) == 1
    [message] = inbox(sandbox, "twilio")
    assert SMSDevice.objects.get(pk=phone.pk).verify_token(code_in(message["text"])) is True
    backend.clear()


def test_a_task_backend_that_cannot_defer_leaves_the_send_alone(
    transactional_db, live_server, slow_receipts, phone, settings
):
    pytest.importorskip("django.tasks" if django.VERSION >= (6, 0) else "django_tasks")
    sandbox = slow_receipts
    settings.TASKS = _tasks_path("immediate.ImmediateBackend")
    settings.SMS_GATEWAYS = {"twilio": receipts_entry("twilio", sandbox, live_server)}
    sandbox.set_fault("twilio", "silent", count=1)
    assert phone.send_challenge().status == "sent"
    record = DeliveryRecord.objects.get()
    assert record.delivery == Delivery.ACCEPTED and record.deliver_by is not None
    assert failover.schedule(record.challenge, record.deliver_by) is False


def test_a_delivered_receipt_settles_the_record_and_nothing_fails_over(
    transactional_db, live_server, slow_receipts, phone, settings
):
    sandbox = slow_receipts
    settings.SMS_GATEWAYS = {"vonage": receipts_entry("vonage", sandbox, live_server),
                             "twilio": receipts_entry("twilio", sandbox, live_server)}
    phone.generate_challenge()
    assert wait_for(lambda: DeliveryRecord.objects.get().delivery == Delivery.DELIVERED)
    record = DeliveryRecord.objects.get()
    assert record.delivered_at is not None and record.status == "delivered"
    assert failover.settle_overdue(now=timezone.now() + timedelta(minutes=1)) == 0
    assert inbox(sandbox, "twilio") == []


def test_a_fail_over_is_not_charged_to_the_users_limits(transactional_db, live_server, slow_receipts, phone,
                                                         settings, sms_outbox):
    sandbox = slow_receipts
    settings.OTP_SMS_LIMITS = {"number": (1, 3600), "prefix": None, "ip": None, "user": None, "global": None}
    settings.SMS_GATEWAYS = {"twilio": receipts_entry("twilio", sandbox, live_server), "locmem": LOCMEM_ENTRY}
    settings.OTP_SMS_DELIVERY_DEADLINE = 0.05
    sandbox.set_fault("twilio", "silent", count=1)
    phone.generate_challenge()
    time.sleep(0.1)
    assert failover.sweep() == 1  # the limit of one send was not charged again
    assert [m.gateway for m in sms_outbox] == ["locmem"]


def test_no_fail_over_once_the_code_is_used_or_expired(transactional_db, live_server, slow_receipts, phone,
                                                        settings, sms_outbox):
    sandbox = slow_receipts
    settings.SMS_GATEWAYS = {"twilio": receipts_entry("twilio", sandbox, live_server), "locmem": LOCMEM_ENTRY}
    settings.OTP_SMS_DELIVERY_DEADLINE = 0.05
    sandbox.set_fault("twilio", "silent", count=2)
    phone.generate_challenge()
    assert SMSDevice.objects.get(pk=phone.pk).verify_token(first_code(sandbox, "twilio")) is True
    time.sleep(0.1)
    assert failover.sweep() == 0
    assert DeliveryRecord.objects.get().delivery == Delivery.MISSING  # reported missing all the same
    assert sms_outbox == []


@pytest.mark.skipif(connection.vendor != "postgresql",
                    reason="needs PostgreSQL: set DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres")
def test_exactly_one_fail_over_when_task_sweep_and_receipt_race(transactional_db, live_server, slow_receipts,
                                                                 phone, settings, sms_outbox):
    sandbox = slow_receipts
    settings.SMS_GATEWAYS = {"twilio": receipts_entry("twilio", sandbox, live_server), "locmem": LOCMEM_ENTRY}
    settings.OTP_SMS_DELIVERY_DEADLINE = 0.05
    sandbox.set_fault("twilio", "silent", count=1)
    phone.generate_challenge()
    time.sleep(0.1)
    start = threading.Barrier(6)
    sent = []

    def race(index):
        try:
            start.wait()
            if index % 2:
                sent.append(failover.sweep())
            else:
                sent.append(failover.settle_overdue(phone.challenge))
        finally:
            connection.close()

    threads = [threading.Thread(target=race, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(sent) == 1 and len(sms_outbox) == 1


def test_vendor_held_code_and_fail_over_code_both_work(transactional_db, live_server, slow_receipts, phone,
                                                         settings, sms_outbox):
    """A fail-over from a vendor that holds its code (Twilio Verify, checked
    with the vendor) adds our own code beside it; a vendor-held gateway is
    never a fail-over target."""
    sandbox = slow_receipts
    settings.SMS_GATEWAYS = {"verify": gateway_entry("twilio-verify", sandbox), "locmem": LOCMEM_ENTRY}
    phone.generate_challenge()
    record = DeliveryRecord.objects.get()
    DeliveryRecord.objects.filter(pk=record.pk).update(delivery=Delivery.FAILED)
    record.refresh_from_db()
    assert failover.fail_over(record) is not None
    [message] = sms_outbox
    device = SMSDevice.objects.get(pk=phone.pk)
    assert device.vendor_gateway == "verify"
    assert device.verify_token(code_in(message.text)) is True


def test_replayed_and_out_of_order_receipts_change_nothing_end_to_end(
    transactional_db, live_server, slow_receipts, phone, settings
):
    """Twilio posts ``sent`` then ``delivered``; replaying ``sent`` and then a
    forged-late ``undelivered`` (validly signed: Twilio signs no time) leaves
    the delivered record delivered, and fails nothing over."""
    import requests

    from sms_sandbox.twilio import sign

    sandbox = slow_receipts
    hook = f"{live_server.url}/sms/webhooks/twilio/twilio/"
    settings.SMS_GATEWAYS = {"twilio": receipts_entry("twilio", sandbox, live_server), "locmem": LOCMEM_ENTRY}
    phone.generate_challenge()
    assert wait_for(lambda: DeliveryRecord.objects.get().delivery == Delivery.DELIVERED)
    record = DeliveryRecord.objects.get()
    for status in ("sent", "undelivered", "delivered"):
        fields = {"MessageSid": record.reference, "MessageStatus": status, "AccountSid": "AC" + "0" * 32}
        answer = requests.post(hook, data=fields, timeout=5,
                               headers={"X-Twilio-Signature": sign(CREDENTIALS["twilio"]["auth_token"], hook,
                                                                    fields)})
        assert answer.status_code == 200
    after = DeliveryRecord.objects.get()
    assert (after.delivery, after.status, after.delivered_at) == (Delivery.DELIVERED, "delivered",
                                                                  record.delivered_at)
    assert after.failed_over_at is None


@override_settings(OTP_SMS_DELIVERY_DEADLINE=None)
def test_no_deadline_means_no_deliver_by(transactional_db, live_server, slow_receipts, phone):
    with override_settings(SMS_GATEWAYS={"twilio": receipts_entry("twilio", slow_receipts, live_server)}):
        phone.generate_challenge()
    record = DeliveryRecord.objects.get()
    assert record.delivery == Delivery.ACCEPTED and record.deliver_by is None
