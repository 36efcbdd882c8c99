"""AccuAuth over real HTTP against the sandbox: the request is the documented
one field for field, every documented status and every fault maps to the
right error, and the next gateway takes over."""

from __future__ import annotations

import json
import logging
import re
from urllib.parse import parse_qs

import pytest
from django.core.exceptions import ImproperlyConfigured

from django_sms_gateway.backends.accuauth import INDIA_BASE_URL, INDONESIA_BASE_URL, AccuAuthBackend
from django_sms_gateway.dispatch import build_message
from django_sms_gateway.exceptions import (
    GatewayAuthError,
    GatewayConnectionError,
    GatewayError,
    GatewayRateLimited,
    GatewayUnavailable,
    RequestRejected,
)
from django_sms_gateway.models import DeliveryRecord
from sms_sandbox import CREDENTIALS
from sms_sandbox.accuauth import ERROR_STATUSES

from .helpers import HTTP_FAULT_ERRORS, LOCMEM_ENTRY, NUMBER, closed_port_url, gateway_entry

VENDOR = "accuauth"
CODE = "123456"
REQUEST_ID = re.compile(r"TID[0-9a-f]{32}")


def send(backend, code=CODE, validity=300, number=NUMBER):
    return backend.send(build_message(number, code, validity=validity), timeout=2)


# -- the request ---------------------------------------------------------------


def test_form_request_matches_the_document(sandbox, make_backend):
    send(make_backend())
    request = sandbox.last_request("accuauth")
    assert request.method == "POST"
    assert request.path == "/accuauth/data/send_sms_otp"
    assert request.headers["X-DF-API-ID"] == CREDENTIALS["accuauth"]["api_id"]
    assert request.headers["X-DF-API-SECRET"] == CREDENTIALS["accuauth"]["api_secret"]
    assert "Authorization" not in request.headers
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert parse_qs(request.body.decode(), strict_parsing=True) == {
        "phone_number": [NUMBER], "content": [f"code:{CODE},expire_at:5"]
    }
    assert sandbox.messages[-1]["text"] == f"Your verification code is {CODE}. It expires in 5 minutes."
    assert sandbox.messages[-1]["recipient"] == NUMBER


def test_json_encoding_sends_json_which_a_form_reading_server_refuses(sandbox, make_backend):
    """``encoding="json"`` stays for an account whose server reads JSON; the
    sandbox reads forms, as the vendor page's error example suggests."""
    with pytest.raises(RequestRejected, match=r"invalid \(argument 'phone_number'\)"):
        send(make_backend(encoding="json"))
    request = sandbox.last_request("accuauth")
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.body) == {"phone_number": NUMBER, "content": f"code:{CODE},expire_at:5"}
    assert sandbox.messages == []


def test_national_phone_format(sandbox, make_backend):
    send(make_backend(phone_format="national"), number="+6281234567890")
    assert sandbox.last_request("accuauth").parsed["phone_number"] == "081234567890"
    assert sandbox.messages[-1]["recipient"] == "+6281234567890"


def test_template_and_digits_only_number(sandbox, make_backend):
    send(make_backend(template_id="otp_short", phone_format="digits"))
    request = sandbox.last_request("accuauth")
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert parse_qs(request.body.decode(), strict_parsing=True) == {
        "phone_number": ["4798765432"],
        "template_id": ["otp_short"],
        "content": [f"code:{CODE},expire_at:5"],
    }
    assert sandbox.messages[-1]["text"] == f"Code: {CODE}"


@pytest.mark.parametrize("validity, minutes", [(60, 1), (61, 2), (600, 10), (86400, 1440)])
def test_content_carries_the_code_and_its_lifetime_in_minutes(sandbox, make_backend, validity, minutes):
    send(make_backend(), validity=validity)
    assert sandbox.last_request("accuauth").parsed["content"] == f"code:{CODE},expire_at:{minutes}"


def test_custom_content_variables(sandbox, make_backend):
    send(make_backend(template_id="otp_short", content="brand:Acme {{x}},code:{token}"))
    assert sandbox.last_request("accuauth").parsed["content"] == f"brand:Acme {{x}},code:{CODE}"
    assert sandbox.messages[-1]["text"] == f"Code: {CODE}"


def test_sender_is_accepted_but_not_sent(sandbox, make_backend):
    send(make_backend(sender="Acme"))
    assert set(sandbox.last_request("accuauth").parsed) == {"phone_number", "content"}


def test_success_gives_request_id_and_charge(make_backend):
    result = send(make_backend())
    assert REQUEST_ID.fullmatch(result.reference)
    assert result.status == "OK" and result.charge == 1 and result.segments == 1


def test_one_connection_is_kept_alive_for_many_messages(sandbox, make_backend):
    backend = make_backend()
    for _ in range(5):
        send(backend)
    assert sandbox.stats["accuauth"] == {"requests": 5, "connections": 1}


# -- the device and the delivery record ------------------------------------------------


