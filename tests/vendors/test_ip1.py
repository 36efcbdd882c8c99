"""iP1 over real HTTP against the sandbox: the vendor makes, sends and checks
the code, while throttling, expiry and single use stay ours; when iP1 fails,
the next gateway sends our own code and that is the one that counts."""

from __future__ import annotations

import base64
import json
import os
import re
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.utils import timezone

from django_sms_gateway import signals
from django_sms_gateway.backends.ip1 import IP1Backend
from django_sms_gateway.dispatch import build_message
from django_sms_gateway.exceptions import (
    GatewayAuthError,
    GatewayConnectionError,
    GatewayRateLimited,
    GatewayTimeout,
    GatewayUnavailable,
    RequestRejected,
)
from django_sms_gateway.gateways import build_backend
from django_sms_gateway.models import DeliveryRecord, SMSDevice
from django_sms_gateway.sandbox import CREDENTIALS

from .helpers import LOCMEM_ENTRY, TIMEOUT, closed_port_url, ip1_entry

NUMBER = "+4798765432"
DIGITS = "4798765432"
BASIC = "Basic " + base64.b64encode(
    f"{CREDENTIALS['ip1']['account']}:{CREDENTIALS['ip1']['api_key']}".encode()
).decode()
IP1_AUTH = (CREDENTIALS["ip1"]["account"], CREDENTIALS["ip1"]["api_key"])
VALIDATE = "/api/authentications/validate"
DEFAULT_FORMAT = "Your verification code is {0}. It expires in 5 minutes."


def vendor_code(sandbox) -> str:
    """The code iP1 (the sandbox) generated and "sent" last."""
    return re.search(r"code is ([0-9A-Z]+)\.", sandbox.messages[-1]["text"]).group(1)


def other_code(code: str) -> str:
    """A code of the same shape that is surely not ``code``."""
    return "".join("1" if c == "0" else "0" for c in code)


def failure_count(device) -> int:
    return SMSDevice.objects.get(pk=device.pk).throttling_failure_count


@pytest.fixture
def make_backend(sandbox, built_backends):
    return lambda **options: built_backends("ip1", ip1_entry(sandbox, **options))



@pytest.fixture
def ip1_first(sandbox, settings):
    """iP1 first, locmem second; short timeouts so "hang" ends quickly."""
    settings.SMS_GATEWAYS = {"ip1": ip1_entry(sandbox, timeout=0.5), "locmem": LOCMEM_ENTRY}
    return sandbox


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


def test_sender_falls_back_to_otp_sms_sender(sandbox, settings):
    settings.OTP_SMS_SENDER = "+4712345678"
    backend = build_backend("ip1", ip1_entry(sandbox))
    try:
        send(backend)
    finally:
        backend.close()
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


def test_validate_request_matches_the_document_and_accepts_once(sandbox, make_backend):
    backend = make_backend()
    send(backend)
    code = vendor_code(sandbox)
    assert backend.verify(NUMBER, other_code(code), timeout=2) is False
    assert backend.verify(NUMBER, code, timeout=2) is True
    request = sandbox.last_request("ip1")
    assert request.method == "POST" and request.path == "/ip1/api/authentications/validate"
    assert request.headers["Authorization"] == BASIC
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.body) == {"Phone": DIGITS, "Code": code}
    assert backend.verify(NUMBER, code, timeout=2) is False  # used at the vendor
    assert backend.verify("+4798765400", code, timeout=2) is False


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


@pytest.mark.parametrize(
    "fault, expected",
    [
        ("500", GatewayUnavailable),
        ("401", GatewayAuthError),
        ("429", GatewayRateLimited),
        ("refuse", GatewayConnectionError),
        ("hang", GatewayTimeout),
        ("malformed", GatewayUnavailable),  # a 2xx that is not the authentication accepts nothing
        ("oversized", GatewayUnavailable),
    ],
)
def test_validate_that_cannot_answer_raises(sandbox, make_backend, fault, expected):
    backend = make_backend()
    send(backend)
    sandbox.set_fault("ip1", fault)
    with pytest.raises(expected):
        backend.verify(NUMBER, vendor_code(sandbox), timeout=0.5)


def test_validate_400_fault_is_a_wrong_code(sandbox, make_backend):
    backend = make_backend()
    send(backend)
    sandbox.set_fault("ip1", "400", count=1)
    assert backend.verify(NUMBER, vendor_code(sandbox), timeout=2) is False


