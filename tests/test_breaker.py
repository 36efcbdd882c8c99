"""The per-gateway circuit breaker: opens after consecutive unhealthy failures,
skips the gateway for a cool-off, lets exactly one trial decide, shares its
state through the cache and never stops logins when the cache is down."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import threading
import time
from io import StringIO
from typing import Any, ClassVar

import pytest
from django.core.cache import caches
from django.core.cache.backends.base import BaseCache
from django.core.management import call_command
from django.test import override_settings

from django_sms_gateway import breaker, exceptions
from django_sms_gateway.backends.base import BaseBackend, Option, SendResult
from django_sms_gateway.dispatch import send_code
from django_sms_gateway.exceptions import DeliveryFailed, RecipientNotReachable
from tests import fakes
from tests.fakes import FAIL

from .vendors.helpers import LOCMEM, NUMBER, closed_port_url, signicat_entry, zignsec_entry

SCRIPTED = "tests.test_breaker.ScriptedBackend"
CODE = "123456"


class ScriptedBackend(BaseBackend):
    """Fails with the exception named by each item of ``script`` in turn
    ("ok" or an empty script: accepted); ``hold`` makes a send wait for it."""

    options: ClassVar[dict[str, Any]] = {"sender": Option(None)}
    script: ClassVar[list[str]] = []
    hold: ClassVar[threading.Event | None] = None

    def send(self, message, *, timeout):
        fakes.calls.append((self.alias, message.recipient, message.code))
        if ScriptedBackend.hold is not None:
            ScriptedBackend.hold.wait(timeout=10)
        outcome = ScriptedBackend.script.pop(0) if ScriptedBackend.script else "ok"
        if outcome != "ok":
            raise getattr(exceptions, outcome)("scripted failure")
        return SendResult(reference=f"{self.alias}-ref")


class BrokenCache(BaseCache):
    """A cache whose every operation fails, like an unreachable server."""

    def __init__(self, location, params):
        super().__init__(params)

    def _fail(self, *args, **kwargs):
        raise ConnectionError("cache server unreachable")

    add = get = set = touch = delete = get_many = set_many = delete_many = incr = clear = has_key = _fail


class Clock:
    """Stands in for the breaker's wall clock."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(autouse=True)
def _clean(monkeypatch):
    ScriptedBackend.script = []
    ScriptedBackend.hold = None
    monkeypatch.setattr(breaker, "_cache_warnings", breaker.LogThrottle())
    yield
    ScriptedBackend.script = []
    ScriptedBackend.hold = None


@pytest.fixture
def clock(monkeypatch):
    fake = Clock()
    monkeypatch.setattr(breaker, "_now", fake)
    return fake


@pytest.fixture
def received():
    """Every breaker signal sent during the test: (name, kwargs)."""
    with fakes.signals_received("breaker_opened", "breaker_closed") as seen:
        yield seen


def gateways(**entries):
    return override_settings(SMS_GATEWAYS=entries)


def send():
    """One challenge's walk; the attempts as (alias, outcome, reason)."""
    try:
        delivery = send_code(NUMBER, CODE)
    except DeliveryFailed as failure:
        return [(a.alias, a.outcome, a.reason) for a in failure.attempts]
    return [(a.alias, a.outcome, a.reason) for a in delivery.attempts]


def tried(alias):
    return [call[0] for call in fakes.calls].count(alias)


def test_opens_after_threshold_consecutive_failures_then_skips(received, caplog, sms_outbox):
    with gateways(a={"BACKEND": FAIL}, b={"BACKEND": LOCMEM}), caplog.at_level(logging.WARNING):
        for _ in range(3):
            assert send()[0] == ("a", "failed", "made to fail")
        for _ in range(4):
            assert send() == [("a", "skipped", "circuit open"), ("b", "sent", "accepted")]
    assert tried("a") == 3 and len(sms_outbox) == 7
    assert received == [("breaker_opened", {"alias": "a", "failures": 3, "cooloff": 30.0})]
    assert "SMS gateway 'a' circuit opened after 3 failures; skipped for 30 s" in caplog.text


@pytest.mark.parametrize("error", ["GatewayTimeout", "GatewayConnectionError", "GatewayAuthError",
                                   "GatewayRateLimited", "GatewayUnavailable"])
