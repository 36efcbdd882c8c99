"""A site lists one vendor first and another second: with the first answering
500 or hanging, the code arrives through the second, over real HTTP against
the sandbox, and that code verifies. Every vendor of helpers.VENDORS whose
backend sends the text it is given takes part."""

import itertools
import re

import pytest
from django.test import override_settings
from django.utils.module_loading import import_string

from django_sms_gateway.models import DeliveryRecord

from .helpers import NEEDS_BOTOCORE, VENDORS, gateway_entry

pytestmark = pytest.mark.django_db

#: Vendors that send the text we give them (vendor-made and vendor-rendered texts are tested in their own files).
FALLBACK_VENDORS = [
    name for name, (path, _options) in VENDORS.items()
    if not (backend := import_string(path)).verifies_codes and backend.uses_site_message
]
#: Every ordered pair.
PAIRS = [
    pytest.param(first, second, id=f"{first}-then-{second}", marks=[NEEDS_BOTOCORE] if "aws" in (first, second) else [])
    for first, second in itertools.permutations(FALLBACK_VENDORS, 2)
]
CODE = re.compile(r"\b(\d{6})\b")
#: The first vendor's time budget: a hung vendor costs this much per test.
HANG_TIMEOUT = 0.25


@pytest.mark.parametrize("fault", ["500", "hang"])
@pytest.mark.parametrize(("first", "second"), PAIRS)
def test_code_arrives_through_the_second_vendor(request, sandbox, device, first, second, fault):
    if "aws" in (first, second):
        request.getfixturevalue("aws_credentials")
    sandbox.set_fault(first, fault)
    gateways = {first: gateway_entry(first, sandbox, timeout=HANG_TIMEOUT), second: gateway_entry(second, sandbox)}
    with override_settings(SMS_GATEWAYS=gateways):
        device.generate_challenge()
        [delivered] = sandbox.messages
        assert (delivered["vendor"], delivered["recipient"]) == (second, device.number)
        failed, sent = DeliveryRecord.objects.order_by("id")
        assert (failed.gateway, failed.outcome, sent.gateway, sent.outcome) == (first, "failed", second, "sent")
        assert device.verify_token(CODE.search(delivered["text"]).group(1)) is True
