"""Twilio in the sandbox: Messages, Account and Verify answer as Twilio
documents, the test-credential magic numbers included."""

from __future__ import annotations

import base64
import hmac
import re
import time

import pytest
import requests

from sms_sandbox.base import Headers, Request
from sms_sandbox.twilio import (
    API_KEY,
    MAGIC_FROM,
    MAGIC_TO,
    MESSAGING_SERVICE_SID,
    VERIFY_SERVICE_SID,
    Twilio,
    sign,
)

from .calls import TIMEOUT, TWILIO, TWILIO_AUTH, twilio_send, twilio_verify

NUMBER = "+4798765432"


def test_send_answers_201_with_the_message_resource(sandbox):
    response = twilio_send(sandbox)

    assert response.status_code == 201
    body = response.json()
    assert re.fullmatch(r"SM[0-9a-f]{32}", body["sid"])
    assert (body["status"], body["num_segments"], body["to"], body["from"]) == ("queued", "1", NUMBER, "+15005550006")
    assert body["error_code"] is None and body["direction"] == "outbound-api"
    assert sandbox.messages[-1]["recipient"] == NUMBER and sandbox.messages[-1]["vendor"] == "twilio"


def test_messaging_service_answers_accepted_with_unknown_segments(sandbox):
    body = twilio_send(sandbox, {"To": NUMBER, "MessagingServiceSid": MESSAGING_SERVICE_SID, "Body": "x"}).json()
    assert (body["status"], body["num_segments"], body["from"]) == ("accepted", "0", None)


@pytest.mark.parametrize("number", list(MAGIC_TO))
def test_magic_to_numbers_answer_their_error(sandbox, number):
    response = twilio_send(sandbox, {"To": number, "From": "+15005550006", "Body": "x"})
    assert response.status_code == 400
    assert response.json()["code"] == MAGIC_TO[number][0]
    assert sandbox.messages == []


@pytest.mark.parametrize("sender", list(MAGIC_FROM))
def test_magic_from_numbers_answer_their_error(sandbox, sender):
    response = twilio_send(sandbox, {"To": NUMBER, "From": sender, "Body": "x"})
    assert (response.status_code, response.json()["code"]) == (400, MAGIC_FROM[sender][0])


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"From": "+15005550006", "Body": "x"}, 21604),
        ({"To": NUMBER, "Body": "x"}, 21603),
        ({"To": NUMBER, "From": "+15005550006"}, 21602),
        ({"To": NUMBER, "From": "+15005550006", "Body": "x" * 1601}, 21617),
        ({"To": NUMBER, "MessagingServiceSid": "MG" + "1" * 32, "Body": "x"}, 21705),
        ({"To": "+15551234567", "From": "Acme", "Body": "x"}, 21612),  # no alphanumeric senders to +1
        ({"To": "4798765432", "From": "+15005550006", "Body": "x"}, 21211),
    ],
)
def test_invalid_requests_answer_twilio_errors(sandbox, fields, code):
    response = twilio_send(sandbox, fields)
    body = response.json()
    assert (response.status_code, body["code"], body["status"]) == (400, code, 400)
    assert body["more_info"] == f"https://www.twilio.com/docs/errors/{code}"


@pytest.mark.parametrize("auth", [(TWILIO["account_sid"], "wrong"), ("AC" + "1" * 32, TWILIO["auth_token"])])
def test_wrong_credentials_are_20003(sandbox, auth):
    response = twilio_send(sandbox, auth=auth)
    assert (response.status_code, response.json()["code"]) == (401, 20003)


def test_another_account_in_the_path_is_refused(sandbox):
    assert twilio_send(sandbox, account="AC" + "1" * 32).status_code == 401


def test_account_resource(sandbox):
    response = requests.get(f"{sandbox.base_url('twilio')}/2010-04-01/Accounts/{TWILIO['account_sid']}.json",
                            auth=TWILIO_AUTH, timeout=TIMEOUT)
    assert response.status_code == 200 and response.json()["status"] == "active"
    assert "auth_token" not in response.json()


def sent_code(sandbox):
    return re.search(r"code is: (\d{6})", sandbox.messages[-1]["text"]).group(1)


def test_verification_lifecycle(sandbox):
    started = twilio_verify(sandbox)
    assert started.status_code == 201
    assert (started.json()["status"], started.json()["valid"]) == ("pending", False)
    code = sent_code(sandbox)

    wrong = twilio_verify(sandbox, "VerificationCheck", {"To": NUMBER, "Code": "000000" if code != "000000" else "1"})
    assert (wrong.status_code, wrong.json()["status"], wrong.json()["valid"]) == (200, "pending", False)
    right = twilio_verify(sandbox, "VerificationCheck", {"To": NUMBER, "Code": code})
    assert (right.status_code, right.json()["status"], right.json()["valid"]) == (200, "approved", True)
    again = twilio_verify(sandbox, "VerificationCheck", {"To": NUMBER, "Code": code})
    assert (again.status_code, again.json()["code"]) == (404, 20404)


