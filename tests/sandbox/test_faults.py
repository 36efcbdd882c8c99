"""Every fault of every fault key, over real HTTP."""

from __future__ import annotations

import json
import threading
import time

import pytest
import requests

from sms_sandbox import COMMON_FAULTS, FAULTS, Sandbox
from sms_sandbox.accuauth import ERROR_STATUSES
from sms_sandbox.vonage import FAULT_STATUSES

from .calls import call, signicat_send, signicat_token

#: Faults that answer 2xx in a shape the vendor does not document as its yes.
NOT_A_YES = {("zignsec", "no-status"): 200, ("zignsec", "202"): 202, ("signicat", "json-body"): 200,
             ("signicat", "204"): 204}
#: Faults that accept the send and change what follows it (tests/sandbox/test_delivery_faults.py).
DELIVERY_FAULTS = ("silent", "undelivered")
STATUS_FAULTS = [(key, fault) for key, faults in FAULTS.items() for fault in faults
                 if fault not in ("refuse", "hang", "malformed", "oversized", *DELIVERY_FAULTS)
                 and (key, fault) not in NOT_A_YES]


TWILIO_STATUSES = {"21211": 400, "21408": 400, "21610": 400, "21612": 400, "21614": 400, "60200": 400,
                   "60202": 429, "60203": 429, "20404": 404}
#: AWS's JSON protocol answers throttling and unknown keys with HTTP 400 and names the error in the body.
AWS_STATUSES = {"429": 400, "401": 400, "throttled": 400, "validation": 400}


def expected_status(key, fault):
    if key == "vonage":
        return 200  # /sms/json answers 200 with the status in the body, whatever went wrong
    if key == "infobip" and fault == "system-error":
        return 200  # a REJECTED message status in a 200 answer
    if key.startswith("twilio") and fault in TWILIO_STATUSES:
        return TWILIO_STATUSES[fault]
    if key == "aws":
        return AWS_STATUSES.get(fault) or int(fault)
    return ERROR_STATUSES.get(fault) or int(fault)


def test_every_key_offers_the_common_faults_and_its_documented_errors():
    assert set(FAULTS) == {"signicat", "signicat-token", "zignsec", "accuauth", "ip1", "twilio", "twilio-verify",
                           "vonage", "infobip", "sinch", "aws"}
    for faults in FAULTS.values():
        assert faults[:len(COMMON_FAULTS)] == COMMON_FAULTS
    assert set(FAULTS["accuauth"]) - set(COMMON_FAULTS) == set(ERROR_STATUSES)
    assert {"400", "404"} <= set(FAULTS["zignsec"])
    assert "400" in FAULTS["signicat"] and "400" in FAULTS["ip1"]


@pytest.mark.parametrize(("key", "fault"), STATUS_FAULTS)
def test_status_faults_answer_the_vendor_error(sandbox, key, fault):
    sandbox.set_fault(key, fault)

    response = call(sandbox, key)

    assert response.status_code == expected_status(key, fault)
    if key == "sinch" and fault in ("429", "500"):
        assert sandbox.messages == []  # Sinch documents JSON bodies for 400 and 403 only
        return
    body = response.json()
    if key == "signicat":
        assert response.headers["Content-Type"].startswith("application/problem+json")
        assert body["status"] == int(fault)
    elif key == "signicat-token":
        assert set(body) == {"error"}
    elif key == "zignsec":
        assert body["errors"][0]["code"]
    elif key == "accuauth":
        assert body["status"] == {"500": "INTERNAL_ERROR", "401": "UNAUTHORIZED",
                                  "429": "RATE_LIMIT_EXCEEDED"}.get(fault, fault)
        assert body["reason"] and body["request_id"].startswith("TID")
    elif key.startswith("twilio"):
        assert body["status"] == response.status_code and body["code"] and body["more_info"]
    elif key == "vonage":
        [part] = body["messages"]
        assert part["status"] == FAULT_STATUSES.get(fault, fault) and part["error-text"]
        assert "message-id" not in part and "title" not in body  # never an HTTP problem document
    elif key == "infobip" and fault == "system-error":
        [message] = body["messages"]
        assert message["status"] == {"groupId": 5, "groupName": "REJECTED", "id": 21, "name": "REJECTED_SYSTEM_ERROR",
                                     "description": message["status"]["description"]}
    elif key == "infobip":
        assert body["errorCode"] == f"E{fault}" and "violations" in body
    elif key == "sinch":
        assert body["code"] and body["text"]
    elif key == "aws":
        assert body["__type"] == response.headers["X-Amzn-ErrorType"] and body["message"]
    else:
        assert body["Message"]
    if fault == "429" and key not in ("aws", "infobip", "vonage"):
        assert response.headers["Retry-After"] == "1"
    assert sandbox.messages == []


@pytest.mark.parametrize(("key", "fault"), sorted(NOT_A_YES))
def test_answers_that_are_not_a_yes_are_2xx_and_send_nothing(sandbox, key, fault):
    sandbox.set_fault(key, fault)
    assert call(sandbox, key).status_code == NOT_A_YES[key, fault]
    assert sandbox.messages == []


