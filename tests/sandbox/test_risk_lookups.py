"""The sandbox's lookup services, over HTTP: CAMARA SIM Swap (with its token endpoint) and
Twilio Lookup v2 answer as their documents say, errors and switches included."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import requests

from sms_sandbox import CREDENTIALS, VENDORS
from sms_sandbox.state import LOOKUP_SERVICES

from .calls import TIMEOUT, TWILIO_AUTH, camara_check, camara_token_request, twilio_lookup

NUMBER = "+4798765432"


def test_the_lookup_services_are_vendors_of_the_sandbox():
    assert set(LOOKUP_SERVICES) <= set(VENDORS)


# -- CAMARA -------------------------------------------------------------------------------------


def test_camara_issues_a_bearer_token_for_its_client_credentials(sandbox):
    answer = camara_token_request(sandbox)

    assert answer.status_code == 200
    body = answer.json()
    assert body["token_type"] == "Bearer" and body["access_token"] and body["expires_in"] > 0
    assert body["scope"] == "sim-swap:check"


@pytest.mark.parametrize(("kwargs", "status", "error"), [
    ({"auth": ("sandbox-camara-client", "wrong")}, 401, "invalid_client"),
])
def test_camara_token_errors_follow_rfc_6749(sandbox, kwargs, status, error):
    answer = camara_token_request(sandbox, **kwargs)
    assert (answer.status_code, answer.json()) == (status, {"error": error})


def test_camara_refuses_another_grant(sandbox):
    camara = CREDENTIALS["camara"]
    answer = requests.post(sandbox.base_url("camara") + "/token", data={"grant_type": "password"},
                           auth=(camara["client_id"], camara["client_secret"]), timeout=TIMEOUT)
    assert (answer.status_code, answer.json()) == (400, {"error": "unsupported_grant_type"})


@pytest.mark.parametrize(("hours_ago", "max_age", "swapped"), [
    (None, 240, False), (3, 240, True), (3, 2, False), (300, 240, False), (300, 2400, True),
])
def test_camara_says_whether_the_sim_was_swapped_within_max_age(sandbox, hours_ago, max_age, swapped):
    sandbox.vendors["camara"].set_sim_swap(NUMBER, hours_ago)

    answer = camara_check(sandbox, body={"phoneNumber": NUMBER, "maxAge": max_age})

    assert (answer.status_code, answer.json()) == (200, {"swapped": swapped})


def test_camara_max_age_defaults_to_240_hours(sandbox):
    sandbox.vendors["camara"].set_sim_swap(NUMBER, 239)
    assert camara_check(sandbox, body={"phoneNumber": NUMBER}).json() == {"swapped": True}


@pytest.mark.parametrize(("body", "status", "code"), [
    ({"phoneNumber": "98765432"}, 400, "INVALID_ARGUMENT"),
    ({"phoneNumber": NUMBER, "maxAge": 0}, 400, "OUT_OF_RANGE"),
    ({"phoneNumber": NUMBER, "maxAge": 2401}, 400, "OUT_OF_RANGE"),
    ({"phoneNumber": NUMBER, "maxAge": "24"}, 400, "INVALID_ARGUMENT"),
    ({"maxAge": 24}, 422, "MISSING_IDENTIFIER"),
    (["not", "an", "object"], 400, "INVALID_ARGUMENT"),
])
def test_camara_errors_are_error_info_documents(sandbox, body, status, code):
    answer = camara_check(sandbox, body=body)

    assert answer.status_code == status
    assert answer.json() == {"status": status, "code": code, "message": answer.json()["message"]}


def test_camara_wants_a_valid_token_with_the_scope(sandbox):
    assert camara_check(sandbox, token="made-up").json()["code"] == "UNAUTHENTICATED"
    other = camara_token_request(sandbox, scope="device-location").json()["access_token"]
    answer = camara_check(sandbox, token=other)
    assert (answer.status_code, answer.json()["code"]) == (403, "PERMISSION_DENIED")
    broad = camara_token_request(sandbox, scope="sim-swap").json()["access_token"]
    assert camara_check(sandbox, token=broad).status_code == 200


def test_camara_a_number_the_operator_does_not_serve_is_not_applicable(sandbox):
    sandbox.vendors["camara"].set_not_applicable(NUMBER)
    answer = camara_check(sandbox)
    assert (answer.status_code, answer.json()["code"]) == (422, "SERVICE_NOT_APPLICABLE")


def test_camara_retrieve_date_gives_the_latest_sim_change(sandbox):
    token = camara_token_request(sandbox, scope="sim-swap:retrieve-date").json()["access_token"]

    def retrieve():
        return requests.post(sandbox.base_url("camara") + "/sim-swap/v2/retrieve-date", json={"phoneNumber": NUMBER},
                             headers={"Authorization": f"Bearer {token}"}, timeout=TIMEOUT).json()

    assert retrieve() == {"latestSimChange": None}
    sandbox.vendors["camara"].set_sim_swap(NUMBER, 2)
    change = datetime.fromisoformat(retrieve()["latestSimChange"].replace("Z", "+00:00"))
    assert 1.9 * 3600 < (datetime.now(UTC) - change).total_seconds() < 2.1 * 3600


def test_camara_echoes_the_x_correlator(sandbox):
    token = camara_token_request(sandbox).json()["access_token"]
    answer = requests.post(sandbox.base_url("camara") + "/sim-swap/v2/check", json={"phoneNumber": NUMBER},
                           headers={"Authorization": f"Bearer {token}", "x-correlator": "abc-123"}, timeout=TIMEOUT)
    assert answer.headers["x-correlator"] == "abc-123"


def test_camara_reset_forgets_swaps_and_tokens(sandbox):
    token = camara_token_request(sandbox).json()["access_token"]
    sandbox.vendors["camara"].set_sim_swap(NUMBER, 1)
    sandbox.reset()
    assert camara_check(sandbox, token=token).status_code == 401
    assert camara_check(sandbox).json() == {"swapped": False}


def test_camara_switch_refuses_a_negative_age(sandbox):
    with pytest.raises(ValueError, match="hours_ago"):
        sandbox.vendors["camara"].set_sim_swap(NUMBER, -1)


# -- Twilio Lookup ------------------------------------------------------------------------------


def test_twilio_lookup_answers_the_phone_number_resource(sandbox):
    body = twilio_lookup(sandbox).json()

    assert body["valid"] is True and body["phone_number"] == NUMBER and body["country_code"] == "NO"
    assert body["calling_country_code"] == "47" and body["line_type_intelligence"] is None
    assert body["sim_swap"] == {
        "last_sim_swap": {"last_sim_swap_date": None, "swapped_period": "PT48H", "swapped_in_period": False},
        "carrier_name": "Sandbox Mobile", "mobile_country_code": "242", "mobile_network_code": "01",
        "error_code": None,
    }


@pytest.mark.parametrize(("hours_ago", "with_date", "in_period"), [(3, True, True), (3, False, True),
                                                                    (49, True, False)])
def test_twilio_lookup_sim_swap_within_the_accounts_period(sandbox, hours_ago, with_date, in_period):
    sandbox.vendors["twilio_lookup"].set_sim_swap(NUMBER, hours_ago, with_date=with_date)

    last = twilio_lookup(sandbox).json()["sim_swap"]["last_sim_swap"]

    assert last["swapped_in_period"] is in_period
    assert (last["last_sim_swap_date"] is not None) is with_date
    if with_date:
        assert last["last_sim_swap_date"].endswith("Z") and "." not in last["last_sim_swap_date"]


def test_twilio_lookup_line_type_and_errors(sandbox):
    lookup = sandbox.vendors["twilio_lookup"]
    assert twilio_lookup(sandbox, fields="line_type_intelligence").json()["line_type_intelligence"]["type"] == "mobile"
    lookup.set_line_type(NUMBER, "nonFixedVoip")
    both = twilio_lookup(sandbox, fields="line_type_intelligence,sim_swap").json()
    assert both["line_type_intelligence"]["type"] == "nonFixedVoip" and both["sim_swap"] is not None
    lookup.set_error(NUMBER, "line_type_intelligence", 60601)
    assert twilio_lookup(sandbox, fields="line_type_intelligence").json()["line_type_intelligence"] == {
        "mobile_country_code": None, "mobile_network_code": None, "carrier_name": None, "type": None,
        "error_code": 60601}


def test_twilio_lookup_wants_the_accounts_credentials(sandbox):
    answer = twilio_lookup(sandbox, auth=(TWILIO_AUTH[0], "wrong"))
    assert answer.status_code == 401 and answer.json()["code"] == 20003


def test_twilio_lookup_refuses_an_unknown_field_and_marks_a_number_invalid(sandbox):
    assert twilio_lookup(sandbox, fields="sim_swap,horoscope").json()["code"] == 60200
    body = twilio_lookup(sandbox, number="12345").json()
    assert body["valid"] is False and body["validation_errors"] == ["NOT_A_NUMBER"] and body["sim_swap"] is None


def test_twilio_lookup_switches_refuse_what_twilio_does_not_answer(sandbox):
    lookup = sandbox.vendors["twilio_lookup"]
    with pytest.raises(ValueError, match="line type"):
        lookup.set_line_type(NUMBER, "cell")
    with pytest.raises(ValueError, match="field"):
        lookup.set_error(NUMBER, "caller_name", 60600)