def test_resend_while_pending_sends_the_same_code_five_times_at_most(sandbox):
    twilio_verify(sandbox)
    first = sent_code(sandbox)
    for _ in range(4):
        assert twilio_verify(sandbox).status_code == 201
        assert sent_code(sandbox) == first
    response = twilio_verify(sandbox)
    assert (response.status_code, response.json()["code"]) == (429, 60203)


def test_after_five_wrong_checks_the_verification_is_gone_404(sandbox):
    """Twilio deletes a verification once its checks are used up: every
    later check, the right code included, answers 404 20404 (Twilio's
    "How to test Verify without getting rate limited")."""
    twilio_verify(sandbox)
    code = sent_code(sandbox)
    wrong = "".join("1" if c == "0" else "0" for c in code)
    for _ in range(5):
        checked = twilio_verify(sandbox, "VerificationCheck", {"To": NUMBER, "Code": wrong})
        assert (checked.status_code, checked.json()["status"]) == (200, "pending")
    response = twilio_verify(sandbox, "VerificationCheck", {"To": NUMBER, "Code": code})
    assert (response.status_code, response.json()["code"]) == (404, 20404)


@pytest.mark.parametrize(
    ("action", "fields", "status", "code"),
    [
        ("Verifications", {"To": "4798765432", "Channel": "sms"}, 400, 60200),
        ("Verifications", {"To": NUMBER, "Channel": "pigeon"}, 400, 60200),
        ("VerificationCheck", {"To": NUMBER}, 400, 60200),
        ("VerificationCheck", {"To": NUMBER, "Code": "123456"}, 404, 20404),
    ],
)
def test_verify_errors(sandbox, action, fields, status, code):
    response = twilio_verify(sandbox, action, fields)
    assert (response.status_code, response.json()["code"]) == (status, code)


def test_unknown_service_is_404_and_wrong_credentials_401(sandbox):
    assert twilio_verify(sandbox, service="VA" + "1" * 32).status_code == 404
    assert twilio_verify(sandbox, auth=(TWILIO["account_sid"], "wrong")).status_code == 401


def test_verification_expires_after_ten_minutes():
    now = [0.0]
    recorded: list[str] = []
    vendor = Twilio(lambda vendor, to, text: recorded.append(text), clock=lambda: now[0])
    basic = base64.b64encode(f"{TWILIO['account_sid']}:{TWILIO['auth_token']}".encode()).decode()
    auth = Headers({"Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded"})

    def post(action, body):
        route = f"/v2/Services/{VERIFY_SERVICE_SID}/{action}"
        return vendor.handle(Request("POST", "/twilio" + route, route, auth, body.encode(), "http://sandbox"))

    assert post("Verifications", "To=%2B4798765432&Channel=sms").status == 201
    code = re.search(r"(\d{6})", recorded[-1]).group(1)
    now[0] = 600.0
    assert post("VerificationCheck", f"To=%2B4798765432&Code={code}").status == 404


def test_status_callbacks_go_to_loopback_hosts_only(sandbox):
    twilio_send(sandbox, {"To": NUMBER, "From": "+15005550006", "Body": "x",
                          "StatusCallback": "https://example.com/sms/webhooks/twilio/twilio/"})
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not sandbox.vendors["twilio"].callback_counts()["skipped"]:
        time.sleep(0.02)
    assert sandbox.vendors["twilio"].callback_counts() == {"sent": 0, "failed": 0, "skipped": 1}


def test_sign_is_twilios_signature():
    fields = {"MessageSid": "SM1", "MessageStatus": "sent"}
    url = "http://127.0.0.1/cb/"
    signed = (url + "MessageSidSM1MessageStatussent").encode()
    expected = base64.b64encode(hmac.new(b"token", signed, "sha1").digest()).decode()
    assert sign("token", url, fields) == expected


def test_a_standard_api_key_reads_messages_but_not_the_account(sandbox):
    twilio_send(sandbox)
    key = (API_KEY["api_key_sid"], API_KEY["api_key_secret"])
    account = f"{sandbox.base_url('twilio')}/2010-04-01/Accounts/{TWILIO['account_sid']}"

    page = requests.get(f"{account}/Messages.json", params={"PageSize": "1"}, auth=key, timeout=TIMEOUT)
    assert page.status_code == 200
    body = page.json()
    assert (body["page"], body["page_size"], body["next_page_uri"]) == (0, 1, None)
    assert [m["to"] for m in body["messages"]] == [NUMBER]

    refused = requests.get(f"{account}.json", auth=key, timeout=TIMEOUT)
    assert (refused.status_code, refused.json()["code"]) == (401, 20003)
    assert requests.get(f"{account}.json", auth=TWILIO_AUTH, timeout=TIMEOUT).status_code == 200
    bad = requests.get(f"{account}/Messages.json", auth=(key[0], "wrong"), timeout=TIMEOUT)
    assert (bad.status_code, bad.json()["code"]) == (401, 20003)
    assert requests.get(f"{account}/Messages.json", params={"PageSize": "0"}, auth=key,
                        timeout=TIMEOUT).status_code == 400
