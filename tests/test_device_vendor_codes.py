"""A device whose code the vendor made (iP1, Twilio Verify): the vendor checks
it, while throttling, expiry and single use stay ours; when the vendor fails,
the next gateway sends our own code and that is the one that counts. Over
real HTTP against the sandbox; every test runs for each vendor that checks
its own codes, unless it tests an option only one of them has."""

from __future__ import annotations

import os
import re
from datetime import timedelta

import pytest
from django.utils import timezone
from freezegun import freeze_time

from django_sms_gateway.models import RESERVATION_MARGIN, DeliveryRecord, SMSDevice
from tests.fakes import signals_received
from tests.vendor_codes import (
    VENDORS_HOLDING_CODES,
    failure_count,
    interleave,
    verify_concurrently,
    verify_raising,
)
from tests.vendors.helpers import (
    HTTP_FAULT_ERRORS,
    LOCMEM_ENTRY,
    TIMEOUT,
    closed_port_url,
    gateway_entry,
    ip1_code,
    other_code,
)

VERIFY_FAULTS = [fault for fault, _ in HTTP_FAULT_ERRORS]


@pytest.fixture
def vendor_first(vendor, sandbox, settings):
    """The vendor first, locmem second; short timeouts so "hang" ends quickly."""
    settings.SMS_GATEWAYS = {vendor.alias: gateway_entry(vendor.alias, sandbox, timeout=0.5), "locmem": LOCMEM_ENTRY}
    return sandbox


@pytest.mark.django_db
def test_device_vendor_code_verifies_once_through_the_vendor(vendor, vendor_first, device, sms_outbox):
    sandbox = vendor_first
    device.generate_challenge()
    assert not sms_outbox
    stored = SMSDevice.objects.get(pk=device.pk)
    assert stored.vendor_gateway == vendor.alias and stored.token.startswith("vendor:")
    record = DeliveryRecord.objects.get(device=device)
    assert (record.gateway, record.outcome, record.status) == (vendor.alias, "sent", vendor.record_status)
    assert re.fullmatch(vendor.reference, record.reference)
    code = vendor.code_of(sandbox)
    assert device.verify_token(code) is True
    assert sandbox.last_request(vendor.alias).parsed == vendor.check_fields(code)
    assert vendor.requests(sandbox) == 2
    # Reuse is refused on our side, without asking the vendor again.
    assert device.verify_token(code) is False
    assert vendor.requests(sandbox) == 2


@pytest.mark.django_db
def test_device_wrong_vendor_code_is_false_and_counted(vendor, vendor_first, device, sms_outbox):
    sandbox = vendor_first
    device.generate_challenge()
    code = vendor.code_of(sandbox)
    assert device.verify_token(other_code(code)) is False
    assert failure_count(device) == 1
    assert vendor.requests(sandbox) == 2  # the vendor was asked
    # Throttled now: refused on our side, the vendor not asked, its code not spent.
    assert device.verify_token(code) is False
    assert vendor.requests(sandbox) == 2
    SMSDevice.objects.filter(pk=device.pk).update(throttling_failure_timestamp=None)
    assert device.verify_token(code) is True


@pytest.mark.django_db
def test_device_malformed_code_is_refused_without_asking_the_vendor(vendor, vendor_first, device, sms_outbox):
    sandbox = vendor_first
    device.generate_challenge()
    code = vendor.code_of(sandbox)
    for bad in (code[:-1], code + "1", code[:3] + " " + code[3:], "١٢٣٤٥٦"):
        assert device.verify_token(bad) is False
    assert vendor.requests(sandbox) == 1


@pytest.mark.django_db
def test_device_expired_code_is_refused_without_asking_the_vendor(vendor, vendor_first, device, sms_outbox):
    sandbox = vendor_first
    device.generate_challenge()
    SMSDevice.objects.filter(pk=device.pk).update(valid_until=timezone.now() - timezone.timedelta(seconds=1))
    assert device.verify_token(vendor.code_of(sandbox)) is False
    assert vendor.requests(sandbox) == 1


@pytest.mark.django_db
@pytest.mark.parametrize("fault", VERIFY_FAULTS)
def test_vendor_unreachable_at_check_refuses_without_counting(vendor, vendor_first, device, sms_outbox, fault):
    sandbox = vendor_first
    device.generate_challenge()
    code = vendor.code_of(sandbox)
    sandbox.set_fault(vendor.alias, fault)
    assert device.verify_token(code) is False
    assert failure_count(device) == 0
    sandbox.set_fault(vendor.alias, None)
    assert device.verify_token(code) is True  # the code was not spent


