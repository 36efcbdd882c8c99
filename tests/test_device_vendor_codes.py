"""A device whose code iP1 made: iP1 checks it, while throttling, expiry and
single use stay ours; when iP1 fails, the next gateway sends our own code and
that is the one that counts. Over real HTTP against the sandbox's iP1."""

from __future__ import annotations

import os

import pytest
from django.utils import timezone

from django_sms_gateway import signals
from django_sms_gateway.backends.ip1 import IP1Backend
from django_sms_gateway.exceptions import (
    GatewayAuthError,
    GatewayConnectionError,
    GatewayRateLimited,
    GatewayTimeout,
    GatewayUnavailable,
    RequestRejected,
)
from django_sms_gateway.models import DeliveryRecord, SMSDevice
from tests.vendor_codes import failure_count, interleave, verify_concurrently
from tests.vendors.helpers import LOCMEM_ENTRY, TIMEOUT, closed_port_url, gateway_entry, ip1_code, other_code

DIGITS = "4798765432"
vendor_code = ip1_code


@pytest.fixture
def ip1_first(sandbox, settings):
    """iP1 first, locmem second; short timeouts so "hang" ends quickly."""
    settings.SMS_GATEWAYS = {"ip1": gateway_entry("ip1", sandbox, timeout=0.5), "locmem": LOCMEM_ENTRY}
    return sandbox


@pytest.mark.django_db
def test_device_vendor_code_verifies_once_through_ip1(ip1_first, device, sms_outbox):
    sandbox = ip1_first
    device.generate_challenge()
    assert not sms_outbox
    stored = SMSDevice.objects.get(pk=device.pk)
    assert stored.vendor_gateway == "ip1" and stored.token.startswith("vendor:")
    record = DeliveryRecord.objects.get(device=device)
    assert (record.gateway, record.outcome, record.reference) == ("ip1", "sent", "1")
    code = vendor_code(sandbox)
    assert device.verify_token(code) is True
    assert sandbox.last_request("ip1").parsed == {"Phone": DIGITS, "Code": code}
    assert sandbox.stats["ip1"]["requests"] == 2
    # Reuse is refused on our side, without asking iP1 again.
    assert device.verify_token(code) is False
    assert sandbox.stats["ip1"]["requests"] == 2


@pytest.mark.django_db
def test_device_wrong_vendor_code_is_false_and_counted(ip1_first, device, sms_outbox):
    sandbox = ip1_first
    device.generate_challenge()
    code = vendor_code(sandbox)
    assert device.verify_token(other_code(code)) is False
    assert failure_count(device) == 1
    assert sandbox.stats["ip1"]["requests"] == 2  # iP1 was asked
    # Throttled now: refused on our side, iP1 not asked, its code not spent.
    assert device.verify_token(code) is False
    assert sandbox.stats["ip1"]["requests"] == 2
    SMSDevice.objects.filter(pk=device.pk).update(throttling_failure_timestamp=None)
    assert device.verify_token(code) is True


@pytest.mark.django_db
def test_device_malformed_code_is_refused_without_asking_ip1(ip1_first, device, sms_outbox):
    sandbox = ip1_first
    device.generate_challenge()
    code = vendor_code(sandbox)
    for bad in (code[:-1], code + "1", code[:3] + " " + code[3:], "١٢٣٤٥٦"):
        assert device.verify_token(bad) is False
    assert sandbox.stats["ip1"]["requests"] == 1


@pytest.mark.django_db
def test_device_expired_code_is_refused_without_asking_ip1(ip1_first, device, sms_outbox):
    sandbox = ip1_first
    device.generate_challenge()
    SMSDevice.objects.filter(pk=device.pk).update(valid_until=timezone.now() - timezone.timedelta(seconds=1))
    assert device.verify_token(vendor_code(sandbox)) is False
    assert sandbox.stats["ip1"]["requests"] == 1


@pytest.mark.django_db
@pytest.mark.parametrize("fault", ["500", "401", "429", "refuse", "hang", "malformed", "oversized"])
def test_ip1_unreachable_at_verify_refuses_without_counting(ip1_first, device, sms_outbox, fault):
    sandbox = ip1_first
    device.generate_challenge()
    code = vendor_code(sandbox)
    sandbox.set_fault("ip1", fault)
    assert device.verify_token(code) is False
    assert failure_count(device) == 0
    sandbox.set_fault("ip1", None)
    assert device.verify_token(code) is True  # the code was not spent


