"""A Redis that hangs or refuses never stalls or closes the login: the limits count in this
process meanwhile (one ERROR line), unless OTP_SMS_LIMITS_FAIL_CLOSED; and the checks warn
about a cache that could hang a login."""

import logging
import socket
import threading
from contextlib import contextmanager

import pytest
from django.test import override_settings

from django_sms_gateway import checks
from django_sms_gateway.exceptions import SendLimitExceeded
from django_sms_gateway.limits import counters
from tests.limiting import LIMITS_CACHE, make_device, sending_limits

pytest.importorskip("redis", reason="install the test extra (redis)")
pytestmark = pytest.mark.django_db

BOUNDED = {"socket_timeout": 0.2, "socket_connect_timeout": 0.2}


class HungServer:
    """A loopback TCP server that accepts connections and never answers."""

    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.accepted = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        while True:
            try:
                connection, _address = self.listener.accept()
            except OSError:
                return
            self.accepted.append(connection)  # held open, never read or answered

    def close(self):
        self.listener.close()
        for connection in self.accepted:
            connection.close()


@pytest.fixture
def hung_server():
    server = HungServer()
    yield server
    server.close()


def refused_port():
    with socket.create_server(("127.0.0.1", 0)) as probe:
        return probe.getsockname()[1]  # closed again: nothing listens there


@contextmanager
def redis_limits(port, **settings):
    """The number limit (3 an hour) on in a Redis cache at ``port`` on this machine, with socket timeouts."""
    redis = {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": f"redis://127.0.0.1:{port}/0",
             "OPTIONS": BOUNDED}
    with sending_limits(redis, number=(3, 3600)), override_settings(**settings):
        yield


def test_a_hung_redis_is_waited_for_once_and_logins_go_on(hung_server, sms_outbox, caplog):
    device = make_device()
    with redis_limits(hung_server.port), caplog.at_level(logging.ERROR, logger="django_sms_gateway"):
        for _ in range(3):
            device.generate_challenge()
        with pytest.raises(SendLimitExceeded):  # the limit still holds, in this process
            device.generate_challenge()
        connections = len(hung_server.accepted)
    assert len(sms_outbox) == 3
    # One send met the hang (redis-py may open a second connection for its retry); the others
    # counted in this process without asking the hung server again.
    assert 1 <= connections <= 2
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "unreachable (TimeoutError)" in errors[0], errors


def test_a_hung_redis_with_fail_closed_refuses_without_waiting_again(hung_server, sms_outbox):
    with redis_limits(hung_server.port, OTP_SMS_LIMITS_FAIL_CLOSED=True):
        for _ in range(3):
            with pytest.raises(SendLimitExceeded) as refused:
                make_device().generate_challenge()
            assert refused.value.limit == "unavailable"
        assert 1 <= len(hung_server.accepted) <= 2
    assert sms_outbox == []


def test_a_refusing_redis_degrades_to_per_process_counts(sms_outbox, caplog):
    device = make_device()
    with redis_limits(refused_port()), caplog.at_level(logging.ERROR, logger="django_sms_gateway"):
        for _ in range(3):
            device.generate_challenge()
        with pytest.raises(SendLimitExceeded) as refused:
            device.generate_challenge()
    assert refused.value.limit == "number" and len(sms_outbox) == 3
    assert "unreachable (ConnectionError); counting in this process only" in caplog.text


def test_the_shared_cache_is_tried_again_after_the_fallback_period(hung_server, sms_outbox):
    with redis_limits(hung_server.port):
        make_device().generate_challenge()
        assert counters.shared_cache_failed_recently(LIMITS_CACHE)
        counters.forget_failures()  # as after FALLBACK_SECONDS
        make_device().generate_challenge()
        assert len(hung_server.accepted) >= 2
    assert len(sms_outbox) == 2


# -- the check --------------------------------------------------------------------------


def cache(backend, options=None):
    return {"BACKEND": backend, "LOCATION": "redis://127.0.0.1:6379/0", **({"OPTIONS": options} if options else {})}


@pytest.mark.parametrize(
    ("entry", "warned"),
    [
        (cache("django.core.cache.backends.redis.RedisCache"), True),
        (cache("django.core.cache.backends.redis.RedisCache", {"socket_timeout": 0.5}), True),
        (cache("django.core.cache.backends.redis.RedisCache", BOUNDED), False),
        (cache("django_redis.cache.RedisCache", {"SOCKET_TIMEOUT": 1, "SOCKET_CONNECT_TIMEOUT": 1}), False),
        (cache("django_redis.cache.RedisCache"), True),
        (cache("django.core.cache.backends.memcached.PyMemcacheCache"), True),
        (cache("django.core.cache.backends.locmem.LocMemCache"), False),
    ],
)
def test_a_cache_without_socket_timeouts_is_w016(entry, warned):
    with override_settings(CACHES={"default": entry}, OTP_SMS_LIMITS={}, OTP_SMS_LIMITS_CACHE="default"):
        found = [m for m in checks.check_caches() if m.id == "sms_gateway.W016"]
    assert bool(found) == warned
    if warned:
        [message] = found
        assert "sending limits and circuit breaker state" in message.msg
        assert message.obj == "CACHES['default']" and "OPTIONS" in message.hint


def test_w016_names_the_breaker_cache_too():
    caches_setting = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        "breaker": cache("django.core.cache.backends.redis.RedisCache"),
    }
    with override_settings(CACHES=caches_setting, OTP_SMS_BREAKER_CACHE="breaker"):
        [message] = [m for m in checks.check_caches() if m.id == "sms_gateway.W016"]
    assert "'breaker' holds the SMS circuit breaker state" in message.msg
