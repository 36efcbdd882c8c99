"""Sending limits on Redis: counters shared between processes, one round trip per send, expiring keys."""

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.core.cache import caches
from django.test import override_settings

from django_sms_gateway import limits
from django_sms_gateway.conf import settings
from django_sms_gateway.exceptions import SendLimitExceeded
from tests.limiting import OFF

pytestmark = [
    pytest.mark.redis,
    pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="set REDIS_URL=redis://127.0.0.1:6379/0 to run"),
]

ROOT = Path(__file__).resolve().parent.parent
# A second process: same settings module, same Redis and key prefix (inherited environment).
SECOND_PROCESS = """
import json, sys
import django
django.setup()
from django.test import override_settings
from django_sms_gateway import limits
number, values, sends = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3])
with override_settings(OTP_SMS_LIMITS={name: tuple(v) if v else None for name, v in values.items()}):
    for _ in range(sends):
        limits.check_send(number)
print("sent", sends)
"""


def fresh_number():
    """A Norwegian mobile number no other test (or earlier run) has counted."""
    return "+4798" + str(uuid.uuid4().int)[:6]


def number_only(count):
    return {**OFF, "number": [count, 3600]}


def run_second_process(number, values, sends):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    assert env.get("SMS_TEST_CACHE_PREFIX"), "tests/settings.py shares its key prefix through the environment"
    done = subprocess.run(
        [sys.executable, "-c", SECOND_PROCESS, number, json.dumps(values), str(sends)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"sent {sends}"


def test_the_cache_is_redis():
    assert settings.CACHES[settings.OTP_SMS_LIMITS_CACHE]["BACKEND"].endswith("RedisCache")


def test_counters_are_shared_between_processes():
    number, values = fresh_number(), number_only(3)
    run_second_process(number, values, 2)
    with override_settings(OTP_SMS_LIMITS={**OFF, "number": (3, 3600)}):
        limits.check_send(number)  # the third
        with pytest.raises(SendLimitExceeded) as refused:
            limits.check_send(number)
    assert refused.value.limit == "number"
    # and the other way round: this process's sends count in a new process
    run_second_process(fresh_number(), values, 3)
    with pytest.raises(AssertionError, match="SendLimitExceeded"):
        run_second_process(number, values, 1)


def test_one_round_trip_per_send_and_every_key_expires():
    cache = caches[settings.OTP_SMS_LIMITS_CACHE]
    client = cache._cache.get_client(write=True)
    number = fresh_number()
    executed = []
    pipeline_class = type(client.pipeline())
    original = pipeline_class.execute

    def counting_execute(self, *args, **kwargs):
        executed.append(len(self.command_stack))
        return original(self, *args, **kwargs)

    values = {name: (1, 600) for name in ("number", "prefix", "user")}
    pipeline_class.execute = counting_execute
    try:
        with override_settings(OTP_SMS_LIMITS={**OFF, **values}, OTP_SMS_FRAUD_GUARD={"MODE": "off"}):
            reservation = limits.check_send(number, user_id=f"u-{number}")
            with pytest.raises(SendLimitExceeded):
                limits.check_send(number, user_id=f"u-{number}")
    finally:
        pipeline_class.execute = original
    # The first send: one pipeline (INCR, EXPIRE, MGET per budget) for the requester's budget (user) and
    # the two shared ones (number, prefix). The second is refused by its user budget: every count it
    # took, the shared ones too, goes back in one pipeline (DECR, EXPIRE per budget).
    assert executed == [9, 9, 6]
    keys = list(client.scan_iter(match=cache.make_and_validate_key(f"{limits.KEY_PREFIX}:*")))
    ours = [key for key in keys if client.ttl(key) == -1]
    assert ours == [], "a counter without expiry would live forever"
    reservation.release()
    with override_settings(OTP_SMS_LIMITS={**OFF, **values}):
        limits.check_send(number, user_id=f"u-{number}")  # the release freed the slot
