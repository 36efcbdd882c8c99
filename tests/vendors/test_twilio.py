"""Twilio Messages over real HTTP against the sandbox: the documented request,
an explicit yes only, Twilio's error codes (magic test numbers included)
mapped to our errors, the credentials check and the options."""

import base64

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from django_sms_gateway import breaker, dispatch
from django_sms_gateway.backends.twilio import TwilioBackend
from django_sms_gateway.dispatch import send_code
from django_sms_gateway.exceptions import (
    GatewayAuthError,
    GatewayUnavailable,
    RecipientNotReachable,
    RecipientRefused,
    RequestRejected,
)
from sms_sandbox import CREDENTIALS
from sms_sandbox.base import Response
from sms_sandbox.twilio import API_KEY, MESSAGING_SERVICE_SID, VERIFY_SERVICE_SID

from .helpers import HTTP_FAULTS, LOCMEM_ENTRY, NUMBER, closed_port_url, gateway_entry, message_with

VENDOR = "twilio"
CODE = "481516"
ACCOUNT = CREDENTIALS["twilio"]["account_sid"]
BASIC = "Basic " + base64.b64encode(f"{ACCOUNT}:{CREDENTIALS['twilio']['auth_token']}".encode()).decode()
SID = "SM" + "ab" * 16


def message(text=None, recipient=NUMBER):
    return message_with(CODE, text, recipient)


def test_send_request_matches_the_api_reference(sandbox, make_backend):
    result = make_backend().send(message(), timeout=2)

    request = sandbox.last_request("twilio")
    assert request.method == "POST"
    assert request.path == f"/twilio/2010-04-01/Accounts/{ACCOUNT}/Messages.json"
    assert request.headers["Authorization"] == BASIC
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert request.parsed == {"To": NUMBER, "From": "+15005550006", "Body": message().text}
    assert result.reference.startswith("SM") and len(result.reference) == 34
    assert (result.status, result.segments) == ("queued", 1)
    assert [(m["vendor"], m["recipient"]) for m in sandbox.messages] == [("twilio", NUMBER)]


def test_messaging_service_replaces_from_and_status_callback_is_sent(sandbox, make_backend):
    backend = make_backend(sender=None, messaging_service_sid=MESSAGING_SERVICE_SID,
                           status_callback="https://example.com/sms/webhooks/twilio/twilio/")
    result = backend.send(message(), timeout=2)

    assert sandbox.last_request("twilio").parsed == {
        "To": NUMBER, "MessagingServiceSid": MESSAGING_SERVICE_SID, "Body": message().text,
        "StatusCallback": "https://example.com/sms/webhooks/twilio/twilio/",
    }
    assert (result.status, result.segments) == ("accepted", None)  # "0" segments: not known yet


@pytest.mark.parametrize(
    ("number", "error", "code"),
    [
        ("+15005550001", RecipientRefused, "21211"),
        ("+15005550009", RecipientRefused, "21614"),
        ("+15005550004", RecipientRefused, "21610"),
        ("+15005550003", RequestRejected, "21408"),
        ("+15005550002", RequestRejected, "21612"),
    ],
)
def test_magic_test_numbers_map_to_our_errors(sandbox, make_backend, number, error, code):
    with pytest.raises(error) as info:
        make_backend().send(message(recipient=number), timeout=2)
    err = info.value
    assert type(err) is error and err.vendor_status == code and err.status_code == 400
    assert err.retry_next is (error is not RecipientRefused)
    assert f"(Twilio {code})" in err.reason and "55500" not in err.reason  # no number in the reason
    assert sandbox.messages == []


@pytest.mark.parametrize(
    ("sender", "code"), [("+15005550001", "21212"), ("+15005550007", "21606"), ("+15005550008", "21611")]
)
def test_magic_from_numbers_are_our_request_problem(make_backend, sender, code):
    with pytest.raises(RequestRejected) as info:
        make_backend(sender=sender).send(message(), timeout=2)
    assert info.value.vendor_status == code and info.value.retry_next


@pytest.mark.parametrize(
    ("fault", "error", "status"),
    [
        *HTTP_FAULTS,
        ("21408", RequestRejected, 400),
        ("21612", RequestRejected, 400),
    ],
)
def test_faults_map_to_our_errors(sandbox, make_backend, fault, error, status):
    sandbox.set_fault("twilio", fault)
    with pytest.raises(error) as info:
        make_backend().send(message(), timeout=0.5)
    err = info.value
    assert type(err) is error and err.retry_next and err.status_code == status and err.alias == "twilio"
    assert CODE not in err.reason and "98765432" not in err.reason


