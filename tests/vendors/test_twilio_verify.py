"""Twilio Verify over real HTTP against the sandbox: Twilio makes, sends and
checks the code; only an explicit "approved" lets anyone in; throttling,
expiry and single use stay ours; when Verify fails, the next gateway sends
our own code and that is the one that counts. The same verification tests
iP1 passes (tests/vendors/test_ip1.py)."""

from __future__ import annotations

import os
import re

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from django_sms_gateway import signals
from django_sms_gateway.backends.twilio import TwilioVerifyBackend
from django_sms_gateway.dispatch import build_message
from django_sms_gateway.exceptions import (
    GatewayAuthError,
    GatewayConnectionError,
    GatewayRateLimited,
    GatewayTimeout,
    GatewayUnavailable,
    RecipientRefused,
    RequestRejected,
)
from django_sms_gateway.models import DeliveryRecord, SMSDevice
from django_sms_gateway.sandbox import CREDENTIALS
from django_sms_gateway.sandbox.base import Response
from django_sms_gateway.sandbox.twilio import VERIFY_SERVICE_SID
from tests.vendor_codes import failure_count, interleave, verify_concurrently

from .helpers import LOCMEM_ENTRY, NUMBER, closed_port_url, gateway_entry, other_code

ACCOUNT = CREDENTIALS["twilio"]["account_sid"]
SERVICE_PATH = f"/twilio/v2/Services/{VERIFY_SERVICE_SID}"


def vendor_code(sandbox) -> str:
    """The code Verify (the sandbox) made and "sent" last."""
    return re.search(r"code is: (\d+)", sandbox.messages[-1]["text"]).group(1)


@pytest.fixture
def make_backend(sandbox, built_backends):
    return lambda **options: built_backends("twilio-verify", gateway_entry("twilio-verify", sandbox, **options))


@pytest.fixture
def verify_first(sandbox, settings):
    """Verify first, locmem second; short timeouts so "hang" ends quickly."""
    settings.SMS_GATEWAYS = {"twilio-verify": gateway_entry("twilio-verify", sandbox, timeout=0.5),
                             "locmem": LOCMEM_ENTRY}
    return sandbox


def send(backend, code="123456"):
    return backend.send(build_message(NUMBER, code), timeout=2)


def answer_check_with(monkeypatch, sandbox, status, body):
    """Make the sandbox answer every VerificationCheck with ``body``."""
    vendor = type(sandbox.vendors["twilio"])
    monkeypatch.setattr(vendor, "_check", lambda self, request, to, code: Response.json(status, body))


# -- the Verifications request ------------------------------------------------------


def test_start_request_matches_the_api_reference(sandbox, make_backend):
    result = send(make_backend(locale="nb"))
    request = sandbox.last_request("twilio-verify")
    assert (request.method, request.path) == ("POST", f"{SERVICE_PATH}/Verifications")
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert request.headers["Authorization"].startswith("Basic ")
    assert request.parsed == {"To": NUMBER, "Channel": "sms", "Locale": "nb"}
    assert result.reference.startswith("VE") and result.status == "pending"
    assert "123456" not in sandbox.messages[-1]["text"]  # Verify sent its own code, not ours


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        ("500", GatewayUnavailable), ("401", GatewayAuthError), ("429", GatewayRateLimited),
        ("60203", GatewayRateLimited), ("60200", RequestRejected), ("refuse", GatewayConnectionError),
        ("hang", GatewayTimeout), ("malformed", GatewayUnavailable), ("oversized", GatewayUnavailable),
    ],
)
def test_start_faults_map_to_our_errors(sandbox, make_backend, fault, expected):
    sandbox.set_fault("twilio-verify", fault)
    with pytest.raises(expected) as info:
        make_backend().send(build_message(NUMBER, "123456"), timeout=0.5)
    assert type(info.value) is expected and info.value.retry_next


def test_start_answer_that_is_not_a_pending_verification_is_not_a_yes(sandbox, make_backend, monkeypatch):
    vendor = type(sandbox.vendors["twilio"])
    monkeypatch.setattr(vendor, "_start", lambda self, to: Response.json(201, {"sid": "VE1", "status": "approved"}))
    with pytest.raises(GatewayUnavailable):
        send(make_backend())


def test_recipient_not_e164_is_refused_before_calling(sandbox, make_backend):
    with pytest.raises(RecipientRefused):
        make_backend().send(build_message("4798765432", "123456"), timeout=2)
    assert sandbox.stats["twilio"]["requests"] == 0


# -- the VerificationCheck request --------------------------------------------------


