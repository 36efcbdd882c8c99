"""Vonage delivery receipts: refused unless signed with the signature secret
and fresh, in each signature method and each way Vonage sends them (POST
form, POST JSON, and GET where the gateway allows it); the status they
record."""

import hashlib
import hmac
import json
import time
from urllib.parse import urlencode

import pytest
from django.urls import reverse

from django_sms_gateway.webhooks.vonage import parse_receipt, signature, signature_valid
from sms_sandbox import CREDENTIALS

from .helpers import gateway_entry

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.vendors.urls"),
              pytest.mark.usefixtures("webhook_gateways")]

URL = "/sms/webhooks/vonage/vonage/"
SECRET = "sig-secret-for-tests"
MESSAGE_ID = "0A0000001234ABCD"
API_KEY = CREDENTIALS["vonage"]["api_key"]


def entry(sandbox, **options):
    return gateway_entry("vonage", sandbox, signature_secret=SECRET, **options)


RECORD = {"gateway": "vonage", "reference": MESSAGE_ID, "status": "accepted"}


def gateways(sandbox):
    return {
        "vonage": entry(sandbox),
        "vonage-get": entry(sandbox, receipts_by_get=True),
        "vonage-sha256": entry(sandbox, signature_method="sha256"),
        "vonage-unsigned": gateway_entry("vonage", sandbox),
    }


def deliver(client, params, url=URL):
    """``params`` as Vonage's POST webhook format sends them (a form)."""
    return client.post(url, urlencode(params), content_type="application/x-www-form-urlencoded")


def receipt(status="delivered", *, method="md5hash", secret=SECRET, timestamp=None, **extra):
    params = {"msisdn": "4798765432", "to": "Acme", "network-code": "24201", "messageId": MESSAGE_ID,
              "price": "0.03330000", "status": status, "scts": "2012101240", "err-code": "0",
              "api-key": API_KEY, "message-timestamp": "2026-12-01 10:00:00",
              "timestamp": str(int(time.time()) if timestamp is None else timestamp), "nonce": "a1b2c3", **extra}
    params["sig"] = signature(secret, method, params)
    return params


def test_md5hash_signature_is_vonages_documented_algorithm():
    params = {"b": "x&y", "a": "1=2", "timestamp": "1"}
    signed = "&a=1_2&b=x_y&timestamp=1" + SECRET
    assert signature(SECRET, "md5hash", params) == hashlib.md5(signed.encode()).hexdigest()  # noqa: S324


def test_hmac_signature_is_keyed_with_the_secret():
    params = {"a": "1", "timestamp": "1"}
    expected = hmac.new(SECRET.encode(), b"&a=1&timestamp=1", hashlib.sha256).hexdigest()
    assert signature(SECRET, "sha256", params) == expected


def test_url_name_and_path():
    assert reverse("django_sms_gateway:vonage-webhook", args=["vonage"]) == URL


@pytest.mark.parametrize("how", ["get", "form", "json"])
def test_signed_receipt_is_recorded_however_vonage_sends_it(client, record, how):
    params = receipt()
    if how == "get":
        record.gateway = "vonage-get"
        record.save()
        response = client.get("/sms/webhooks/vonage/vonage-get/?" + urlencode(params))
    elif how == "form":
        response = deliver(client, params)
    else:
        response = client.post(URL, json.dumps(params), content_type="application/json")
    assert (response.status_code, response.content) == (200, b"ok\n")
    record.refresh_from_db()
    assert record.status == "delivered"


def test_receipts_by_get_are_refused_unless_the_gateway_allows_them(client, record, caplog):
    """A GET puts the recipient's full number (msisdn) in every access log on
    its way: refused (405, POST allowed) and nothing written."""
    response = client.get(URL + "?" + urlencode(receipt()))
    assert (response.status_code, response["Allow"]) == (405, "POST")
    record.refresh_from_db()
    assert record.status == "accepted"
    assert "receipts_by_get" in caplog.text and "4798765432" not in caplog.text


def test_sha256_method(client, record):
    record.gateway = "vonage-sha256"
    record.save()
    params = receipt(method="sha256")
    assert deliver(client, params, "/sms/webhooks/vonage/vonage-sha256/").status_code == 200
    params = receipt(method="md5hash")  # the other method's signature does not pass
    assert deliver(client, params, "/sms/webhooks/vonage/vonage-sha256/").status_code == 403


@pytest.mark.parametrize("tamper", ["status", "secret", "stale", "unsigned", "api-key"])
def test_bad_or_stale_signature_is_refused_and_nothing_is_written(client, record, tamper):
    if tamper == "status":
        params = {**receipt(), "status": "failed"}
    elif tamper == "secret":
        params = receipt(secret="another-secret")
    elif tamper == "stale":
        params = receipt(timestamp=int(time.time()) - 3600)
    elif tamper == "api-key":
        params = receipt(**{"api-key": "00000000"})
    else:
        params = {k: v for k, v in receipt().items() if k != "sig"}
    response = deliver(client, params)
    assert (response.status_code, response.content) == (403, b"signature refused\n")
    record.refresh_from_db()
    assert record.status == "accepted"


def test_a_late_buffered_receipt_does_not_replace_delivered(client, record):
    deliver(client, receipt("delivered"))
    assert deliver(client, receipt("buffered")).status_code == 200
    record.refresh_from_db()
    assert record.status == "delivered"


def test_malformed_receipt_is_400(client, record):
    assert deliver(client, receipt("exploded")).status_code == 400


def test_receipt_for_another_part_is_acknowledged(client, record):
    response = deliver(client, receipt(messageId="0A0000001234ABCE"))
    assert (response.status_code, response.content) == (200, b"ignored\n")


@pytest.mark.parametrize("alias", ["nope", "vonage-unsigned"])
def test_aliases_that_do_not_check_signatures_are_404(client, alias):
    assert deliver(client, receipt(), f"/sms/webhooks/vonage/{alias}/").status_code == 404
    assert client.get(f"/sms/webhooks/vonage/{alias}/?" + urlencode(receipt())).status_code == 404


def test_oversized_receipt_is_413(client, record, settings):
    settings.OTP_SMS_WEBHOOK_MAX_BYTES = 100
    assert deliver(client, receipt(padding="x" * 200)).status_code == 413
    assert client.get("/sms/webhooks/vonage/vonage-get/?" + urlencode(receipt(padding="x" * 200))).status_code == 413


def test_pure_functions():
    params = receipt()
    assert signature_valid(SECRET, "md5hash", params, tolerance=300)
    assert not signature_valid(SECRET, "md5hash", params, tolerance=300, now=time.time() + 3600)
    assert parse_receipt(params) == (MESSAGE_ID, "delivered", True)
    assert parse_receipt({**params, "status": "accepted"}) == (MESSAGE_ID, "accepted", False)
