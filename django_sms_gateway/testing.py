"""Test helpers for sites using django-otp-sms-gateway.

- unittest / Django ``TestCase``: mix :class:`SMSOutboxMixin` in.
- pytest: the ``sms_outbox`` fixture of django-otp-sms-gateway-sandbox's
  plugin (``pip install "django-otp-sms-gateway[sandbox]"``) gives
  ``django_sms_gateway.outbox`` emptied before and after the test.

Both expect ``SMS_GATEWAYS`` to use
``django_sms_gateway.backends.locmem.LocmemBackend`` in test settings.
"""

from __future__ import annotations

from typing import Any

import django_sms_gateway


def clear_outbox() -> None:
    """Empty ``django_sms_gateway.outbox`` in place."""
    django_sms_gateway.outbox.clear()


def last_code(number: str | None = None) -> str:
    """The code of the newest outbox message (to ``number``, if given)."""
    for message in reversed(django_sms_gateway.outbox):
        if number is None or message.recipient == number:
            return message.code
    raise AssertionError(f"no SMS in the outbox{' for ' + number if number else ''}")


class SMSOutboxMixin:
    """Empties the SMS outbox around every test of a ``TestCase``."""

    def setUp(self) -> None:
        clear_outbox()
        super().setUp()  # type: ignore[misc]

    def tearDown(self) -> None:
        super().tearDown()  # type: ignore[misc]
        clear_outbox()

    @property
    def sms_outbox(self) -> list[Any]:
        return django_sms_gateway.outbox

