"""What the tests of a code the vendor makes, sends and checks (iP1, Twilio
Verify) share: what differs between those vendors, and the helpers."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.db import connection

from django_sms_gateway.backends.base import BaseBackend
from django_sms_gateway.backends.ip1 import IP1Backend
from django_sms_gateway.backends.twilio_verify import TwilioVerifyBackend
from django_sms_gateway.exceptions import (
    GatewayAuthError,
    GatewayTimeout,
    GatewayUnavailable,
    RecipientRateLimited,
    RequestRejected,
)
from django_sms_gateway.models import SMSDevice
from sms_sandbox import Sandbox
from tests.vendors.helpers import HTTP_FAULT_ERRORS, NUMBER, ip1_code, verify_code


@dataclass(frozen=True)
class VendorHoldingCodes:
    """What differs between the vendors that make, send and check the code."""

    alias: str  # the SMS_GATEWAYS alias, and the name its faults are set under
    counted_as: str  # the sandbox's name for the vendor in ``sandbox.stats``
    backend: type[BaseBackend]
    code_of: Callable[[Sandbox], str]  # the code the vendor sent last
    check_fields: Callable[[str], dict[str, Any]]  # the check request's fields for a code
    record_status: str
    reference: str  # a pattern the delivery record's reference matches
    send_faults: list[tuple[str, type[Exception]]]  # sandbox faults at send, and the error each is

    def requests(self, sandbox: Sandbox) -> int:
        return sandbox.stats[self.counted_as]["requests"]


IP1 = VendorHoldingCodes(
    alias="ip1", counted_as="ip1", backend=IP1Backend, code_of=ip1_code,
    check_fields=lambda code: {"Phone": NUMBER.lstrip("+"), "Code": code},
    record_status="created", reference="1",
    send_faults=[*HTTP_FAULT_ERRORS, ("400", RequestRejected)],
)
TWILIO_VERIFY = VendorHoldingCodes(
    alias="twilio-verify", counted_as="twilio", backend=TwilioVerifyBackend, code_of=verify_code,
    check_fields=lambda code: {"To": NUMBER, "Code": code},
    record_status="pending", reference="VE[0-9a-f]{32}",
    send_faults=[
        ("500", GatewayUnavailable), ("401", GatewayAuthError), ("60203", RecipientRateLimited),
        ("hang", GatewayTimeout), ("malformed", GatewayUnavailable),
    ],
)
VENDORS_HOLDING_CODES = [IP1, TWILIO_VERIFY]




def failure_count(device: SMSDevice) -> int:
    return SMSDevice.objects.get(pk=device.pk).throttling_failure_count


def interleave(monkeypatch, backend_class: type[BaseBackend], during: Callable[[], object]) -> list[str]:
    """Make ``backend_class.verify`` run ``during()`` (another request) before
    its first answer; returns the codes it was asked to check."""
    real = backend_class.verify
    calls: list[str] = []

    def verify(self, recipient, code, *, timeout):
        calls.append(code)
        if len(calls) == 1:
            during()
        return real(self, recipient, code, timeout=timeout)

    monkeypatch.setattr(backend_class, "verify", verify)
    return calls


def verify_raising(monkeypatch, device: SMSDevice, backend_class: type[BaseBackend], code: str,
                   error: BaseException) -> None:
    """Check ``code`` while ``backend_class.verify`` raises ``error`` (a crash
    mid-check), and see the error come through."""

    def raising(self, recipient, candidate, *, timeout):
        raise error

    with monkeypatch.context() as patch:
        patch.setattr(backend_class, "verify", raising)
        with pytest.raises(type(error)):
            device.verify_token(code)


def verify_concurrently(device_pk: int, code: str, threads: int = 8) -> list[bool]:
    """``threads`` requests, each with its own database connection, check
    ``code`` at once; their answers."""
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
