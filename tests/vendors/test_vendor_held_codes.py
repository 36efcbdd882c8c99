"""The check of a code the vendor made, for each vendor that makes, sends and
checks its own codes (iP1, Twilio Verify): the right code once, a check that
cannot answer raises. The requests as each vendor documents them are in its
own module; how a device uses such codes: tests/test_device_vendor_codes.py."""

import pytest

from django_sms_gateway.dispatch import build_message

from .helpers import HTTP_FAULT_ERRORS, NUMBER, gateway_entry, other_code


@pytest.fixture
def backend(vendor, sandbox, built_backends):
    """The vendor's backend, after it sent its own code to ``NUMBER``."""
    built = built_backends(vendor.alias, gateway_entry(vendor.alias, sandbox))
    built.send(build_message(NUMBER, "123456"), timeout=2)
    return built


def test_the_vendor_accepts_its_code_once(vendor, sandbox, backend):
    code = vendor.code_of(sandbox)
    assert backend.verify(NUMBER, other_code(code), timeout=2) is False
    assert backend.verify(NUMBER, code, timeout=2) is True  # the wrong guess did not spend it
    assert sandbox.last_request(vendor.alias).parsed == vendor.check_fields(code)
    assert backend.verify(NUMBER, code, timeout=2) is False  # used at the vendor
    assert backend.verify("+4798765400", code, timeout=2) is False


@pytest.mark.parametrize("fault, expected", HTTP_FAULT_ERRORS)
def test_a_check_that_cannot_answer_raises(vendor, sandbox, backend, fault, expected):
    sandbox.set_fault(vendor.alias, fault)
    with pytest.raises(expected):
        backend.verify(NUMBER, vendor.code_of(sandbox), timeout=0.5)
