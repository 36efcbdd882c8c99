"""Backends for tests of the dispatcher (they fail on demand), and a
recorder of the app's signals."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

from django_otp.middleware import OTPMiddleware

from django_sms_gateway import exceptions, signals
from django_sms_gateway.backends.base import BaseBackend, Option, SendResult

calls: list[tuple[str, str, str]] = []  # (alias, recipient, code); emptied around every test
FAIL = f"{__name__}.FailingBackend"
OK = f"{__name__}.RecordingBackend"
VENDOR_CODE = f"{__name__}.VendorCodeBackend"


class FailingBackend(BaseBackend):
    """Raises the exception class named by the ``error`` option (with
    ``not_sent`` True: as when the connection was refused)."""

    options: ClassVar[dict[str, Any]] = {
        "error": Option("GatewayUnavailable"), "sender": Option(None), "not_sent": Option(False)
    }

    def send(self, message, *, timeout):
        calls.append((self.alias, message.recipient, message.code))
        raise getattr(exceptions, self.config["error"])("made to fail", not_sent=self.config["not_sent"] or None)


class RecordingBackend(BaseBackend):
    options: ClassVar[dict[str, Any]] = {"sender": Option(None)}

    def send(self, message, *, timeout):
        calls.append((self.alias, message.recipient, message.code))
        return SendResult(reference=f"{self.alias}-ref")


class ExplodingBackend(BaseBackend):
    options: ClassVar[dict[str, Any]] = {}

    def send(self, message, *, timeout):
        calls.append((self.alias, message.recipient, message.code))
        raise RuntimeError("secret-body-should-not-leak")


class NeedsKeyBackend(BaseBackend):
    """A backend with a required option, for the configuration checks."""

    options: ClassVar[dict[str, Any]] = {"api_key": Option(), "sender": Option(None)}


class SiteOTPMiddleware(OTPMiddleware):
    """A site's own subclass of django-otp's middleware."""


class VendorCodeBackend(BaseBackend):
    """Like iP1: the vendor makes and checks its own code."""

    options: ClassVar[dict[str, Any]] = {"sender": Option(None)}
    verifies_codes = True

    def send(self, message, *, timeout):
        calls.append((self.alias, message.recipient, message.code))
        return SendResult(reference=f"{self.alias}-ref")

    def verify(self, recipient, code, *, timeout):
        return False


@contextmanager
def signals_received(*names: str) -> Iterator[list[tuple[str, dict[str, Any]]]]:
    """Every signal of ``django_sms_gateway.signals`` named, as (name, kwargs), sent while inside."""
    seen: list[tuple[str, dict[str, Any]]] = []
    receivers = {}
    for name in names:
        def receiver(sender, signal, _name=name, **kwargs):
            seen.append((_name, kwargs))

        receivers[name] = receiver
        getattr(signals, name).connect(receiver)
    try:
        yield seen
    finally:
        for name, receiver in receivers.items():
            getattr(signals, name).disconnect(receiver)
