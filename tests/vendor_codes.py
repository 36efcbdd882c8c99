"""What the tests of a device whose code the vendor makes (iP1, Twilio Verify) share."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from django.db import connection

from django_sms_gateway.backends.base import BaseBackend
from django_sms_gateway.models import SMSDevice


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
