"""Vonage SMS API over real HTTP against the sandbox: the documented request
(``to`` without ``+``, ``type=unicode`` when needed), status "0" with a
message-id as the only yes, the per-message status codes mapped to our
errors, the balance as credentials check, and the options."""

import base64

import pytest
from django.core.exceptions import ImproperlyConfigured

from django_sms_gateway.backends.vonage import STATUS_ERRORS, VonageBackend
from django_sms_gateway.exceptions import (
    GatewayAuthError,
    GatewayRateLimited,
    GatewayUnavailable,
    RecipientRefused,
    RequestRejected,
)
from sms_sandbox import CREDENTIALS
from sms_sandbox.base import Response
from sms_sandbox.vonage import FAULT_STATUSES

from .helpers import HTTP_FAULTS, NUMBER, closed_port_url, gateway_entry, message_with

VENDOR = "vonage"
CODE = "481516"
KEY, SECRET = CREDENTIALS["vonage"]["api_key"], CREDENTIALS["vonage"]["api_secret"]


def message(text=None, recipient=NUMBER):
    return message_with(CODE, text, recipient)


def test_send_request_matches_the_api_reference(sandbox, make_backend):
    result = make_backend(callback="https://example.com/sms/webhooks/vonage/vonage/").send(message(), timeout=2)

    request = sandbox.last_request("vonage")
    assert (request.method, request.path) == ("POST", "/vonage/sms/json")
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert request.parsed == {
        "api_key": KEY, "api_secret": SECRET, "from": "Acme", "to": NUMBER.lstrip("+"), "text": message().text,
        "callback": "https://example.com/sms/webhooks/vonage/vonage/",
    }
    assert (result.reference, result.status, result.segments) == ("0000000000000001", "accepted", 1)
    assert sandbox.messages[-1]["text"] == message().text


def test_text_outside_gsm7_is_sent_as_unicode(sandbox, make_backend):
    make_backend().send(message("Koden din er 481516 ✓"), timeout=2)
    assert sandbox.last_request("vonage").parsed["type"] == "unicode"
    assert sandbox.messages[-1]["text"] == "Koden din er 481516 ✓"  # not "?" as a text-type SMS would get


def test_gsm7_text_has_no_type(sandbox, make_backend):
    make_backend().send(message("Koden din er 481516 (æøå)"), timeout=2)
    assert "type" not in sandbox.last_request("vonage").parsed


def test_multi_part_text_reports_each_part(make_backend):
    result = make_backend(max_segments=2).send(message("x" * 200), timeout=2)
    assert result.segments == 2 and result.reference == "0000000000000001"


@pytest.mark.parametrize(("status", "error"), [(code, cls) for code, (cls, _label) in STATUS_ERRORS.items()
                                                if code in ("1", "2", "3", "4", "5", "6", "7", "8", "9", "15",
                                                            "29", "33")])
def test_per_message_status_codes_map_to_our_errors(sandbox, make_backend, status, error):
    sandbox.set_fault("vonage", status)
    with pytest.raises(error) as info:
        make_backend().send(message(), timeout=2)
    err = info.value
    assert type(err) is error and err.vendor_status == status and err.status_code == 200
    assert err.reason.endswith(f"(Vonage status {status})")
    assert err.retry_next is (error is not RecipientRefused)


def test_documented_mapping():
    assert STATUS_ERRORS["1"][0] is GatewayRateLimited and STATUS_ERRORS["9"][0] is GatewayRateLimited
    assert STATUS_ERRORS["4"][0] is GatewayAuthError and STATUS_ERRORS["8"][0] is GatewayAuthError
    assert STATUS_ERRORS["7"][0] is RecipientRefused and STATUS_ERRORS["29"][0] is RequestRejected


@pytest.mark.parametrize(
    ("fault", "error", "status"),
    [fault for fault in HTTP_FAULTS if fault[0] not in FAULT_STATUSES],
)
def test_transport_and_http_faults_map_to_our_errors(sandbox, make_backend, fault, error, status):
    sandbox.set_fault("vonage", fault)
    with pytest.raises(error) as info:
        make_backend().send(message(), timeout=0.5)
    assert type(info.value) is error and info.value.status_code == status and info.value.retry_next


@pytest.mark.parametrize(("fault", "error", "vendor_status"), [
    ("401", GatewayAuthError, "4"), ("429", GatewayRateLimited, "1"), ("500", GatewayUnavailable, "5"),
])
def test_credentials_throttling_and_outages_come_as_a_200_with_a_status(sandbox, make_backend, fault, error,
                                                                        vendor_status):
    """/sms/json documents no HTTP error: a wrong secret, throttling and
    Vonage's own error are statuses 4, 1 and 5 in a 200 answer."""
    sandbox.set_fault("vonage", fault)
    with pytest.raises(error) as info:
        make_backend().send(message(), timeout=2)
    assert type(info.value) is error and (info.value.status_code, info.value.vendor_status) == (200, vendor_status)


