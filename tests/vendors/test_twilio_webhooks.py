"""Twilio status callbacks: X-Twilio-Signature over the status_callback URL
and the sorted parameters, size limit, unknown aliases, and the status it
records."""

import base64
import hashlib
import hmac
from urllib.parse import urlencode

import pytest
from django.urls import reverse

from django_sms_gateway.webhooks.twilio import SIGNATURE_HEADER, parse_status, signature
from sms_sandbox import CREDENTIALS

from .helpers import gateway_entry

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.vendors.urls"),
              pytest.mark.usefixtures("webhook_gateways")]

URL = "/sms/webhooks/twilio/twilio/"
CALLBACK = "https://example.com" + URL
PORT_URL = "/sms/webhooks/twilio/twilio-port/"
PORT_CALLBACK = "https://example.com:8443" + PORT_URL
TOKEN = CREDENTIALS["twilio"]["auth_token"]
SID = "SM" + "0f" * 16


RECORD = {"gateway": "twilio", "reference": SID, "status": "queued"}


def gateways(sandbox):
    return {
        "twilio": gateway_entry("twilio", sandbox, status_callback=CALLBACK),
        "twilio-port": gateway_entry("twilio", sandbox, status_callback=PORT_CALLBACK),
        "twilio-nocallback": gateway_entry("twilio", sandbox),
        "vonage": gateway_entry("vonage", sandbox),
    }


def fields(status="delivered", sid=SID, **extra):
    return {"MessageSid": sid, "SmsSid": sid, "MessageStatus": status, "SmsStatus": status,
            "AccountSid": CREDENTIALS["twilio"]["account_sid"], "To": "+4798765432", "ApiVersion": "2010-04-01",
            **extra}


def post(client, params, *, sign=True, url=URL, token=TOKEN, callback=CALLBACK):
    headers = {}
    if sign:
        headers[SIGNATURE_HEADER] = signature(token, callback, {k: [v] for k, v in params.items()})
    return client.post(url, urlencode(params), content_type="application/x-www-form-urlencoded", headers=headers)


def test_signature_is_twilios_documented_algorithm():
    # HMAC-SHA1 over the URL and each name+value, names sorted; base64.
    params = {"To": "+1", "Body": "hi", "From": "+2"}
    expected = base64.b64encode(hmac.new(TOKEN.encode(), (CALLBACK + "Bodyhi" + "From+2" + "To+1").encode(),
                                         hashlib.sha1).digest()).decode()
    assert signature(TOKEN, CALLBACK, {k: [v] for k, v in params.items()}) == expected


def hand_signed(url, signed_pairs):
    """base64 HMAC-SHA1 with the Auth Token over ``url`` and the name+value
    strings given, written out by hand as twilio-python's RequestValidator
    builds them."""
    return base64.b64encode(hmac.new(TOKEN.encode(), (url + "".join(signed_pairs)).encode(),
                                     hashlib.sha1).digest()).decode()


def test_a_repeated_value_is_signed_once_as_twilio_pythons_validator_does(client, record):
    """RequestValidator sorts each name's de-duplicated values."""
    pairs = [("MessageSid", SID), ("MessageStatus", "delivered"), ("Tag", "b"), ("Tag", "a"), ("Tag", "b")]
    header = hand_signed(CALLBACK, ["MessageSid" + SID, "MessageStatusdelivered", "Taga", "Tagb"])
    response = client.post(URL, urlencode(pairs), content_type="application/x-www-form-urlencoded",
                           headers={SIGNATURE_HEADER: header})
    assert (response.status_code, response.content) == (200, b"ok\n")
    record.refresh_from_db()
    assert record.status == "delivered"


@pytest.mark.parametrize(("url", "signed_over"), [
    (URL, "https://example.com:443" + URL),  # no port configured; Twilio signed with the default port
    (URL, CALLBACK),
    (PORT_URL, "https://example.com" + PORT_URL),  # a port configured; Twilio signed without it
    (PORT_URL, PORT_CALLBACK),
])
def test_the_callback_url_is_checked_with_and_without_its_port(client, record, url, signed_over):
    record.gateway = url.strip("/").rpartition("/")[2]
    record.save()
    params = fields("delivered")
    header = hand_signed(signed_over, [name + params[name] for name in sorted(params)])
    response = client.post(url, urlencode(params), content_type="application/x-www-form-urlencoded",
                           headers={SIGNATURE_HEADER: header})
    assert (response.status_code, response.content) == (200, b"ok\n")
    record.refresh_from_db()
    assert record.status == "delivered"