@pytest.mark.django_db
def test_ip1_gateway_removed_from_settings_refuses_without_counting(ip1_first, settings, device, sms_outbox):
    device.generate_challenge()
    code = vendor_code(ip1_first)
    settings.SMS_GATEWAYS = {"locmem": LOCMEM_ENTRY}
    assert device.verify_token(code) is False
    assert failure_count(device) == 0


@pytest.mark.django_db
def test_numeric_only_false_letter_codes_verify_in_any_case(sandbox, settings, device, sms_outbox):
    settings.SMS_GATEWAYS = {"ip1": gateway_entry("ip1", sandbox, numeric_only=False)}
    device.generate_challenge()
    assert device.verify_token("  " + vendor_code(sandbox).lower() + " ") is True


@pytest.mark.django_db
def test_token_length_setting_reaches_ip1(sandbox, settings, device, sms_outbox):
    settings.OTP_SMS_TOKEN_LENGTH = 8
    settings.SMS_GATEWAYS = {"ip1": gateway_entry("ip1", sandbox)}
    device.generate_challenge()
    assert sandbox.last_request("ip1").parsed["Length"] == 8
    code = vendor_code(sandbox)
    assert len(code) == 8 and device.verify_token(code) is True


SEND_FAULTS = [
    ("500", GatewayUnavailable),
    ("401", GatewayAuthError),
    ("429", GatewayRateLimited),
    ("400", RequestRejected),
    ("refuse", GatewayConnectionError),
    ("hang", GatewayTimeout),
    ("malformed", GatewayUnavailable),
    ("oversized", GatewayUnavailable),
]


@pytest.mark.django_db
@pytest.mark.parametrize("fault, expected", SEND_FAULTS)
def test_ip1_down_then_our_code_via_the_next_gateway_counts(
    ip1_first, device, sms_outbox, failures, fault, expected
):
    sandbox = ip1_first
    sandbox.set_fault("ip1", fault)
    device.generate_challenge()
    assert [type(e) for e in failures] == [expected]
    assert sandbox.stats["ip1"]["requests"] == 1
    assert len(sms_outbox) == 1 and sms_outbox[0].gateway == "locmem"
    stored = SMSDevice.objects.get(pk=device.pk)
    assert stored.vendor_gateway == "" and not stored.token.startswith("vendor:")
    sandbox.set_fault("ip1", None)
    assert device.verify_token(sms_outbox[0].code) is True
    assert sandbox.stats["ip1"]["requests"] == 1  # verify never asked iP1
    assert list(DeliveryRecord.objects.order_by("id").values_list("gateway", "outcome")) == [
        ("ip1", "failed"), ("locmem", "sent")
    ]


@pytest.mark.django_db
def test_ip1_refusing_connections_falls_back(settings, device, sms_outbox, failures):
    settings.SMS_GATEWAYS = {"ip1": gateway_entry("ip1", None, base_url=closed_port_url("ip1")), "locmem": LOCMEM_ENTRY}
    device.generate_challenge()
    assert len(failures) == 1 and failures[0].not_sent
    assert SMSDevice.objects.get(pk=device.pk).vendor_gateway == ""
    assert device.verify_token(sms_outbox[0].code) is True


@pytest.mark.django_db
def test_a_new_challenge_through_another_gateway_replaces_the_vendor_code(ip1_first, device, sms_outbox):
    sandbox = ip1_first
    device.generate_challenge()
    vendor = vendor_code(sandbox)
    sandbox.set_fault("ip1", "500")
    device.generate_challenge()
    ours = sms_outbox[-1].code
    sandbox.set_fault("ip1", None)
    assert SMSDevice.objects.get(pk=device.pk).vendor_gateway == ""
    if vendor != ours:
        assert device.verify_token(vendor) is False  # checked against our hash, iP1 not asked
        assert sandbox.stats["ip1"]["requests"] == 2
        SMSDevice.objects.filter(pk=device.pk).update(throttling_failure_timestamp=None)
    assert device.verify_token(ours) is True


# -- a second request while iP1 is being asked (deterministic, any database) ---------------