def test_validate_at_a_closed_port_raises(make_backend):
    backend = make_backend(base_url=closed_port_url("ip1"))
    with pytest.raises(GatewayConnectionError):
        backend.verify(NUMBER, "123456", timeout=1)


# -- the device, end to end --------------------------------------------------------------

@pytest.mark.django_db
def test_device_vendor_code_verifies_once_through_ip1(ip1_first, device, sms_outbox):
    sandbox = ip1_first
    device.generate_challenge()
    assert not sms_outbox
    stored = SMSDevice.objects.get(pk=device.pk)
    assert stored.vendor_gateway == "ip1" and stored.token.startswith("vendor:")
    record = DeliveryRecord.objects.get(device=device)
    assert (record.gateway, record.outcome, record.reference) == ("ip1", "sent", "1")
    code = vendor_code(sandbox)
    assert device.verify_token(code) is True
    assert sandbox.last_request("ip1").parsed == {"Phone": DIGITS, "Code": code}
    assert sandbox.stats["ip1"]["requests"] == 2
    # Reuse is refused on our side, without asking iP1 again.
    assert device.verify_token(code) is False
    assert sandbox.stats["ip1"]["requests"] == 2


@pytest.mark.django_db
def test_device_wrong_vendor_code_is_false_and_counted(ip1_first, device, sms_outbox):
    sandbox = ip1_first
    device.generate_challenge()
    code = vendor_code(sandbox)
    assert device.verify_token(other_code(code)) is False
    assert failure_count(device) == 1
    assert sandbox.stats["ip1"]["requests"] == 2  # iP1 was asked
    # Throttled now: refused on our side, iP1 not asked, its code not spent.
    assert device.verify_token(code) is False
    assert sandbox.stats["ip1"]["requests"] == 2
    SMSDevice.objects.filter(pk=device.pk).update(throttling_failure_timestamp=None)
    assert device.verify_token(code) is True


@pytest.mark.django_db
def test_device_malformed_code_is_refused_without_asking_ip1(ip1_first, device, sms_outbox):
    sandbox = ip1_first
    device.generate_challenge()
    code = vendor_code(sandbox)
    for bad in (code[:-1], code + "1", code[:3] + " " + code[3:], "١٢٣٤٥٦"):
        assert device.verify_token(bad) is False
    assert sandbox.stats["ip1"]["requests"] == 1


@pytest.mark.django_db
def test_device_expired_code_is_refused_without_asking_ip1(ip1_first, device, sms_outbox):
    sandbox = ip1_first
    device.generate_challenge()
    SMSDevice.objects.filter(pk=device.pk).update(valid_until=timezone.now() - timezone.timedelta(seconds=1))
    assert device.verify_token(vendor_code(sandbox)) is False
    assert sandbox.stats["ip1"]["requests"] == 1


@pytest.mark.django_db
@pytest.mark.parametrize("fault", ["500", "401", "429", "refuse", "hang", "malformed", "oversized"])
def test_ip1_unreachable_at_verify_refuses_without_counting(ip1_first, device, sms_outbox, fault):
    sandbox = ip1_first
    device.generate_challenge()
    code = vendor_code(sandbox)
    sandbox.set_fault("ip1", fault)
    assert device.verify_token(code) is False
    assert failure_count(device) == 0
    sandbox.set_fault("ip1", None)
    assert device.verify_token(code) is True  # the code was not spent


@pytest.mark.django_db
def test_ip1_gateway_removed_from_settings_refuses_without_counting(ip1_first, settings, device, sms_outbox):
    device.generate_challenge()
    code = vendor_code(ip1_first)
    settings.SMS_GATEWAYS = {"locmem": LOCMEM_ENTRY}
    assert device.verify_token(code) is False
    assert failure_count(device) == 0


@pytest.mark.django_db
def test_numeric_only_false_letter_codes_verify_in_any_case(sandbox, settings, device, sms_outbox):
    settings.SMS_GATEWAYS = {"ip1": ip1_entry(sandbox, numeric_only=False)}
    device.generate_challenge()
    assert device.verify_token("  " + vendor_code(sandbox).lower() + " ") is True


@pytest.mark.django_db
def test_token_length_setting_reaches_ip1(sandbox, settings, device, sms_outbox):
    settings.OTP_SMS_TOKEN_LENGTH = 8
    settings.SMS_GATEWAYS = {"ip1": ip1_entry(sandbox)}
    device.generate_challenge()
    assert sandbox.last_request("ip1").parsed["Length"] == 8
    code = vendor_code(sandbox)
    assert len(code) == 8 and device.verify_token(code) is True