def test_every_unhealthy_failure_counts(error, sms_outbox):
    assert getattr(exceptions, error).counts_against_vendor is True
    with gateways(a={"BACKEND": FAIL, "OPTIONS": {"error": error}}, b={"BACKEND": LOCMEM}):
        for _ in range(5):
            send()
    assert tried("a") == 3


def test_recipient_refusals_do_not_open_it(sms_outbox):
    with gateways(a={"BACKEND": FAIL, "OPTIONS": {"error": "RecipientRefused"}}, b={"BACKEND": LOCMEM}):
        for _ in range(6):
            with pytest.raises(RecipientNotReachable):
                send_code(NUMBER, CODE)
    assert tried("a") == 6 and not sms_outbox


def test_a_vendor_400_about_the_request_does_not_open_it(sandbox, received, sms_outbox):
    """Over HTTP: Signicat answers 400 (a violation about the recipient or
    payload) to every send. Whoever picks the number could cause that, so
    however often it happens, Signicat stays in use for everyone."""
    sandbox.set_fault("signicat", "400")
    with gateways(signicat=signicat_entry(sandbox), backup={"BACKEND": LOCMEM}):
        for _ in range(6):
            assert [(alias, outcome) for alias, outcome, _reason in send()] == [
                ("signicat", "failed"), ("backup", "sent")
            ]
        assert breaker.states([breaker_backend("signicat")])["signicat"].failures == 0
    assert received == []


def test_an_accepted_message_resets_the_count(sms_outbox):
    ScriptedBackend.script = ["GatewayTimeout", "GatewayTimeout", "ok", "GatewayTimeout", "GatewayTimeout", "ok",
                              "GatewayTimeout", "GatewayTimeout"]
    with gateways(a={"BACKEND": SCRIPTED}, b={"BACKEND": LOCMEM}):
        for _ in range(9):
            send()
    assert tried("a") == 9  # never three failures in a row


def test_a_refused_request_neither_counts_nor_resets_the_count(sms_outbox):
    """Otherwise requests for numbers a vendor refuses would keep a failing
    vendor's circuit closed."""
    ScriptedBackend.script = ["GatewayTimeout", "GatewayTimeout", "RequestRejected", "RequestRejected",
                              "GatewayTimeout"]
    with gateways(a={"BACKEND": SCRIPTED}, b={"BACKEND": LOCMEM}):
        for _ in range(6):
            send()
    assert tried("a") == 5  # opened by the third timeout; the sixth send skips it


def test_cooloff_then_one_trial_whose_success_closes_it(clock, received, sms_outbox):
    ScriptedBackend.script = ["GatewayUnavailable"] * 3
    with gateways(a={"BACKEND": SCRIPTED}, b={"BACKEND": LOCMEM}):
        for _ in range(3):
            send()
        clock.now += 29
        assert send()[0] == ("a", "skipped", "circuit open")
        clock.now += 1.5
        assert send() == [("a", "sent", "accepted")]  # the trial
        assert send() == [("a", "sent", "accepted")]
        assert breaker.states([breaker_backend("a")])["a"].state == "closed"
    assert tried("a") == 5
    assert [name for name, _kwargs in received] == ["breaker_opened", "breaker_closed"]


def test_failed_trial_opens_it_for_another_cooloff(clock, received, sms_outbox):
    ScriptedBackend.script = ["GatewayUnavailable"] * 4
    with gateways(a={"BACKEND": SCRIPTED}, b={"BACKEND": LOCMEM}):
        for _ in range(3):
            send()
        clock.now += 31
        assert send()[:2] == [("a", "failed", "scripted failure"), ("b", "sent", "accepted")]
        assert send()[0] == ("a", "skipped", "circuit open")
        clock.now += 29
        assert send()[0] == ("a", "skipped", "circuit open")
        clock.now += 2
        assert send() == [("a", "sent", "accepted")]
    assert tried("a") == 5
    assert [(name, kwargs.get("failures")) for name, kwargs in received] == [
        ("breaker_opened", 3), ("breaker_opened", 4), ("breaker_closed", None)
    ]