def test_wrong_auth_token_is_an_auth_error_without_the_token(make_backend):
    with pytest.raises(GatewayAuthError) as info:
        make_backend(auth_token="wrong-token").send(message(), timeout=2)
    assert info.value.vendor_status == "20003" and "wrong-token" not in str(info.value)


@pytest.mark.parametrize(
    ("status", "answer"),
    [
        (200, {"sid": SID, "status": "queued"}),  # a 2xx that is not "created"
        (201, {"sid": SID, "status": "failed", "error_code": 30008}),
        (201, {"sid": SID, "status": "undelivered"}),
        (201, {"sid": SID}),
        (201, {"sid": "not-a-sid", "status": "queued"}),
        (201, {"status": "queued"}),
        (201, {"code": 21211, "message": "looks like an error"}),
    ],
)
def test_only_a_created_message_that_has_not_failed_is_a_yes(sandbox, make_backend, monkeypatch, status, answer):
    monkeypatch.setattr(type(sandbox.vendors["twilio"]), "_create_message",
                        lambda self, request, account, fields: Response.json(status, answer))
    with pytest.raises(GatewayUnavailable):
        make_backend().send(message(), timeout=2)


def test_text_over_max_segments_is_refused_before_calling(sandbox, make_backend):
    backend = make_backend(max_segments=1)
    with pytest.raises(RequestRejected, match="2 SMS parts"):
        backend.send(message(text="x" * 161), timeout=2)
    with pytest.raises(RequestRejected, match="2 SMS parts"):
        make_backend(sender=None, messaging_service_sid=MESSAGING_SERVICE_SID, max_segments=1).send(
            message(text="ç" * 71), timeout=2)
    assert sandbox.stats["twilio"]["requests"] == 0


def test_recipient_not_e164_is_refused_before_calling(sandbox, make_backend):
    with pytest.raises(RecipientRefused):
        make_backend().send(message(recipient="4798765432"), timeout=2)
    assert sandbox.stats["twilio"]["requests"] == 0


@pytest.mark.django_db
def test_invalid_number_ends_the_walk_and_leaves_the_breaker_closed(sandbox, settings):
    settings.SMS_GATEWAYS = {"twilio": {**gateway_entry("twilio", sandbox), "BREAKER_THRESHOLD": 1},
                             "locmem": LOCMEM_ENTRY}
    with pytest.raises(RecipientNotReachable):
        send_code("+15005550001", CODE)
    backend = dispatch.gateways["twilio"]
    assert breaker.states([backend])["twilio"].failures == 0
    sandbox.set_fault("twilio", "500", count=1)
    send_code(NUMBER, CODE)  # falls back to locmem: a vendor failure does count
    assert breaker.states([backend])["twilio"].state == "open"


def test_keep_alive_one_connection_for_many_sends(sandbox, make_backend):
    backend = make_backend()
    for _ in range(5):
        backend.send(message(), timeout=2)
    assert sandbox.stats["twilio"] == {"requests": 5, "connections": 1}


def test_check_credentials_asks_for_the_account(sandbox, make_backend):
    assert make_backend().check_credentials(timeout=2).outcome == "accepted"
    request = sandbox.last_request("twilio")
    assert (request.method, request.path) == ("GET", f"/twilio/2010-04-01/Accounts/{ACCOUNT}.json")
    refused = make_backend(auth_token="wrong").check_credentials(timeout=2)
    assert refused.outcome == "refused" and "wrong" not in refused.detail
    assert make_backend(base_url=closed_port_url()).check_credentials(timeout=1).outcome == "unchecked"
    assert sandbox.messages == []


def basic(user, password):
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_an_api_key_authenticates_instead_of_the_auth_token(sandbox, make_backend):
    backend = make_backend(auth_token=None, **API_KEY)
    result = backend.send(message(), timeout=2)
    assert result.reference.startswith("SM") and sandbox.messages[-1]["vendor"] == "twilio"
    request = sandbox.last_request("twilio")
    assert request.headers["Authorization"] == basic(API_KEY["api_key_sid"], API_KEY["api_key_secret"])
    assert request.path == f"/twilio/2010-04-01/Accounts/{ACCOUNT}/Messages.json"


