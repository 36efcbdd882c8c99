"""Every log record of sends, fallbacks, webhooks and verifications, from
every logger at DEBUG (urllib3 and requests included), holds no code, no
credential, no bearer token and no full phone number."""

from __future__ import annotations

import logging
import re
import time

import pytest

from django_sms_gateway.models import SMSDevice
from django_sms_gateway.testing import last_code
from sms_sandbox import CREDENTIALS
from sms_sandbox.zignsec import SIGNATURE_HEADER, WEBHOOK_EVENT, sign

from .vendors.helpers import LOCMEM_ENTRY, accuauth_entry, gateway_entry, ip1_entry, signicat_entry, zignsec_entry

pytestmark = pytest.mark.django_db

NUMBER = "+4798765432"
SECRET = "whsec-log-hygiene"
SUBSCRIBER = "98765432"  # the number without its country code: found in any full form


class Everything(logging.Handler):
    """Keeps every record with its message formatted (args applied)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info:
            text += "\n" + logging.Formatter().formatException(record.exc_info)
        self.lines.append(f"{record.name}: {text}")


@pytest.fixture
def logs():
    root = logging.getLogger()
    handler = Everything()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    # Some loggers may have their own level set by other tests or libraries.
    touched = {name: logging.getLogger(name).level for name in ("urllib3", "requests", "django_sms_gateway")}
    for name in touched:
        logging.getLogger(name).setLevel(logging.DEBUG)
    yield handler
    root.removeHandler(handler)
    root.setLevel(old_level)
    for name, level in touched.items():
        logging.getLogger(name).setLevel(level)


def secrets_of_the_sandbox() -> set[str]:
    # Twilio's SIDs name the account in every API path, as a user name would; they are not secrets.
    values = {v for creds in CREDENTIALS.values() for name, v in creds.items()
              if isinstance(v, str) and len(v) >= 6 and not name.endswith("_sid")}
    return values | {SECRET}


def vendor_code(sandbox) -> str:
    return re.search(r"\b([0-9A-Z]{6})\b", sandbox.messages[-1]["text"]).group(1)


def assert_clean(lines: list[str], codes: set[str]) -> None:
    assert lines, "nothing was logged: the capture is broken"
    forbidden = {c for c in codes if c} | secrets_of_the_sandbox() | {SUBSCRIBER}
    for line in lines:
        for value in forbidden:
            assert value not in line, f"{value!r} leaked in log line {line!r}"
        assert not re.search(r"(?i)bearer\s+\S", line), line
        assert not re.search(r"(?i)basic\s+[a-z0-9+/=]{8}", line), line


ENTRIES = {
    "signicat": signicat_entry,
    "zignsec": lambda sb: zignsec_entry(sb, webhook_secret=SECRET),
    "accuauth": accuauth_entry,
    "ip1": ip1_entry,
    "twilio": lambda sb: gateway_entry("twilio", sb),
    "twilio-verify": lambda sb: gateway_entry("twilio-verify", sb),
    "vonage": lambda sb: gateway_entry("vonage", sb),
}


@pytest.mark.parametrize("vendor", list(ENTRIES))
def test_sends_and_verifications_through_every_vendor_log_no_secret(logs, user, sandbox, settings, vendor):
    settings.SMS_GATEWAYS = {vendor: ENTRIES[vendor](sandbox)}
    settings.OTP_SMS_THROTTLE_FACTOR = 0
    device = SMSDevice.objects.create(user=user, name="phone", number=NUMBER)
    device.generate_challenge()
    code = vendor_code(sandbox)
    wrong = "".join("1" if c == "0" else "0" for c in code)
    assert device.verify_token(wrong) is False
    assert device.verify_token(code) is True
    assert device.verify_token(code) is False
    assert any(line.startswith("urllib3") for line in logs.lines)  # the HTTP layer is captured too
    assert_clean(logs.lines, {code, wrong})


@pytest.mark.parametrize("fault", ["500", "401", "429", "hang", "malformed", "oversized", "refuse"])
def test_fallbacks_with_faults_log_no_secret(logs, user, sandbox, settings, sms_outbox, fault):
    settings.SMS_GATEWAYS = {
        "signicat": signicat_entry(sandbox, TIMEOUT=0.5),
        "zignsec": zignsec_entry(sandbox, TIMEOUT=0.5),
        "accuauth": accuauth_entry(sandbox, timeout=0.5),
        "ip1": ip1_entry(sandbox, timeout=0.5),
        "twilio": gateway_entry("twilio", sandbox, timeout=0.5),
        "twilio-verify": gateway_entry("twilio-verify", sandbox, timeout=0.5),
        "vonage": gateway_entry("vonage", sandbox, timeout=0.5),
        "locmem": LOCMEM_ENTRY,
    }
    for vendor in ("signicat", "zignsec", "accuauth", "ip1", "twilio", "twilio-verify", "vonage"):
        sandbox.set_fault(vendor, fault)
    device = SMSDevice.objects.create(user=user, name="phone", number=NUMBER)
    device.generate_challenge()
    code = last_code()
    assert device.verify_token(code) is True
    assert_clean(logs.lines, {code})


def test_ip1_failing_at_verify_logs_no_secret(logs, user, sandbox, settings):
    settings.SMS_GATEWAYS = {"ip1": ip1_entry(sandbox, timeout=0.5)}
    device = SMSDevice.objects.create(user=user, name="phone", number=NUMBER)
    device.generate_challenge()
    code = vendor_code(sandbox)
    for fault in ("500", "401", "hang", "oversized"):
        sandbox.set_fault("ip1", fault)
        assert device.verify_token(code) is False
    assert_clean(logs.lines, {code})


@pytest.mark.urls("tests.vendors.urls")
def test_webhooks_log_no_secret(logs, client, user, sandbox, settings):
    settings.SMS_GATEWAYS = {"zignsec": zignsec_entry(sandbox, webhook_secret=SECRET)}
    device = SMSDevice.objects.create(user=user, name="phone", number=NUMBER)
    device.generate_challenge()
    code = vendor_code(sandbox)
    session = device.deliveries.get().reference
    url = "/sms/webhooks/zignsec/zignsec/"
    body = (f'{{"event": "{WEBHOOK_EVENT}", "id": "{session}", '
            f'"result": {{"status": "delivered", "number_of_message_parts": 1}}}}').encode()
    good = sign(SECRET, int(time.time()), body)
    for signature in (good, sign("wrong", int(time.time()), body), "t=1,v1=" + "0" * 64):
        client.post(url, body, content_type="application/json", headers={SIGNATURE_HEADER: signature})
    malformed = sign(SECRET, int(time.time()), b"{")
    client.post(url, b"{", content_type="application/json", headers={SIGNATURE_HEADER: malformed})
    assert_clean(logs.lines, {code})


@pytest.mark.urls("tests.vendors.urls")
def test_twilio_and_vonage_webhooks_log_no_secret(logs, client, user, sandbox, settings):
    from urllib.parse import urlencode

    from django_sms_gateway.webhooks import twilio, vonage

    callback = "https://example.com/sms/webhooks/twilio/twilio/"
    settings.SMS_GATEWAYS = {"twilio": gateway_entry("twilio", sandbox, status_callback=callback),
                             "vonage": gateway_entry("vonage", sandbox, signature_secret=SECRET)}
    device = SMSDevice.objects.create(user=user, name="phone", number=NUMBER)
    device.generate_challenge()
    code = vendor_code(sandbox)
    sid = device.deliveries.get().reference
    fields = {"MessageSid": sid, "MessageStatus": "delivered", "To": NUMBER}
    token = CREDENTIALS["twilio"]["auth_token"]
    for key in (token, "wrong"):
        header = twilio.signature(key, callback, {k: [v] for k, v in fields.items()})
        client.post("/sms/webhooks/twilio/twilio/", urlencode(fields),
                    content_type="application/x-www-form-urlencoded", headers={twilio.SIGNATURE_HEADER: header})
    receipt = {"messageId": "0A00000000000001", "status": "delivered", "msisdn": NUMBER.lstrip("+"),
               "timestamp": str(int(time.time()))}
    for key in (SECRET, "wrong"):
        signed = {**receipt, "sig": vonage.signature(key, "md5hash", receipt)}
        client.get("/sms/webhooks/vonage/vonage/?" + urlencode(signed))
    assert_clean(logs.lines, {code})
