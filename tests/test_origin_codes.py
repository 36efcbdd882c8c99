"""Origin-bound one-time codes: the lines OTP_SMS_ORIGIN and OTP_SMS_ANDROID_APP_HASH
add to every SMS, the checks that count and guard them, and vendor formats."""

from __future__ import annotations

import logging
import re

import pytest
from django.test import override_settings

from django_sms_gateway import checks
from django_sms_gateway.dispatch import build_message, gateways
from django_sms_gateway.exceptions import SMSUnavailable
from django_sms_gateway.text import OriginBinding, OriginError, append_origin_lines, compile_template
from tests.vendors.helpers import ACCUAUTH, IP1, credentials, gateway_entry

pytestmark = pytest.mark.django_db

NUMBER = "+4798765432"
LOCMEM = {"locmem": {"BACKEND": "django_sms_gateway.backends.locmem.LocmemBackend"}}
APP_HASH = "FA+9qCX9VSu"
#: A vendor that sends one SMS part at most (never called: checks only build it).
ONE_PART = {"signicat": gateway_entry("signicat", None, base_url="http://127.0.0.1:9")}


def ids(messages) -> list[str]:
    return [message.id for message in messages]


@override_settings(OTP_SMS_ORIGIN="example.com", SMS_GATEWAYS=LOCMEM)
def test_every_text_ends_with_the_origin_line_and_the_code_still_verifies(device, sms_outbox):
    device.generate_challenge()
    [message] = sms_outbox
    lines = message.text.split("\n")
    assert lines[-1] == f"@example.com #{message.code}"
    assert lines[0] == f"Your verification code is {message.code}. It expires in 5 minutes."
    assert lines[-2] == ""  # a blank line between the sentence and the bound line
    assert device.verify_token(message.code)


@override_settings(
    OTP_SMS_ORIGIN="Example.COM", OTP_SMS_EMBEDDED_ORIGIN="pay.example", OTP_SMS_ANDROID_APP_HASH=APP_HASH,
    SMS_GATEWAYS=LOCMEM,
)
def test_embedded_origin_and_app_hash_lines(device, sms_outbox):
    device.generate_challenge()
    [message] = sms_outbox
    assert message.text.split("\n")[-2:] == [APP_HASH, f"@example.com #{message.code} %pay.example"]


@override_settings(OTP_SMS_ANDROID_APP_HASH=APP_HASH, SMS_GATEWAYS=LOCMEM)
def test_app_hash_alone_is_the_last_line(device, sms_outbox):
    device.generate_challenge()
    assert sms_outbox[0].text.split("\n")[-1] == APP_HASH


def test_without_origin_settings_the_text_is_unchanged(device, sms_outbox):
    device.generate_challenge()
    assert "\n" not in sms_outbox[0].text and "@" not in sms_outbox[0].text


@pytest.mark.parametrize(
    "origin",
    ["https://example.com", "example.com:8443", "example.com/login", "exa mple.com", "@example.com", "ex_ample"],
)
def test_an_origin_that_is_not_a_host_is_refused(origin):
    with pytest.raises(OriginError, match="OTP_SMS_ORIGIN must be a host name"):
        OriginBinding.checked(origin)


@pytest.mark.parametrize("app_hash", ["short", "FA+9qCX9VSu!", "FA+9qCX9VS u"])
def test_an_app_hash_that_is_not_eleven_base64_characters_is_refused(app_hash):
    with pytest.raises(OriginError, match="11-character"):
        OriginBinding.checked("example.com", app_hash=app_hash)


def test_a_vendor_format_gets_the_line_with_its_own_placeholder():
    binding = OriginBinding.checked("example.com")
    assert append_origin_lines("Your code is {0}", "{0}", binding) == "Your code is {0}\n\n@example.com #{0}"
    assert append_origin_lines("Your code is {0}", "{0}", None) == "Your code is {0}"


# -- system checks ---------------------------------------------------------


def test_e003_counts_the_origin_line():
    # 150 GSM-7 characters with a 6-digit code: one SMS alone, two with the line.
    message = "Code {token}. " + "x" * (150 - len("Code 123456. "))
    assert compile_template(message).worst_case(6, minutes=5).segments == 1
    with override_settings(OTP_SMS_MESSAGE=message, SMS_GATEWAYS=ONE_PART):
        assert "sms_gateway.E003" not in ids(checks.check_gateways())
        with override_settings(OTP_SMS_ORIGIN="example.com"):
            [error] = [m for m in checks.check_gateways() if m.id == "sms_gateway.E003"]
    assert "needs 2 SMS parts" in error.msg and error.obj == "SMS_GATEWAYS['signicat']"