def test_check_request_matches_the_api_reference_and_accepts_once(sandbox, make_backend):
    backend = make_backend()
    send(backend)
    code = vendor_code(sandbox)
    assert backend.verify(NUMBER, other_code(code), timeout=2) is False
    assert backend.verify(NUMBER, code, timeout=2) is True
    request = sandbox.last_request("twilio-verify")
    assert (request.method, request.path) == ("POST", f"{SERVICE_PATH}/VerificationCheck")
    assert request.parsed == {"To": NUMBER, "Code": code}
    assert backend.verify(NUMBER, code, timeout=2) is False  # approved: 404 now
    assert backend.verify("+4798765400", code, timeout=2) is False


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (200, {"status": "pending", "valid": True}),
        (200, {"status": "approved", "valid": False}),
        (200, {"status": "approved"}),
        (200, {"valid": True}),
        (201, {"status": "approved", "valid": True}),
        (204, {}),
    ],
)
def test_only_approved_and_valid_is_a_yes(sandbox, make_backend, monkeypatch, status, body):
    backend = make_backend()
    send(backend)
    answer_check_with(monkeypatch, sandbox, status, body)
    try:
        assert backend.verify(NUMBER, vendor_code(sandbox), timeout=2) is False
    except GatewayUnavailable:
        pass  # not answering is not a yes either


@pytest.mark.parametrize("fault", ["20404", "60202", "60200"])
def test_documented_no_answers_are_false(sandbox, make_backend, fault):
    backend = make_backend()
    send(backend)
    sandbox.set_fault("twilio-verify", fault, count=1)
    assert backend.verify(NUMBER, vendor_code(sandbox), timeout=2) is False


def test_five_wrong_checks_end_the_verification(sandbox, make_backend):
    backend = make_backend()
    send(backend)
    code = vendor_code(sandbox)
    for _ in range(5):
        assert backend.verify(NUMBER, other_code(code), timeout=2) is False
    assert backend.verify(NUMBER, code, timeout=2) is False  # 429 60202: no more checks


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        ("500", GatewayUnavailable), ("401", GatewayAuthError), ("429", GatewayRateLimited),
        ("refuse", GatewayConnectionError), ("hang", GatewayTimeout), ("malformed", GatewayUnavailable),
        ("oversized", GatewayUnavailable),
    ],
)
def test_check_that_cannot_answer_raises(sandbox, make_backend, fault, expected):
    backend = make_backend()
    send(backend)
    sandbox.set_fault("twilio-verify", fault)
    with pytest.raises(expected):
        backend.verify(NUMBER, vendor_code(sandbox), timeout=0.5)


# -- the device, end to end --------------------------------------------------------


@pytest.mark.django_db
def test_device_vendor_code_verifies_once_through_verify(verify_first, device, sms_outbox):
    sandbox = verify_first
    device.generate_challenge()
    assert not sms_outbox
    stored = SMSDevice.objects.get(pk=device.pk)
    assert stored.vendor_gateway == "twilio-verify" and stored.token.startswith("vendor:")
    record = DeliveryRecord.objects.get(device=device)
    assert (record.gateway, record.outcome, record.status) == ("twilio-verify", "sent", "pending")
    assert record.reference.startswith("VE")
    code = vendor_code(sandbox)
    assert device.verify_token(code) is True
    assert sandbox.stats["twilio"]["requests"] == 2
    assert device.verify_token(code) is False  # reuse refused on our side, Verify not asked
    assert sandbox.stats["twilio"]["requests"] == 2


@pytest.mark.django_db
def test_device_wrong_vendor_code_is_false_and_counted(verify_first, device, sms_outbox):
    sandbox = verify_first
    device.generate_challenge()
    code = vendor_code(sandbox)
    assert device.verify_token(other_code(code)) is False
    assert failure_count(device) == 1 and sandbox.stats["twilio"]["requests"] == 2
    assert device.verify_token(code) is False  # throttled: Verify not asked, its code not spent
    assert sandbox.stats["twilio"]["requests"] == 2
    SMSDevice.objects.filter(pk=device.pk).update(throttling_failure_timestamp=None)
    assert device.verify_token(code) is True


@pytest.mark.django_db
def test_device_malformed_or_expired_code_is_refused_without_asking(verify_first, device, sms_outbox):
    sandbox = verify_first
    device.generate_challenge()
    code = vendor_code(sandbox)
    for bad in (code[:-1], code + "1", code[:3] + " " + code[3:], "١٢٣٤٥٦"):
        assert device.verify_token(bad) is False
    SMSDevice.objects.filter(pk=device.pk).update(valid_until=timezone.now() - timezone.timedelta(seconds=1))
    assert device.verify_token(code) is False
    assert sandbox.stats["twilio"]["requests"] == 1


