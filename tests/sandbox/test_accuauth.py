"""AccuAuth: send_sms_otp read as form fields (a JSON body has none), templates and content rules."""

from __future__ import annotations

import re

import pytest
import requests

from .calls import ACCUAUTH, ACCUAUTH_HEADERS, TIMEOUT, accuauth_send


def assert_error(response, http_status, status):
    assert response.status_code == http_status
    body = response.json()
    assert set(body) == {"status", "reason", "request_id"}
    assert body["status"] == status
    assert body["reason"]
    assert re.fullmatch(r"TID[0-9a-f]{32}", body["request_id"])


def test_send_renders_the_default_template_and_charges_segments(sandbox):
    response = accuauth_send(sandbox)

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "OK"
    assert body["charge_info"] == {"charge": 1}
    assert re.fullmatch(r"TID[0-9a-f]{32}", body["request_id"])
    [message] = sandbox.messages
    assert message["vendor"] == "accuauth"
    assert message["recipient"] == "+6281234567890"
    assert message["text"] == "Your verification code is 123456. It expires in 5 minutes."
    recorded = sandbox.last_request("accuauth")
    assert recorded.headers["X-DF-API-ID"] == ACCUAUTH["api_id"]
    assert recorded.parsed == {"phone_number": "+6281234567890", "content": "code:123456,expire_at:5"}


def test_a_json_body_has_no_fields_as_on_a_form_reading_server(sandbox):
    """The vendor page's own error example is what such a server answers to JSON."""
    response = accuauth_send(sandbox, form=False)

    assert_error(response, 400, "INVALID_ARGUMENT")
    assert response.json()["reason"] == "argument 'phone_number': not found"
    assert sandbox.messages == []


@pytest.mark.parametrize("phone", ["6281234567890", "081234567890"])
def test_digits_only_and_national_phone_are_accepted(sandbox, phone):
    response = accuauth_send(sandbox, {"phone_number": phone, "template_id": "otp_short", "content": "code:9876"})

    assert response.status_code == 200
    [message] = sandbox.messages
    assert message["recipient"] == "+6281234567890"
    assert message["text"] == "Code: 9876"
    assert sandbox.last_request("accuauth").parsed["template_id"] == "otp_short"


def test_charge_counts_the_segments_of_the_rendered_text(sandbox):
    response = accuauth_send(sandbox, {"phone_number": "+6281234567890", "template_id": "otp_short",
                                       "content": "code:" + "x" * 200})

    assert response.json()["charge_info"] == {"charge": 2}


@pytest.mark.parametrize(
    "headers",
    [{}, {"X-DF-API-ID": ACCUAUTH["api_id"]}, {"X-DF-API-ID": ACCUAUTH["api_id"], "X-DF-API-SECRET": "no"},
     {"X-DF-API-ID": "no", "X-DF-API-SECRET": ACCUAUTH["api_secret"]}],
)
def test_wrong_credentials_are_unauthorized(sandbox, headers):
    assert_error(accuauth_send(sandbox, headers=headers), 401, "UNAUTHORIZED")
    assert sandbox.messages == []


def test_missing_phone_number_is_the_documented_error(sandbox):
    response = accuauth_send(sandbox, {"content": "code:1,expire_at:5"})

    assert_error(response, 400, "INVALID_ARGUMENT")
    assert response.json()["reason"] == "argument 'phone_number': not found"


@pytest.mark.parametrize(
    "fields",
    [
        {"phone_number": "+62 812", "content": "code:1,expire_at:5"},
        {"phone_number": "00812345678", "content": "code:1,expire_at:5"},
        {"phone_number": "+62812abc567", "content": "code:1,expire_at:5"},
        {"phone_number": "+6281234567890", "template_id": "nope", "content": "code:1"},
        {"phone_number": "+6281234567890", "content": "code=1"},
        {"phone_number": "+6281234567890", "content": "code:1,,expire_at:5"},
        {"phone_number": "+6281234567890", "content": "code:"},
        {"phone_number": "+6281234567890", "content": "code:1,code:2,expire_at:5"},
        {"phone_number": "+6281234567890", "content": "expire_at:5"},
        {"phone_number": "+6281234567890"},
        {"phone_number": "+6281234567890", "content": "code:1"},
    ],
    ids=["spaces", "double-zero", "letters", "unknown-template", "no-colon", "empty-pair", "empty-value",
         "repeated", "no-code", "no-content", "template-variable-missing"],
)
def test_invalid_arguments(sandbox, fields):
    assert_error(accuauth_send(sandbox, fields), 400, "INVALID_ARGUMENT")
    assert sandbox.messages == []


def test_body_of_another_type_is_an_invalid_argument(sandbox):
    response = requests.post(sandbox.base_url("accuauth") + "/data/send_sms_otp", data=b"phone_number",
                             headers={**ACCUAUTH_HEADERS, "Content-Type": "text/plain"}, timeout=TIMEOUT)

    assert_error(response, 400, "INVALID_ARGUMENT")


def test_unknown_api_is_not_found(sandbox):
    response = requests.post(sandbox.base_url("accuauth") + "/data/nope", json={}, headers=ACCUAUTH_HEADERS,
                             timeout=TIMEOUT)

    assert_error(response, 404, "NOT_FOUND")
