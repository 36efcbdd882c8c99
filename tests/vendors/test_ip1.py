"""iP1 over real HTTP against the sandbox: the create and validate requests
as iP1 documents them, every answer (an explicit ``"Valid": true`` is the
only yes), the credential check and the configuration. How a device uses
iP1's codes (throttling, single use, fallback): tests/test_device_vendor_codes.py."""

from __future__ import annotations

import base64
import json
import re
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from django.core.exceptions import ImproperlyConfigured

from django_sms_gateway.backends.ip1 import ConcurrentLimitReached, IP1Backend
from django_sms_gateway.dispatch import build_message
from django_sms_gateway.exceptions import (
    ConfigurationError,
    GatewayConnectionError,
    GatewayUnavailable,
    RequestRejected,
)
from sms_sandbox import CREDENTIALS

from .helpers import NUMBER, closed_port_url, gateway_entry, ip1_code, other_code

VENDOR = "ip1"
DIGITS = "4798765432"
BASIC = "Basic " + base64.b64encode(
    f"{CREDENTIALS['ip1']['account']}:{CREDENTIALS['ip1']['api_key']}".encode()
).decode()
IP1_AUTH = (CREDENTIALS["ip1"]["account"], CREDENTIALS["ip1"]["api_key"])
VALIDATE = "/api/authentications/validate"
DEFAULT_FORMAT = "Your verification code is {0}. It expires in 5 minutes."
vendor_code = ip1_code


def send(backend, code="123456", validity=300):
    return backend.send(build_message(NUMBER, code, validity=validity), timeout=2)


# -- the create request ---------------------------------------------------------


def test_create_request_matches_the_document(sandbox, make_backend):
    result = send(make_backend())
    request = sandbox.last_request("ip1")
    assert request.method == "POST" and request.path == "/ip1/api/authentications"
    assert request.headers["Authorization"] == BASIC
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.body) == {
        "Phone": DIGITS,
        "MessageFormat": DEFAULT_FORMAT,
        "Length": 6,
        "ExpirationTime": 300,
        "NumericOnly": True,
    }
    assert result.reference == "1" and result.status == "created"
    # iP1 made and sent its own code, not ours.
    assert sandbox.messages[-1]["recipient"] == NUMBER
    assert re.fullmatch(r"Your verification code is \d{6}\. It expires in 5 minutes\.",
                        sandbox.messages[-1]["text"])


def test_sender_format_and_letters(sandbox, make_backend):
    send(make_backend(sender="Acme", message_format="Acme code: {0}", numeric_only=False), validity=900)
    assert sandbox.last_request("ip1").parsed == {
        "Phone": DIGITS,
        "From": "Acme",
        "MessageFormat": "Acme code: {0}",
        "Length": 6,
        "ExpirationTime": 900,
        "NumericOnly": False,
    }
    assert re.fullmatch(r"Acme code: [0-9A-Z]{6}", sandbox.messages[-1]["text"])


def test_sender_falls_back_to_otp_sms_sender(sandbox, make_backend, settings):
    settings.OTP_SMS_SENDER = "+4712345678"
    send(make_backend())
    assert sandbox.last_request("ip1").parsed["From"] == "+4712345678"


def test_message_format_follows_otp_sms_message(sandbox, settings, make_backend):
    settings.OTP_SMS_MESSAGE = "{site_name}: {token} is your code ({minutes} min)"
    settings.OTP_SMS_SITE_NAME = "Acme"
    send(make_backend(), validity=120)
    assert sandbox.last_request("ip1").parsed["MessageFormat"] == "Acme: {0} is your code (2 min)"


def test_length_is_the_code_length(sandbox, make_backend):
    send(make_backend(), code="12345678")
    assert sandbox.last_request("ip1").parsed["Length"] == 8
    assert re.search(r"code is \d{8}\.", sandbox.messages[-1]["text"])


