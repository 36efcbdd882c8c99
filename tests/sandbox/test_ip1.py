"""iP1: authentications created, sent and validated once."""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta

import pytest
import requests

from .calls import IP1_AUTH, TIMEOUT, ip1_create, ip1_validate


def code_of(sandbox, pattern=r"Your code is (\w+)"):
    return re.fullmatch(pattern, sandbox.messages[-1]["text"]).group(1)


def test_create_sends_the_default_message_and_answers_the_authentication(sandbox):
    response = ip1_create(sandbox)

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"ID", "Phone", "Created", "HasExpired", "Expires", "IsUsed", "Used"}
    assert isinstance(body["ID"], int)
    assert body["Phone"] == "46701234567"
    assert (body["HasExpired"], body["IsUsed"], body["Used"]) == (False, False, None)
    created, expires = datetime.fromisoformat(body["Created"]), datetime.fromisoformat(body["Expires"])
    assert created.utcoffset() == timedelta(0)
    assert expires - created == timedelta(seconds=1200)
    [message] = sandbox.messages
    assert (message["vendor"], message["recipient"]) == ("ip1", "+46701234567")
    assert re.fullmatch(r"[A-Z0-9]{5}", code_of(sandbox))


def test_format_length_and_numeric_only_shape_the_code(sandbox):
    fields = {"Phone": "46701234567", "From": "MyBank", "MessageFormat": "{0} is your MyBank code",
              "Length": 8, "ExpirationTime": 60, "NumericOnly": True}

    response = ip1_create(sandbox, fields)

    assert response.status_code == 200
    assert re.fullmatch(r"[0-9]{8}", code_of(sandbox, r"(\w+) is your MyBank code"))
    assert sandbox.last_request("ip1").parsed == fields


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"Phone": "+46701234567"},
        {"Phone": "0701234567"},
        {"Phone": "4670 123"},
        {"Phone": 46701234567},
        {"Phone": "46701234567", "MessageFormat": "no placeholder"},
        {"Phone": "46701234567", "Length": 2},
        {"Phone": "46701234567", "Length": 26},
        {"Phone": "46701234567", "Length": "5"},
        {"Phone": "46701234567", "ExpirationTime": 0},
        {"Phone": "46701234567", "ExpirationTime": 86401},
        {"Phone": "46701234567", "NumericOnly": "yes"},
        {"Phone": "46701234567", "From": 5},
        [],
    ],
)
def test_rule_violations_are_400_with_a_message(sandbox, fields):
    response = ip1_create(sandbox, fields)

    assert response.status_code == 400
    assert response.json()["Message"]
    assert sandbox.messages == []


@pytest.mark.parametrize("fields", [{"Phone": "46701234567", "Length": 3, "ExpirationTime": 1},
                                    {"Phone": "46701234567", "Length": 25, "ExpirationTime": 86400}])
def test_limits_are_inclusive(sandbox, fields):
    assert ip1_create(sandbox, fields).status_code == 200


@pytest.mark.parametrize("auth", [None, ("ip1-12345", "wrong"), ("ip1-99999", IP1_AUTH[1])])
def test_wrong_credentials_are_401(sandbox, auth):
    response = requests.post(sandbox.base_url("ip1") + "/api/authentications", json={"Phone": "46701234567"},
                             auth=auth, timeout=TIMEOUT)

    assert response.status_code == 401
    assert response.json()["Message"]


def valid(response) -> bool:
    """The ``Valid`` of a validate answer, which iP1 documents as 200 either way."""
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"Valid", "Authentication", "Phone", "Code"}
    return body["Valid"]


def test_a_code_validates_once(sandbox):
    ip1_create(sandbox)
    code = code_of(sandbox)

    wrong = ip1_validate(sandbox, "46701234567", "WRONG")
    assert valid(wrong) is False
    assert wrong.json() == {"Valid": False, "Authentication": None, "Phone": "46701234567", "Code": "WRONG"}
    first = ip1_validate(sandbox, "46701234567", code)
    assert valid(first) is True
    authentication = first.json()["Authentication"]
    assert authentication["IsUsed"] is True
    assert datetime.fromisoformat(authentication["Used"]).utcoffset() == timedelta(0)
    assert (first.json()["Phone"], first.json()["Code"]) == ("46701234567", code)
    assert valid(ip1_validate(sandbox, "46701234567", code)) is False


def test_a_code_is_bound_to_its_phone(sandbox):
    ip1_create(sandbox)

    assert valid(ip1_validate(sandbox, "46709999999", code_of(sandbox))) is False


def test_an_expired_code_does_not_validate(sandbox):
    ip1_create(sandbox, {"Phone": "46701234567", "ExpirationTime": 1})
    code = code_of(sandbox)
    time.sleep(1.05)

    assert valid(ip1_validate(sandbox, "46701234567", code)) is False


def test_validate_needs_phone_and_code(sandbox):
    response = requests.post(sandbox.base_url("ip1") + "/api/authentications/validate", json={"Phone": "4670"},
                             auth=IP1_AUTH, timeout=TIMEOUT)

    assert response.status_code == 400
    assert response.json()["Message"]


def test_at_most_five_active_authentications_per_phone(sandbox):
    for _ in range(5):
        assert ip1_create(sandbox).status_code == 200
    refused = ip1_create(sandbox)
    assert refused.status_code == 400 and "concurrent" in refused.json()["Message"]
    assert len(sandbox.messages) == 5
    assert ip1_create(sandbox, {"Phone": "46709999999"}).status_code == 200  # another phone


def test_a_used_authentication_is_no_longer_active(sandbox):
    for _ in range(5):
        ip1_create(sandbox)
    assert valid(ip1_validate(sandbox, "46701234567", code_of(sandbox))) is True
    assert ip1_create(sandbox).status_code == 200


def test_settings_answer_the_account_defaults(sandbox):
    response = requests.get(sandbox.base_url("ip1") + "/api/authentications/settings", auth=IP1_AUTH,
                            timeout=TIMEOUT)
    assert response.status_code == 200
    assert response.json() == {"ConcurrentLimit": 5, "From": "iP1", "MessageFormat": "Your code is {0}",
                               "Length": 5, "ExpirationTime": 1200, "NumericOnly": False}
    assert sandbox.messages == []


def test_settings_need_credentials(sandbox):
    response = requests.get(sandbox.base_url("ip1") + "/api/authentications/settings",
                            auth=("ip1-12345", "wrong"), timeout=TIMEOUT)
    assert response.status_code == 401


@pytest.mark.parametrize("method, route", [("GET", "/api/authentications/validate"),
                                           ("POST", "/api/authentications/settings")])
def test_wrong_method_is_405(sandbox, method, route):
    response = requests.request(method, sandbox.base_url("ip1") + route, auth=IP1_AUTH, timeout=TIMEOUT)
    assert response.status_code == 405 and response.headers["Allow"] in ("GET", "POST")
