"""What the sending-limit tests share: only the named limits on, counted in a cache of their own,
and devices of users of their own."""

import uuid
from contextlib import contextmanager

from django.contrib.auth import get_user_model
from django.core.cache import caches
from django.test import override_settings

from django_sms_gateway.conf import LIMIT_NAMES
from django_sms_gateway.models import SMSDevice

NUMBER = "+4798765432"
#: The ``CACHES`` alias the tests count in.
LIMITS_CACHE = "sms-limits"
#: Every limit off: a test turns on the ones it names.
OFF = dict.fromkeys(LIMIT_NAMES)
LOCMEM = "django.core.cache.backends.locmem.LocMemCache"


def limits_cache(backend=LOCMEM, **entry):
    """A ``CACHES`` entry of ``backend`` that no other test counts in."""
    return {"BACKEND": backend, "LOCATION": f"limits-{uuid.uuid4()}", **entry}


@contextmanager
def sending_limits(cache=None, guard=None, **values):
    """Only the limits named in ``values`` on, counted in ``cache`` (a ``CACHES``
    entry; a fresh local-memory cache by default). The breaker keeps its state in
    the ``default`` cache, so that only the limits use ``cache``. The fraud guard
    is off unless ``guard`` gives its ``OTP_SMS_FRAUD_GUARD``."""
    with override_settings(
        CACHES={"default": {"BACKEND": LOCMEM}, LIMITS_CACHE: cache or limits_cache()},
        OTP_SMS_LIMITS_CACHE=LIMITS_CACHE,
        OTP_SMS_BREAKER_CACHE="default",
        OTP_SMS_LIMITS={**OFF, **values},
        OTP_SMS_FRAUD_GUARD=guard or {"MODE": "off"},
    ):
        yield caches[LIMITS_CACHE]


def make_device(number=NUMBER, *, confirmed=True, user=None):
    """A device for ``number``, of ``user`` or of a new user."""
    user = user or get_user_model().objects.create_user(f"u{uuid.uuid4().hex[:8]}")
    return SMSDevice.objects.create(user=user, name="phone", number=number, confirmed=confirmed)