def test_exactly_one_trial_while_requests_race(clock, sms_outbox):
    ScriptedBackend.script = ["GatewayUnavailable"] * 3
    with gateways(a={"BACKEND": SCRIPTED}, b={"BACKEND": LOCMEM}):
        for _ in range(3):
            send()
        clock.now += 31
        fakes.calls.clear()
        ScriptedBackend.hold = threading.Event()
        start = threading.Barrier(8)
        results: list[list[tuple[str, str, str]]] = []

        def login():
            start.wait(timeout=10)
            results.append(send())

        threads = [threading.Thread(target=login) for _ in range(8)]
        for thread in threads:
            thread.start()
        # Seven logins skip 'a' while the trial is held; then the trial is let go.
        deadline = time.monotonic() + 10
        while len(results) < 7 and time.monotonic() < deadline:
            time.sleep(0.01)
        ScriptedBackend.hold.set()
        for thread in threads:
            thread.join(timeout=10)
    assert tried("a") == 1
    assert sorted(r[0] for r in results) == [("a", "sent", "accepted")] + [
        ("a", "skipped", "circuit open (trial in progress)")
    ] * 7


def test_gateway_entry_overrides_threshold_and_cooloff(received, sms_outbox):
    with gateways(
        a={"BACKEND": FAIL, "BREAKER_THRESHOLD": 1, "BREAKER_COOLOFF": 5},
        never={"BACKEND": FAIL, "BREAKER_THRESHOLD": 0},
        b={"BACKEND": LOCMEM},
    ):
        for _ in range(4):
            send()
    assert tried("a") == 1 and tried("never") == 4
    assert received == [("breaker_opened", {"alias": "a", "failures": 1, "cooloff": 5.0})]


CACHE_METHODS = ("get", "get_many", "set", "add", "incr", "delete", "delete_many", "set_many", "touch")


def count_cache_calls(monkeypatch):
    """The name of every operation on the default cache from now on (one per
    round trip: locmem's get_many calls its own get, which is not counted)."""
    cache = caches["default"]
    used: list[str] = []
    inside = threading.local()

    def counting(name, real):
        def counted(*args, **kwargs):
            if getattr(inside, "depth", 0) == 0:
                used.append(name)
            inside.depth = getattr(inside, "depth", 0) + 1
            try:
                return real(*args, **kwargs)
            finally:
                inside.depth -= 1
        return counted

    for name in CACHE_METHODS:
        monkeypatch.setattr(cache, name, counting(name, getattr(cache, name)))
    return used


@override_settings(OTP_SMS_BREAKER_THRESHOLD=0, OTP_SMS_DELIVERY_HEALTH=None)
def test_threshold_zero_turns_it_off_without_touching_the_cache(monkeypatch, sms_outbox):
    used = count_cache_calls(monkeypatch)
    with gateways(a={"BACKEND": FAIL}, b={"BACKEND": LOCMEM}):
        for _ in range(5):
            send()
    assert tried("a") == 5 and used == []


def test_a_healthy_send_costs_one_cache_read_and_no_write(monkeypatch, sms_outbox):
    with gateways(a={"BACKEND": LOCMEM}, b={"BACKEND": LOCMEM}):
        used = count_cache_calls(monkeypatch)
        send()
        send()
    assert used == ["get_many", "get_many"]


def test_success_after_a_failure_forgets_it_with_one_write(monkeypatch, sms_outbox):
    ScriptedBackend.script = ["GatewayTimeout"]
    with gateways(a={"BACKEND": SCRIPTED}, b={"BACKEND": LOCMEM}):
        send()
        used = count_cache_calls(monkeypatch)
        assert send() == [("a", "sent", "accepted")]
    assert used == ["get_many", "delete"]


