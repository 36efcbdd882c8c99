"""Bodies nobody can read are refused cleanly: a vendor answer or a signed
webhook body nested so deeply that the JSON parser runs out of stack is an
unreadable answer (GatewayUnavailable) or a 400, never a server error. (An
unforeseen error while a vendor checks a code: tests/test_device_vendor_codes.py.)"""

from __future__ import annotations

import pytest
from django.test import override_settings

from django_sms_gateway.backends.http import UnreadableJSON, json_object_or_empty, read_json, read_json_object
from django_sms_gateway.backends.ip1 import IP1Backend
from django_sms_gateway.dispatch import build_message
from django_sms_gateway.exceptions import GatewayError, GatewayUnavailable
from sms_sandbox import CREDENTIALS

from .helpers import VENDORS, gateway_entry, vendor_params, zignsec_entry
from .hostile import Hostile
from .test_webhooks import SECRET, envelope, post

DEEP = b"[" * 8_000 + b"]" * 8_000  # under every size limit, over the recursion limit


@pytest.mark.parametrize("body", [DEEP, b'{"a": ' * 30_000 + b"1" + b"}" * 30_000, b"\xff\xfe", b"", b"[]"])
def test_read_json_object_refuses_what_it_cannot_read(body):
    with pytest.raises(UnreadableJSON):
        read_json_object(body)


def test_read_json_reads_json():
    assert read_json(b'{"a": [1, 2]}') == {"a": [1, 2]}


@pytest.mark.parametrize("body", [DEEP, b"\xff\xfe", b"", b"[]", b"12"])
def test_an_error_answer_that_is_no_json_object_reads_as_an_empty_one(body):
    assert json_object_or_empty(body) == {}
    assert json_object_or_empty(b'{"code": 21211}') == {"code": 21211}


def test_a_deeply_nested_vendor_answer_is_an_unreadable_answer():
    answer = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(DEEP) + DEEP
    server = Hostile(lambda: iter([answer]), pause=0)
    backend = IP1Backend("ip1", {**CREDENTIALS["ip1"], "base_url": server.url})
    try:
        with pytest.raises(GatewayUnavailable) as info:
            backend.send(build_message("+4798765432", "123456", validity=300), timeout=2)
    finally:
        backend.close()
        server.close()
    assert info.value.reason == "unreadable answer"


@pytest.mark.django_db
@pytest.mark.urls("tests.vendors.urls")
def test_a_deeply_nested_signed_webhook_body_is_a_400(client, sandbox):
    with override_settings(SMS_GATEWAYS={"zignsec": zignsec_entry(sandbox, webhook_secret=SECRET)}):
        response = post(client, DEEP)
        assert response.status_code == 400
        assert post(client, envelope()).status_code == 404  # still serving: an unknown session, not an error


@pytest.mark.parametrize("status", [b"200 OK", b"400 Bad Request", b"401 Unauthorized", b"500 Server Error"])
@pytest.mark.parametrize("vendor", vendor_params(sorted(VENDORS)))
def test_every_vendor_refuses_a_deeply_nested_answer_as_a_gateway_error(built_backends, vendor, status):
    """Whatever the status, the vendor module reads the body through the one
    safe reader: a GatewayError, never a RecursionError."""
    answer = (b"HTTP/1.1 " + status + b"\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
              % len(DEEP) + DEEP)
    server = Hostile(lambda: iter([answer]), pause=0)
    backend = built_backends(vendor, gateway_entry(vendor, None, base_url=server.url))
    try:
        with pytest.raises(GatewayError):
            backend.send(build_message("+4798765432", "123456", validity=300), timeout=2)
    finally:
        server.close()
