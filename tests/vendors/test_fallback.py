"""Every fault the sandbox can produce at one vendor makes the dispatcher
fall back to the other vendor with the same code, and the delivery records
say what happened."""

import re
from urllib.parse import urlsplit

import pytest
import urllib3.util.connection
from django.test import override_settings

from django_sms_gateway.models import DeliveryRecord
from sms_sandbox import FAULTS

from .helpers import closed_port_url, signicat_entry, zignsec_entry

pytestmark = pytest.mark.django_db

#: Every fault the sandbox offers for the Signicat SMS call, its token
#: endpoint and the ZignSec API (taken from the sandbox, so new faults are covered), but the
#: delivery faults: those accept the send (the fail-over that follows: tests/vendors/test_failover.py).
FAULT_CASES = [(key, fault) for key in ("signicat", "signicat-token", "zignsec") for fault in FAULTS[key]
               if fault not in ("silent", "undelivered")]
ENTRIES = {"signicat": signicat_entry, "zignsec": zignsec_entry}
CODE = re.compile(r"\b(\d{6})\b")


def code_in(text):
    match = CODE.search(text)
    assert match, "no code in the message"
    return match.group(1)


def sent_text(recorded):
    body = recorded.parsed
    return body["message"] if "message" in body else body["metadata"]["message"]


@pytest.mark.parametrize(("fault_key", "fault"), FAULT_CASES)
def test_fault_at_first_vendor_falls_back_to_the_other_with_the_same_code(sandbox, device, fault_key, fault):
    first = fault_key.split("-")[0]
    second = "zignsec" if first == "signicat" else "signicat"
    sandbox.set_fault(fault_key, fault)
    gateways = {first: ENTRIES[first](sandbox, TIMEOUT=0.4), second: ENTRIES[second](sandbox)}
    with override_settings(SMS_GATEWAYS=gateways):
        device.generate_challenge()

    [delivered] = sandbox.messages
    assert delivered["vendor"] == second
    code = code_in(delivered["text"])
    if fault_key != "signicat-token":  # the SMS request itself reached the failing vendor
        assert code_in(sent_text(sandbox.last_request(fault_key))) == code
    failed, sent = DeliveryRecord.objects.order_by("id")
    assert (failed.gateway, failed.outcome, sent.gateway, sent.outcome) == (first, "failed", second, "sent")
    assert failed.reason and code not in failed.reason
    assert device.verify_token(code) is True


@pytest.mark.parametrize("first", ["signicat", "zignsec"])
def test_connection_refused_is_retried_once_then_falls_back(sandbox, device, monkeypatch, first):
    """The HTTP layer connects a second time (urllib3's Retry); the walk does not call the gateway again."""
    closed = closed_port_url()
    port = urlsplit(closed).port
    connects = []
    original = urllib3.util.connection.create_connection

    def counting(address, *args, **kwargs):
        if address[1] == port:
            connects.append(address)
        return original(address, *args, **kwargs)

    monkeypatch.setattr(urllib3.util.connection, "create_connection", counting)
    second = "zignsec" if first == "signicat" else "signicat"
    gateways = {first: ENTRIES[first](sandbox, base_url=closed), second: ENTRIES[second](sandbox)}
    with override_settings(SMS_GATEWAYS=gateways):
        device.generate_challenge()
    assert len(connects) == 2
    assert [m["vendor"] for m in sandbox.messages] == [second]
    failed = DeliveryRecord.objects.get(gateway=first)
    assert failed.outcome == "failed" and failed.reason == "connection refused"
    assert device.verify_token(code_in(sandbox.messages[0]["text"])) is True


def test_zignsec_session_id_is_recorded_after_signicat_fails(sandbox, device):
    sandbox.set_fault("signicat", "500")
    with override_settings(SMS_GATEWAYS={"signicat": signicat_entry(sandbox), "zignsec": zignsec_entry(sandbox)}):
        device.generate_challenge()
    sent = DeliveryRecord.objects.get(gateway="zignsec")
    assert sent.outcome == "sent" and sent.reference and sent.status == "pending"
    assert DeliveryRecord.objects.get(gateway="signicat").reason == "HTTP 500"
