"""Infobip backend over real HTTP against the sandbox: the documented v3
request, only a PENDING/ACCEPTED message id counts as sent, and Infobip's
error and rejection answers."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from django_sms_gateway.backends.infobip import InfobipBackend
from django_sms_gateway.dispatch import build_message
from django_sms_gateway.exceptions import GatewayAuthError, GatewayRateLimited, GatewayUnavailable, RequestRejected
from sms_sandbox import CREDENTIALS

from .helpers import NUMBER, FixedAnswer

VENDOR = "infobip"
CODE = "314159"


def test_send_request_matches_the_quickstart(sandbox, make_backend):
    result = make_backend().send(build_message(NUMBER, CODE, validity=300), timeout=2)

    request = sandbox.last_request("infobip")
    assert request.method == "POST" and request.path == "/infobip/sms/3/messages"
    assert request.headers["Authorization"] == f"App {CREDENTIALS['infobip']['api_key']}"
    (sent,) = request.parsed["messages"]
    assert sent["sender"] == "Acme"
    assert sent["destinations"] == [{"to": NUMBER.lstrip("+")}]
    assert CODE in sent["content"]["text"]
    assert sent["options"] == {"validityPeriod": {"amount": 300, "timeUnit": "SECONDS"}}
    assert result.reference and result.status == "PENDING_ACCEPTED" and result.segments == 1
    assert [(m["vendor"], m["recipient"]) for m in sandbox.messages] == [("infobip", NUMBER)]


def test_e164_number_format_option(sandbox, make_backend):
    make_backend(number_format="e164").send(build_message(NUMBER, CODE), timeout=2)
    assert sandbox.last_request("infobip").parsed["messages"][0]["destinations"] == [{"to": NUMBER}]


def test_base_url_and_api_key_are_required():
    with pytest.raises(ImproperlyConfigured, match="'base_url' is required"):
        InfobipBackend("i", {"api_key": "k", "sender": "Acme"})
    with pytest.raises(ImproperlyConfigured, match="'api_key' is required"):
        InfobipBackend("i", {"base_url": "https://x.api.infobip.com", "sender": "Acme"})


@pytest.mark.parametrize("answer", [
    {},
    {"messages": []},
    {"messages": [{"status": {"groupName": "PENDING"}}]},  # no message id
    {"messages": [{"messageId": "m1", "status": {"groupName": "UNDELIVERABLE", "name": "UNDELIVERABLE_X"}}]},
])
def test_only_a_pending_or_accepted_message_id_is_a_yes(make_backend, answer):
    with FixedAnswer(200, answer) as vendor:
        with pytest.raises((GatewayUnavailable, RequestRejected)):
            make_backend(base_url=vendor.url).send(build_message(NUMBER, CODE), timeout=2)


def test_a_rejected_destination_is_refused_and_not_recorded(sandbox, make_backend):
    with pytest.raises(RequestRejected, match="recipient refused \\(REJECTED_DESTINATION\\)") as refused:
        make_backend().send(build_message("+15005550006", CODE), timeout=2)
    assert not refused.value.counts_against_vendor  # a number's refusal never opens Infobip's circuit
    assert sandbox.messages == []


def test_not_enough_credits_is_a_quota_failure(make_backend):
    answer = {"messages": [{"messageId": "m1", "status": {"groupId": 5, "groupName": "REJECTED",
                                                          "name": "REJECTED_NOT_ENOUGH_CREDITS"}}]}
    with FixedAnswer(200, answer) as vendor, pytest.raises(GatewayRateLimited):
        make_backend(base_url=vendor.url).send(build_message(NUMBER, CODE), timeout=2)


@pytest.mark.parametrize(("fault", "error", "reason"), [
    ("401", GatewayAuthError, "credentials refused"),
    ("400", RequestRejected, "request rejected \\(HTTP 400\\)$"),
    ("429", GatewayRateLimited, "rate limited"),
    ("500", GatewayUnavailable, "HTTP 500"),
])
def test_infobip_error_answers_map_to_our_errors(sandbox, make_backend, fault, error, reason):
    sandbox.set_fault("infobip", fault)
    with pytest.raises(error, match=reason) as failed:
        make_backend().send(build_message(NUMBER, CODE), timeout=2)
    assert "blank" not in str(failed.value)  # the vendor's own text stays out of our reasons


def test_a_wrong_key_is_refused(make_backend):
    with pytest.raises(GatewayAuthError):
        make_backend(api_key="wrong").send(build_message(NUMBER, CODE), timeout=2)


def test_credential_check_reads_the_balance(sandbox, make_backend):
    assert make_backend().check_credentials(timeout=2).outcome == "accepted"
    assert make_backend(api_key="wrong").check_credentials(timeout=2).outcome == "refused"
    assert sandbox.messages == []