def test_a_closed_breaker_is_remembered_for_the_memos_length(settings, monkeypatch, sms_outbox):
    """With the memo on, a read that found every circuit closed skips the
    cache until it expires; a circuit opened elsewhere is seen after that."""
    settings.OTP_SMS_BREAKER_MEMO = 1
    now = [100.0]
    monkeypatch.setattr(breaker, "_monotonic", lambda: now[0])
    with gateways(a={"BACKEND": "tests.fakes.RecordingBackend"}, b={"BACKEND": LOCMEM}):
        used = count_cache_calls(monkeypatch)
        assert send() == [("a", "sent", "accepted")]
        caches["default"].set(breaker.state_keys("a").open, breaker._now() + 300)  # another process opens it
        now[0] += 0.9
        assert send() == [("a", "sent", "accepted")]
        assert used == ["get_many", "set"]
        now[0] += 0.2
        assert send() == [("a", "skipped", "circuit open"), ("b", "sent", "accepted")]
    assert used == ["get_many", "set", "get_many"]


def test_a_failure_in_this_process_drops_the_memo_at_once(settings, monkeypatch, sms_outbox):
    settings.OTP_SMS_BREAKER_MEMO = 60
    ScriptedBackend.script = ["ok", "GatewayTimeout"]
    with gateways(a={"BACKEND": SCRIPTED, "BREAKER_THRESHOLD": 1}, b={"BACKEND": LOCMEM}):
        used = count_cache_calls(monkeypatch)
        assert send() == [("a", "sent", "accepted")]
        assert send()[0] == ("a", "failed", "scripted failure")
        assert send() == [("a", "skipped", "circuit open"), ("b", "sent", "accepted")]
    assert used.count("get_many") == 2  # the memo served the second walk, not the third


def test_open_failing_or_flagged_reads_are_never_remembered(settings, monkeypatch, sms_outbox):
    settings.OTP_SMS_BREAKER_MEMO = 60
    with gateways(a={"BACKEND": LOCMEM}, b={"BACKEND": LOCMEM}):
        used = count_cache_calls(monkeypatch)
        for key, value in ((breaker.state_keys("a").open, breaker._now() + 300), (breaker.health_flag("b"), 1)):
            caches["default"].set(key, value)
            send()
            send()
            caches["default"].delete(key)
    assert used.count("get_many") == 4


def test_the_admins_states_never_come_from_the_memo(settings, sms_outbox):
    settings.OTP_SMS_BREAKER_MEMO = 60
    with gateways(a={"BACKEND": LOCMEM}, b={"BACKEND": LOCMEM}):
        send()
        caches["default"].set(breaker.state_keys("a").open, breaker._now() + 300)
        backends = [breaker_backend("a"), breaker_backend("b")]
        assert breaker.states(backends)["a"].state == "open"


@pytest.mark.parametrize("value", [-1, "1", True, float("inf")])
def test_a_wrong_memo_setting_is_e014(value):
    from django_sms_gateway.checks import E014
    from django_sms_gateway.conf import READERS
    from django_sms_gateway.exceptions import ConfigurationError

    with pytest.raises(ConfigurationError, match="OTP_SMS_BREAKER_MEMO") as raised:
        READERS["OTP_SMS_BREAKER_MEMO"](value)
    assert raised.value.check_id == E014


def test_hung_vendor_costs_its_timeout_once_per_cooloff(sandbox, sms_outbox):
    """After the breaker opens, further logins never reach the hung vendor."""
    sandbox.set_fault("zignsec", "hang")
    with gateways(zignsec=zignsec_entry(sandbox, TIMEOUT=0.3), backup={"BACKEND": LOCMEM}):
        for _ in range(3):
            assert send()[0] == ("zignsec", "failed", "timeout")
        assert sandbox.stats["zignsec"]["requests"] == 3
        for _ in range(10):
            assert send() == [("zignsec", "skipped", "circuit open"), ("backup", "sent", "accepted")]
    assert sandbox.stats["zignsec"]["requests"] == 3 and len(sms_outbox) == 13


def test_time_budget_bounds_a_walk_across_hung_gateways(sandbox, sms_outbox):
    """Two hung vendors whose timeouts together exceed the budget: the second
    waits only for what is left, the third is not tried, and the wait the
    budget cut short does not count against the second vendor."""
    sandbox.set_fault("zignsec", "hang")
    sandbox.set_fault("signicat", "hang")
    entries = {"zignsec": zignsec_entry(sandbox, TIMEOUT=0.8), "signicat": signicat_entry(sandbox, TIMEOUT=0.8),
               "backup": {"BACKEND": LOCMEM}}
    with override_settings(SMS_GATEWAYS=entries, OTP_SMS_CHALLENGE_BUDGET=1.0):
        attempts = send()
        states = breaker.states([breaker_backend("zignsec"), breaker_backend("signicat")])
    assert [(alias, outcome) for alias, outcome, _reason in attempts] == [
        ("zignsec", "failed"), ("signicat", "failed"), ("backup", "skipped")
    ]
    assert attempts[2][2] == "time budget spent" and not sms_outbox
    assert (states["zignsec"].failures, states["signicat"].failures) == (1, 0)


