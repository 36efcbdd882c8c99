"""Signicat backend over real HTTP against the sandbox: wire format, token
caching and refresh, error mapping, and the rules checked before calling."""

import base64
import threading
import time

import pytest
from django.core.exceptions import ImproperlyConfigured

from django_sms_gateway.backends.base import SMSMessage
from django_sms_gateway.backends.signicat import SignicatBackend
from django_sms_gateway.dispatch import build_backend
from django_sms_gateway.exceptions import (
    GatewayAuthError,
    GatewayConnectionError,
    GatewayUnavailable,
    RecipientRefused,
    RequestRejected,
)
from sms_sandbox import CREDENTIALS

from .helpers import HTTP_FAULT_ERRORS, HTTP_FAULTS, NUMBER, closed_port_url, message_with, signicat_entry

VENDOR = "signicat"
CODE = "481516"


def message(text=None, recipient=NUMBER):
    return message_with(CODE, text, recipient)


def test_token_and_send_requests_match_the_vendor_document(sandbox, make_backend):
    backend = make_backend()
    result = backend.send(message(), timeout=2)

    token_request = sandbox.last_request("signicat-token")
    assert token_request.method == "POST"
    assert token_request.path == "/signicat/oidc/token"
    client = CREDENTIALS["signicat"]
    expected_basic = base64.b64encode(f"{client['client_id']}:{client['client_secret']}".encode()).decode()
    assert token_request.headers["Authorization"] == f"Basic {expected_basic}"
    assert token_request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert token_request.body == b"grant_type=client_credentials&scope=client.sms.send"

    send_request = sandbox.last_request("signicat")
    assert send_request.method == "POST"
    assert send_request.path == "/signicat/sms/messages"
    scheme, _, token = send_request.headers["Authorization"].partition(" ")
    assert scheme == "Bearer" and token
    assert send_request.headers["Content-Type"] == "application/json"
    assert send_request.headers["Accept"] == "application/json"
    assert send_request.parsed == {"sender": "Acme", "recipient": NUMBER, "message": message().text}

    assert result.status == "accepted" and result.segments == 1 and result.reference is None
    assert [(m["vendor"], m["recipient"]) for m in sandbox.messages] == [("signicat", NUMBER)]
    assert CODE in sandbox.messages[0]["text"]


def test_token_url_and_scope_options_are_used(sandbox, make_backend):
    backend = make_backend(token_url=sandbox.base_url("signicat") + "/oidc/token", scope="client.sms.send")
    backend.send(message(), timeout=2)
    assert sandbox.stats["signicat_token_requests"] == 1


def test_default_hosts_and_token_url():
    backend = SignicatBackend("s", {"client_id": "id", "client_secret": "secret", "sender": "Acme"})
    assert backend.base_url == "https://id.signicat.com"
    assert backend.token_url == "https://id.signicat.com/oidc/token"
    assert backend.config["scope"] == "client.sms.send"


def test_one_token_serves_many_messages(sandbox, make_backend):
    backend = make_backend()
    for _ in range(50):
        backend.send(message(), timeout=2)
    assert sandbox.stats["signicat_token_requests"] == 1
    assert len(sandbox.messages) == 50


def test_concurrent_first_sends_share_one_token_request(sandbox, make_backend):
    backend = make_backend()
    start = threading.Barrier(8, timeout=5)
    errors = []

    def send():
        try:
            start.wait()
            backend.send(message(), timeout=5)
        except Exception as exc:  # collected, asserted below
            errors.append(exc)

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    assert sandbox.stats["signicat_token_requests"] == 1
    assert len(sandbox.messages) == 8


def test_401_fetches_a_new_token_once_and_retries_once(sandbox, make_backend):
    backend = make_backend()
    backend.send(message(), timeout=2)
    sandbox.set_fault("signicat", "401", count=1)
    result = backend.send(message(), timeout=2)
    assert result.status == "accepted"
    assert sandbox.stats["signicat_token_requests"] == 2
    assert len(sandbox.messages) == 2


def test_a_second_401_is_an_auth_error_without_more_retries(sandbox, make_backend):
    backend = make_backend()
    sandbox.set_fault("signicat", "401")
    with pytest.raises(GatewayAuthError) as info:
        backend.send(message(), timeout=2)
    assert info.value.status_code == 401 and info.value.retry_next
    stats = sandbox.stats
    assert stats["signicat_token_requests"] == 2
    assert stats["signicat"]["requests"] - stats["signicat_token_requests"] == 2
    assert sandbox.messages == []


