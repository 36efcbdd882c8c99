"""Sinch delivery reports: the batch asks for them with this alias's secret
in the callback URL, the webhook takes a report only at that URL, maps
Sinch's words to delivered/failed, and a forged, replayed, out-of-order or
malformed report changes nothing."""

import json

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.urls import reverse

from django_sms_gateway.checks import E035, W024, check_receipt_urls
from django_sms_gateway.dispatch import build_message
from django_sms_gateway.exceptions import ConfigurationError
from django_sms_gateway.models import DeliveryRecord
from django_sms_gateway.webhooks.base import MalformedWebhook, StatusReport
from django_sms_gateway.webhooks.sinch import parse_report

from .helpers import NUMBER, gateway_entry

pytestmark = pytest.mark.urls("tests.vendors.urls")

VENDOR = "sinch"
SECRET = "sinch-callback-secret-0123456789abcdefXYZ"
BASE = "https://example.com/sms/webhooks/sinch/sinch/"
PATH = "/sms/webhooks/sinch/sinch/"
URL = f"{PATH}?secret={SECRET}"
BATCH = "01FC66621XXXXX119Z8PMV1QPQ"
RECORD = {"gateway": "sinch", "reference": BATCH, "status": "accepted", "delivery": "accepted"}
Delivery = DeliveryRecord.Delivery


def gateways(sandbox):
    return {
        "sinch": gateway_entry("sinch", sandbox, callback_url=BASE, callback_secret=SECRET),
        "sinch-plain": gateway_entry("sinch", sandbox),
    }


def report(status="Delivered", code=0, batch_id=BATCH, **extra):
    return {"type": "recipient_delivery_report_sms", "batch_id": batch_id, "recipient": NUMBER, "code": code,
            "status": status, "at": "2026-12-06T05:00:00.000Z", **extra}


def post(client, body, url=URL):
    data = body if isinstance(body, bytes) else json.dumps(body)
    return client.post(url, data, content_type="application/json")


# -- the send asks for reports -------------------------------------------------

def test_the_batch_names_the_callback_with_the_secret_and_asks_for_final_reports(sandbox, make_backend):
    backend = make_backend(callback_url=BASE, callback_secret=SECRET)
    result = backend.send(build_message(NUMBER, "271828"), timeout=2)

    body = sandbox.last_request("sinch").parsed
    assert body["callback_url"] == f"{BASE}?secret={SECRET}"
    assert body["delivery_report"] == "per_recipient_final"
    assert backend.receipts is True
    assert result.status == "accepted"  # Sinch's 201 means queued: never delivered


def test_without_a_callback_no_report_is_asked_for(sandbox, make_backend):
    backend = make_backend()
    backend.send(build_message(NUMBER, "271828"), timeout=2)
    body = sandbox.last_request("sinch").parsed
    assert "callback_url" not in body and "delivery_report" not in body
    assert backend.receipts is False


def test_every_status_is_reported_when_asked(sandbox, make_backend):
    make_backend(callback_url=BASE, callback_secret=SECRET, delivery_report="per_recipient").send(
        build_message(NUMBER, "271828"), timeout=2)
    assert sandbox.last_request("sinch").parsed["delivery_report"] == "per_recipient"


@pytest.mark.parametrize(("options", "match"), [
    ({"callback_url": BASE}, "'callback_url' and 'callback_secret' go together"),
    ({"callback_secret": SECRET}, "'callback_url' and 'callback_secret' go together"),
    ({"callback_url": BASE, "callback_secret": "short"}, "'callback_secret' must be at least 32 characters"),
    ({"callback_url": BASE, "callback_secret": "x" * 31 + "/"}, "'callback_secret' must be at least 32"),
    ({"callback_url": BASE.rstrip("/"), "callback_secret": SECRET}, "'callback_url' must end with '/'"),
    ({"callback_url": BASE + "?a=1", "callback_secret": SECRET}, "'callback_url' must end with '/'"),
    ({"callback_url": BASE, "callback_secret": SECRET, "delivery_report": "full"}, "'delivery_report' must be"),
])
def test_callback_options_are_checked(make_backend, options, match):
    with pytest.raises(ImproperlyConfigured, match=match):
        make_backend(**options)


