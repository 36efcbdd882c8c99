"""The delivery faults "silent" and "undelivered": the send is accepted as
usual, the SMS never reaches the inbox, and the inbox page offers and shows
them for each vendor that has them."""

from __future__ import annotations

import re

import pytest
import requests

from sms_sandbox import FAULTS

from .calls import TIMEOUT, call

RECEIPT_VENDORS = ("twilio", "vonage", "zignsec")


@pytest.mark.parametrize("vendor", RECEIPT_VENDORS)
@pytest.mark.parametrize("fault", ["silent", "undelivered"])
def test_a_delivery_fault_accepts_the_send_and_delivers_nothing(sandbox, vendor, fault):
    assert fault in FAULTS[vendor]
    sandbox.set_fault(vendor, fault, count=1)
    accepted = call(sandbox, vendor)
    assert accepted.status_code in (200, 201)
    assert sandbox.messages == [] and sandbox.faults == {}
    assert call(sandbox, vendor).status_code in (200, 201)  # the fault is spent: a normal send
    assert [m["vendor"] for m in sandbox.messages] == [vendor]


def test_the_inbox_page_offers_and_shows_the_delivery_faults(sandbox):
    page = requests.get(sandbox.url + "/", timeout=TIMEOUT).text
    for vendor in RECEIPT_VENDORS:
        assert re.search(rf'name="vendor" value="{vendor}"><input type="hidden" name="fault" value="silent">', page)
        assert re.search(rf'name="vendor" value="{vendor}"><input type="hidden" name="fault" value="undelivered">',
                         page)
    sandbox.set_fault("zignsec", "silent")
    page = requests.get(sandbox.url + "/", timeout=TIMEOUT).text
    assert "accepts, never delivers, no receipt (fault silent)" in page
