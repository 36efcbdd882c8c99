"""The demo login: a user with a confirmed phone, made or repaired on every run."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import transaction

from django_sms_gateway.models import SMSDevice

DEMO_USERNAME = "demo"
DEMO_PASSWORD = "sms-demo-password"  # noqa: S105 (printed in the banner and the README: a demo login)
DEMO_NUMBER = "+4798765432"
DEMO_PHONE_NAME = "Demo phone"


@dataclass(frozen=True)
class DemoLogin:
    username: str
    password: str
    device: SMSDevice


@transaction.atomic
def ensure_demo_user(
    username: str = DEMO_USERNAME, password: str = DEMO_PASSWORD, number: str = DEMO_NUMBER
) -> DemoLogin:
    """Create or update ``username`` so the demo login works.

    The user is active with ``password``, and owns a confirmed
    :class:`SMSDevice` for ``number`` (validated like any number, so a bad one
    raises ``ValidationError``) with a clean slate: no pending code, no
    cooldown, no failed guesses. Other phones the user added are kept.
    """
    user, _created = get_user_model().objects.get_or_create(username=username)
    user.is_active = True
    user.set_password(password)
    user.save()

    device = SMSDevice(user=user, name=DEMO_PHONE_NAME, number=number, confirmed=True)
    device.full_clean()
    existing = SMSDevice.objects.filter(user=user, number=device.number).order_by("pk").first()
    if existing is not None:
        device = existing
        device.confirmed = True
    device.save()
    SMSDevice.objects.filter(pk=device.pk).clear_codes()
    device.refresh_from_db()
    return DemoLogin(username=username, password=password, device=device)