def test_wrong_secret_is_status_4_without_the_secret(make_backend):
    with pytest.raises(GatewayAuthError) as info:
        make_backend(api_secret="wrong-secret").send(message(), timeout=2)
    assert info.value.vendor_status == "4" and "wrong-secret" not in str(info.value)


@pytest.mark.parametrize(
    "answer",
    [
        {"message-count": "1", "messages": [{"status": "0"}]},  # no message-id
        {"message-count": "1", "messages": [{"status": 0, "message-id": "1"}]},  # a number, not "0"
        {"message-count": "0", "messages": []},
        {"messages": "0"},
        {"status": "0"},
        {"message-count": "2", "messages": [{"status": "0", "message-id": "1"}, {"status": "5"}]},
    ],
)
def test_only_status_0_with_a_message_id_for_every_part_is_a_yes(sandbox, make_backend, monkeypatch, answer):
    monkeypatch.setattr(type(sandbox.vendors["vonage"]), "_send", lambda self, fields: Response.json(200, answer))
    with pytest.raises((GatewayUnavailable, RequestRejected)):
        make_backend().send(message(), timeout=2)


def test_a_2xx_other_than_200_is_not_a_yes(sandbox, make_backend, monkeypatch):
    answer = {"message-count": "1", "messages": [{"status": "0", "message-id": "1"}]}
    monkeypatch.setattr(type(sandbox.vendors["vonage"]), "_send", lambda self, fields: Response.json(202, answer))
    with pytest.raises(GatewayUnavailable):
        make_backend().send(message(), timeout=2)


def test_rules_are_checked_before_calling(sandbox, make_backend):
    backend = make_backend()
    with pytest.raises(RequestRejected, match="2 SMS parts"):
        backend.send(message("x" * 161), timeout=2)
    with pytest.raises(RecipientRefused):
        backend.send(message(recipient="4798765432"), timeout=2)
    assert sandbox.stats["vonage"]["requests"] == 0


def test_check_credentials_asks_for_the_balance(sandbox, make_backend):
    assert make_backend().check_credentials(timeout=2).outcome == "accepted"
    request = sandbox.last_request("vonage")
    assert (request.method, request.path) == ("GET", "/vonage/account/get-balance")
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(f"{KEY}:{SECRET}".encode()).decode()
    refused = make_backend(api_secret="wrong").check_credentials(timeout=2)
    assert refused.outcome == "refused" and "wrong" not in refused.detail
    assert make_backend(base_url=closed_port_url()).check_credentials(timeout=1).outcome == "unchecked"
    assert sandbox.messages == []


def test_defaults():
    backend = VonageBackend("v", {"api_key": KEY, "api_secret": SECRET, "sender": "Acme"})
    assert backend.base_url == "https://rest.nexmo.com" and backend.max_segments == 1
    assert backend.config["signature_method"] == "md5hash"


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"api_key": ""}, "'api_key' is required"),
        ({"api_secret": None}, "'api_secret' is required"),
        ({"sender": None}, "'sender' is required by Vonage"),
        ({"sender": "Acme Bank AS"}, "'sender'"),
        ({"callback": "ftp://x"}, "'callback' must be an http(s) URL"),
        ({"signature_method": "sha384"}, "'signature_method' must be one of"),
        ({"max_segments": 0}, "'max_segments'"),
        ({"account_sid": "x"}, "unknown option 'account_sid'"),
    ],
)
def test_option_errors_name_gateway_and_option(options, problem):
    with pytest.raises(ImproperlyConfigured) as info:
        VonageBackend("vo", {"api_key": KEY, "api_secret": SECRET, "sender": "Acme", **options})
    assert "SMS_GATEWAYS['vo']" in str(info.value) and problem in str(info.value)


def test_sender_comes_from_otp_sms_sender(sandbox, settings, built_backends):
    settings.OTP_SMS_SENDER = "Acme Bank"
    entry = gateway_entry("vonage", sandbox)
    del entry["OPTIONS"]["sender"]
    built_backends("vonage", entry).send(message(), timeout=2)
    assert sandbox.last_request("vonage").parsed["from"] == "Acme Bank"


@pytest.mark.parametrize("sender", ["+4740003410", "004740003410", "4740003410"])
def test_a_sender_number_goes_without_a_leading_plus_or_00(sandbox, make_backend, sender):
    """Vonage takes a from number "in E.164 format, without a leading + or 00"
    (vonage-python-sdk); the sandbox refuses one with either (status 3)."""
    result = make_backend(sender=sender).send(message(), timeout=2)
    assert sandbox.last_request("vonage").parsed["from"] == "4740003410"
    assert result.status == "accepted" and sandbox.messages[-1]["text"] == message().text