@pytest.mark.parametrize("cache", [
    {"BACKEND": "tests.test_breaker.BrokenCache"},
    # A Redis server that is down (nothing listens on the port).
    {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": closed_port_url().replace("http", "redis")},
])
def test_unreachable_cache_fails_open_with_one_warning(cache, caplog, sms_outbox):
    caches_setting = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}, "breaker": cache}
    with override_settings(CACHES=caches_setting, OTP_SMS_BREAKER_CACHE="breaker"), \
            gateways(a={"BACKEND": FAIL}, b={"BACKEND": LOCMEM}), caplog.at_level(logging.WARNING):
        for _ in range(5):
            assert send()[:2] == [("a", "failed", "made to fail"), ("b", "sent", "accepted")]
    assert tried("a") == 5 and len(sms_outbox) == 5
    warnings = [r.getMessage() for r in caplog.records if "circuit breaker cache" in r.getMessage()]
    assert len(warnings) == 1 and "'breaker'" in warnings[0]


def test_sendtestsms_tests_a_gateway_whose_circuit_is_open(sms_outbox):
    ScriptedBackend.script = ["GatewayUnavailable"] * 3
    with gateways(a={"BACKEND": SCRIPTED}, b={"BACKEND": LOCMEM}):
        for _ in range(3):
            send()
        out = StringIO()
        call_command("sendtestsms", NUMBER, stdout=out, no_color=True)
        assert "Circuit breaker of 'a' is open after 3 failures: skipped here as at login" in out.getvalue()
        assert re.search(r"^a +skipped +\d+ ms  circuit open$", out.getvalue(), re.M)

        out = StringIO()
        call_command("sendtestsms", NUMBER, "--gateway", "a", stdout=out, no_color=True)
        assert "Circuit breaker of 'a' is open after 3 failures: testing it anyway" in out.getvalue()
        assert "Delivered by a." in out.getvalue()
        # The delivery counted: the circuit is closed for logins again.
        assert send() == [("a", "sent", "accepted")]


def test_sendtestsms_failure_still_counts(sms_outbox):
    with gateways(a={"BACKEND": FAIL}, b={"BACKEND": LOCMEM}):
        for _ in range(3):
            with pytest.raises(Exception, match="Nothing was delivered"):
                call_command("sendtestsms", NUMBER, "--gateway", "a", stdout=StringIO())
        assert send()[0] == ("a", "skipped", "circuit open")


def breaker_backend(alias):
    from django_sms_gateway.dispatch import gateways as registry

    return registry[alias]


REDIS_URL = os.environ.get("REDIS_URL")
SUBPROCESS = """
import django
django.setup()
from django.test import override_settings
from django_sms_gateway.dispatch import send_code
gateways = {"remote": {"BACKEND": "tests.fakes.FailingBackend", "BREAKER_COOLOFF": 300},
            "backup": {"BACKEND": "django_sms_gateway.backends.locmem.LocmemBackend"}}
with override_settings(SMS_GATEWAYS=gateways):
    for _ in range(3):
        print(send_code("+4798765432", "123456").attempts[0].outcome)
"""