SEND_FAULTS = [
    ("500", GatewayUnavailable),
    ("401", GatewayAuthError),
    ("429", GatewayRateLimited),
    ("400", RequestRejected),
    ("refuse", GatewayConnectionError),
    ("hang", GatewayTimeout),
    ("malformed", GatewayUnavailable),
    ("oversized", GatewayUnavailable),
]


@pytest.mark.django_db
@pytest.mark.parametrize("fault, expected", SEND_FAULTS)
def test_ip1_down_then_our_code_via_the_next_gateway_counts(
    ip1_first, device, sms_outbox, failures, fault, expected
):
    sandbox = ip1_first
    sandbox.set_fault("ip1", fault)
    device.generate_challenge()
    assert [type(e) for e in failures] == [expected]
    assert sandbox.stats["ip1"]["requests"] == 1
    assert len(sms_outbox) == 1 and sms_outbox[0].gateway == "locmem"
    stored = SMSDevice.objects.get(pk=device.pk)
    assert stored.vendor_gateway == "" and not stored.token.startswith("vendor:")
    sandbox.set_fault("ip1", None)
    assert device.verify_token(sms_outbox[0].code) is True
    assert sandbox.stats["ip1"]["requests"] == 1  # verify never asked iP1
    assert list(DeliveryRecord.objects.order_by("id").values_list("gateway", "outcome")) == [
        ("ip1", "failed"), ("locmem", "sent")
    ]


@pytest.mark.django_db
def test_ip1_refusing_connections_falls_back(settings, device, sms_outbox, failures):
    settings.SMS_GATEWAYS = {"ip1": ip1_entry(None, base_url=closed_port_url("ip1")), "locmem": LOCMEM_ENTRY}
    device.generate_challenge()
    assert len(failures) == 1 and failures[0].not_sent
    assert SMSDevice.objects.get(pk=device.pk).vendor_gateway == ""
    assert device.verify_token(sms_outbox[0].code) is True


@pytest.mark.django_db
def test_a_new_challenge_through_another_gateway_replaces_the_vendor_code(ip1_first, device, sms_outbox):
    sandbox = ip1_first
    device.generate_challenge()
    vendor = vendor_code(sandbox)
    sandbox.set_fault("ip1", "500")
    device.generate_challenge()
    ours = sms_outbox[-1].code
    sandbox.set_fault("ip1", None)
    assert SMSDevice.objects.get(pk=device.pk).vendor_gateway == ""
    if vendor != ours:
        assert device.verify_token(vendor) is False  # checked against our hash, iP1 not asked
        assert sandbox.stats["ip1"]["requests"] == 2
        SMSDevice.objects.filter(pk=device.pk).update(throttling_failure_timestamp=None)
    assert device.verify_token(ours) is True


# -- a second request while iP1 is being asked (deterministic, any database) ---------------


def interleave(monkeypatch, during):
    """Make IP1Backend.verify run ``during()`` (another request) before it answers."""
    real = IP1Backend.verify
    calls: list[str] = []

    def verify(self, recipient, code, *, timeout):
        calls.append(code)
        if len(calls) == 1:
            during()
        return real(self, recipient, code, timeout=timeout)

    monkeypatch.setattr(IP1Backend, "verify", verify)
    return calls


@pytest.mark.django_db
def test_wrong_guess_during_the_check_of_the_right_code_does_not_burn_it(ip1_first, device, sms_outbox, monkeypatch):
    """The double-submit race: a wrong guess arriving while iP1 checks the right
    code used to count a failure that made the right code's success UPDATE miss,
    so neither was accepted and iP1 had already spent the code."""
    device.generate_challenge()
    code = vendor_code(ip1_first)
    other = SMSDevice.objects.get(pk=device.pk)
    refused: list[str] = []
    calls = interleave(monkeypatch, lambda: refused.append(other.verify_token(other_code(code))))
    assert device.verify_token(code) is True
    assert refused == [False] and calls == [code]  # the wrong guess never reached iP1
    assert failure_count(device) == 0  # and was not counted: it was not checked