def test_a_bad_secret_is_never_repeated_in_the_error(make_backend):
    with pytest.raises(ImproperlyConfigured) as raised:
        make_backend(callback_url=BASE, callback_secret="leaky-secret-value")
    assert "leaky-secret-value" not in str(raised.value)


# -- the webhook ---------------------------------------------------------------


def test_url_name_and_path():
    assert reverse("django_sms_gateway:sinch-webhook", args=["sinch"]) == PATH


@pytest.mark.parametrize(("status", "delivery"), [
    ("Delivered", Delivery.DELIVERED),
    ("Aborted", Delivery.FAILED),
    ("Cancelled", Delivery.FAILED),
    ("Rejected", Delivery.FAILED),
    ("Deleted", Delivery.FAILED),
    ("Failed", Delivery.FAILED),
    ("Expired", Delivery.FAILED),
    ("Queued", None),
    ("Dispatched", None),
    ("Unknown", None),
])
def test_sinchs_words_map_to_our_delivery(status, delivery):
    [parsed] = parse_report(report(status, number_of_message_parts=2))
    assert parsed == StatusReport(BATCH, status, 2, delivery)


@pytest.mark.parametrize("body", [
    {"type": "mo_text", "batch_id": BATCH, "status": "Delivered"},
    report(status="Sent"),
    report(batch_id=""),
    report(batch_id="../../x"),
    report(batch_id=7),
    {"batch_id": BATCH, "status": "Delivered"},
])
def test_unreadable_reports_are_malformed(body):
    with pytest.raises(MalformedWebhook):
        parse_report(body)


def test_a_batch_report_reports_nothing():
    assert parse_report({"type": "delivery_report_sms", "batch_id": BATCH, "total_message_count": 1,
                         "statuses": [{"code": 0, "count": 1, "status": "Delivered"}]}) == []


@pytest.mark.django_db
@pytest.mark.usefixtures("webhook_gateways")
class TestWebhook:
    def test_a_delivered_report_marks_the_record_delivered(self, client, record):
        response = post(client, report("Delivered", number_of_message_parts=1))
        assert (response.status_code, response.content) == (200, b"ok\n")
        record.refresh_from_db()
        assert (record.status, record.delivery, record.segments) == ("Delivered", Delivery.DELIVERED, 1)
        assert record.delivered_at is not None

    def test_an_aborted_report_marks_the_record_failed(self, client, record):
        assert post(client, report("Aborted", 412)).status_code == 200
        record.refresh_from_db()
        assert (record.status, record.delivery) == ("Aborted", Delivery.FAILED)

    def test_an_intermediate_report_keeps_the_record_accepted(self, client, record):
        assert post(client, report("Dispatched", 401)).status_code == 200
        record.refresh_from_db()
        assert (record.status, record.delivery) == ("Dispatched", Delivery.ACCEPTED)

    @pytest.mark.parametrize("url", [
        PATH,
        f"{PATH}?secret=",
        f"{PATH}?secret={'x' * len(SECRET)}",
        f"{PATH}?secret={SECRET[:-1]}",
        f"{PATH}?secret={SECRET}x",
        f"{PATH}?Secret={SECRET}",
        f"/sms/webhooks/sinch/sinch/{SECRET}/",
    ])
    def test_a_forged_report_without_the_secret_changes_nothing(self, client, record, url):
        response = post(client, report("Aborted", 412), url=url)
        assert response.status_code in (403, 404)
        record.refresh_from_db()
        assert (record.status, record.delivery) == ("accepted", Delivery.ACCEPTED)

    def test_the_secret_never_reaches_a_log(self, client, record, caplog):
        """Django logs the path of every 4xx answer (``django.request``): the
        secret is in the query, so a genuine but unusable report leaks nothing."""
        caplog.set_level("DEBUG")
        assert post(client, b"{not json").status_code == 400
        assert post(client, report(batch_id="01FC66621XXXXX119Z8PMV1QPX")).status_code == 404
        assert "Bad Request: /sms/webhooks/sinch/sinch/" in caplog.text and SECRET not in caplog.text

    def test_an_alias_without_a_callback_takes_no_reports(self, client, record):
        assert post(client, report(), url=f"/sms/webhooks/sinch/sinch-plain/?secret={SECRET}").status_code == 404

    def test_a_replayed_or_late_report_changes_nothing(self, client, record):
        assert post(client, report("Delivered")).status_code == 200
        for late in (report("Delivered"), report("Failed", 402), report("Dispatched", 401), report("Queued", 400)):
            assert post(client, late).status_code == 200
        record.refresh_from_db()
        assert (record.status, record.delivery) == ("Delivered", Delivery.DELIVERED)

    def test_a_failed_record_is_not_turned_delivered(self, client, record):
        assert post(client, report("Expired", 406)).status_code == 200
        assert post(client, report("Delivered")).status_code == 200
        record.refresh_from_db()
        assert (record.status, record.delivery) == ("Expired", Delivery.FAILED)

    @pytest.mark.parametrize("body", [b"{not json", b"[]", json.dumps(report(status="Sent")).encode(), b""])
    def test_a_malformed_report_is_400_and_changes_nothing(self, client, record, body):
        assert post(client, body).status_code == 400
        record.refresh_from_db()
        assert (record.status, record.delivery) == ("accepted", Delivery.ACCEPTED)

    def test_a_report_for_a_batch_we_did_not_send_is_404(self, client, record):
        """Sinch does not retry a 4xx other than 429 (its "Webhooks" section)."""
        assert post(client, report(batch_id="01FC66621XXXXX119Z8PMV1QPX")).status_code == 404

    def test_an_oversized_report_is_413(self, client, record, settings):
        settings.OTP_SMS_WEBHOOK_MAX_BYTES = 256
        assert post(client, report(operator="x" * 300)).status_code == 413
        record.refresh_from_db()
        assert record.delivery == Delivery.ACCEPTED


