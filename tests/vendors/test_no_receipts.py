"""iP1, Signicat and AccuAuth publish no delivery receipts: their gateways
say so (``receipts`` False), so no delivery deadline applies to their sends,
and no webhook route exists for them."""

import pytest
from django.urls import NoReverseMatch, reverse

from .helpers import VENDORS, gateway_entry

pytestmark = pytest.mark.urls("tests.vendors.urls")


@pytest.mark.parametrize("vendor", ["ip1", "signicat", "accuauth"])
def test_vendors_without_receipts_say_so(vendor, sandbox, built_backends):
    backend = built_backends(vendor, gateway_entry(vendor, sandbox))
    assert VENDORS[vendor][0].endswith(type(backend).__name__)
    assert backend.receipts is False
    with pytest.raises(NoReverseMatch):
        reverse(f"django_sms_gateway:{vendor}-webhook", kwargs={"alias": vendor})
