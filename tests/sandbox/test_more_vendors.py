"""The sandbox's Infobip, Sinch and AWS answer raw HTTP as those vendors
document: success shapes, error bodies and the refusals of wrong credentials."""

import requests

from sms_sandbox import CREDENTIALS

NUMBER = "+4798765432"


def test_infobip_answers_a_v3_send_and_refuses_a_wrong_key(sandbox):
    url = sandbox.base_url("infobip") + "/sms/3/messages"
    body = {"messages": [{"sender": "Acme", "destinations": [{"to": "4798765432"}], "content": {"text": "Hi"}}]}
    answer = requests.post(url, json=body, headers={"Authorization": f"App {CREDENTIALS['infobip']['api_key']}"},
                           timeout=2)
    assert answer.status_code == 200
    (sent,) = answer.json()["messages"]
    assert sent["status"]["groupName"] == "PENDING" and sent["status"]["name"] == "PENDING_ACCEPTED"
    assert sent["destination"] == "4798765432" and sent["messageId"] and sent["details"]["messageCount"] == 1

    refused = requests.post(url, json=body, headers={"Authorization": "App wrong"}, timeout=2)
    assert refused.status_code == 401 and refused.json()["errorCode"] == "E401"
    blank = requests.post(url, json={"messages": [{"destinations": [{"to": "4798765432"}], "content": {}}]},
                          headers={"Authorization": f"App {CREDENTIALS['infobip']['api_key']}"}, timeout=2)
    assert blank.status_code == 400 and set(blank.json()) == {"errorCode", "description", "action", "violations",
                                                               "resources"}


def test_sinch_answers_201_with_the_batch_and_code_text_errors(sandbox):
    plan, token = CREDENTIALS["sinch"]["service_plan_id"], CREDENTIALS["sinch"]["api_token"]
    url = f"{sandbox.base_url('sinch')}/xms/v1/{plan}/batches"
    auth = {"Authorization": f"Bearer {token}"}
    created = requests.post(url, json={"from": "Acme", "to": [NUMBER], "body": "Hi"}, headers=auth, timeout=2)
    assert created.status_code == 201
    batch = created.json()
    assert batch["id"] and batch["canceled"] is False and batch["type"] == "mt_text" and batch["to"] == [NUMBER]

    invalid = requests.post(url, json={"from": "Acme", "to": ["4798"], "body": "Hi"}, headers=auth, timeout=2)
    assert invalid.status_code == 400 and invalid.json()["code"] == "syntax_constraint_violation"
    assert requests.post(url, json={}, headers={"Authorization": "Bearer x"}, timeout=2).status_code == 401
    listed = requests.get(url + "?page_size=1", headers=auth, timeout=2)
    assert listed.status_code == 200 and listed.json()["count"] == 1


def test_aws_refuses_an_unsigned_call_as_aws_does(sandbox):
    answer = requests.post(sandbox.base_url("aws") + "/", data=b"{}", timeout=2, headers={
        "Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "PinpointSMSVoiceV2.SendTextMessage"})
    assert answer.status_code == 400
    assert answer.headers["X-Amzn-ErrorType"] == "MissingAuthenticationTokenException"
    assert answer.json()["__type"] == "MissingAuthenticationTokenException"
    assert sandbox.messages == []


def infobip_send(sandbox, to="4798765432", text="Hi"):
    body = {"messages": [{"sender": "Acme", "destinations": [{"to": to}], "content": {"text": text}}]}
    answer = requests.post(sandbox.base_url("infobip") + "/sms/3/messages", json=body, timeout=2,
                           headers={"Authorization": f"App {CREDENTIALS['infobip']['api_key']}"})
    assert answer.status_code == 200  # Infobip answers a rejected message with 200 and its status
    (sent,) = answer.json()["messages"]
    return {name: sent["status"][name] for name in ("groupId", "groupName", "id", "name")}


def test_infobip_status_ids_are_those_of_infobips_status_code_page(sandbox):
    assert infobip_send(sandbox) == {"groupId": 1, "groupName": "PENDING", "id": 26, "name": "PENDING_ACCEPTED"}
    assert infobip_send(sandbox, to="15005550006") == {"groupId": 5, "groupName": "REJECTED", "id": 52,
                                                        "name": "REJECTED_DESTINATION"}  # id 6 is REJECTED_NETWORK
    sandbox.set_fault("infobip", "system-error", count=1)
    assert infobip_send(sandbox) == {"groupId": 5, "groupName": "REJECTED", "id": 21, "name": "REJECTED_SYSTEM_ERROR"}
    assert [m["text"] for m in sandbox.messages] == ["Hi"]


def test_infobip_flooding_filter_is_per_number_20_varied_or_6_identical_an_hour(sandbox):
    flooded = {"groupId": 5, "groupName": "REJECTED", "id": 20, "name": "REJECTED_FLOODING_FILTER"}
    for n in range(6):
        assert infobip_send(sandbox, text="same")["name"] == "PENDING_ACCEPTED", n
    assert infobip_send(sandbox, text="same") == flooded
    for n in range(14):
        assert infobip_send(sandbox, text=f"code {n}")["name"] == "PENDING_ACCEPTED", n
    assert infobip_send(sandbox, text="code 99") == flooded
    assert infobip_send(sandbox, to="4798765433", text="same")["name"] == "PENDING_ACCEPTED"  # another number
    assert len(sandbox.messages) == 21
    sandbox.reset()
    assert infobip_send(sandbox, text="same")["name"] == "PENDING_ACCEPTED"
