import pytest
from django.contrib.auth import get_user_model
from django.test import override_settings

from django_sms_gateway import breaker, signals
from django_sms_gateway.exceptions import GatewayError
from django_sms_gateway.models import SMSDevice

from . import fakes
from .vendor_codes import VENDORS_HOLDING_CODES, VendorHoldingCodes


@pytest.fixture
def user(db):
    return get_user_model().objects.create_user("alice", password="correct horse")


@pytest.fixture
def device(user):
    """``user``'s SMS device, not yet confirmed."""
    return SMSDevice.objects.create(user=user, name="phone", number="+4798765432")


@pytest.fixture
def phone(user):
    """``user``'s confirmed SMS device, as the SMS step offers it."""
    return SMSDevice.objects.create(user=user, name="Mobile", number="+4798765432", confirmed=True)


@pytest.fixture(params=VENDORS_HOLDING_CODES, ids=lambda vendor: vendor.alias)
def vendor(request) -> VendorHoldingCodes:
    """Each vendor that makes, sends and checks its own codes: a test asking
    for it runs once for each."""
    return request.param


@pytest.fixture
def failures():
    """Every GatewayError the dispatcher reports through ``gateway_failed``."""
    seen: list[GatewayError] = []

    def receiver(sender, error, **kwargs):
        seen.append(error)

    signals.gateway_failed.connect(receiver)
    yield seen
    signals.gateway_failed.disconnect(receiver)


@pytest.fixture(autouse=True)
def _forget_fake_calls():
    """``tests.fakes.calls`` is empty at the start and end of every test."""
    fakes.calls.clear()
    yield
    fakes.calls.clear()


@pytest.fixture(autouse=True)
def _no_breaker_memo():
    """Every walk reads the breaker cache: many tests change circuits behind
    this process's back (another "process", a cleared key, a moved clock).
    The memo's own tests turn it on. (Not pytest-django's ``settings``
    fixture: some tests have a parameter of that name.)"""
    with override_settings(OTP_SMS_BREAKER_MEMO=0):
        breaker.forget_memo()
        yield


@pytest.fixture(autouse=True)
def _forget_breaker_state(monkeypatch):
    """Close every circuit and forget the delivery health a test touched, so
    failures never carry over to the next test (only those keys: with Redis,
    cache.clear() would flush the whole database other runs share)."""
    touched: set[str] = set()
    pairs: set[tuple[str, str]] = set()
    keys_of, health_keys_of = breaker.state_keys, breaker.health_keys

    def recording(alias):
        touched.add(alias)
        return keys_of(alias)

    def recording_health(alias, region):
        pairs.add((alias, region))
        return health_keys_of(alias, region)

    monkeypatch.setattr(breaker, "state_keys", recording)
    monkeypatch.setattr(breaker, "health_keys", recording_health)
    yield
    try:
        breaker.reset(touched)
        breaker.reset_health(pairs)
    except Exception:  # noqa: S110  (a test that broke the cache on purpose)
        pass


@pytest.fixture(scope="session", autouse=True)
def _end_stray_postgres_sessions(django_db_setup, django_db_blocker):
    """Before the test database is dropped, end connections that server
    threads (live_server, sandbox webhooks) left open to it; PostgreSQL
    refuses to drop a database in use and would leave it behind."""
    yield
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