@pytest.mark.parametrize("code, validity", [("12", 300), ("1" * 26, 300), ("123456", 0), ("123456", 86401)])
def test_message_outside_ip1_limits_is_rejected_before_calling(sandbox, make_backend, code, validity):
    with pytest.raises(RequestRejected):
        send(make_backend(), code=code, validity=validity)
    assert sandbox.stats["ip1"]["requests"] == 0


# -- verify ---------------------------------------------------------------------------
# Accepted once, and a check that cannot answer raises: tests/vendors/test_vendor_held_codes.py.


def test_validate_request_matches_the_document(sandbox, make_backend):
    backend = make_backend()
    send(backend)
    code = vendor_code(sandbox)
    assert backend.verify(NUMBER, code, timeout=2) is True
    request = sandbox.last_request("ip1")
    assert request.method == "POST" and request.path == "/ip1/api/authentications/validate"
    assert request.headers["Authorization"] == BASIC
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.body) == {"Phone": DIGITS, "Code": code}


def test_a_wrong_code_answered_200_valid_false_is_refused(sandbox, make_backend):
    """The security regression: iP1 answers a wrong code with 200 and
    ``"Valid": false``; a backend trusting any 2xx let every code in."""
    backend = make_backend()
    send(backend)
    code = vendor_code(sandbox)
    answer = requests.post(sandbox.base_url("ip1") + VALIDATE, json={"Phone": DIGITS, "Code": other_code(code)},
                           auth=IP1_AUTH, timeout=2)
    assert answer.status_code == 200 and answer.json()["Valid"] is False  # the sandbox answers as iP1 does
    assert backend.verify(NUMBER, other_code(code), timeout=2) is False
    assert backend.verify(NUMBER, "999999", timeout=2) is False
    assert backend.verify(NUMBER, code, timeout=2) is True
    assert backend.verify(NUMBER, code, timeout=2) is False  # once


