"""Bad input, one table per kind: each row gets a clear answer and writes nothing.

"Nothing written" is checked on everything the package could touch: the
device rows (only a wrong code's failure count may grow, by exactly one), the
delivery records, the local outbox and the sandbox's sent messages. Finer
variants live next to their feature (tests/test_device.py for numbers and
codes, tests/vendors/test_webhooks.py for the webhook, the backends' own
option tests for senders); this table is the one place that checks them all
against the "nothing half-written" rule.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.test import override_settings
from django.utils import timezone

from django_sms_gateway import checks, outbox
from django_sms_gateway.dispatch import build_backend
from django_sms_gateway.exceptions import SMSUnavailable
from django_sms_gateway.models import DeliveryRecord, SMSDevice
from django_sms_gateway.phone import normalize_number
from django_sms_gateway.testing import last_code
from django_sms_gateway.text import TemplateError, compile_template
from sms_sandbox.zignsec import SIGNATURE_HEADER, WEBHOOK_EVENT, sign

from .vendors.helpers import ip1_entry, signicat_entry, zignsec_entry

pytestmark = pytest.mark.django_db

THROTTLING = ("throttling_failure_count", "throttling_failure_timestamp")


def snapshot(sandbox):
    return {
        "devices": list(SMSDevice.objects.order_by("pk").values()),
        "records": list(DeliveryRecord.objects.order_by("pk").values()),
        "outbox": len(outbox),
        "sandbox": len(sandbox.messages),
    }


def assert_nothing_written(before, after, *, counted: bool = False, device=None):
    """Equal snapshots; with ``counted``, ``device``'s failure count grew by one
    (and its timestamp moved) and nothing else changed."""
    if counted:
        was = {d["id"]: d for d in before["devices"]}[device.pk]
        now = {d["id"]: d for d in after["devices"]}[device.pk]
        assert now["throttling_failure_count"] == was["throttling_failure_count"] + 1
        for row in (*before["devices"], *after["devices"]):
            for field in THROTTLING:
                row.pop(field)
    assert after == before


# -- phone numbers --------------------------------------------------------------------------

BAD_NUMBERS = [
    ("+47 987 65 abc", "letters"),
    ("+47 98765432 ext 12", "extension"),
    ("+47 98765432#12", "extension"),
    ("+44 909 876 5432", "premium_rate"),
    ("+47 1881", "short_code"),
    ("+999 123 456 789", "unknown_country"),
    ("+47 987\x0765 432", "control_characters"),
    ("+47 987\u202e65 432", "control_characters"),
    ("+47 " + "9" * 40, "too_long"),
    ("+4798\t765432", "control_characters"),
    (None, "required"),
    (4798765432, "required"),
]


@pytest.mark.parametrize("raw, code", BAD_NUMBERS, ids=[c for _r, c in BAD_NUMBERS])
def test_bad_numbers(user, device, sandbox, raw, code):
    before = snapshot(sandbox)
    with pytest.raises(ValidationError) as direct:
        normalize_number(raw)
    assert direct.value.code == code and str(direct.value.message)
    new = SMSDevice(user=user, name="new", number=raw)
    with pytest.raises(ValidationError) as info:
        new.full_clean()
    assert [e.code for e in info.value.error_dict["number"]] == [code]
    device.number = raw  # an edit of an existing device, refused before any save
    with pytest.raises(ValidationError):
        device.full_clean()
    assert_nothing_written(before, snapshot(sandbox))


# -- codes ------------------------------------------------------------------------------------


def _other_device_code(device, user):
    other = SMSDevice.objects.create(user=user, name="tablet", number="+4741234567")
    other.generate_challenge()
    return last_code("+4741234567")


BAD_CODES = {
    "whitespace inside": lambda code, **_: f"{code[:3]} {code[3:]}",
    "tab inside": lambda code, **_: f"{code[:3]}\t{code[3:]}",
    "arabic-indic digits": lambda code, **_: code.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")),
    "full-width digits": lambda code, **_: code.translate(str.maketrans("0123456789", "０１２３４５６７８９")),
    "superscript digit": lambda code, **_: "²" + code[1:],
    "too short": lambda code, **_: code[:-1],
    "too long": lambda code, **_: code + "0",
    "empty": lambda code, **_: "",
    "None": lambda code, **_: None,
    "float": lambda code, **_: float(code),
    "bytes": lambda code, **_: code.encode(),
    "list": lambda code, **_: [code],
    "bool": lambda code, **_: True,
    "letters": lambda code, **_: "abcdef",
    "wrong": lambda code, **_: "".join(str((int(c) + 1) % 10) for c in code),
}


@override_settings(OTP_SMS_THROTTLE_FACTOR=0)
@pytest.mark.parametrize("name", list(BAD_CODES))
def test_bad_codes_are_false_counted_once_and_spend_nothing(device, sms_outbox, sandbox, name):
    device.generate_challenge()
    code = last_code()
    before = snapshot(sandbox)
    assert device.verify_token(BAD_CODES[name](code)) is False
    assert_nothing_written(before, snapshot(sandbox), counted=True, device=device)
    assert device.verify_token(code) is True  # the real code was not spent


@override_settings(OTP_SMS_THROTTLE_FACTOR=0)
@pytest.mark.parametrize("case", ["replay", "expired", "another device's code", "no code sent"])
def test_codes_that_are_no_longer_or_never_were_good(user, device, sms_outbox, sandbox, case):
    device.generate_challenge()
    code = last_code()
    if case == "replay":
        assert device.verify_token(code) is True
    elif case == "expired":
        SMSDevice.objects.filter(pk=device.pk).update(valid_until=timezone.now() - timedelta(seconds=1))
    elif case == "another device's code":
        code = _other_device_code(device, user)
        if code == last_code("+4798765432"):
            pytest.skip("the two random codes happen to be equal")
    else:
        SMSDevice.objects.filter(pk=device.pk).update(token=None)
    before = snapshot(sandbox)
    assert device.verify_token(code) is False
    assert_nothing_written(before, snapshot(sandbox), counted=True, device=device)


# -- sender IDs --------------------------------------------------------------------------------

BAD_SENDERS = [
    "Far too long sender",  # alphanumeric over 11
    "Acme!",  # punctuation
    "Åcme",  # not A-Z
    "+1234567890123456",  # numeric over 15 digits
    "",
    "   ",
    "Ac\nme",
    12345,  # not a string
]


@pytest.mark.parametrize("entry", [signicat_entry, zignsec_entry, ip1_entry], ids=["signicat", "zignsec", "ip1"])
@pytest.mark.parametrize("sender", BAD_SENDERS, ids=repr)
def test_bad_senders_are_configuration_errors_naming_the_option(device, sandbox, entry, sender):
    before = snapshot(sandbox)
    with pytest.raises(ImproperlyConfigured) as info:
        build_backend("vendor", entry(sandbox, sender=sender))
    assert "SMS_GATEWAYS['vendor']" in str(info.value) and "'sender'" in str(info.value)
    assert_nothing_written(before, snapshot(sandbox))
    assert sandbox.stats["signicat"]["requests"] == sandbox.stats["zignsec"]["requests"] == 0


# -- message templates ---------------------------------------------------------------------------

BAD_TEMPLATES = [
    ("Your code is ready", "must contain {token}", "sms_gateway.E002"),
    ("{code}", "unknown placeholder", "sms_gateway.E002"),
    ("{token!r}", "format spec or conversion", "sms_gateway.E002"),
    ("{token", "malformed", "sms_gateway.E002"),
    ("{token} " + "x" * 200, None, "sms_gateway.E003"),  # needs 2 SMS, iP1 sends 1
    ("{token} ç" + "x" * 70, None, "sms_gateway.E003"),  # one non-GSM character: UCS-2, 70 per SMS
]


@pytest.mark.parametrize("source, problem, check", BAD_TEMPLATES, ids=[c for *_s, c in BAD_TEMPLATES])
def test_bad_templates_are_refused_by_name(device, sandbox, source, problem, check):
    before = snapshot(sandbox)
    if problem:
        with pytest.raises(TemplateError, match=problem):
            compile_template(source)
    with override_settings(OTP_SMS_MESSAGE=source, SMS_GATEWAYS={"ip1": ip1_entry(sandbox)}):
        found = [m for m in checks.check_gateways() if m.id == check]
    assert found and "OTP_SMS_MESSAGE" in found[0].msg
    assert_nothing_written(before, snapshot(sandbox))


def test_a_challenge_with_a_template_without_token_writes_nothing(device, sandbox):
    before = snapshot(sandbox)
    with override_settings(OTP_SMS_MESSAGE="Your code is ready"), pytest.raises(SMSUnavailable) as info:
        device.generate_challenge()
    assert isinstance(info.value.__cause__, (TemplateError, ImproperlyConfigured))  # logged, never shown
    assert_nothing_written(before, snapshot(sandbox))


# -- webhook bodies ---------------------------------------------------------------------------------

SECRET = "whsec-bad-input"
SESSION = "26f5cc23-dbbb-45bb-a210-2818e70637bd"
URL = "/sms/webhooks/zignsec/zignsec/"


def _envelope(session_id=SESSION, **extra):
    return json.dumps({"event": WEBHOOK_EVENT, "id": session_id,
                       "result": {"status": "delivered", "number_of_message_parts": 1}, **extra}).encode()


BAD_WEBHOOKS = {
    # name: (body, signature(body) or a fixed header, expected status)
    "no signature": (_envelope(), None, 403),
    "wrong secret": (_envelope(), lambda b: sign("another-secret", int(time.time()), b), 403),
    "signed other body": (_envelope(), lambda b: sign(SECRET, int(time.time()), _envelope(pad=1)), 403),
    "stale timestamp": (_envelope(), lambda b: sign(SECRET, int(time.time()) - 3600, b), 403),
    "future timestamp": (_envelope(), lambda b: sign(SECRET, int(time.time()) + 3600, b), 403),
    "garbage header": (_envelope(), lambda b: "t=now,v1=zz", 403),
    "unknown session": (_envelope("00000000-0000-4000-8000-000000000000"), "good", 404),
    "oversized": (_envelope(pad="x" * 20_000), "good", 413),
    "not json": (b"{not json", "good", 400),
    "json list": (b"[]", "good", 400),
    "not utf-8": (b"\xff\xfe\x00", "good", 400),
    "session id not a string": (json.dumps({"id": 7, "result": {"status": "delivered"}}).encode(), "good", 400),
    "status with control characters": (
        json.dumps({"id": SESSION, "result": {"status": "deli\x00vered"}}).encode(), "good", 400
    ),
}


@pytest.mark.urls("tests.vendors.urls")
@pytest.mark.parametrize("name", list(BAD_WEBHOOKS))
def test_bad_webhooks_are_4xx_and_change_no_record(client, device, sandbox, settings, name):
    settings.SMS_GATEWAYS = {"zignsec": zignsec_entry(sandbox, webhook_secret=SECRET)}
    DeliveryRecord.objects.create(device=device, gateway="zignsec", reference=SESSION, outcome="sent",
                                  status="pending", number_masked=device.masked_number)
    body, signer, status = BAD_WEBHOOKS[name]
    headers = {}
    if signer == "good":
        headers[SIGNATURE_HEADER] = sign(SECRET, int(time.time()), body)
    elif signer is not None:
        headers[SIGNATURE_HEADER] = signer(body)
    before = snapshot(sandbox)
    response = client.post(URL, body, content_type="application/json", headers=headers)
    assert response.status_code == status
    assert response["Content-Type"].startswith("text/plain") and SESSION.encode() not in response.content
    assert_nothing_written(before, snapshot(sandbox))
