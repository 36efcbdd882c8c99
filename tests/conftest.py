import pytest
from django.contrib.auth import get_user_model

from django_sms_gateway import breaker
from django_sms_gateway.models import SMSDevice
from django_sms_gateway.sandbox.fixtures import sandbox, sms_sandbox  # noqa: F401  (loopback vendor sandbox)


@pytest.fixture
def user(db):
    return get_user_model().objects.create_user("alice", password="correct horse")


@pytest.fixture
def device(user):
    return SMSDevice.objects.create(user=user, name="phone", number="+4798765432")


@pytest.fixture(autouse=True)
def _forget_breaker_state(monkeypatch):
    """Close every circuit a test touched, so failures never carry over to the
    next test (only those keys: with Redis, cache.clear() would flush the
    whole database other runs share)."""
    touched: set[str] = set()
    keys_of = breaker.state_keys

    def recording(alias):
        touched.add(alias)
        return keys_of(alias)

    monkeypatch.setattr(breaker, "state_keys", recording)
    yield
    try:
        breaker.reset(touched)
    except Exception:  # noqa: S110  (a test that broke the cache on purpose)
        pass