@contextmanager
def answering(status: int, body: bytes):
    """A loopback server that answers every request with ``status`` and ``body`` (JSON)."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("body", [
    {"Valid": False, "Authentication": None, "Phone": DIGITS, "Code": "123456"},
    {"Valid": "true", "Phone": DIGITS, "Code": "123456"},
    {"Valid": 1},
    {"Valid": None},
    {"Authentication": {"ID": 1, "Phone": DIGITS, "IsUsed": True}},  # the authentication alone is no yes
    {},
    [],
    [{"Valid": True}],
    "Valid",
    True,
])
def test_only_an_explicit_valid_true_accepts(make_backend, body):
    with answering(200, json.dumps(body).encode()) as url:
        assert make_backend(base_url=url).verify(NUMBER, "123456", timeout=2) is False


def test_valid_true_accepts(make_backend):
    body = {"Valid": True, "Authentication": {"ID": 1}, "Phone": DIGITS, "Code": "123456"}
    with answering(200, json.dumps(body).encode()) as url:
        assert make_backend(base_url=url).verify(NUMBER, "123456", timeout=2) is True


def test_another_2xx_without_valid_true_is_refused(make_backend):
    with answering(201, b"{}") as url:
        assert make_backend(base_url=url).verify(NUMBER, "123456", timeout=2) is False


def test_an_empty_2xx_is_no_answer(make_backend):
    """Nothing to read (204): neither accepted nor a wrong code."""
    with answering(204, b"") as url, pytest.raises(GatewayUnavailable):
        make_backend(base_url=url).verify(NUMBER, "123456", timeout=2)


def test_letter_codes_are_checked_in_upper_case(sandbox, make_backend):
    backend = make_backend(numeric_only=False)
    send(backend)
    code = vendor_code(sandbox)
    assert backend.verify(NUMBER, code.lower(), timeout=2) is True
    assert sandbox.last_request("ip1").parsed["Code"] == code


def test_validate_400_fault_is_a_wrong_code(sandbox, make_backend):
    backend = make_backend()
    send(backend)
    sandbox.set_fault("ip1", "400", count=1)
    assert backend.verify(NUMBER, vendor_code(sandbox), timeout=2) is False


def test_validate_at_a_closed_port_raises(make_backend):
    backend = make_backend(base_url=closed_port_url("ip1"))
    with pytest.raises(GatewayConnectionError):
        backend.verify(NUMBER, "123456", timeout=1)


# -- configuration -------------------------------------------------------------------------


def build(**options):
    return IP1Backend("ip1", {"account": "ip1-1", "api_key": "key", **options})


def test_defaults():
    backend = build()
    assert backend.base_url == "https://api.ip1sms.com"
    assert backend.verifies_codes is True
    assert backend.config["numeric_only"] is True and backend.config["message_format"] is None


@pytest.mark.parametrize("missing", ["account", "api_key"])
def test_credentials_are_required(missing):
    options = {"account": "ip1-1", "api_key": "key"}
    del options[missing]
    with pytest.raises(ImproperlyConfigured, match=rf"'ip1'.*{missing}.*required"):
        IP1Backend("ip1", options)


@pytest.mark.parametrize(
    "options, complaint",
    [
        ({"account": "ip1:1"}, "'account' must be your iP1 account id, such as 'ip1-12345'"),
        ({"account": "12345"}, "'account' must be your iP1 account id"),
        ({"account": "ip1-"}, "'account' must be your iP1 account id"),
        ({"api_key": "Bearer abc.def"}, "'api_key' looks like an iP1 v2 Bearer token"),
        ({"api_key": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln"}, "'api_key' looks like an iP1 v2 Bearer token"),
        ({"api_key": " "}, "'api_key' must be a non-empty string"),
        ({"api_key": "k\r\n"}, "'api_key' contains control characters"),
        ({"numeric_only": "yes"}, "'numeric_only' must be True or False"),
        ({"message_format": "Your code"}, "must contain {0}"),
        ({"message_format": ""}, "must be a non-empty string"),
        ({"message_format": "{1}: {0}"}, "no '{' or '}' other than {0}"),
        ({"message_format": "{0} " + "x" * 200}, "needs 2 SMS parts"),
        ({"sender": "Far too long sender"}, "'sender' must be numeric"),
        ({"sender": "Acme!"}, "'sender' must be numeric"),
        ({"sender": "+1234567890123456"}, "'sender' must be numeric"),
        ({"Phone": "x"}, "unknown option 'Phone'"),
    ],
)
def test_bad_options_are_refused_with_the_option_named(options, complaint):
    with pytest.raises(ImproperlyConfigured) as info:
        build(**options)
    assert "SMS_GATEWAYS['ip1']" in str(info.value) and complaint in str(info.value)


@pytest.mark.parametrize("setting, value, complaint", [
    ("OTP_SMS_TOKEN_LENGTH", 2, "3 to 25"),
    ("OTP_SMS_TOKEN_LENGTH", 26, "3 to 25"),
    ("OTP_SMS_TOKEN_VALIDITY", 86401, "1 to 86400"),
    ("OTP_SMS_MESSAGE", "{{ref}} {token}", "OTP_SMS_MESSAGE cannot be iP1's MessageFormat"),
])
def test_settings_ip1_cannot_honour_are_refused_at_start_up(settings, setting, value, complaint):
    setattr(settings, setting, value)
    with pytest.raises(ImproperlyConfigured, match=re.escape(complaint)):
        build()


def test_a_custom_format_makes_otp_sms_message_irrelevant(settings):
    settings.OTP_SMS_MESSAGE = "{{ref}} {token}"
    assert build(message_format="Code {0}").config["message_format"] == "Code {0}"


def test_system_check_measures_message_format_not_otp_sms_message(sandbox, settings):
    from django_sms_gateway.checks import check_gateways

    long_message = "Your code is {token}. " + "x" * 150
    settings.OTP_SMS_MESSAGE = long_message
    entry = gateway_entry("ip1", sandbox)
    entry["OPTIONS"]["message_format"] = "Code {0}"
    settings.SMS_GATEWAYS = {"ip1": entry}
    assert check_gateways() == []

    del entry["OPTIONS"]["message_format"]
    settings.SMS_GATEWAYS = {"ip1": entry}
    assert [m.id for m in check_gateways()] == ["sms_gateway.E003"]


@pytest.mark.parametrize("setting, value, check_id", [
    ("OTP_SMS_TOKEN_LENGTH", 26, "sms_gateway.E005"),
    ("OTP_SMS_TOKEN_VALIDITY", 86401, "sms_gateway.E005"),
    ("OTP_SMS_MESSAGE", "{{ref}} {token}", "sms_gateway.E002"),
])
def test_settings_ip1_cannot_honour_carry_their_check_id(settings, setting, value, check_id):
    setattr(settings, setting, value)
    with pytest.raises(ConfigurationError) as info:
        build()
    assert info.value.check_id == check_id and info.value.obj == "SMS_GATEWAYS['ip1']"


# -- ConcurrentLimit ------------------------------------------------------------------------


def test_concurrent_limit_falls_back_with_a_clear_error(sandbox, make_backend):
    """The sandbox allows 5 active authentications per phone, as iP1 does by
    default; the sixth is refused with an error of its own (not sent)."""
    backend = make_backend()
    for _ in range(5):
        send(backend)
    with pytest.raises(ConcurrentLimitReached) as info:
        send(backend)
    assert isinstance(info.value, RequestRejected) and info.value.retry_next
    assert info.value.vendor_status == "ConcurrentLimit" and "active iP1 authentications" in info.value.reason
    assert len(sandbox.messages) == 5
    backend.verify(NUMBER, vendor_code(sandbox), timeout=2)  # one used: room for one more
    send(backend)
    assert len(sandbox.messages) == 6


def test_other_400s_are_not_taken_for_the_concurrent_limit(sandbox, make_backend):
    sandbox.set_fault("ip1", "400", count=1)
    with pytest.raises(RequestRejected) as info:
        send(make_backend())
    assert not isinstance(info.value, ConcurrentLimitReached)


# -- credential check -----------------------------------------------------------------------


def test_credential_check_reads_the_settings_and_sends_nothing(sandbox, make_backend):
    check = make_backend().check_credentials(timeout=2)
    assert (check.outcome, check.detail) == ("accepted", "iP1 accepted the account id and API key (ConcurrentLimit 5)")
    request = sandbox.last_request("ip1")
    assert (request.method, request.path) == ("GET", "/ip1/api/authentications/settings")
    assert request.headers["Authorization"] == BASIC
    assert sandbox.messages == []


def test_credential_check_refused(make_backend):
    check = make_backend(api_key="not-the-key").check_credentials(timeout=2)
    assert check.outcome == "refused" and "HTTP 401" in check.detail
    assert "not-the-key" not in check.detail


@pytest.mark.parametrize("fault", ["500", "429", "hang", "malformed"])
def test_credential_check_without_an_answer_is_unchecked(sandbox, make_backend, fault):
    sandbox.set_fault("ip1", fault)
    check = make_backend().check_credentials(timeout=0.5)
    assert check.outcome == "unchecked" and check.detail.startswith("no verdict from iP1: ")


def test_credential_check_wants_the_settings_not_any_2xx(make_backend):
    with answering(200, b"{}") as url:
        assert make_backend(base_url=url).check_credentials(timeout=2).outcome == "unchecked"


@pytest.mark.django_db
def test_concurrent_limit_hands_the_code_to_the_next_gateway(sandbox, settings, sms_outbox, failures):
    """Several sites (or devices) sharing one iP1 account can reach the limit
    for one number; the next gateway then delivers our own code."""
    from django_sms_gateway.dispatch import send_code

    settings.SMS_GATEWAYS = {"ip1": gateway_entry("ip1", sandbox), "locmem": {
        "BACKEND": "django_sms_gateway.backends.locmem.LocmemBackend"}}
    for _ in range(5):
        assert send_code(NUMBER, "123456").alias == "ip1"
    delivery = send_code(NUMBER, "654321")
    assert delivery.alias == "locmem" and sms_outbox[-1].code == "654321"
    assert [type(error) for error in failures] == [ConcurrentLimitReached]
    assert delivery.attempts[0].reason == "too many active iP1 authentications for this number"