# -- checks ----------------------------------------------------------------------


@pytest.mark.parametrize(("vendor", "options"), [
    ("sinch", {"callback_url": "http://example.com/sms/webhooks/sinch/sinch/", "callback_secret": SECRET}),
    ("infobip", {"notify_url": "http://example.com/sms/webhooks/infobip/infobip/", "notify_secret": SECRET}),
])
def test_a_receipt_url_in_clear_is_e035(sandbox, built_backends, settings, vendor, options):
    settings.DEBUG = False
    with pytest.raises(ConfigurationError) as raised:
        built_backends(vendor, gateway_entry(vendor, sandbox, **options))
    assert raised.value.check_id == E035 and SECRET not in str(raised.value)
    loopback = {name: value.replace("example.com", "127.0.0.1") for name, value in options.items()}
    assert built_backends(vendor, gateway_entry(vendor, sandbox, **loopback)).receipts is True
    settings.DEBUG = True
    assert built_backends(vendor, gateway_entry(vendor, sandbox, **options)).receipts is True


@pytest.mark.parametrize(("vendor", "url", "warned"), [
    ("sinch", "https://example.com/sms/webhooks/sinch/sinch/", False),
    ("sinch", "https://example.com/prefix/sms/webhooks/sinch/sinch/", False),  # a proxy's path prefix
    ("sinch", "https://example.com/sms/webhooks/sinch/other-alias/", True),
    ("sinch", "https://example.com/hooks/sinch/", True),
    ("infobip", "https://example.com/sms/webhooks/infobip/sinch/", False),
    ("infobip", "https://example.com/sms/webhooks/sinch/sinch/", True),
])
def test_a_receipt_url_this_site_does_not_route_is_w024(sandbox, settings, vendor, url, warned):
    option, secret = ("callback_url", "callback_secret") if vendor == "sinch" else ("notify_url", "notify_secret")
    settings.SMS_GATEWAYS = {"sinch": gateway_entry(vendor, sandbox, **{option: url, secret: SECRET})}
    messages = check_receipt_urls()
    assert [message.id for message in messages] == ([W024] if warned else [])
    assert all(SECRET not in message.msg + message.hint for message in messages)


#: A URLconf without the package's URLs (for the test below).
urlpatterns: list = []


@pytest.mark.urls(__name__)
def test_receipts_without_the_packages_urls_are_w024(sandbox, settings):
    settings.SMS_GATEWAYS = {"sinch": gateway_entry("sinch", sandbox, callback_url=BASE, callback_secret=SECRET)}
    [message] = check_receipt_urls()
    assert message.id == W024 and "no receipt webhook" in message.msg