def test_with_both_the_api_key_authenticates_the_calls(sandbox, make_backend):
    make_backend(**API_KEY).send(message(), timeout=2)
    assert sandbox.last_request("twilio").headers["Authorization"] == basic(
        API_KEY["api_key_sid"], API_KEY["api_key_secret"])


def test_a_wrong_api_key_secret_is_an_auth_error_without_the_secret(make_backend):
    with pytest.raises(GatewayAuthError) as info:
        make_backend(auth_token=None, api_key_sid=API_KEY["api_key_sid"], api_key_secret="wrong-secret").send(
            message(), timeout=2)
    assert "wrong-secret" not in str(info.value) and info.value.vendor_status == "20003"


def test_check_credentials_with_an_api_key_reads_one_message_not_the_account(sandbox, make_backend):
    """A Standard API key has no access to the Accounts resource (the
    sandbox's key is one), so the check reads one page of messages."""
    backend = make_backend(auth_token=None, **API_KEY)
    assert backend.check_credentials(timeout=2).outcome == "accepted"
    request = sandbox.last_request("twilio")
    assert (request.method, request.path) == ("GET", f"/twilio/2010-04-01/Accounts/{ACCOUNT}/Messages.json")
    wrong = make_backend(auth_token=None, api_key_sid=API_KEY["api_key_sid"], api_key_secret="wrong")
    assert wrong.check_credentials(timeout=2).outcome == "refused"
    assert sandbox.messages == []


def test_verify_calls_with_the_api_key_too(sandbox, built_backends):
    entry = gateway_entry("twilio-verify", sandbox, auth_token=None, **API_KEY)
    backend = built_backends("twilio-verify", entry)
    assert backend.check_credentials(timeout=2).outcome == "accepted"
    backend.send(message(), timeout=2)
    request = sandbox.last_request("twilio-verify")
    assert request.path == f"/twilio/v2/Services/{VERIFY_SERVICE_SID}/Verifications"
    assert request.headers["Authorization"] == basic(API_KEY["api_key_sid"], API_KEY["api_key_secret"])


def test_defaults():
    backend = TwilioBackend("t", {"account_sid": ACCOUNT, "auth_token": "x", "sender": "Acme"})
    assert backend.base_url == "https://api.twilio.com" and backend.max_segments == 10


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"account_sid": "AC123"}, "'account_sid' must be AC followed by 32 hex digits"),
        ({"account_sid": "SK" + "0" * 32}, "'account_sid' must be AC"),
        ({"auth_token": ""}, "'auth_token' must be a non-empty string"),
        ({"auth_token": None}, "'auth_token' is required (or 'api_key_sid' and 'api_key_secret')"),
        ({"api_key_sid": "SK" + "1" * 32}, "'api_key_sid' and 'api_key_secret' go together"),
        ({"api_key_secret": "s"}, "'api_key_sid' and 'api_key_secret' go together"),
        ({"api_key_sid": "AC" + "1" * 32, "api_key_secret": "s"}, "'api_key_sid' must be SK"),
        ({"auth_token": None, "api_key_sid": "SK" + "1" * 32, "api_key_secret": "s",
          "status_callback": "https://example.com/hook"}, "'auth_token' is required with 'status_callback'"),
        ({"sender": None}, "'sender' or 'messaging_service_sid' is required"),
        ({"messaging_service_sid": "MG1"}, "'messaging_service_sid' must be MG"),
        ({"sender": "Acme-Bank"}, "'sender'"),
        ({"status_callback": "example.com/hook"}, "'status_callback' must be an http(s) URL"),
        ({"max_segments": 11}, "'max_segments' must be a whole number from 1 to 10"),
        ({"api_key": "x"}, "unknown option 'api_key'"),
    ],
)
def test_option_errors_name_gateway_and_option(options, problem):
    with pytest.raises(ImproperlyConfigured) as info:
        TwilioBackend("tw", {"account_sid": ACCOUNT, "auth_token": "x", "sender": "Acme", **options})
    assert "SMS_GATEWAYS['tw']" in str(info.value) and problem in str(info.value)
    assert info.value.check_id == "sms_gateway.E005"


def test_option_errors_are_reported_by_the_system_check(sandbox):
    from django_sms_gateway.checks import check_gateways

    with override_settings(SMS_GATEWAYS={"twilio": gateway_entry("twilio", sandbox, account_sid="AC1")}):
        assert [m.id for m in check_gateways()] == ["sms_gateway.E005"]
