"""SMS second factor for django-otp with ordered multi-vendor failover."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

#: Messages sent through :class:`~django_sms_gateway.backends.locmem.LocmemBackend`,
#: like ``django.core.mail.outbox``. Emptied between tests by the test helpers.
outbox: list[Any] = []