def test_token_is_renewed_shortly_before_it_expires(sandbox, make_backend):
    backend = make_backend()
    now = [1000.0]
    backend.clock = lambda: now[0]
    backend.send(message(), timeout=2)  # the sandbox's token lives 600 s
    now[0] += 569  # inside the 30 s safety margin? not yet
    backend.send(message(), timeout=2)
    assert sandbox.stats["signicat_token_requests"] == 1
    now[0] += 2  # 571 s after the fetch: within 30 s of expiry
    backend.send(message(), timeout=2)
    assert sandbox.stats["signicat_token_requests"] == 2


def test_expired_token_at_the_vendor_is_replaced():
    from sms_sandbox import Sandbox

    with Sandbox(signicat_token_ttl=1) as short_lived:
        backend = build_backend("signicat", signicat_entry(short_lived))
        backend.send(message(), timeout=2)
        # Our cache believes the token fresh (its clock stands still); the
        # vendor has expired it, answers 401, and we renew once.
        backend.clock = lambda: 0.0
        time.sleep(1.1)
        backend.send(message(), timeout=2)
        assert short_lived.stats["signicat_token_requests"] == 2
        assert len(short_lived.messages) == 2


@pytest.mark.parametrize(
    ("fault", "error", "status"),
    [
        *(fault for fault in HTTP_FAULTS if fault[0] != "401"),  # a 401 renews the token: above
        ("400", RequestRejected, 400),
        ("json-body", GatewayUnavailable, 200),  # only "an empty response with HTTP response code 200" is a yes
        ("204", GatewayUnavailable, 204),
    ],
)
def test_send_faults_map_to_our_errors(sandbox, make_backend, fault, error, status):
    backend = make_backend(timeout=0.5)
    sandbox.set_fault("signicat", fault)
    with pytest.raises(error) as info:
        backend.send(message(), timeout=0.5)
    err = info.value
    assert type(err) is error and err.retry_next and err.alias == "signicat"
    assert err.status_code == status and not err.not_sent
    assert CODE not in err.reason and "98765432" not in err.reason


def test_400_reason_lists_the_violations(sandbox, make_backend):
    backend = make_backend()
    sandbox.set_fault("signicat", "400")
    with pytest.raises(RequestRejected) as info:
        backend.send(message(), timeout=2)
    assert info.value.reason == "request rejected (HTTP 400): The sms property 'message' has to be set"


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        *HTTP_FAULT_ERRORS,
        ("400", GatewayAuthError),
    ],
)
def test_token_endpoint_faults_map_to_our_errors(sandbox, make_backend, fault, error):
    backend = make_backend()
    sandbox.set_fault("signicat-token", fault)
    with pytest.raises(error) as info:
        backend.send(message(), timeout=0.5)
    assert type(info.value) is error and info.value.retry_next
    assert sandbox.last_request("signicat") is None  # no SMS call without a token


def test_wrong_client_secret_is_an_auth_error_naming_the_oauth_error(make_backend):
    backend = make_backend(client_secret="wrong")
    with pytest.raises(GatewayAuthError) as info:
        backend.send(message(), timeout=2)
    assert info.value.reason == "token request refused (HTTP 401, invalid_client)"
    assert "wrong" not in str(info.value)


def test_token_without_the_sms_scope_is_refused_by_the_sms_api(make_backend):
    backend = make_backend(scope="openid")
    with pytest.raises(GatewayAuthError) as info:
        backend.send(message(), timeout=2)
    assert info.value.status_code == 403


def test_connection_refused_is_marked_not_sent():
    backend = SignicatBackend(
        "s", {"client_id": "id", "client_secret": "secret", "sender": "Acme", "base_url": closed_port_url()}
    )
    with pytest.raises(GatewayConnectionError) as info:
        backend.send(message(), timeout=1)
    assert info.value.not_sent


def test_message_over_one_segment_is_refused_before_calling(sandbox, make_backend):
    backend = make_backend()
    backend.send(message("x" * 160), timeout=2)
    backend.send(message("ç" * 70), timeout=2)  # UCS-2: 70 symbols fit
    with pytest.raises(RequestRejected) as info:
        backend.send(message("x" * 161), timeout=2)
    assert "2 SMS parts" in info.value.reason
    with pytest.raises(RequestRejected):
        backend.send(message("ç" * 71), timeout=2)
    with pytest.raises(RequestRejected):
        backend.send(message(""), timeout=2)
    assert len(sandbox.messages) == 2
    assert sandbox.stats["signicat"]["requests"] == 3  # one token + two messages