@pytest.mark.django_db
def test_device_code_goes_out_as_a_variable_and_verifies(sandbox, settings, device, sms_outbox):
    settings.SMS_GATEWAYS = {"accuauth": gateway_entry("accuauth", sandbox), "locmem": LOCMEM_ENTRY}
    device.generate_challenge()
    assert not sms_outbox
    text = sandbox.messages[-1]["text"]
    code = re.search(r"code is (\d+)\.", text).group(1)
    assert device.verify_token(code) is True
    record = DeliveryRecord.objects.get(device=device)
    assert record.gateway == "accuauth" and record.outcome == "sent" and record.status == "OK"
    assert REQUEST_ID.fullmatch(record.reference)
    assert record.charge == 1 and record.segments == 1
    assert record.number_masked == "+47******32"


# -- errors and fallback -------------------------------------------------------------

EXPECTED_BY_STATUS = {
    "FAILED": GatewayUnavailable,
    "INVALID_ARGUMENT": RequestRejected,
    "UNAUTHORIZED": GatewayAuthError,
    "KEY_EXPIRED": GatewayAuthError,
    "NO_PERMISSION": GatewayAuthError,
    "OUT_OF_QUOTA": GatewayRateLimited,
    "RATE_LIMIT_EXCEEDED": GatewayRateLimited,
    "NOT_FOUND": GatewayUnavailable,
    "INTERNAL_ERROR": GatewayUnavailable,
}


def test_every_documented_status_is_mapped():
    assert set(EXPECTED_BY_STATUS) == set(ERROR_STATUSES)


@pytest.mark.parametrize("status", sorted(ERROR_STATUSES))
def test_each_documented_status_maps_to_our_error(sandbox, make_backend, status):
    sandbox.set_fault("accuauth", status)
    with pytest.raises(GatewayError) as info:
        send(make_backend())
    error = info.value
    assert type(error) is EXPECTED_BY_STATUS[status]
    assert error.retry_next is True
    assert error.status_code == ERROR_STATUSES[status] and error.vendor_status == status
    assert status in error.reason
    assert "sandbox" not in error.reason.lower()  # nothing of the vendor's reason text


FAULTS = [
    *HTTP_FAULT_ERRORS,
    *sorted(EXPECTED_BY_STATUS.items()),
]


@pytest.mark.django_db
@pytest.mark.parametrize("fault, expected", FAULTS)
def test_fault_falls_back_to_the_next_gateway(sandbox, settings, device, sms_outbox, failures, fault, expected):
    settings.SMS_GATEWAYS = {"accuauth": gateway_entry("accuauth", sandbox, timeout=0.5), "locmem": LOCMEM_ENTRY}
    sandbox.set_fault("accuauth", fault)
    device.generate_challenge()
    assert [type(e) for e in failures] == [expected]
    assert len(sms_outbox) == 1 and sms_outbox[0].gateway == "locmem"
    assert device.verify_token(sms_outbox[0].code) is True
    # Tried once: an answer (or a broken connection) may mean an SMS went out.
    assert sandbox.stats["accuauth"]["requests"] == 1
    records = list(DeliveryRecord.objects.order_by("id").values_list("gateway", "outcome", "reason"))
    assert [r[:2] for r in records] == [("accuauth", "failed"), ("locmem", "sent")]
    assert records[0][2] == failures[0].reason


@pytest.mark.django_db
def test_connection_refused_is_tried_once_more_then_falls_back(settings, device, sms_outbox, failures):
    settings.SMS_GATEWAYS = {"accuauth": gateway_entry("accuauth", None, base_url=closed_port_url("accuauth")),
                             "locmem": LOCMEM_ENTRY}
    device.generate_challenge()
    assert len(failures) == 1 and type(failures[0]) is GatewayConnectionError and failures[0].not_sent
    assert sms_outbox[0].gateway == "locmem"


def test_wrong_credentials_are_an_auth_error(sandbox, make_backend):
    with pytest.raises(GatewayAuthError) as info:
        send(make_backend(api_secret="not-the-secret"))
    assert info.value.vendor_status == "UNAUTHORIZED" and info.value.status_code == 401
    assert not sandbox.messages


def test_wrong_base_url_path_says_to_check_base_url(sandbox, make_backend):
    with pytest.raises(GatewayUnavailable) as info:
        send(make_backend(base_url=sandbox.base_url("accuauth") + "/v2"))
    assert info.value.vendor_status == "NOT_FOUND" and "base_url" in info.value.reason


@pytest.mark.parametrize(
    "options, argument",
    [
        ({"template_id": "no-such-template"}, "template_id"),
        ({"content": "otp:{token}"}, "content"),  # the vendor's template wants "code"
    ],
)
def test_invalid_argument_names_the_field_but_keeps_no_vendor_text(make_backend, options, argument):
    with pytest.raises(RequestRejected) as info:
        send(make_backend(**options))
    error = info.value
    assert error.vendor_status == "INVALID_ARGUMENT" and error.status_code == 400
    assert f"argument '{argument}'" in error.reason
    assert "not found" not in error.reason and "no-such-template" not in error.reason