@pytest.mark.django_db
def test_wrong_guess_during_the_check_of_the_right_code_does_not_burn_it(ip1_first, device, sms_outbox, monkeypatch):
    """The double-submit race: a wrong guess arriving while iP1 checks the right
    code used to count a failure that made the right code's success UPDATE miss,
    so neither was accepted and iP1 had already spent the code."""
    device.generate_challenge()
    code = vendor_code(ip1_first)
    other = SMSDevice.objects.get(pk=device.pk)
    refused: list[str] = []
    calls = interleave(monkeypatch, IP1Backend, lambda: refused.append(other.verify_token(other_code(code))))
    assert device.verify_token(code) is True
    assert refused == [False] and calls == [code]  # the wrong guess never reached iP1
    assert failure_count(device) == 0  # and was not counted: it was not checked


@pytest.mark.django_db
def test_second_submit_of_the_right_code_does_not_ask_ip1_again(ip1_first, device, sms_outbox, monkeypatch):
    device.generate_challenge()
    code = vendor_code(ip1_first)
    other = SMSDevice.objects.get(pk=device.pk)
    reasons: list[str] = []

    def receiver(sender, reason, **kwargs):
        reasons.append(reason)

    signals.code_refused.connect(receiver)
    try:
        calls = interleave(monkeypatch, IP1Backend, lambda: other.verify_token(code))
        assert device.verify_token(code) is True
    finally:
        signals.code_refused.disconnect(receiver)
    assert calls == [code] and reasons == ["check in progress"]
    assert ip1_first.stats["ip1"]["requests"] == 2  # create + one validate


@pytest.mark.django_db
def test_the_reservation_is_undone_after_a_wrong_code_or_a_vendor_failure(ip1_first, device, sms_outbox):
    device.generate_challenge()
    code = vendor_code(ip1_first)
    stored = SMSDevice.objects.get(pk=device.pk).token
    assert device.verify_token(other_code(code)) is False
    assert SMSDevice.objects.get(pk=device.pk).token == stored and failure_count(device) == 1
    SMSDevice.objects.filter(pk=device.pk).update(throttling_failure_timestamp=None)
    ip1_first.set_fault("ip1", "500", count=1)
    assert device.verify_token(code) is False
    assert SMSDevice.objects.get(pk=device.pk).token == stored and failure_count(device) == 1
    assert device.verify_token(code) is True


@pytest.mark.django_db
def test_a_reservation_left_by_a_crash_lapses_after_the_vendor_timeout(ip1_first, device, sms_outbox, monkeypatch):
    """If a process dies while asking iP1, its reservation blocks the code
    (nothing accepted, nothing counted) only until the vendor's timeout and a
    margin are over; then the same code can be checked again."""
    from datetime import timedelta

    from freezegun import freeze_time

    from django_sms_gateway.models import RESERVATION_MARGIN

    with freeze_time(timezone.now()) as clock:
        device.generate_challenge()
        code = vendor_code(ip1_first)

        def crash(self, recipient, candidate, *, timeout):
            raise SystemExit("process killed")

        monkeypatch.setattr(IP1Backend, "verify", crash)
        with pytest.raises(SystemExit):
            device.verify_token(code)
        monkeypatch.undo()
        stuck = SMSDevice.objects.get(pk=device.pk)
        assert stuck.token.startswith("checking:") and len(stuck.token) <= SMSDevice._meta.get_field("token").max_length
        assert device.verify_token(code) is False and failure_count(device) == 0
        assert ip1_first.stats["ip1"]["requests"] == 1  # iP1 not asked while the reservation holds

        clock.tick(timedelta(seconds=TIMEOUT + RESERVATION_MARGIN + 1))
        assert device.verify_token(code) is True


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
def test_concurrent_checks_accept_once_even_if_the_vendor_says_yes_twice(
    ip1_first, device, sms_outbox, monkeypatch
):
    """Single use is ours too: a vendor that would accept a code repeatedly
    still lets exactly one of the racing requests in."""
    device.generate_challenge()
    code = vendor_code(ip1_first)
    monkeypatch.setattr(IP1Backend, "verify", lambda self, recipient, candidate, *, timeout: candidate == code)
    results = verify_concurrently(device.pk, code)
    assert results.count(True) == 1


