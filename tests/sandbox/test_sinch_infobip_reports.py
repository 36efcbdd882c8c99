"""The Sinch and Infobip imitations post their vendors' documented delivery
reports to the callback a send names: the kinds each vendor offers, the
faults "silent" and "undelivered", and nothing for what the vendor would
not send."""

import json
import time

import pytest
import requests

from sms_sandbox import CREDENTIALS

from .test_vonage import Receiver

PLAN, TOKEN = CREDENTIALS["sinch"]["service_plan_id"], CREDENTIALS["sinch"]["api_token"]


@pytest.fixture
def receiver():
    running = Receiver()
    yield running
    running.close()


def reports(receiver, vendor, sandbox, count):
    """The JSON bodies ``receiver`` got once ``vendor`` has sent ``count`` reports (or after 5 s)."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and sum(sandbox.vendors[vendor].report_counts().values()) < count:
        time.sleep(0.02)
    assert {content_type for _method, _query, content_type, _body in receiver.received} <= {"application/json"}
    return [json.loads(body) for _method, _query, _type, body in receiver.received]


def sinch_send(sandbox, **fields):
    body = {"from": "Acme", "to": ["+4798765432"], "body": "Your code is 123456", **fields}
    return requests.post(f"{sandbox.base_url('sinch')}/xms/v1/{PLAN}/batches", json=body, timeout=2,
                         headers={"Authorization": f"Bearer {TOKEN}"})


def infobip_send(sandbox, webhooks):
    message = {"sender": "Acme", "destinations": [{"to": "4798765432"}], "content": {"text": "Your code is 123456"}}
    if webhooks is not None:
        message["webhooks"] = webhooks
    return requests.post(sandbox.base_url("infobip") + "/sms/3/messages", json={"messages": [message]}, timeout=2,
                         headers={"Authorization": f"App {CREDENTIALS['infobip']['api_key']}"})


# -- Sinch ------------------------------------------------------------------------


def test_sinch_posts_a_final_recipient_report(sandbox, receiver):
    batch = sinch_send(sandbox, callback_url=receiver.url, delivery_report="per_recipient_final",
                       max_number_of_message_parts=1).json()
    [report] = reports(receiver, "sinch", sandbox, 1)
    assert report["type"] == "recipient_delivery_report_sms" and report["batch_id"] == batch["id"]
    assert (report["recipient"], report["status"], report["code"], report["number_of_message_parts"]) == (
        "+4798765432", "Delivered", 0, 1)
    assert report["at"].endswith("Z") and batch["callback_url"] == receiver.url


def test_sinch_per_recipient_reports_dispatched_first(sandbox, receiver):
    sinch_send(sandbox, callback_url=receiver.url, delivery_report="per_recipient")
    assert [(r["status"], r["code"]) for r in reports(receiver, "sinch", sandbox, 2)] == [
        ("Dispatched", 401), ("Delivered", 0)]


@pytest.mark.parametrize("kind", ["summary", "full"])
def test_sinch_batch_reports(sandbox, receiver, kind):
    batch = sinch_send(sandbox, callback_url=receiver.url, delivery_report=kind).json()
    [report] = reports(receiver, "sinch", sandbox, 1)
    assert (report["type"], report["batch_id"], report["total_message_count"]) == ("delivery_report_sms",
                                                                                  batch["id"], 1)
    [status] = report["statuses"]
    assert (status["status"], status["count"], status.get("recipients")) == (
        "Delivered", 1, ["+4798765432"] if kind == "full" else None)


def test_sinch_undelivered_and_silent_faults(sandbox, receiver):
    sandbox.set_fault("sinch", "undelivered", count=1)
    assert sinch_send(sandbox, callback_url=receiver.url, delivery_report="per_recipient_final").status_code == 201
    [report] = reports(receiver, "sinch", sandbox, 1)
    assert (report["status"], report["code"]) == ("Aborted", 412)
    sandbox.set_fault("sinch", "silent", count=1)
    assert sinch_send(sandbox, callback_url=receiver.url, delivery_report="per_recipient_final").status_code == 201
    assert sinch_send(sandbox, callback_url=receiver.url, delivery_report="per_recipient_final").status_code == 201
    assert [r["status"] for r in reports(receiver, "sinch", sandbox, 2)] == ["Aborted", "Delivered"]
    assert len(sandbox.messages) == 3  # every fault still sends the message


def test_sinch_reports_nothing_by_default(sandbox, receiver):
    sinch_send(sandbox, callback_url=receiver.url)  # delivery_report defaults to "none"
    asked = sinch_send(sandbox, callback_url=receiver.url, delivery_report="per_recipient_final").json()
    assert [report["batch_id"] for report in reports(receiver, "sinch", sandbox, 1)] == [asked["id"]]


@pytest.mark.parametrize("fields", [{"delivery_report": "always"}, {"callback_url": "not a url"},
                                    {"callback_url": "http://x/" + "a" * 2048}])
def test_sinch_refuses_a_bad_report_request(sandbox, fields):
    answer = sinch_send(sandbox, **fields)
    assert (answer.status_code, answer.json()["code"]) == (400, "syntax_constraint_violation")


# -- Infobip ----------------------------------------------------------------------


def test_infobip_posts_a_delivered_report(sandbox, receiver):
    taken = infobip_send(sandbox, {"delivery": {"url": receiver.url}}).json()
    [body] = reports(receiver, "infobip", sandbox, 1)
    [report] = body["results"]
    assert (report["messageId"], report["bulkId"], report["to"]) == (
        taken["messages"][0]["messageId"], taken["bulkId"], "4798765432")
    assert report["status"] == {"groupId": 3, "groupName": "DELIVERED", "id": 5, "name": "DELIVERED_TO_HANDSET",
                                "description": "Message delivered to handset"}
    assert report["error"]["name"] == "NO_ERROR" and report["messageCount"] == 1
    assert report["sentAt"].endswith("+0000") and report["doneAt"].endswith("+0000")


def test_infobip_intermediate_report_comes_first_when_asked(sandbox, receiver):
    infobip_send(sandbox, {"delivery": {"url": receiver.url, "intermediateReport": True}})
    assert [body["results"][0]["status"]["name"] for body in reports(receiver, "infobip", sandbox, 2)] == [
        "DELIVERED_TO_OPERATOR", "DELIVERED_TO_HANDSET"]


def test_infobip_undelivered_and_silent_faults(sandbox, receiver):
    sandbox.set_fault("infobip", "undelivered", count=1)
    assert infobip_send(sandbox, {"delivery": {"url": receiver.url}}).json()["messages"][0]["status"]["groupName"] \
        == "PENDING"
    [body] = reports(receiver, "infobip", sandbox, 1)
    report = body["results"][0]
    assert (report["status"]["groupName"], report["status"]["name"], report["error"]["name"]) == (
        "UNDELIVERABLE", "UNDELIVERABLE_NOT_DELIVERED", "EC_ABSENT_SUBSCRIBER")
    sandbox.set_fault("infobip", "silent", count=1)
    infobip_send(sandbox, {"delivery": {"url": receiver.url}})
    infobip_send(sandbox, {"delivery": {"url": receiver.url}})
    assert len(reports(receiver, "infobip", sandbox, 2)) == 2


@pytest.mark.parametrize("webhooks", [None, {"delivery": {"url": "URL", "notify": False}},
                                      {"delivery": {"url": "URL"}, "contentType": "application/xml"}])
def test_infobip_reports_nothing_it_was_not_asked_for(sandbox, receiver, webhooks):
    if webhooks is not None:
        webhooks["delivery"]["url"] = receiver.url
    infobip_send(sandbox, webhooks)
    asked = infobip_send(sandbox, {"delivery": {"url": receiver.url}}).json()["messages"][0]["messageId"]
    assert [body["results"][0]["messageId"] for body in reports(receiver, "infobip", sandbox, 1)] == [asked]


@pytest.mark.parametrize("webhooks", [{"delivery": {"url": "ftp://x/"}}, {"delivery": []}, []])
def test_infobip_refuses_a_bad_webhook(sandbox, webhooks):
    answer = infobip_send(sandbox, webhooks)
    assert (answer.status_code, answer.json()["errorCode"]) == (400, "E400")
