"""ZignSec backend over real HTTP against the sandbox: wire format, message
parts, session ids on delivery records, polling and error mapping."""

import time

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from django_sms_gateway.backends.zignsec import SessionStatus, ZignSecBackend
from django_sms_gateway.exceptions import (
    GatewayAuthError,
    GatewayConnectionError,
    GatewayUnavailable,
    RecipientRefused,
    RequestRejected,
)
from django_sms_gateway.models import DeliveryRecord
from django_sms_gateway.webhooks.zignsec import poll_session, refresh_delivery
from sms_sandbox import CREDENTIALS

from .helpers import HTTP_FAULTS, LOCMEM, NUMBER, SENDER, closed_port_url, message_with, zignsec_entry

VENDOR = "zignsec"
CODE = "271828"
API_KEY = CREDENTIALS["zignsec"]["api_key"]


def message(text=None, recipient=NUMBER):
    return message_with(CODE, text, recipient)


def wait_for(predicate, seconds=5.0):
    """Poll ``predicate`` until true (bounded): the sandbox delivers after a delay."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def test_session_request_matches_the_vendor_document(sandbox, make_backend):
    backend = make_backend()
    result = backend.send(message(), timeout=2)

    request = sandbox.last_request("zignsec")
    assert request.method == "POST"
    assert request.path == "/zignsec/core/api/sessions/two_factor_auth/sms"
    assert request.headers["Authorization"] == API_KEY  # the raw key, no scheme word
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Accept"] == "application/json"
    body = request.parsed
    assert set(body) == {"metadata", "relay_state"}
    assert body["metadata"] == {"from": SENDER, "to": NUMBER, "message": message().text, "max_message_parts": 1}
    relay_state = body["relay_state"]
    assert isinstance(relay_state, str) and relay_state.startswith("zignsec.")
    assert CODE not in relay_state and "98765432" not in relay_state

    assert result.status == "pending" and result.segments == 1
    assert len(result.reference) == 36  # the sandbox's UUID session id
    assert poll_session(backend, result.reference).session_id == result.reference


def test_relay_state_differs_per_message(sandbox, make_backend):
    backend = make_backend()
    backend.send(message(), timeout=2)
    first = sandbox.last_request("zignsec").parsed["relay_state"]
    backend.send(message(), timeout=2)
    assert sandbox.last_request("zignsec").parsed["relay_state"] != first


def test_webhook_url_is_sent_as_webhook(sandbox, make_backend):
    backend = make_backend(webhook_url="https://example.com/sms/webhooks/zignsec/zignsec/",
                          webhook_secret="s3cret")
    backend.send(message(), timeout=2)
    assert sandbox.last_request("zignsec").parsed["webhook"] == "https://example.com/sms/webhooks/zignsec/zignsec/"
    assert sandbox.stats["zignsec_webhooks"]["sent"] == 0  # the sandbox never calls non-loopback hosts


def test_max_message_parts_sends_the_configured_maximum(sandbox, make_backend):
    backend = make_backend(max_message_parts=3)
    assert backend.max_segments == 3
    for text, parts in (("x" * 200, 2), ("€" * 80, 1), ("ç" * 140, 3)):  # GSM-7 153/part, € counts 2, UCS-2 67/part
        result = backend.send(message(text), timeout=2)
        # The documented meaning: "the maximum number of message parts allowed".
        assert sandbox.last_request("zignsec").parsed["metadata"]["max_message_parts"] == 3
        assert result.segments == parts  # our own count goes on the delivery record


def test_zs_product_key_scheme_sends_the_key_in_its_own_header(sandbox, make_backend):
    backend = make_backend(auth_scheme="zs-product-key")
    session_id = backend.send(message(), timeout=2).reference
    request = sandbox.last_request("zignsec")
    assert request.headers["Zs-Product-Key"] == API_KEY and "Authorization" not in request.headers
    poll_session(backend, session_id)
    assert sandbox.last_request("zignsec").headers["Zs-Product-Key"] == API_KEY


def test_unknown_auth_scheme_is_a_configuration_error():
    with pytest.raises(ImproperlyConfigured, match="'auth_scheme' must be one of 'authorization', 'zs-product-key'"):
        ZignSecBackend("zs", {"api_key": "k", "sender": SENDER, "auth_scheme": "bearer"})


def test_message_over_the_configured_parts_is_refused_before_calling(sandbox, make_backend):
    backend = make_backend()  # default max_message_parts=1
    with pytest.raises(RequestRejected) as info:
        backend.send(message("x" * 161), timeout=2)
    assert "2 SMS parts" in info.value.reason and "max_message_parts is 1" in info.value.reason
    with pytest.raises(RequestRejected):
        make_backend(max_message_parts=2).send(message("ç" * 135), timeout=2)
    assert sandbox.stats["zignsec"]["requests"] == 0


def test_recipient_that_is_not_e164_is_refused_before_calling(sandbox, make_backend):
    with pytest.raises(RecipientRefused):
        make_backend().send(message(recipient="0047 98765432"), timeout=2)
    assert sandbox.stats["zignsec"]["requests"] == 0


@pytest.mark.django_db
def test_session_id_is_the_delivery_record_reference_and_polling_updates_it(sandbox, device):
    with override_settings(SMS_GATEWAYS={"zignsec": zignsec_entry(sandbox)}):
        device.generate_challenge()
        record = DeliveryRecord.objects.get()
        session_id = record.reference
        assert record.gateway == "zignsec" and record.outcome == "sent"
        assert record.status == "pending" and record.segments == 1 and len(session_id) == 36
        assert record.number_masked == "+47******32"

        assert wait_for(lambda: poll_session("zignsec", session_id).final)
        state = refresh_delivery(record)
    assert state == SessionStatus(session_id, "delivered", 1)
    assert record.status == "delivered" and record.segments == 1
    record.refresh_from_db()
    assert record.status == "delivered"


def test_poll_session_reads_the_documented_answer(sandbox, make_backend):
    backend = make_backend()
    session_id = backend.send(message(), timeout=2).reference
    first = poll_session(backend, session_id, timeout=2)
    assert first.session_id == session_id and first.status in ("pending", "delivered")
    request = sandbox.last_request("zignsec")
    assert request.method == "GET" and request.path == f"/zignsec/core/api/sessions/{session_id}"
    assert request.headers["Authorization"] == API_KEY
    assert wait_for(lambda: poll_session(backend, session_id).status == "delivered")
    assert poll_session(backend, session_id).segments == 1


def test_poll_session_errors(sandbox, make_backend, settings):
    backend = make_backend()
    with pytest.raises(RequestRejected, match="session not found"):
        poll_session(backend, "3b7e1f7c-0000-4000-8000-000000000000")
    with pytest.raises(ValueError):
        poll_session(backend, "../../etc/passwd")
    settings.SMS_GATEWAYS = {"locmem": {"BACKEND": "django_sms_gateway.backends.locmem.LocmemBackend"}}
    with pytest.raises(TypeError, match="not a ZignSec gateway"):
        poll_session("locmem", "abc")
    with pytest.raises(KeyError):
        poll_session("nope", "abc")
    sandbox.set_fault("zignsec", "malformed")
    with pytest.raises(GatewayUnavailable):
        poll_session(backend, "abc")


def test_unknown_status_words_are_kept_raw_and_not_final():
    assert SessionStatus("s", "queued_for_retry").final is False
    assert SessionStatus("s", "pending").final is False
    assert SessionStatus("s", "delivered").final is True
    assert SessionStatus("s", "Delivered").final is True  # status words compare without case


def test_final_statuses_is_an_option():
    backend = ZignSecBackend("z", {"api_key": "k", "sender": SENDER, "final_statuses": ["Delivered", "FAILED"]})
    assert backend.final_statuses == frozenset({"Delivered", "FAILED"})
    assert SessionStatus("s", "failed", final_statuses=backend.final_statuses).final is True
    for bad in ("delivered", [], [""], [3]):
        with pytest.raises(ImproperlyConfigured, match="'final_statuses'"):
            ZignSecBackend("z", {"api_key": "k", "sender": SENDER, "final_statuses": bad})


def test_a_session_answer_without_an_accepting_status_is_not_a_yes(sandbox, failures, settings, device, sms_outbox):
    """A 2xx that is not the documented yes is not trusted: the next gateway sends."""
    sandbox.set_fault("zignsec", "no-status")
    settings.SMS_GATEWAYS = {"zignsec": zignsec_entry(sandbox), "locmem": {"BACKEND": LOCMEM}}
    device.generate_challenge()
    [failure] = failures
    assert isinstance(failure, GatewayUnavailable) and "accepted" in failure.reason
    assert [m.gateway for m in sms_outbox] == ["locmem"]


def test_credential_check_tells_accepted_from_refused(sandbox, make_backend):
    accepted = make_backend().check_credentials(timeout=2)
    assert accepted.outcome == "accepted"
    request = sandbox.last_request("zignsec")
    assert request.method == "GET" and request.path.startswith("/zignsec/core/api/sessions/")
    refused = make_backend(api_key="not-the-key").check_credentials(timeout=2)
    assert refused.outcome == "refused" and "401" in refused.detail and "not-the-key" not in refused.detail
    sandbox.set_fault("zignsec", "500")
    assert make_backend().check_credentials(timeout=2).outcome == "unchecked"
    assert sandbox.messages == []


@pytest.mark.django_db
def test_refresh_delivery_needs_a_reference():
    record = DeliveryRecord.objects.create(gateway="zignsec", outcome="failed")
    with pytest.raises(ValueError, match="no vendor reference"):
        refresh_delivery(record)


@pytest.mark.parametrize(
    ("fault", "error", "status"),
    [
        *HTTP_FAULTS,
        ("400", RequestRejected, 400),
        ("404", RequestRejected, 404),
        ("no-status", GatewayUnavailable, 200),
        ("202", GatewayUnavailable, 202),
    ],
)
def test_faults_map_to_our_errors(sandbox, make_backend, fault, error, status):
    backend = make_backend()
    sandbox.set_fault("zignsec", fault)
    with pytest.raises(error) as info:
        backend.send(message(), timeout=0.5)
    err = info.value
    assert type(err) is error and err.retry_next and err.alias == "zignsec"
    assert err.status_code == status and not err.not_sent
    assert CODE not in err.reason and "98765432" not in err.reason and API_KEY not in err.reason


def test_400_reason_carries_the_vendor_description(sandbox, make_backend):
    sandbox.set_fault("zignsec", "400")
    with pytest.raises(RequestRejected) as info:
        make_backend().send(message(), timeout=2)
    assert info.value.reason == "request rejected (HTTP 400): the request is malformed"


def test_wrong_api_key_is_an_auth_error(make_backend):
    with pytest.raises(GatewayAuthError):
        make_backend(api_key="not-the-key").send(message(), timeout=2)


def test_connection_refused_is_marked_not_sent():
    backend = ZignSecBackend("z", {"api_key": "k", "sender": SENDER, "base_url": closed_port_url()})
    with pytest.raises(GatewayConnectionError) as info:
        backend.send(message(), timeout=1)
    assert info.value.not_sent


def test_defaults():
    backend = ZignSecBackend("z", {"api_key": "k", "sender": SENDER})
    assert backend.base_url == "https://gateway.zignsec.com"
    assert backend.max_segments == 1 and backend.config["webhook_url"] is None


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({}, "'api_key' is required"),
        ({"api_key": ""}, "'api_key' is required"),
        ({"api_key": "k", "max_message_parts": 0}, "'max_message_parts'"),
        ({"api_key": "k", "max_message_parts": "2"}, "'max_message_parts'"),
        ({"api_key": "k", "max_message_parts": True}, "'max_message_parts'"),
        ({"api_key": "k", "webhook_url": "/relative/"}, "'webhook_url'"),
        ({"api_key": "k", "webhook_url": "https://example.com/hook/"}, "needs 'webhook_secret'"),
        ({"api_key": "k", "webhook_secret": ""}, "'webhook_secret'"),
        ({"api_key": "k", "sender": "Too long sender"}, "'sender'"),
        ({"api_key": "k", "client_id": "x"}, "unknown option 'client_id'"),
    ],
)
def test_option_errors_name_gateway_and_option(options, problem):
    with pytest.raises(ImproperlyConfigured) as info:
        ZignSecBackend("zs", {"sender": SENDER, **options})
    assert "SMS_GATEWAYS['zs']" in str(info.value) and problem in str(info.value)


def test_sender_is_required():
    with pytest.raises(ImproperlyConfigured, match="'sender' is required"):
        ZignSecBackend("zs", {"api_key": "k"})


def test_system_check_uses_max_message_parts(sandbox, settings):
    from django_sms_gateway.checks import check_gateways

    settings.OTP_SMS_MESSAGE = "Your code is {token}. " + "x" * 150
    settings.SMS_GATEWAYS = {"zignsec": zignsec_entry(sandbox)}
    assert [m.id for m in check_gateways()] == ["sms_gateway.E003"]
    settings.SMS_GATEWAYS = {"zignsec": zignsec_entry(sandbox, max_message_parts=2)}
    assert check_gateways() == []


def test_a_final_status_word_in_the_create_answer_is_not_a_yes(sandbox, make_backend, monkeypatch):
    """``final_statuses`` may hold failure words: only ``accepted_statuses`` say yes."""
    backend = make_backend(final_statuses=["delivered", "failed"])
    monkeypatch.setattr(type(backend), "accepted_statuses", frozenset({"queued"}))
    with pytest.raises(GatewayUnavailable, match="accepted"):
        backend.send(message(), timeout=2)  # the sandbox answers "pending"
    monkeypatch.setattr(type(backend), "accepted_statuses", frozenset({"PENDING"}))
    assert backend.send(message(), timeout=2).status == "pending"