@pytest.mark.redis
@pytest.mark.skipif(not REDIS_URL, reason="needs Redis: set REDIS_URL=redis://127.0.0.1:6379/0")
def test_state_is_shared_between_processes(sms_outbox):
    """Another process opens the circuit; this one then skips the gateway."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    assert env["SMS_TEST_CACHE_PREFIX"]  # tests/settings.py set it: the child uses the same keys
    done = subprocess.run(  # noqa: S603  (our own interpreter and script)
        [sys.executable, "-c", SUBPROCESS], env=env, capture_output=True, text=True, timeout=60,
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["failed"] * 3
    # Here "remote" would succeed; it is not even tried.
    with gateways(remote={"BACKEND": "tests.fakes.RecordingBackend", "BREAKER_COOLOFF": 300},
                  backup={"BACKEND": LOCMEM}):
        assert send() == [("remote", "skipped", "circuit open"), ("backup", "sent", "accepted")]
    assert tried("remote") == 0


@pytest.mark.django_db
def test_login_records_the_skip_and_when_every_circuit_is_open_tries_one_now(device, sms_outbox):
    from django_sms_gateway.models import DeliveryRecord

    with gateways(a={"BACKEND": FAIL, "BREAKER_THRESHOLD": 1}, b={"BACKEND": LOCMEM}):
        device.generate_challenge()
        device.generate_challenge()
    assert list(DeliveryRecord.objects.order_by("id").values_list("gateway", "outcome", "reason")) == [
        ("a", "failed", "made to fail"), ("b", "sent", "accepted"), ("a", "skipped", "circuit open"),
        ("b", "sent", "accepted"),
    ]
    with gateways(a={"BACKEND": FAIL, "BREAKER_THRESHOLD": 1}):
        with pytest.raises(DeliveryFailed) as info:
            device.generate_challenge()
    # The only gateway is open: rather than fail without trying, it gets its trial now.
    assert [(a.alias, a.outcome, a.reason) for a in info.value.attempts] == [("a", "failed", "made to fail")]
    assert str(info.value) == str(DeliveryFailed.default_message) and tried("a") == 2


def test_when_every_circuit_is_open_the_one_whose_cooloff_ends_first_is_tried(clock, received, sms_outbox):
    """A recovered vendor is used at once instead of after its cool-off;
    the others stay skipped. A failed early trial opens it for another
    cool-off from now."""
    ScriptedBackend.script = ["GatewayTimeout", "GatewayTimeout"]
    with gateways(slow={"BACKEND": FAIL, "BREAKER_THRESHOLD": 1, "BREAKER_COOLOFF": 60},
                  a={"BACKEND": SCRIPTED, "BREAKER_THRESHOLD": 1, "BREAKER_COOLOFF": 30}):
        send()  # slow fails and opens (until +60), then a fails and opens (until +30)
        clock.now += 1
        assert send() == [("slow", "skipped", "circuit open"), ("a", "failed", "scripted failure")]
        clock.now += 1  # a's cool-off now ends at +32, slow's at +60: a is tried again
        assert send() == [("slow", "skipped", "circuit open"), ("a", "sent", "accepted")]
        assert send() == [("slow", "skipped", "circuit open"), ("a", "sent", "accepted")]
    assert tried("slow") == 1 and tried("a") == 4
    assert [name for name, _kwargs in received][-1] == "breaker_closed"


def test_when_every_circuit_is_open_and_its_trial_runs_elsewhere_the_login_fails_fast(clock, sms_outbox):
    with gateways(a={"BACKEND": FAIL, "BREAKER_THRESHOLD": 1}):
        send()
        caches["default"].add(breaker.state_keys("a").trial, 0, timeout=60)  # another request's trial
        assert send() == [("a", "skipped", "circuit open (trial in progress)")]
    assert tried("a") == 1


def test_failures_stay_counted_past_the_file_caches_default_timeout(tmp_path, sms_outbox):
    """The file and database caches' incr is a get + set that would give the
    count the cache's TIMEOUT (60 s here): failures a few minutes apart never
    added up to the threshold."""
    from freezegun import freeze_time

    caches_setting = {"default": {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
                                  "LOCATION": str(tmp_path), "TIMEOUT": 60}}
    with override_settings(CACHES=caches_setting), gateways(a={"BACKEND": FAIL}, b={"BACKEND": LOCMEM}):
        with freeze_time("2026-03-02 10:00:00") as frozen:
            for _ in range(2):
                assert send()[0] == ("a", "failed", "made to fail")
                frozen.tick(90)
            assert send()[0] == ("a", "failed", "made to fail")
            assert send()[0] == ("a", "skipped", "circuit open")
    assert tried("a") == 3
