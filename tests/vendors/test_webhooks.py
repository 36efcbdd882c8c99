"""The ZignSec webhook view: signature on the raw body, replay window, size
limit, unknown sessions and aliases, and the status it records."""

import hashlib
import hmac
import json
import logging
import time

import pytest
from django.test import override_settings
from django.urls import reverse

from django_sms_gateway.models import DeliveryRecord
from sms_sandbox.zignsec import SIGNATURE_HEADER, WEBHOOK_EVENT, sign

from .helpers import signicat_entry, zignsec_entry

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.vendors.urls"),
              pytest.mark.usefixtures("webhook_gateways")]

SECRET = "whsec-test-secret"
SESSION = "26f5cc23-dbbb-45bb-a210-2818e70637bd"
URL = "/sms/webhooks/zignsec/zignsec/"


RECORD = {"gateway": "zignsec", "reference": SESSION, "status": "pending", "segments": 1}


def gateways(sandbox):
    return {
        "zignsec": zignsec_entry(sandbox, webhook_secret=SECRET),
        "zignsec-nosecret": zignsec_entry(sandbox),
        "signicat": signicat_entry(sandbox),
    }


def envelope(session_id=SESSION, status="delivered", parts=1):
    return json.dumps({
        "event": WEBHOOK_EVENT, "id": session_id, "relay_state": "zignsec.0123456789abcdef",
        "result": {"status": status, "errors": [], "number_of_message_parts": parts},
    }).encode()


def post(client, body, *, signature=None, timestamp=None, url=URL, secret=SECRET):
    timestamp = int(time.time()) if timestamp is None else timestamp
    if signature is None:
        signature = sign(secret, timestamp, body)
    return client.post(url, body, content_type="application/json", headers={SIGNATURE_HEADER: signature})


def test_url_name_and_path():
    assert reverse("django_sms_gateway:zignsec-webhook", args=["zignsec"]) == URL


def test_good_signature_records_the_status(client, record):
    response = post(client, envelope(parts=2))
    assert response.status_code == 200 and response.content == b"ok\n"
    assert response["Content-Type"].startswith("text/plain")
    record.refresh_from_db()
    assert record.status == "delivered" and record.segments == 2


def test_signature_computed_independently_is_accepted(client, record):
    body = envelope()
    t = int(time.time())
    digest = hmac.new(SECRET.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    assert post(client, body, signature=f"t={t},v1={digest}").status_code == 200


def test_signature_parts_may_come_in_any_order_and_other_schemes_are_ignored(client, record):
    body = envelope()
    t = int(time.time())
    good = sign(SECRET, t, body).split("v1=")[1]
    assert post(client, body, signature=f"v0=abc, v1={good}, t={t}").status_code == 200


def test_one_of_several_v1_signatures_may_match(client, record):
    body = envelope()
    t = int(time.time())
    good = sign(SECRET, t, body).split("v1=")[1]
    assert post(client, body, signature=f"t={t},v1={'0' * 64},v1={good}").status_code == 200


@pytest.mark.parametrize(
    "signature",
    [
        "",
        "garbage",
        "t=abc,v1=" + "0" * 64,
        "v1=" + "0" * 64,
        "t=1700000000",
        "t=1,t=2,v1=" + "0" * 64,
        "t=１２,v1=" + "0" * 64,
        "t=1,v1=xyz",
    ],
)
def test_malformed_signature_header_is_refused(client, record, signature):
    response = post(client, envelope(), signature=signature)
    assert response.status_code == 403
    record.refresh_from_db()
    assert record.status == "pending"


def test_missing_signature_header_is_refused(client, record):
    response = client.post(URL, envelope(), content_type="application/json")
    assert response.status_code == 403


def test_wrong_secret_or_changed_body_is_refused(client, record):
    assert post(client, envelope(), secret="another-secret").status_code == 403
    t = int(time.time())
    signature = sign(SECRET, t, envelope(status="delivered"))
    assert post(client, envelope(status="failed"), signature=signature).status_code == 403
    record.refresh_from_db()
    assert record.status == "pending"


# int(time.time()) is up to a second behind: a skew of 302 s stays outside the 300 s window.
@pytest.mark.parametrize("skew", [-302, 302, -10**6])
def test_stale_or_future_timestamp_is_refused_as_replay(client, record, skew):
    response = post(client, envelope(), timestamp=int(time.time()) + skew)
    assert response.status_code == 403
    record.refresh_from_db()
    assert record.status == "pending"


def test_timestamp_in_milliseconds_is_accepted_and_checked_for_replay(client, record):
    now_ms = int(time.time() * 1000)
    assert post(client, envelope(), timestamp=now_ms).status_code == 200
    record.refresh_from_db()
    assert record.status == "delivered"
    assert post(client, envelope(status="pending"), timestamp=now_ms - 301_000).status_code == 403


def test_tolerance_is_a_setting(client, record, settings):
    settings.OTP_SMS_WEBHOOK_TOLERANCE = 3600
    assert post(client, envelope(), timestamp=int(time.time()) - 1800).status_code == 200


def test_unknown_session_is_404_and_changes_nothing(client, record):
    response = post(client, envelope(session_id="00000000-0000-4000-8000-000000000000"))
    assert response.status_code == 404 and b"0000" not in response.content
    record.refresh_from_db()
    assert record.status == "pending"


def test_session_of_another_gateway_is_unknown_here(client, device):
    DeliveryRecord.objects.create(device=device, gateway="other", reference=SESSION, outcome="sent")
    assert post(client, envelope()).status_code == 404


@pytest.mark.parametrize("alias", ["nope", "zignsec-nosecret", "signicat"])
def test_alias_that_takes_no_webhooks_is_404(client, record, alias):
    response = post(client, envelope(), url=f"/sms/webhooks/zignsec/{alias}/")
    assert response.status_code == 404


def test_oversized_body_is_refused_before_parsing(client, record, settings):
    settings.OTP_SMS_WEBHOOK_MAX_BYTES = 1024
    body = json.dumps({"id": SESSION, "result": {"status": "delivered"}, "pad": "x" * 2000}).encode()
    response = post(client, body)
    assert response.status_code == 413
    record.refresh_from_db()
    assert record.status == "pending"


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[1, 2]",
        b"\xff\xfe",
        json.dumps({"id": SESSION}).encode(),
        json.dumps({"id": 5, "result": {"status": "delivered"}}).encode(),
        json.dumps({"id": "../x", "result": {"status": "delivered"}}).encode(),
        json.dumps({"id": SESSION, "result": {"status": "x" * 33}}).encode(),
        json.dumps({"id": SESSION, "result": {"status": "deliv\nered"}}).encode(),
    ],
)
def test_malformed_body_with_a_good_signature_is_400(client, record, body):
    response = post(client, body)
    assert response.status_code == 400 and response.content == b"malformed body\n"