def test_recipient_that_is_not_e164_is_refused_before_calling(sandbox, make_backend):
    backend = make_backend()
    with pytest.raises(RecipientRefused):
        backend.send(message(recipient="4798765432"), timeout=2)
    assert sandbox.stats["signicat"]["requests"] == 0


@pytest.mark.parametrize("sender", ["Acme", "Acme Bank 1", "+4740003410", "123456789012345", "A"])
def test_valid_senders(sender):
    SignicatBackend("s", {"client_id": "id", "client_secret": "x", "sender": sender})


@pytest.mark.parametrize(
    "sender", ["Acme Bank 12", "Acme-Bank", "Åsa", "1234567890123456", "+", "", "   ", 4740003410, "Acme\n"]
)
def test_invalid_sender_is_a_configuration_error_naming_gateway_and_option(sender):
    with pytest.raises(ImproperlyConfigured) as info:
        SignicatBackend("sig", {"client_id": "id", "client_secret": "x", "sender": sender})
    assert "SMS_GATEWAYS['sig']" in str(info.value) and "'sender'" in str(info.value)


def test_sender_is_required():
    with pytest.raises(ImproperlyConfigured, match="'sender' is required"):
        SignicatBackend("sig", {"client_id": "id", "client_secret": "x"})


def test_sender_from_settings_is_checked_when_the_gateway_is_built(settings):
    settings.OTP_SMS_SENDER = "Too long sender"
    with pytest.raises(ImproperlyConfigured, match="'sender'"):
        build_backend("sig", {"BACKEND": "django_sms_gateway.backends.signicat.SignicatBackend",
                              "OPTIONS": {"client_id": "id", "client_secret": "x"}})


def test_the_sender_is_checked_again_at_send_time(sandbox, make_backend):
    backend = make_backend()
    backend.config["sender"] = "Not/valid"  # as a subclass that picks its sender after the options' check would
    message = SMSMessage(recipient=NUMBER, text="Code 123456", code="123456")
    with pytest.raises(RequestRejected, match="sender"):
        backend.send(message, timeout=2)
    assert sandbox.stats["signicat"]["requests"] == 0


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"client_secret": "x"}, "'client_id' is required"),
        ({"client_id": "id"}, "'client_secret' is required"),
        ({"client_id": "", "client_secret": "x"}, "'client_id' is required"),
        ({"client_id": "a:b", "client_secret": "x"}, "'client_id' may not contain ':'"),
        ({"client_id": "id", "client_secret": "x", "token_url": "ftp://x"}, "'token_url'"),
        ({"client_id": "id", "client_secret": "x", "scope": " "}, "'scope'"),
        ({"client_id": "id", "client_secret": "x", "api_key": "k"}, "unknown option 'api_key'"),
        ({"client_id": "id", "client_secret": "x", "base_url": "id.signicat.com"}, "'base_url'"),
    ],
)
def test_option_errors_name_gateway_and_option(options, problem):
    with pytest.raises(ImproperlyConfigured) as info:
        SignicatBackend("sig", {"sender": "Acme", **options})
    assert "SMS_GATEWAYS['sig']" in str(info.value) and problem in str(info.value)


def test_template_too_long_for_one_part_fails_the_system_check(sandbox, settings):
    from django_sms_gateway.checks import check_gateways

    settings.SMS_GATEWAYS = {"signicat": signicat_entry(sandbox)}
    settings.OTP_SMS_MESSAGE = "Your code is {token}. " + "x" * 150
    assert [m.id for m in check_gateways()] == ["sms_gateway.E003"]


def test_credential_check_fetches_a_token_and_sends_nothing(sandbox, make_backend):
    backend = make_backend()
    check = backend.check_credentials(timeout=2)
    assert check.outcome == "accepted" and "client.sms.send" in check.detail
    assert sandbox.last_request("signicat-token") is not None and sandbox.last_request("signicat") is None
    backend.send(message(), timeout=2)
    assert sandbox.stats["signicat_token_requests"] == 1  # the checked token is the one used


@pytest.mark.parametrize(("options", "fault", "outcome"), [
    ({"client_secret": "wrong"}, None, "refused"),
    ({}, "400", "refused"),
    ({}, "500", "unchecked"),
    ({}, "refuse", "unchecked"),
])
def test_credential_check_refused_or_unchecked(sandbox, make_backend, options, fault, outcome):
    if fault:
        sandbox.set_fault("signicat-token", fault)
    check = make_backend(**options).check_credentials(timeout=1)
    assert check.outcome == outcome
    assert "wrong" not in check.detail and CREDENTIALS["signicat"]["client_secret"] not in check.detail