@pytest.mark.django_db
def test_vendor_gateway_removed_from_settings_refuses_without_counting(
    vendor, vendor_first, settings, device, sms_outbox
):
    device.generate_challenge()
    code = vendor.code_of(vendor_first)
    settings.SMS_GATEWAYS = {"locmem": LOCMEM_ENTRY}
    assert device.verify_token(code) is False
    assert failure_count(device) == 0


@pytest.mark.django_db
def test_numeric_only_false_letter_codes_verify_in_any_case(sandbox, settings, device, sms_outbox):
    settings.SMS_GATEWAYS = {"ip1": gateway_entry("ip1", sandbox, numeric_only=False)}
    device.generate_challenge()
    assert device.verify_token("  " + ip1_code(sandbox).lower() + " ") is True


@pytest.mark.django_db
def test_token_length_setting_reaches_ip1(sandbox, settings, device, sms_outbox):
    settings.OTP_SMS_TOKEN_LENGTH = 8
    settings.SMS_GATEWAYS = {"ip1": gateway_entry("ip1", sandbox)}
    device.generate_challenge()
    assert sandbox.last_request("ip1").parsed["Length"] == 8
    code = ip1_code(sandbox)
    assert len(code) == 8 and device.verify_token(code) is True


@pytest.mark.django_db
@pytest.mark.parametrize(
    "vendor, fault, expected",
    [pytest.param(vendor, fault, expected, id=f"{vendor.alias}-{fault}")
     for vendor in VENDORS_HOLDING_CODES for fault, expected in vendor.send_faults],
)
def test_vendor_down_then_our_code_via_the_next_gateway_counts(
    vendor, vendor_first, device, sms_outbox, failures, fault, expected
):
    sandbox = vendor_first
    sandbox.set_fault(vendor.alias, fault)
    device.generate_challenge()
    assert [type(e) for e in failures] == [expected]
    assert vendor.requests(sandbox) == 1
    assert len(sms_outbox) == 1 and sms_outbox[0].gateway == "locmem"
    stored = SMSDevice.objects.get(pk=device.pk)
    assert stored.vendor_gateway == "" and not stored.token.startswith("vendor:")
    sandbox.set_fault(vendor.alias, None)
    assert device.verify_token(sms_outbox[0].code) is True
    assert vendor.requests(sandbox) == 1  # checking our code never asked the vendor
    assert list(DeliveryRecord.objects.order_by("id").values_list("gateway", "outcome")) == [
        (vendor.alias, "failed"), ("locmem", "sent")
    ]


@pytest.mark.django_db
def test_vendor_refusing_connections_falls_back(vendor, settings, device, sms_outbox, failures):
    settings.SMS_GATEWAYS = {vendor.alias: gateway_entry(vendor.alias, None, base_url=closed_port_url()),
                             "locmem": LOCMEM_ENTRY}
    device.generate_challenge()
    assert len(failures) == 1 and failures[0].not_sent
    assert SMSDevice.objects.get(pk=device.pk).vendor_gateway == ""
    assert device.verify_token(sms_outbox[0].code) is True


@pytest.mark.django_db
def test_a_new_challenge_through_another_gateway_replaces_the_vendor_code(vendor, vendor_first, device, sms_outbox):
    sandbox = vendor_first
    device.generate_challenge()
    theirs = vendor.code_of(sandbox)
    sandbox.set_fault(vendor.alias, "500")
    device.generate_challenge()
    ours = sms_outbox[-1].code
    sandbox.set_fault(vendor.alias, None)
    assert SMSDevice.objects.get(pk=device.pk).vendor_gateway == ""
    if theirs != ours:
        assert device.verify_token(theirs) is False  # checked against our hash, the vendor not asked
        assert vendor.requests(sandbox) == 2
        SMSDevice.objects.filter(pk=device.pk).update(throttling_failure_timestamp=None)
    assert device.verify_token(ours) is True


# -- a second request while the vendor is being asked (deterministic, any database) ---------


@pytest.mark.django_db
def test_wrong_guess_during_the_check_of_the_right_code_does_not_burn_it(
    vendor, vendor_first, device, sms_outbox, monkeypatch
):
    """The double-submit race: a wrong guess arriving while the vendor checks
    the right code used to count a failure that made the right code's success
    UPDATE miss, so neither was accepted and the vendor had already spent the code."""
    device.generate_challenge()
    code = vendor.code_of(vendor_first)
    other = SMSDevice.objects.get(pk=device.pk)
    refused: list[bool] = []
    calls = interleave(monkeypatch, vendor.backend, lambda: refused.append(other.verify_token(other_code(code))))
    assert device.verify_token(code) is True
    assert refused == [False] and calls == [code]  # the wrong guess never reached the vendor
    assert failure_count(device) == 0  # and was not counted: it was not checked