@pytest.mark.django_db
@pytest.mark.parametrize("fault", ["500", "401", "429", "refuse", "hang", "malformed", "oversized"])
def test_verify_unreachable_at_check_refuses_without_counting(verify_first, device, sms_outbox, fault):
    sandbox = verify_first
    device.generate_challenge()
    code = vendor_code(sandbox)
    sandbox.set_fault("twilio-verify", fault)
    assert device.verify_token(code) is False
    assert failure_count(device) == 0
    sandbox.set_fault("twilio-verify", None)
    assert device.verify_token(code) is True  # the code was not spent


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("fault", "expected"),
    [("500", GatewayUnavailable), ("401", GatewayAuthError), ("60203", GatewayRateLimited),
     ("hang", GatewayTimeout), ("malformed", GatewayUnavailable)],
)
def test_verify_down_then_our_code_via_the_next_gateway_counts(
    verify_first, device, sms_outbox, failures, fault, expected
):
    sandbox = verify_first
    sandbox.set_fault("twilio-verify", fault)
    device.generate_challenge()
    assert [type(e) for e in failures] == [expected]
    assert len(sms_outbox) == 1 and sms_outbox[0].gateway == "locmem"
    stored = SMSDevice.objects.get(pk=device.pk)
    assert stored.vendor_gateway == "" and not stored.token.startswith("vendor:")
    sandbox.set_fault("twilio-verify", None)
    assert device.verify_token(sms_outbox[0].code) is True
    assert sandbox.stats["twilio"]["requests"] == 1  # verify never asked Twilio


@pytest.mark.django_db
def test_verify_refusing_connections_falls_back(settings, device, sms_outbox, failures):
    settings.SMS_GATEWAYS = {"twilio-verify": gateway_entry("twilio-verify", None, base_url=closed_port_url()),
                             "locmem": LOCMEM_ENTRY}
    device.generate_challenge()
    assert len(failures) == 1 and failures[0].not_sent
    assert device.verify_token(sms_outbox[0].code) is True


@pytest.mark.django_db
def test_wrong_guess_during_the_check_of_the_right_code_does_not_burn_it(verify_first, device, sms_outbox,
                                                                         monkeypatch):
    device.generate_challenge()
    code = vendor_code(verify_first)
    other = SMSDevice.objects.get(pk=device.pk)
    refused: list[bool] = []
    calls = interleave(monkeypatch, TwilioVerifyBackend, lambda: refused.append(other.verify_token(other_code(code))))
    assert device.verify_token(code) is True
    assert refused == [False] and calls == [code] and failure_count(device) == 0


@pytest.mark.django_db
def test_second_submit_of_the_right_code_does_not_ask_verify_again(verify_first, device, sms_outbox, monkeypatch):
    device.generate_challenge()
    code = vendor_code(verify_first)
    other = SMSDevice.objects.get(pk=device.pk)
    reasons: list[str] = []

    def receiver(sender, reason, **kwargs):
        reasons.append(reason)

    signals.code_refused.connect(receiver)
    try:
        calls = interleave(monkeypatch, TwilioVerifyBackend, lambda: other.verify_token(code))
        assert device.verify_token(code) is True
    finally:
        signals.code_refused.disconnect(receiver)
    assert calls == [code] and reasons == ["check in progress"]
    assert verify_first.stats["twilio"]["requests"] == 2


needs_postgres = pytest.mark.skipif(
    not os.environ.get("DATABASE_URL"),
    reason="needs PostgreSQL: set DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres",
)


@needs_postgres
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_checks_accept_once(verify_first, device, sms_outbox):
    """Eight requests race with the right code: Verify is asked once and
    exactly one request gets in."""
    device.generate_challenge()
    results = verify_concurrently(device.pk, vendor_code(verify_first))
    assert results.count(True) == 1
    assert verify_first.stats["twilio"]["requests"] == 2  # one start, one check


# -- configuration -------------------------------------------------------------------


def build(**options):
    return TwilioVerifyBackend("tv", {"account_sid": ACCOUNT, "auth_token": "x",
                                      "service_sid": VERIFY_SERVICE_SID, **options})


def test_defaults():
    backend = build()
    assert backend.base_url == "https://verify.twilio.com"
    assert backend.verifies_codes and not backend.uses_site_message


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"service_sid": "VA1"}, "'service_sid' must be VA followed by 32 hex digits"),
        ({"service_sid": None}, "'service_sid' is required"),
        ({"sender": "Acme"}, "unknown option 'sender'"),
        ({"locale": ""}, "'locale' must be a non-empty string"),
    ],
)
def test_option_errors_name_gateway_and_option(options, problem):
    with pytest.raises(ImproperlyConfigured) as info:
        build(**options)
    assert "SMS_GATEWAYS['tv']" in str(info.value) and problem in str(info.value)


@pytest.mark.parametrize("length", [3, 11])
def test_code_lengths_verify_cannot_make_are_refused_at_start_up(settings, length):
    settings.OTP_SMS_TOKEN_LENGTH = length
    with pytest.raises(ImproperlyConfigured, match="4 to 10 digits"):
        build()


def test_check_credentials_fetches_the_service_and_compares_its_code_length(sandbox, make_backend, settings):
    check = make_backend().check_credentials(timeout=2)
    assert check.outcome == "accepted" and "digits" not in check.detail
    assert sandbox.last_request("twilio-verify").method == "GET"
    settings.OTP_SMS_TOKEN_LENGTH = 8
    check = make_backend().check_credentials(timeout=2)
    assert check.outcome == "accepted" and "codes of 6 digits and OTP_SMS_TOKEN_LENGTH is 8" in check.detail
    assert make_backend(auth_token="wrong").check_credentials(timeout=2).outcome == "refused"
    assert sandbox.messages == []
