"""Infobip delivery reports: each message names this alias's webhook with
its secret in the URL, the webhook takes a report only at that URL, maps
Infobip's statuses to delivered/failed, and a forged, replayed,
out-of-order or malformed report changes nothing."""

import json

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.urls import reverse

from django_sms_gateway.dispatch import build_message
from django_sms_gateway.models import DeliveryRecord
from django_sms_gateway.webhooks.base import MalformedWebhook, StatusReport
from django_sms_gateway.webhooks.infobip import parse_reports

from .helpers import NUMBER, gateway_entry

pytestmark = pytest.mark.urls("tests.vendors.urls")

VENDOR = "infobip"
SECRET = "infobip-notify-secret-0123456789abcdefXYZ"
BASE = "https://example.com/sms/webhooks/infobip/infobip/"
PATH = "/sms/webhooks/infobip/infobip/"
URL = f"{PATH}?secret={SECRET}"
MESSAGE_ID = "4242424242424242424242424242424242aa"
RECORD = {"gateway": "infobip", "reference": MESSAGE_ID, "status": "PENDING_ACCEPTED", "delivery": "accepted"}
Delivery = DeliveryRecord.Delivery

#: Status objects as Infobip's "Message status codes" page writes them.
DELIVERED = {"groupId": 3, "groupName": "DELIVERED", "id": 5, "name": "DELIVERED_TO_HANDSET",
             "description": "Message delivered to handset"}
TO_OPERATOR = {"groupId": 3, "groupName": "DELIVERED", "id": 2, "name": "DELIVERED_TO_OPERATOR",
               "description": "Message delivered to operator"}
UNDELIVERABLE = {"groupId": 2, "groupName": "UNDELIVERABLE", "id": 9, "name": "UNDELIVERABLE_NOT_DELIVERED",
                 "description": "Message sent not delivered"}
EXPIRED = {"groupId": 4, "groupName": "EXPIRED", "id": 15, "name": "EXPIRED_EXPIRED",
           "description": "Message expired"}
REJECTED = {"groupId": 5, "groupName": "REJECTED", "id": 52, "name": "REJECTED_DESTINATION",
            "description": "Request rejected due to invalid destination"}
PENDING = {"groupId": 1, "groupName": "PENDING", "id": 3, "name": "PENDING_WAITING_DELIVERY",
           "description": "Message sent, waiting for delivery report"}
NO_ERROR = {"groupId": 0, "groupName": "OK", "id": 0, "name": "NO_ERROR", "description": "No Error",
            "permanent": False}


def gateways(sandbox):
    return {
        "infobip": gateway_entry("infobip", sandbox, notify_url=BASE, notify_secret=SECRET),
        "infobip-plain": gateway_entry("infobip", sandbox),
    }


def result(status=DELIVERED, message_id=MESSAGE_ID, **extra):
    return {"bulkId": "b1", "messageId": message_id, "to": NUMBER.lstrip("+"), "sender": "Acme",
            "sentAt": "2026-12-06T05:00:00.000+0000", "doneAt": "2026-12-06T05:00:01.000+0000",
            "messageCount": 1, "price": {"pricePerMessage": 0.01, "currency": "EUR"}, "status": status,
            "error": NO_ERROR, **extra}


def reports(*results):
    return {"results": list(results) or [result()]}


def post(client, body, url=URL):
    data = body if isinstance(body, bytes) else json.dumps(body)
    return client.post(url, data, content_type="application/json")


# -- the send asks for reports -------------------------------------------------

def test_the_message_names_the_webhook_with_the_secret(sandbox, make_backend):
    backend = make_backend(notify_url=BASE, notify_secret=SECRET)
    result = backend.send(build_message(NUMBER, "271828"), timeout=2)

    [message] = sandbox.last_request("infobip").parsed["messages"]
    assert message["webhooks"] == {
        "delivery": {"url": f"{BASE}?secret={SECRET}", "intermediateReport": False, "notify": True},
        "contentType": "application/json",
    }
    assert backend.receipts is True
    assert result.status == "PENDING_ACCEPTED"  # Infobip's 200 is an acceptance, never a delivery


def test_without_a_webhook_no_report_is_asked_for(sandbox, make_backend):
    backend = make_backend()
    backend.send(build_message(NUMBER, "271828"), timeout=2)
    [message] = sandbox.last_request("infobip").parsed["messages"]
    assert "webhooks" not in message
    assert backend.receipts is False


@pytest.mark.parametrize(("options", "match"), [
    ({"notify_url": BASE}, "'notify_url' and 'notify_secret' go together"),
    ({"notify_secret": SECRET}, "'notify_url' and 'notify_secret' go together"),
    ({"notify_url": BASE, "notify_secret": "short"}, "'notify_secret' must be at least 32 characters"),
    ({"notify_url": BASE, "notify_secret": "y" * 40 + "%2F"}, "'notify_secret' must be at least 32"),
    ({"notify_url": BASE + "#x", "notify_secret": SECRET}, "'notify_url' must end with '/'"),
    ({"notify_url": "ftp://example.com/", "notify_secret": SECRET}, "'notify_url'"),
])
def test_notify_options_are_checked(make_backend, options, match):
    with pytest.raises(ImproperlyConfigured, match=match):
        make_backend(**options)


# -- the webhook ---------------------------------------------------------------

