"""Twilio Verify over real HTTP against the sandbox: Twilio makes, sends and
checks the code; only an explicit "approved" lets anyone in. How a device
uses Verify's codes (throttling, single use, fallback), as it uses iP1's:
tests/test_device_vendor_codes.py."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from django_sms_gateway.backends.twilio_verify import TwilioVerifyBackend
from django_sms_gateway.dispatch import build_message
from django_sms_gateway.exceptions import (
    GatewayUnavailable,
    RecipientRateLimited,
    RecipientRefused,
    RequestRejected,
)
from sms_sandbox import CREDENTIALS
from sms_sandbox.base import Response
from sms_sandbox.twilio import VERIFY_SERVICE_SID

from .helpers import HTTP_FAULT_ERRORS, NUMBER, other_code, verify_code

VENDOR = "twilio-verify"
ACCOUNT = CREDENTIALS["twilio"]["account_sid"]
SERVICE_PATH = f"/twilio/v2/Services/{VERIFY_SERVICE_SID}"


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
        *(fault for fault in HTTP_FAULT_ERRORS if fault[0] != "429"),
        ("429", RecipientRateLimited),  # 20429 at Verify: its per-number safeguards
        ("60203", RecipientRateLimited), ("60200", RequestRejected),
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
# Accepted once, and a check that cannot answer raises: tests/vendors/test_vendor_held_codes.py.


def test_check_request_matches_the_api_reference(sandbox, make_backend):
    backend = make_backend()
    send(backend)
    code = verify_code(sandbox)
    assert backend.verify(NUMBER, code, timeout=2) is True
    request = sandbox.last_request("twilio-verify")
    assert (request.method, request.path) == ("POST", f"{SERVICE_PATH}/VerificationCheck")
    assert request.parsed == {"To": NUMBER, "Code": code}
    assert backend.verify(NUMBER, code, timeout=2) is False  # approved: 404 now


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
        assert backend.verify(NUMBER, verify_code(sandbox), timeout=2) is False
    except GatewayUnavailable:
        pass  # not answering is not a yes either


@pytest.mark.parametrize("fault", ["20404", "60202", "60200"])
def test_documented_no_answers_are_false(sandbox, make_backend, fault):
    backend = make_backend()
    send(backend)
    sandbox.set_fault("twilio-verify", fault, count=1)
    assert backend.verify(NUMBER, verify_code(sandbox), timeout=2) is False


def test_five_wrong_checks_end_the_verification(sandbox, make_backend):
    backend = make_backend()
    send(backend)
    code = verify_code(sandbox)
    for _ in range(5):
        assert backend.verify(NUMBER, other_code(code), timeout=2) is False
    assert backend.verify(NUMBER, code, timeout=2) is False  # 404: Twilio deleted the verification


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
