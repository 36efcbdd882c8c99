"""Pytest fixtures for the vendor sandbox.

``sms_sandbox`` (session scope) starts one :class:`Sandbox` on a free loopback
port for the whole run and stops it at the end. It is not reset between
tests: a test that needs a clean slate either calls ``sms_sandbox.reset()``
itself or asks for ``sandbox``, which resets the shared instance first.

Enable them in a ``conftest.py``::

    from django_sms_gateway.sandbox.fixtures import sandbox, sms_sandbox  # noqa: F401
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .http import Sandbox

__all__ = ["sandbox", "sms_sandbox"]


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