def test_url_name_and_path():
    assert reverse("django_sms_gateway:infobip-webhook", args=["infobip"]) == PATH


@pytest.mark.parametrize(("status", "delivery"), [
    (DELIVERED, Delivery.DELIVERED),
    (TO_OPERATOR, None),  # "Intermediate. Reached the operator, not yet the handset."
    (PENDING, None),
    (UNDELIVERABLE, Delivery.FAILED),
    (EXPIRED, Delivery.FAILED),
    (REJECTED, Delivery.FAILED),
])
def test_infobips_statuses_map_to_our_delivery(status, delivery):
    assert parse_reports(reports(result(status))) == [StatusReport(MESSAGE_ID, status["name"], 1, delivery)]


@pytest.mark.parametrize("body", [
    {},
    {"results": []},
    {"results": {"messageId": MESSAGE_ID}},
    {"results": [result() for _ in range(101)]},
    reports(result(message_id="")),
    reports({"messageId": MESSAGE_ID}),
    reports(result(status={"groupName": "DELIVERED"})),
    reports(result(status={"name": "DELIVERED_TO_HANDSET"})),
    reports(result(), "not an object"),
])
def test_unreadable_reports_are_malformed(body):
    with pytest.raises(MalformedWebhook):
        parse_reports(body)


@pytest.mark.django_db
@pytest.mark.usefixtures("webhook_gateways")
class TestWebhook:
    def test_a_delivered_report_marks_the_record_delivered(self, client, record):
        response = post(client, reports())
        assert (response.status_code, response.content) == (200, b"ok\n")
        record.refresh_from_db()
        assert (record.status, record.delivery, record.segments) == ("DELIVERED_TO_HANDSET", Delivery.DELIVERED, 1)
        assert record.delivered_at is not None

    def test_an_undeliverable_report_marks_the_record_failed(self, client, record):
        assert post(client, reports(result(UNDELIVERABLE))).status_code == 200
        record.refresh_from_db()
        assert (record.status, record.delivery) == ("UNDELIVERABLE_NOT_DELIVERED", Delivery.FAILED)

    def test_delivered_to_the_operator_keeps_the_record_accepted(self, client, record):
        assert post(client, reports(result(TO_OPERATOR))).status_code == 200
        record.refresh_from_db()
        assert (record.status, record.delivery) == ("DELIVERED_TO_OPERATOR", Delivery.ACCEPTED)

    def test_a_forged_report_without_the_secret_changes_nothing(self, client, record):
        for url in (PATH, f"{PATH}?secret={SECRET.upper()}", f"{PATH}?secret={SECRET[1:]}",
                    f"{PATH}?token={SECRET}"):
            assert post(client, reports(result(UNDELIVERABLE)), url=url).status_code == 403
        record.refresh_from_db()
        assert (record.status, record.delivery) == ("PENDING_ACCEPTED", Delivery.ACCEPTED)

    def test_an_alias_without_a_webhook_takes_no_reports(self, client, record):
        assert post(client, reports(), url=f"/sms/webhooks/infobip/infobip-plain/?secret={SECRET}").status_code == 404

    def test_a_replayed_or_late_report_changes_nothing(self, client, record):
        assert post(client, reports()).status_code == 200
        for late in (result(), result(UNDELIVERABLE), result(TO_OPERATOR), result(PENDING)):
            assert post(client, reports(late)).status_code == 200
        record.refresh_from_db()
        assert (record.status, record.delivery) == ("DELIVERED_TO_HANDSET", Delivery.DELIVERED)

    def test_a_failed_record_is_not_turned_delivered(self, client, record):
        assert post(client, reports(result(EXPIRED))).status_code == 200
        assert post(client, reports(result(TO_OPERATOR), result(DELIVERED))).status_code == 200
        record.refresh_from_db()
        assert (record.status, record.delivery) == ("EXPIRED_EXPIRED", Delivery.FAILED)

    @pytest.mark.parametrize("body", [b"{not json", b"[]", json.dumps({"results": []}).encode(),
                                      json.dumps(reports(result(), {"messageId": 1})).encode()])
    def test_a_malformed_report_is_400_and_changes_nothing(self, client, record, body):
        assert post(client, body).status_code == 400
        record.refresh_from_db()
        assert (record.status, record.delivery) == ("PENDING_ACCEPTED", Delivery.ACCEPTED)

    def test_reports_for_messages_we_did_not_send_are_acknowledged(self, client, record):
        """Infobip retries while the URL is "unavailable": a 200 ends that."""
        response = post(client, reports(result(message_id="other")))
        assert (response.status_code, response.content) == (200, b"ignored\n")
        record.refresh_from_db()
        assert record.delivery == Delivery.ACCEPTED

    def test_one_request_reports_several_messages(self, client, record, device):
        other = DeliveryRecord.objects.create(device=device, outcome="sent", gateway="infobip", reference="m2",
                                              status="PENDING_ACCEPTED", delivery="accepted")
        assert post(client, reports(result(), result(TO_OPERATOR, message_id="m2"))).status_code == 200
        record.refresh_from_db()
        other.refresh_from_db()
        assert (record.delivery, other.status, other.delivery) == (
            Delivery.DELIVERED, "DELIVERED_TO_OPERATOR", Delivery.ACCEPTED)