@pytest.mark.django_db
def test_second_submit_of_the_right_code_does_not_ask_the_vendor_again(
    vendor, vendor_first, device, sms_outbox, monkeypatch
):
    device.generate_challenge()
    code = vendor.code_of(vendor_first)
    other = SMSDevice.objects.get(pk=device.pk)
    with signals_received("code_refused") as refused:
        calls = interleave(monkeypatch, vendor.backend, lambda: other.verify_token(code))
        assert device.verify_token(code) is True
    assert calls == [code] and [kwargs["reason"] for _, kwargs in refused] == ["check in progress"]
    assert vendor.requests(vendor_first) == 2  # one send, one check


@pytest.mark.django_db
def test_the_reservation_is_undone_after_a_wrong_code_or_a_vendor_failure(vendor, vendor_first, device, sms_outbox):
    device.generate_challenge()
    code = vendor.code_of(vendor_first)
    stored = SMSDevice.objects.get(pk=device.pk).token
    assert device.verify_token(other_code(code)) is False
    assert SMSDevice.objects.get(pk=device.pk).token == stored and failure_count(device) == 1
    SMSDevice.objects.filter(pk=device.pk).update(throttling_failure_timestamp=None)
    vendor_first.set_fault(vendor.alias, "500", count=1)
    assert device.verify_token(code) is False
    assert SMSDevice.objects.get(pk=device.pk).token == stored and failure_count(device) == 1
    assert device.verify_token(code) is True


@pytest.mark.django_db
def test_a_reservation_left_by_a_crash_lapses_after_the_vendor_timeout(
    vendor, vendor_first, device, sms_outbox, monkeypatch
):
    """If a process dies while asking the vendor, its reservation blocks the
    code (nothing accepted, nothing counted) only until the vendor's timeout
    and a margin are over; then the same code can be checked again."""
    with freeze_time(timezone.now()) as clock:
        device.generate_challenge()
        code = vendor.code_of(vendor_first)
        verify_raising(monkeypatch, device, vendor.backend, code, SystemExit("process killed"))
        stuck = SMSDevice.objects.get(pk=device.pk)
        assert stuck.token.startswith("checking:") and len(stuck.token) <= SMSDevice._meta.get_field("token").max_length
        assert device.verify_token(code) is False and failure_count(device) == 0
        assert vendor.requests(vendor_first) == 1  # the vendor not asked while the reservation holds

        clock.tick(timedelta(seconds=TIMEOUT + RESERVATION_MARGIN + 1))
        assert device.verify_token(code) is True


@pytest.mark.django_db
def test_an_unforeseen_error_while_the_vendor_checks_leaves_no_marker(
    vendor, vendor_first, device, sms_outbox, monkeypatch
):
    device.generate_challenge()
    code = vendor.code_of(vendor_first)
    stored = SMSDevice.objects.get(pk=device.pk).token
    verify_raising(monkeypatch, device, vendor.backend, code, RecursionError("maximum recursion depth exceeded"))
    assert SMSDevice.objects.get(pk=device.pk).token == stored
    assert device.verify_token(code) is True  # not "check in progress" until the marker's time is up


# -- concurrency (PostgreSQL) ----------------------------------------------------------

needs_postgres = pytest.mark.skipif(
    not os.environ.get("DATABASE_URL"),
    reason="needs PostgreSQL: set DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres",
)


# Many threads checking one iP1 code (accepted once, iP1 asked once) and a right
# and a wrong code racing: tests/test_concurrency.py.


@needs_postgres
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_checks_accept_once(vendor, vendor_first, device, sms_outbox):
    """Eight requests race with the right code: the vendor is asked once and
    exactly one request gets in."""
    device.generate_challenge()
    results = verify_concurrently(device.pk, vendor.code_of(vendor_first))
    assert results.count(True) == 1
    assert vendor.requests(vendor_first) == 2  # one send, one check


@needs_postgres
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_checks_accept_once_even_if_the_vendor_says_yes_twice(
    vendor, vendor_first, device, sms_outbox, monkeypatch
):
    """Single use is ours too: a vendor that would accept a code repeatedly
    still lets exactly one of the racing requests in."""
    device.generate_challenge()
    code = vendor.code_of(vendor_first)
    monkeypatch.setattr(vendor.backend, "verify", lambda self, recipient, candidate, *, timeout: candidate == code)
    results = verify_concurrently(device.pk, code)
    assert results.count(True) == 1
