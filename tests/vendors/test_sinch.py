"""Sinch backend over real HTTP against the sandbox: the documented request,
only a created, uncanceled batch counts as sent, and Sinch's error answers."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from django_sms_gateway.backends.sinch import SinchBackend
from django_sms_gateway.dispatch import build_message
from django_sms_gateway.exceptions import (
    GatewayAuthError,
    GatewayRateLimited,
    GatewayUnavailable,
    RequestRejected,
)
from sms_sandbox import CREDENTIALS

from .helpers import NUMBER, FixedAnswer

VENDOR = "sinch"
CODE = "271828"


def test_batch_request_matches_the_api_reference(sandbox, make_backend):
    result = make_backend().send(build_message(NUMBER, CODE), timeout=2)

    request = sandbox.last_request("sinch")
    assert request.method == "POST"
    assert request.path == f"/sinch/xms/v1/{CREDENTIALS['sinch']['service_plan_id']}/batches"
    assert request.headers["Authorization"] == f"Bearer {CREDENTIALS['sinch']['api_token']}"
    body = request.parsed
    assert body["from"] == "Acme" and body["to"] == [NUMBER] and CODE in body["body"]
    assert body["max_number_of_message_parts"] == 1
    assert body["expire_at"].endswith("Z")
    assert result.reference and result.status == "accepted" and result.segments == 1
    assert [(m["vendor"], m["recipient"]) for m in sandbox.messages] == [("sinch", NUMBER)]


def test_region_picks_the_regional_host():
    options = {"service_plan_id": "plan1", "api_token": "t", "sender": "Acme"}
    assert SinchBackend("s", options).base_url == "https://us.sms.api.sinch.com"
    assert SinchBackend("s", {**options, "region": "eu"}).base_url == "https://eu.sms.api.sinch.com"
    with pytest.raises(ImproperlyConfigured, match="'region' must be one of"):
        SinchBackend("s", {**options, "region": "mars"})


@pytest.mark.parametrize("answer", [
    {},  # a 2xx without the batch
    {"id": "01FC66621XXXXX119Z8PMV1QPQ", "canceled": True},
    {"id": "", "canceled": False},
])
def test_only_a_created_uncanceled_batch_is_a_yes(make_backend, answer):
    for status in (200, 201):
        with FixedAnswer(status, answer) as vendor:
            with pytest.raises(GatewayUnavailable, match="unexpected answer"):
                make_backend(base_url=vendor.url).send(build_message(NUMBER, CODE), timeout=2)


def test_an_illegal_number_type_is_refused_in_sinchs_region_only(sandbox, make_backend):
    """A number type Sinch may not text "for a chosen region": another vendor
    may, so the next gateway is tried; the breaker is not charged."""
    with pytest.raises(RequestRejected, match="illegal_number_type") as refused:
        make_backend().send(build_message("+15005550006", CODE), timeout=2)
    assert refused.value.status_code == 403 and CODE not in str(refused.value)
    assert refused.value.retry_next and not refused.value.counts_against_vendor
    assert sandbox.messages == []


@pytest.mark.parametrize(("fault", "error", "reason"), [
    ("401", GatewayAuthError, "credentials refused"),
    ("403", GatewayAuthError, "blocked_account"),
    ("400", RequestRejected, "syntax_invalid_json"),
    ("429", GatewayRateLimited, "rate limited"),
    ("500", GatewayUnavailable, "HTTP 500"),
])
def test_sinch_error_answers_map_to_our_errors(sandbox, make_backend, fault, error, reason):
    sandbox.set_fault("sinch", fault)
    with pytest.raises(error, match=reason):
        make_backend().send(build_message(NUMBER, CODE), timeout=2)


def test_a_wrong_token_is_refused(make_backend):
    with pytest.raises(GatewayAuthError):
        make_backend(api_token="wrong").send(build_message(NUMBER, CODE), timeout=2)


def test_sender_is_required():
    with pytest.raises(ImproperlyConfigured, match="'sender' is required"):
        SinchBackend("s", {"service_plan_id": "plan1", "api_token": "t"})


def test_credential_check_tells_accepted_from_refused(sandbox, make_backend):
    assert make_backend().check_credentials(timeout=2).outcome == "accepted"
    assert make_backend(api_token="wrong").check_credentials(timeout=2).outcome == "refused"
    assert sandbox.messages == []