@pytest.mark.django_db
def test_second_submit_of_the_right_code_does_not_ask_ip1_again(ip1_first, device, sms_outbox, monkeypatch):
    device.generate_challenge()
    code = vendor_code(ip1_first)
    other = SMSDevice.objects.get(pk=device.pk)
    reasons: list[str] = []

    def receiver(sender, reason, **kwargs):
        reasons.append(reason)

    signals.code_refused.connect(receiver)
    try:
        calls = interleave(monkeypatch, lambda: other.verify_token(code))
        assert device.verify_token(code) is True
    finally:
        signals.code_refused.disconnect(receiver)
    assert calls == [code] and reasons == ["check in progress"]
    assert ip1_first.stats["ip1"]["requests"] == 2  # create + one validate


@pytest.mark.django_db
def test_the_reservation_is_undone_after_a_wrong_code_or_a_vendor_failure(ip1_first, device, sms_outbox):
    device.generate_challenge()
    code = vendor_code(ip1_first)
    stored = SMSDevice.objects.get(pk=device.pk).token
    assert device.verify_token(other_code(code)) is False
    assert SMSDevice.objects.get(pk=device.pk).token == stored and failure_count(device) == 1
    SMSDevice.objects.filter(pk=device.pk).update(throttling_failure_timestamp=None)
    ip1_first.set_fault("ip1", "500", count=1)
    assert device.verify_token(code) is False
    assert SMSDevice.objects.get(pk=device.pk).token == stored and failure_count(device) == 1
    assert device.verify_token(code) is True


@pytest.mark.django_db
def test_a_reservation_left_by_a_crash_lapses_after_the_vendor_timeout(ip1_first, device, sms_outbox, monkeypatch):
    """If a process dies while asking iP1, its reservation blocks the code
    (nothing accepted, nothing counted) only until the vendor's timeout and a
    margin are over; then the same code can be checked again."""
    from datetime import timedelta

    from freezegun import freeze_time

    from django_sms_gateway.models import RESERVATION_MARGIN

    with freeze_time(timezone.now()) as clock:
        device.generate_challenge()
        code = vendor_code(ip1_first)

        def crash(self, recipient, candidate, *, timeout):
            raise SystemExit("process killed")

        monkeypatch.setattr(IP1Backend, "verify", crash)
        with pytest.raises(SystemExit):
            device.verify_token(code)
        monkeypatch.undo()
        stuck = SMSDevice.objects.get(pk=device.pk)
        assert stuck.token.startswith("checking:") and len(stuck.token) <= SMSDevice._meta.get_field("token").max_length
        assert device.verify_token(code) is False and failure_count(device) == 0
        assert ip1_first.stats["ip1"]["requests"] == 1  # iP1 not asked while the reservation holds

        clock.tick(timedelta(seconds=TIMEOUT + RESERVATION_MARGIN + 1))
        assert device.verify_token(code) is True


# -- concurrency (PostgreSQL) ----------------------------------------------------------

needs_postgres = pytest.mark.skipif(
    not os.environ.get("DATABASE_URL"),
    reason="needs PostgreSQL: set DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres",
)


def verify_concurrently(device_pk: int, code: str, threads: int = 8) -> list[bool]:
    barrier = threading.Barrier(threads, timeout=10)
    results: list[bool] = []
    lock = threading.Lock()

    def attempt():
        try:
            device = SMSDevice.objects.get(pk=device_pk)
            barrier.wait()
            outcome = device.verify_token(code)
            with lock:
                results.append(outcome)
        finally:
            connection.close()

    workers = [threading.Thread(target=attempt) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=20)
    assert not any(w.is_alive() for w in workers)
    assert len(results) == threads
    return results


# Many threads checking one iP1 code (accepted once, iP1 asked once) and a right
# and a wrong code racing: tests/test_concurrency.py.


@needs_postgres
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_checks_accept_once_even_if_the_vendor_says_yes_twice(
    ip1_first, device, sms_outbox, monkeypatch
):
    """Single use is ours too: a vendor that would accept a code repeatedly
    still lets exactly one of the racing requests in."""
    device.generate_challenge()
    code = vendor_code(ip1_first)
    monkeypatch.setattr(IP1Backend, "verify", lambda self, recipient, candidate, *, timeout: candidate == code)
    results = verify_concurrently(device.pk, code)
    assert results.count(True) == 1


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
        ({"account": "ip1:1"}, "'account' may not contain ':'"),
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
    entry = ip1_entry(sandbox)
    entry["OPTIONS"]["message_format"] = "Code {0}"
    settings.SMS_GATEWAYS = {"ip1": entry}
    assert check_gateways() == []

    del entry["OPTIONS"]["message_format"]
    settings.SMS_GATEWAYS = {"ip1": entry}
    assert [m.id for m in check_gateways()] == ["sms_gateway.E003"]