def test_unknown_status_falls_back_to_the_http_status(make_backend):
    backend = make_backend()
    from django_sms_gateway.backends.http import VendorResponse

    def answer(status, payload):
        return VendorResponse(status, {}, json.dumps(payload).encode())

    with pytest.raises(GatewayRateLimited):
        backend.read_result(answer(429, {"status": "SLOW_DOWN", "reason": "x"}))
    with pytest.raises(GatewayUnavailable):
        backend.read_result(answer(503, {"status": "MAINTENANCE"}))
    with pytest.raises(RequestRejected):
        backend.read_result(answer(400, {"status": "WHATEVER"}))
    with pytest.raises(GatewayUnavailable) as info:
        backend.read_result(answer(200, {"status": "PENDING"}))
    assert "PENDING" in info.value.reason
    with pytest.raises(GatewayUnavailable):
        backend.read_result(answer(200, {"status": "OK <script>"}))
    # Accepted is accepted: an odd charge or id must not cause a second SMS elsewhere.
    result = backend.read_result(answer(200, {"status": "OK", "charge_info": {"charge": "one"}, "request_id": 7}))
    assert result.charge is None and result.reference is None


@pytest.mark.django_db
def test_failures_log_neither_code_nor_number(sandbox, settings, device, sms_outbox, caplog):
    caplog.set_level(logging.DEBUG)
    settings.SMS_GATEWAYS = {"accuauth": gateway_entry("accuauth", sandbox), "locmem": LOCMEM_ENTRY}
    sandbox.set_fault("accuauth", "INVALID_ARGUMENT")
    device.generate_challenge()
    code = sms_outbox[0].code
    assert "accuauth" in caplog.text
    assert code not in caplog.text and "98765432" not in caplog.text


# -- configuration -------------------------------------------------------------------


def build(**options):
    base = {"api_id": "id", "api_secret": "secret"}
    return AccuAuthBackend("accu", {**base, **options})


def test_defaults():
    backend = build()
    assert backend.base_url == INDONESIA_BASE_URL
    assert backend.config["content"] == "code:{token},expire_at:{minutes}"
    assert backend.config["encoding"] == "form" and backend.config["phone_format"] == "e164"
    assert build(base_url=INDIA_BASE_URL).base_url == "https://cloudapi.accuauth.in"


@pytest.mark.parametrize("missing", ["api_id", "api_secret"])
def test_credentials_are_required(missing):
    options = {"api_id": "id", "api_secret": "secret"}
    del options[missing]
    with pytest.raises(ImproperlyConfigured, match=rf"'accu'.*{missing}.*required"):
        AccuAuthBackend("accu", options)


@pytest.mark.parametrize(
    "options, complaint",
    [
        ({"api_id": "  "}, "'api_id' must be a non-empty string"),
        ({"api_secret": "a\nb"}, "'api_secret' contains control characters"),
        ({"template_id": ""}, "'template_id'"),
        ({"template_id": 12}, "'template_id'"),
        ({"encoding": "xml"}, "'encoding' must be one of 'form', 'json', not 'xml'"),
        ({"phone_format": "local"}, "'phone_format' must be one of 'e164', 'digits', 'national', not 'local'"),
        ({"content": ""}, "'content' must be a non-empty string"),
        ({"content": None}, "'content' must be a non-empty string"),
        ({"content": "code={token}"}, "not a name:value pair"),
        ({"content": "code:{token},"}, "not a name:value pair"),
        ({"content": "code:"}, "not a name:value pair"),
        ({"content": " code:{token}"}, "not a template variable name"),
        ({"content": "code:{token},code:{token}"}, "given twice"),
        ({"content": "code:{code}"}, "unknown placeholder {code}"),
        ({"content": "code:{site_name}{token}"}, "unknown placeholder {site_name}"),
        ({"content": "code:{token:>8}"}, "format spec"),
        ({"content": "code:{token!r}"}, "format spec or conversion"),
        ({"content": "code:{token"}, "malformed"),
        ({"content": "code:a:{token}"}, "contains ':'"),
        ({"content": "expire_at:{minutes}"}, "must carry the code"),
        ({"base_url": "ftp://example.com"}, "'base_url' must be an http(s) URL"),
        ({"from": "Acme"}, "unknown option 'from'"),
    ],
)
def test_bad_options_are_refused_with_the_option_named(options, complaint):
    with pytest.raises(ImproperlyConfigured) as info:
        build(**options)
    assert "SMS_GATEWAYS['accu']" in str(info.value) and complaint in str(info.value)


def test_template_length_check_does_not_apply(settings):
    """The vendor renders its own template: OTP_SMS_MESSAGE's length is irrelevant."""
    from django_sms_gateway.checks import check_gateways

    settings.SMS_GATEWAYS = {"accuauth": {"BACKEND": "django_sms_gateway.backends.accuauth.AccuAuthBackend",
                                          "OPTIONS": {"api_id": "id", "api_secret": "secret"}}}
    settings.OTP_SMS_MESSAGE = "{token} " + "x" * 400
    assert [m.id for m in check_gateways()] == []
