"""Signicat: token endpoint, send endpoint, every documented request rule."""

from __future__ import annotations

import pytest
import requests

from sms_sandbox import Sandbox

from .calls import SIGNICAT, TIMEOUT, signicat_send, signicat_token, signicat_token_request


def test_token_answer_has_the_oauth_fields(sandbox):
    response = signicat_token_request(sandbox)

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "token_type", "scope", "expires_in"}
    assert body["token_type"] == "Bearer"
    assert body["scope"] == "client.sms.send"
    assert body["expires_in"] == 600
    assert sandbox.stats["signicat_token_requests"] == 1


def test_token_request_is_recorded_under_its_own_key(sandbox):
    signicat_token(sandbox)

    recorded = sandbox.last_request("signicat-token")
    assert recorded.path == "/signicat/oidc/token"
    assert recorded.headers["authorization"].startswith("Basic ")
    assert recorded.parsed == {"grant_type": "client_credentials", "scope": "client.sms.send"}
    assert sandbox.last_request("signicat") is None


@pytest.mark.parametrize("auth", [("sandbox-signicat-client", "wrong"), ("someone", SIGNICAT["client_secret"])])
def test_token_with_wrong_credentials_is_invalid_client(sandbox, auth):
    response = signicat_token_request(sandbox, auth=auth)

    assert response.status_code == 401
    assert response.json() == {"error": "invalid_client"}


def test_token_without_basic_auth_is_invalid_client(sandbox):
    response = requests.post(sandbox.base_url("signicat") + "/oidc/token",
                             data={"grant_type": "client_credentials"}, timeout=TIMEOUT)

    assert response.status_code == 401
    assert response.json() == {"error": "invalid_client"}


def test_token_with_another_grant_is_unsupported(sandbox):
    response = requests.post(sandbox.base_url("signicat") + "/oidc/token",
                             data={"grant_type": "password", "scope": "client.sms.send"},
                             auth=(SIGNICAT["client_id"], SIGNICAT["client_secret"]), timeout=TIMEOUT)

    assert response.status_code == 400
    assert response.json() == {"error": "unsupported_grant_type"}


def test_send_answers_200_with_an_empty_body_and_records_the_message(sandbox):
    token = signicat_token(sandbox)
    payload = {"sender": "+4740003410", "recipient": "+4798765432",
               "message": "Hi! This is your one-time code for authentication: 1234"}

    response = signicat_send(sandbox, token, payload)

    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["Content-Length"] == "0"
    [message] = sandbox.messages
    assert message["vendor"] == "signicat"
    assert message["recipient"] == "+4798765432"
    assert message["text"] == payload["message"]
    recorded = sandbox.last_request("signicat")
    assert recorded.method == "POST"
    assert recorded.path == "/signicat/sms/messages"
    assert recorded.headers["Authorization"] == f"Bearer {token}"
    assert recorded.parsed == payload


@pytest.mark.parametrize("header", [None, "Bearer not-a-token", "Basic abc"])
def test_send_without_a_valid_token_is_401(sandbox, header):
    headers = {"Authorization": header} if header else {}
    response = requests.post(sandbox.base_url("signicat") + "/sms/messages", headers=headers,
                             json={"sender": "S", "recipient": "+4798765432", "message": "x"}, timeout=TIMEOUT)

    assert response.status_code == 401
    assert sandbox.messages == []


def test_expired_token_is_401():
    with Sandbox(signicat_token_ttl=0) as short_lived:
        token = signicat_token(short_lived)

        assert signicat_send(short_lived, token).status_code == 401


def test_token_without_the_sms_scope_is_a_client_error(sandbox):
    token = signicat_token(sandbox, scope="openid")

    response = signicat_send(sandbox, token)

    assert response.status_code == 403
    assert sandbox.messages == []


def test_reset_forgets_tokens(sandbox):
    token = signicat_token(sandbox)
    sandbox.reset()

    assert signicat_send(sandbox, token).status_code == 401


def test_missing_message_is_the_documented_problem(sandbox):
    token = signicat_token(sandbox)

    response = signicat_send(sandbox, token, {"sender": "+4740003410", "recipient": "+4798765432"})

    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("application/problem+json")
    assert response.json() == {
        "instance": sandbox.base_url("signicat") + "/sms/messages",
        "method": "POST",
        "status": 400,
        "type": "base:constraint-violation-problem",
        "title": "400 Bad Request",
        "violations": [{"message": "The sms property 'message' has to be set"}],
    }


VALID = {"sender": "Sandbox", "recipient": "+4798765432", "message": "code 1234"}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"sender": None}, "sender"),
        ({"sender": "TwelveLetter"}, "sender"),
        ({"sender": "Bad_Sender"}, "sender"),
        ({"sender": "+1234567890123456"}, "sender"),
        ({"sender": 4740003410}, "sender"),
        ({"recipient": None}, "recipient"),
        ({"recipient": "4798765432"}, "recipient"),
        ({"recipient": "+1234567890123456"}, "recipient"),
        ({"recipient": "+47 98765432"}, "recipient"),
        ({"message": ""}, "message"),
        ({"message": "x" * 161}, "message"),
        ({"message": "ç" * 71}, "message"),
    ],
)
def test_each_field_rule_is_a_violation(sandbox, change, field):
    token = signicat_token(sandbox)
    payload = {k: v for k, v in {**VALID, **change}.items() if v is not None}

    response = signicat_send(sandbox, token, payload)

    assert response.status_code == 400
    [violation] = response.json()["violations"]
    assert f"'{field}'" in violation["message"]
    assert sandbox.messages == []


@pytest.mark.parametrize(
    "change",
    [{"sender": "+474000341012345"}, {"sender": "474000341012345"}, {"sender": "My Bank 123"},
     {"message": "x" * 160}, {"message": "ç" * 70}, {"recipient": "+123456789012345"}],
)
def test_limits_are_inclusive(sandbox, change):
    token = signicat_token(sandbox)

    assert signicat_send(sandbox, token, {**VALID, **change}).status_code == 200


def test_body_that_is_not_json_is_a_violation(sandbox):
    token = signicat_token(sandbox)

    response = requests.post(sandbox.base_url("signicat") + "/sms/messages", data=b"not json",
                             headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
                             timeout=TIMEOUT)

    assert response.status_code == 400
    assert response.json()["violations"]
