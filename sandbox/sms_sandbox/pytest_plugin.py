"""Pytest fixtures, registered by this distribution's ``pytest11`` entry point.

``sms_sandbox`` (session scope) starts one :class:`~sms_sandbox.Sandbox` on a
free loopback port for the whole run and stops it at the end. It is not reset
between tests: a test that needs a clean slate either calls
``sms_sandbox.reset()`` itself or asks for ``sandbox``, which resets the
shared instance first.

``sms_outbox`` is ``django_sms_gateway.outbox`` (the messages of the locmem
backend), empty at the start and at the end of the test; it needs
django-otp-sms-gateway, which only a test asking for it imports.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from .http import Sandbox

__all__ = ["sandbox", "sms_outbox", "sms_sandbox"]


@pytest.fixture(scope="session")
def sms_sandbox() -> Iterator[Sandbox]:
    """The session's running sandbox (shared state: reset it yourself)."""
    with Sandbox(port=0) as running:
        yield running


@pytest.fixture
def sandbox(sms_sandbox: Sandbox) -> Sandbox:
    """The session's sandbox, reset (messages, counters, faults, vendor state)."""
    sms_sandbox.reset()
    return sms_sandbox


@pytest.fixture
def sms_outbox() -> Iterator[list[Any]]:
    """``django_sms_gateway.outbox``, empty at the start and end of the test."""
    import django_sms_gateway
    from django_sms_gateway.testing import clear_outbox

    clear_outbox()
    yield django_sms_gateway.outbox
    clear_outbox()