def test_only_post(client, record):
    assert client.get(URL).status_code == 405


def test_csrf_is_not_required(record):
    from django.test import Client

    response = post(Client(enforce_csrf_checks=True), envelope())
    assert response.status_code == 200


def test_unknown_status_is_recorded_raw(client, record):
    assert post(client, envelope(status="queued_at_operator")).status_code == 200
    record.refresh_from_db()
    assert record.status == "queued_at_operator"


def test_final_statuses_option_decides_what_a_late_report_may_not_undo(client, record, sandbox):
    entry = zignsec_entry(sandbox, webhook_secret=SECRET, final_statuses=["delivered", "Finished"])
    with override_settings(SMS_GATEWAYS={"zignsec": entry}):
        assert post(client, envelope(status="finished")).status_code == 200
        assert post(client, envelope(status="pending")).status_code == 200
    record.refresh_from_db()
    assert record.status == "finished"


def test_status_may_come_in_the_generic_event_specific_data(client, record):
    body = json.dumps({"event": "session_updated", "id": SESSION,
                       "result": {"errors": [], "status": "Finished",
                                  "eventSpecificData": {"status": "delivered", "number_of_message_parts": 2}}}).encode()
    assert post(client, body).status_code == 200
    record.refresh_from_db()
    assert record.status == "delivered" and record.segments == 2


def test_unreadable_envelope_is_logged_by_its_shape_only(client, record, caplog):
    caplog.set_level(logging.WARNING, logger="django_sms_gateway")
    body = json.dumps({"id": SESSION, "to": "+4798765432", "code": "271828", "result": {"state": "x"}}).encode()
    assert post(client, body).status_code == 400
    [line] = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert "no usable status" in line and "'to': str" in line and "'result': dict" in line
    assert "98765432" not in caplog.text and "271828" not in caplog.text and SESSION not in caplog.text


@pytest.mark.parametrize(
    ("final", "late"),
    [("delivered", "pending"), ("Delivered", "PENDING")],
    ids=["as-documented", "words-compare-without-case-and-are-kept-raw"],
)
def test_late_non_final_report_does_not_undo_a_final_status(client, record, final, late):
    assert post(client, envelope(status=final)).status_code == 200
    assert post(client, envelope(status=late)).status_code == 200
    record.refresh_from_db()
    assert record.status == final


def test_logs_show_no_full_number_and_responses_echo_nothing(client, record, caplog):
    caplog.set_level(logging.DEBUG, logger="django_sms_gateway")
    response = post(client, envelope())
    bad = post(client, envelope(), signature="t=1,v1=" + "a" * 64)
    assert "98765432" not in caplog.text and SECRET not in caplog.text
    assert SESSION.encode() not in response.content and SESSION.encode() not in bad.content