@override_settings(OTP_SMS_ORIGIN="https://example.com/", SMS_GATEWAYS=LOCMEM)
def test_e015_reports_a_bad_origin():
    [error] = [m for m in checks.check_gateways() if m.id == "sms_gateway.E015"]
    assert "OTP_SMS_ORIGIN must be a host name" in error.msg and error.obj == "OTP_SMS_ORIGIN"


@override_settings(OTP_SMS_ORIGIN="example.com", OTP_SMS_MESSAGE="Code {token}\n@example.com #{token}",
                   SMS_GATEWAYS=LOCMEM)
def test_e015_refuses_a_template_with_its_own_bound_line():
    [error] = [m for m in checks.check_gateways() if m.id == "sms_gateway.E015"]
    assert "already has a line starting '@host #'" in error.msg


def test_w006_warns_when_the_app_hash_message_does_not_fit_one_sms():
    fits_alone = "Code {token}. " + "x" * 140
    with override_settings(OTP_SMS_MESSAGE=fits_alone, SMS_GATEWAYS=LOCMEM):
        assert "sms_gateway.W006" not in ids(checks.check_gateways())
        with override_settings(OTP_SMS_ANDROID_APP_HASH=APP_HASH):
            assert "sms_gateway.W006" in ids(checks.check_gateways())


@override_settings(OTP_SMS_ORIGIN="example.com",
                   SMS_GATEWAYS={"accuauth": {"BACKEND": ACCUAUTH, "OPTIONS": credentials("accuauth")}})
def test_w005_warns_that_a_vendor_template_cannot_carry_the_line():
    [warning] = [m for m in checks.check_gateways() if m.id == "sms_gateway.W005"]
    assert warning.obj == "SMS_GATEWAYS['accuauth']" and "@example.com #" in warning.hint


def ip1_gateways(**options):
    return {"ip1": {"BACKEND": IP1, "OPTIONS": {**credentials("ip1"), **options}}}


@override_settings(OTP_SMS_ORIGIN="example.com")
def test_ip1_message_format_gets_the_line_with_its_placeholder():
    with override_settings(SMS_GATEWAYS=ip1_gateways(message_format="Your code is {0}")):
        backend = gateways["ip1"]
        assert backend.message_format(build_message(NUMBER, "123456")) == "Your code is {0}\n\n@example.com #{0}"
    with override_settings(SMS_GATEWAYS=ip1_gateways()):
        rendered = gateways["ip1"].message_format(build_message(NUMBER, "123456"))
        assert rendered.endswith("\n\n@example.com #{0}") and "123456" not in rendered


@override_settings(OTP_SMS_ORIGIN="example.com", SMS_GATEWAYS=ip1_gateways(message_format="{0}\n@example.com #{0}"))
def test_ip1_message_format_with_its_own_bound_line_is_refused():
    [error] = [m for m in checks.check_gateways() if m.level >= 40]
    assert "option 'message_format' already has a line starting '@host #'" in error.msg


# -- at run time -------------------------------------------------------------


@override_settings(OTP_SMS_ORIGIN="example.com:8000", SMS_GATEWAYS=LOCMEM)
def test_a_bad_origin_at_run_time_is_logged_once_and_never_shown(device, sms_outbox, caplog):
    with caplog.at_level(logging.ERROR, logger="django_sms_gateway"):
        for _attempt in range(3):
            with pytest.raises(SMSUnavailable) as info:
                device.generate_challenge()
            assert "OTP_SMS_ORIGIN" not in str(info.value)
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "sms_gateway.E015" in record.getMessage() and "OTP_SMS_ORIGIN" in record.getMessage()
    assert sms_outbox == []


@pytest.mark.parametrize("message_format", [None, "Acme code: {0}"])
def test_ip1_over_the_wire_ends_with_the_line_holding_its_own_code(sandbox, device, message_format):
    options = {"message_format": message_format} if message_format else {}
    entry = gateway_entry("ip1", sandbox, **options)
    with override_settings(OTP_SMS_ORIGIN="example.com", SMS_GATEWAYS={"ip1": entry}):
        device.generate_challenge()
        text = sandbox.messages[-1]["text"]
        last = text.split("\n")[-1]
        assert re.fullmatch(r"@example\.com #[0-9A-Z]{6}", last), text
        code = last.split("#")[1]
        assert code in text.split("\n")[0]  # the same code iP1 put in the sentence
        assert device.verify_token(code) is True


@pytest.mark.parametrize("vendor", ["signicat", "zignsec"])
def test_vendors_send_the_origin_line_over_the_wire(sandbox, device, vendor):
    with override_settings(OTP_SMS_ORIGIN="example.com", SMS_GATEWAYS={vendor: gateway_entry(vendor, sandbox)}):
        device.generate_challenge()
    text = sandbox.messages[-1]["text"]
    code = re.search(r"code is (\d{6})\.", text).group(1)
    assert text.endswith(f"\n\n@example.com #{code}")
    assert device.verify_token(code) is True