def test_another_port_or_host_is_not_accepted(client, record):
    params = fields("delivered")
    signed = [name + params[name] for name in sorted(params)]
    for other in ("https://example.com:8443" + URL, "https://example.org" + URL, "http://example.com" + URL):
        response = client.post(URL, urlencode(params), content_type="application/x-www-form-urlencoded",
                               headers={SIGNATURE_HEADER: hand_signed(other, signed)})
        assert response.status_code == 403, other
    record.refresh_from_db()
    assert record.status == "queued"


def test_url_name_and_path():
    assert reverse("django_sms_gateway:twilio-webhook", args=["twilio"]) == URL


def test_signed_status_is_recorded(client, record):
    response = post(client, fields("delivered"))
    assert (response.status_code, response.content) == (200, b"ok\n")
    record.refresh_from_db()
    assert record.status == "delivered"


def test_a_late_non_final_status_does_not_replace_a_final_one(client, record):
    post(client, fields("delivered"))
    assert post(client, fields("sent")).status_code == 200
    record.refresh_from_db()
    assert record.status == "delivered"


@pytest.mark.parametrize(("first", "replays"), [
    ("delivered", ["failed", "delivered", "undelivered", "sent"]),
    ("failed", ["delivered", "failed", "queued"]),
])
def test_the_first_final_status_is_kept_against_every_later_or_replayed_callback(client, record, first, replays):
    """Twilio signs no timestamp, so a captured callback verifies for ever:
    once a final status is recorded, no callback (replayed or genuine)
    changes the record."""
    assert post(client, fields(first)).status_code == 200
    record.refresh_from_db()
    recorded_at = record.updated_at
    for status in replays:
        assert post(client, fields(status)).status_code == 200
    record.refresh_from_db()
    assert (record.status, record.updated_at) == (first, recorded_at)


def test_a_replayed_non_final_callback_writes_nothing(client, record):
    assert post(client, fields("sent")).status_code == 200
    record.refresh_from_db()
    recorded_at = record.updated_at
    assert post(client, fields("sent")).status_code == 200
    record.refresh_from_db()
    assert (record.status, record.updated_at) == ("sent", recorded_at)


@pytest.mark.parametrize("tamper", ["status", "token", "unsigned", "url"])
def test_bad_signature_is_refused_and_nothing_is_written(client, record, tamper):
    params = fields("failed")
    if tamper == "status":
        header = signature(TOKEN, CALLBACK, {k: [v] for k, v in fields("delivered").items()})
        response = client.post(URL, urlencode(params), content_type="application/x-www-form-urlencoded",
                               headers={SIGNATURE_HEADER: header})
    elif tamper == "token":
        response = post(client, params, token="another-token")
    elif tamper == "url":
        response = post(client, params, callback="https://attacker.example/sms/webhooks/twilio/twilio/")
    else:
        response = post(client, params, sign=False)
    assert (response.status_code, response.content) == (403, b"signature refused\n")
    record.refresh_from_db()
    assert record.status == "queued"


@pytest.mark.parametrize("params", [fields(status="exploded"), fields(sid="SM1"), {"MessageStatus": "sent"}])
def test_malformed_callbacks_are_400(client, record, params):
    assert post(client, params).status_code == 400


def test_unknown_message_is_acknowledged_without_writing(client, record):
    response = post(client, fields(sid="SM" + "1" * 32))
    assert (response.status_code, response.content) == (200, b"ignored\n")


@pytest.mark.parametrize("alias", ["nope", "twilio-nocallback", "vonage"])
def test_aliases_without_a_twilio_callback_are_404(client, alias):
    assert post(client, fields(), url=f"/sms/webhooks/twilio/{alias}/").status_code == 404


def test_oversized_body_is_413_before_parsing(client, record, settings):
    settings.OTP_SMS_WEBHOOK_MAX_BYTES = 100
    assert post(client, fields(Body="x" * 200)).status_code == 413


def test_get_is_not_allowed(client):
    assert client.get(URL).status_code == 405


def test_parse_status():
    assert parse_status({"MessageSid": [SID], "MessageStatus": ["undelivered"]}) == (SID, "undelivered", True)
    assert parse_status({"MessageSid": [SID], "MessageStatus": ["sending"]}) == (SID, "sending", False)