def test_documented_signicat_500_is_a_problem_document(sandbox):
    token = signicat_token(sandbox)
    sandbox.set_fault("signicat", "500")

    response = signicat_send(sandbox, token)

    assert response.status_code == 500
    assert response.json()["title"] == "500 Internal Server Error"


def test_signicat_faults_leave_the_token_endpoint_alone(sandbox):
    sandbox.set_fault("signicat", "500")

    assert signicat_token(sandbox)


def test_signicat_token_faults_leave_the_send_endpoint_alone(sandbox):
    token = signicat_token(sandbox)
    sandbox.set_fault("signicat-token", "500")

    assert signicat_send(sandbox, token).status_code == 200
    assert call(sandbox, "signicat-token").status_code == 500


def caller(sandbox, key):
    """A call to ``key``'s endpoint, made ready before a fault is set there
    (Signicat's send endpoint needs a token first)."""
    if key == "signicat":
        token = signicat_token(sandbox)
        return lambda **kwargs: signicat_send(sandbox, token, **kwargs)
    return lambda **kwargs: call(sandbox, key, **kwargs)


@pytest.mark.parametrize("key", list(FAULTS))
def test_refuse_resets_the_connection(sandbox, key):
    send = caller(sandbox, key)
    sandbox.set_fault(key, "refuse")

    with pytest.raises(requests.ConnectionError):
        send()
    assert sandbox.stats[key.split("-")[0]]["requests"] >= 1
    assert sandbox.messages == []


@pytest.mark.parametrize("key", list(FAULTS))
def test_hang_times_the_client_out(sandbox, key):
    send = caller(sandbox, key)
    sandbox.set_fault(key, "hang")

    with pytest.raises(requests.ReadTimeout):
        send(timeout=0.2)
    assert sandbox.messages == []


def test_hang_is_bounded_by_hang_seconds():
    with Sandbox(hang_seconds=0.2) as sandbox:
        sandbox.set_fault("ip1", "hang")
        started = time.monotonic()

        with pytest.raises(requests.ConnectionError):
            call(sandbox, "ip1", timeout=5)

        assert time.monotonic() - started < 2


def test_clearing_a_hang_releases_the_request():
    with Sandbox() as sandbox:
        sandbox.set_fault("accuauth", "hang")
        started = time.monotonic()
        timer = threading.Timer(0.2, sandbox.clear_faults)
        timer.start()

        with pytest.raises(requests.ConnectionError):
            call(sandbox, "accuauth", timeout=5)

        assert time.monotonic() - started < 2
        timer.join()


@pytest.mark.parametrize("key", list(FAULTS))
def test_malformed_is_200_with_a_body_that_is_not_json(sandbox, key):
    sandbox.set_fault(key, "malformed")

    response = call(sandbox, key)

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.content
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.content)


@pytest.mark.parametrize("key", list(FAULTS))
def test_oversized_is_a_5_mib_body(sandbox, key):
    sandbox.set_fault(key, "oversized")

    response = call(sandbox, key)

    assert response.status_code == 200
    assert int(response.headers["Content-Length"]) == 5 * 1024 * 1024
    assert len(response.content) == 5 * 1024 * 1024


def test_oversized_body_can_be_abandoned_midway(sandbox):
    sandbox.set_fault("zignsec", "oversized", count=1)

    with requests.Session() as http:
        response = call(sandbox, "zignsec", http=http, stream=True)
        assert len(response.raw.read(1024)) == 1024
        response.close()

    assert call(sandbox, "zignsec").status_code == 200


def test_counted_fault_clears_itself(sandbox):
    sandbox.set_fault("ip1", "500", count=2)

    assert [call(sandbox, "ip1").status_code for _ in range(3)] == [500, 500, 200]
    assert sandbox.faults == {}


def test_counted_transport_fault_clears_itself(sandbox):
    sandbox.set_fault("accuauth", "refuse", count=1)

    with pytest.raises(requests.ConnectionError):
        call(sandbox, "accuauth")
    assert call(sandbox, "accuauth").status_code == 200


def test_faults_are_per_vendor(sandbox):
    sandbox.set_fault("zignsec", "500")

    assert call(sandbox, "ip1").status_code == 200
    assert call(sandbox, "zignsec").status_code == 500


def test_clear_faults_and_reset_clear_everything(sandbox):
    sandbox.set_fault("zignsec", "500")
    sandbox.set_fault("ip1", "401", count=3)
    assert set(sandbox.faults) == {"zignsec", "ip1"}

    sandbox.clear_faults()
    assert sandbox.faults == {}

    sandbox.set_fault("zignsec", "500")
    sandbox.reset()
    assert sandbox.faults == {}


def test_setting_none_clears_one_key(sandbox):
    sandbox.set_fault("zignsec", "500")
    sandbox.set_fault("ip1", "500")

    sandbox.set_fault("zignsec", None)

    assert set(sandbox.faults) == {"ip1"}


@pytest.mark.parametrize(
    ("key", "fault", "count"),
    [("nope", "500", None), ("ip1", "FAILED", None), ("signicat", "404", None), ("ip1", "500", 0),
     ("ip1", "500", -1), ("ip1", "500", True)],
)
def test_set_fault_rejects_unknown_values(sandbox, key, fault, count):
    with pytest.raises(ValueError):
        sandbox.set_fault(key, fault, count)
