"""Delivery health: the vendors' final delivery reports, per gateway and
destination country, trip a gateway for that country when at least half of
at least ten failed or went missing; the walk then skips it for that country
only, tries it once after the cool-off, and never stops sending when the
cache is down."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading

import pytest
from django.core.cache import caches
from django.test import override_settings

from django_sms_gateway import breaker, signals
from django_sms_gateway.checks import E033
from django_sms_gateway.conf import DeliveryHealthPolicy, delivery_health
from django_sms_gateway.dispatch import send_code
from django_sms_gateway.exceptions import ConfigurationError, DeliveryFailed
from tests import fakes
from tests.fakes import OK

from .test_breaker import BrokenCache, Clock
from .vendors.helpers import LOCMEM

NORWAY = "+4798765432"
SWEDEN = "+46701234567"
CODE = "123456"
COOLOFF = 300.0
WINDOW = 900.0
#: The first gateway tried, whose receipts the tests report; "backup" takes what it is spared.
GATEWAYS = {"primary": {"BACKEND": OK}, "backup": {"BACKEND": LOCMEM}}


@pytest.fixture(autouse=True)
def _warnings_again(monkeypatch):
    """Each test sees the cache warning (the conftest forgets the keys a test touched)."""
    monkeypatch.setattr(breaker, "_cache_warnings", breaker.LogThrottle())


@pytest.fixture
def clock(monkeypatch):
    """The breaker's wall clock, at the start of a window bucket (of 90 s)."""
    fake = Clock()
    fake.now = 9_000.0
    monkeypatch.setattr(breaker, "_now", fake)
    return fake


@pytest.fixture
def tripped():
    with fakes.signals_received("delivery_health_tripped") as seen:
        yield seen


@pytest.fixture
def walk(settings):
    settings.SMS_GATEWAYS = GATEWAYS
    settings.OTP_SMS_DELIVERY_HEALTH = {"WINDOW": WINDOW, "COOLOFF": COOLOFF}


def report(alias="primary", region="NO", *, delivered, times=1):
    for _ in range(times):
        signals.delivery_reported.send(sender=None, alias=alias, region=region, delivered=delivered,
                                       seconds=2.0 if delivered else None)


def send(number=NORWAY):
    """One challenge's walk: the attempts as (alias, outcome, reason)."""
    try:
        delivery = send_code(number, CODE)
    except DeliveryFailed as failure:
        return [(a.alias, a.outcome, a.reason) for a in failure.attempts]
    return [(a.alias, a.outcome, a.reason) for a in delivery.attempts]


SENT_BY_PRIMARY = [("primary", "sent", "accepted")]
SPARED = [("primary", "skipped", breaker.UNHEALTHY), ("backup", "sent", "accepted")]


def test_half_of_ten_reports_failed_trips_the_gateway_for_that_country_only(walk, clock, tripped, caplog,
                                                                             sms_outbox):
    report(delivered=True, times=5)
    with caplog.at_level(logging.WARNING):
        report(delivered=False, times=5)

    assert tripped == [("delivery_health_tripped", {"alias": "primary", "region": "NO", "failures": 5,
                                                    "reports": 10, "cooloff": COOLOFF})]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == ["SMS gateway 'primary' skipped for NO for 300 s: 5 of the last 10 delivery reports "
                        "failed or missing"]
    assert send(NORWAY) == SPARED
    assert send(SWEDEN) == SENT_BY_PRIMARY
    assert [call[1] for call in fakes.calls] == [SWEDEN]
    assert len(sms_outbox) == 1 and sms_outbox[0].recipient == NORWAY


def test_reports_after_the_trip_neither_trip_it_again_nor_signal(walk, clock, tripped, sms_outbox):
    report(delivered=False, times=10)
    report(delivered=False, times=10)
    assert len(tripped) == 1 and tripped[0][1]["reports"] == 10


@pytest.mark.parametrize(("failed", "delivered"), [(9, 0), (4, 6), (0, 40)], ids=["9 reports", "4 of 10", "healthy"])
def test_too_few_reports_or_too_few_failures_do_not_trip_it(walk, clock, tripped, failed, delivered, sms_outbox):
    report(delivered=True, times=delivered)
    report(delivered=False, times=failed)
    assert tripped == []
    assert send() == SENT_BY_PRIMARY


def test_reports_older_than_the_window_are_forgotten(walk, clock, tripped, sms_outbox):
    report(delivered=False, times=9)
    clock.now += WINDOW
    report(delivered=False)
    assert tripped == []
    report(delivered=False, times=8)
    assert tripped == []  # 9 in this window
    report(delivered=False)
    assert len(tripped) == 1


def test_after_the_cooloff_one_send_is_the_trial_and_a_delivered_receipt_closes_it(walk, clock, tripped, caplog,
                                                                                    sms_outbox):
    report(delivered=False, times=10)
    clock.now += COOLOFF - 1
    assert send() == SPARED
    clock.now += 1
    assert send() == SENT_BY_PRIMARY  # the trial
    assert send() == [("primary", "skipped", breaker.UNHEALTHY_TRIAL_ELSEWHERE), ("backup", "sent", "accepted")]
    with caplog.at_level(logging.INFO):
        report(delivered=True)
    assert "SMS gateway 'primary' delivery health for NO restored: its trial was delivered" in caplog.messages
    assert send() == SENT_BY_PRIMARY
    assert send() == SENT_BY_PRIMARY
    # A fresh window: nine more failures do not trip it again.
    report(delivered=False, times=9)
    assert send() == SENT_BY_PRIMARY
    assert len(tripped) == 1


def test_a_failed_or_missing_trial_trips_it_for_another_cooloff(walk, clock, tripped, sms_outbox):
    report(delivered=False, times=10)
    clock.now += COOLOFF
    assert send() == SENT_BY_PRIMARY  # the trial
    report(delivered=False)  # its receipt said failed, or the deadline passed without one
    assert tripped[1] == ("delivery_health_tripped", {"alias": "primary", "region": "NO", "failures": 1,
                                                      "reports": 1, "cooloff": COOLOFF})
    assert send() == SPARED
    clock.now += COOLOFF
    assert send() == SENT_BY_PRIMARY  # the next trial


def test_reports_during_the_cooloff_decide_nothing(walk, clock, tripped, sms_outbox):
    report(delivered=False, times=10)
    report(delivered=True, times=3)  # late receipts of sends from before the trip
    assert send() == SPARED
    clock.now += COOLOFF
    report(delivered=True)  # no trial has begun: still no verdict
    assert send() == SENT_BY_PRIMARY  # the trial
    assert send()[0] == ("primary", "skipped", breaker.UNHEALTHY_TRIAL_ELSEWHERE)


def test_a_tripped_gateway_is_used_when_no_later_gateway_could_take_the_message(settings, clock, sms_outbox):
    settings.SMS_GATEWAYS = {"backup": {"BACKEND": LOCMEM}, "primary": {"BACKEND": OK}}
    report("backup", delivered=False, times=10)
    assert send() == [("backup", "skipped", breaker.UNHEALTHY), ("primary", "sent", "accepted")]
    # Both tripped for Norway: the first is used rather than none.
    report("primary", delivered=False, times=10)
    assert send() == [("backup", "sent", "accepted")]
    assert send(SWEDEN) == [("backup", "sent", "accepted")]


def test_an_open_circuit_after_it_leaves_the_tripped_gateway_in_use(settings, clock, sms_outbox):
    settings.SMS_GATEWAYS = {"primary": {"BACKEND": OK}, "backup": {"BACKEND": fakes.FAIL}}
    for _ in range(3):
        send(SWEDEN)  # "backup" is never reached: "primary" takes them
    report(delivered=False, times=10)
    fakes.calls.clear()
    assert send() == [("primary", "skipped", breaker.UNHEALTHY), ("backup", "failed", "made to fail")]
    for _ in range(2):
        send()
    # "backup"'s circuit is open now: "primary", tripped for Norway, is the only gateway left.
    assert send() == SENT_BY_PRIMARY


def test_turned_off_it_neither_counts_nor_skips(settings, clock, tripped, sms_outbox):
    settings.SMS_GATEWAYS = GATEWAYS
    settings.OTP_SMS_DELIVERY_HEALTH = None
    report(delivered=False, times=20)
    assert tripped == []
    assert send() == SENT_BY_PRIMARY


def test_sendtestsms_style_bypass_tries_a_tripped_gateway(walk, clock, sms_outbox):
    from django_sms_gateway.dispatch import build_message, gateways, send_message

    report(delivered=False, times=10)
    delivery = send_message(build_message(NORWAY, CODE), backends=gateways.all(), bypass_breaker=True)
    assert delivery.backend.alias == "primary"


def test_a_healthy_walk_reads_the_flags_in_its_one_get_many(walk, clock, monkeypatch, sms_outbox):
    report("primary", "SE", delivered=False, times=10)  # tripped elsewhere: Norway's walk pays one more read
    cache = caches["default"]
    used = []
    real = cache.get_many

    def counted(keys, *args, **kwargs):
        used.append(len(keys))
        return real(keys, *args, **kwargs)

    monkeypatch.setattr(cache, "get_many", counted)
    assert send() == SENT_BY_PRIMARY
    assert used == [2 * 2 + 2, 1]  # breakers (2 keys each) and the flags; then primary's trip key for NO
    used.clear()
    caches["default"].delete(breaker.health_flag("primary"))
    assert send() == SENT_BY_PRIMARY
    assert used == [6]


@pytest.mark.parametrize("down", ["reporting", "sending"])
def test_with_the_cache_down_sends_still_go(settings, clock, caplog, down, sms_outbox):
    settings.SMS_GATEWAYS = GATEWAYS
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
                       "breaker": {"BACKEND": "tests.test_breaker.BrokenCache"}}
    if down == "sending":
        with override_settings(OTP_SMS_BREAKER_CACHE=None):
            report(delivered=False, times=10)
    settings.OTP_SMS_BREAKER_CACHE = "breaker"
    with caplog.at_level(logging.WARNING):
        report(delivered=False, times=10)  # nothing is counted, nothing raises
        assert send() == SENT_BY_PRIMARY
        assert send() == SENT_BY_PRIMARY
    warnings = [m for m in caplog.messages if "circuit breaker cache 'breaker' unavailable" in m]
    assert len(warnings) == 1
    assert not any("raised" in m for m in caplog.messages)  # no receiver error
    assert isinstance(caches["breaker"], BrokenCache)


def test_admin_state_lists_the_tripped_pairs(walk, clock):
    report(delivered=False, times=10)
    report(region="SE", delivered=True, times=10)
    states = breaker.health_states([("primary", "NO"), ("primary", "SE"), ("backup", "NO")])
    assert states == [breaker.HealthState("primary", "NO", "tripped", clock.now + COOLOFF, False)]
    clock.now += COOLOFF
    assert send() == SENT_BY_PRIMARY
    assert breaker.health_states([("primary", "NO")])[0].state == "half-open"
    assert breaker.health_states([("primary", "NO")])[0].trial is True


REDIS_URL = os.environ.get("REDIS_URL")
SUBPROCESS = """
import django
django.setup()
import django_sms_gateway.dispatch  # as a webhook worker does: the walk's modules connect the receiver
from django_sms_gateway import signals
from django.test import override_settings
with override_settings(OTP_SMS_DELIVERY_HEALTH={"COOLOFF": 300}):
    seen = []
    signals.delivery_health_tripped.connect(lambda sender, **kwargs: seen.append(kwargs["reports"]), weak=False)
    for delivered in [False] * 6 + [True] * 4:
        signals.delivery_reported.send(sender=None, alias="primary", region="NO", delivered=delivered, seconds=None)
    print(seen)
"""


@pytest.mark.redis
@pytest.mark.skipif(not REDIS_URL, reason="needs Redis: set REDIS_URL=redis://127.0.0.1:6379/<n>")
def test_a_trip_in_one_process_is_seen_by_another(settings, tripped, sms_outbox):
    """Receipts reach another process (a webhook worker); this one skips the gateway."""
    settings.SMS_GATEWAYS = GATEWAYS
    settings.OTP_SMS_DELIVERY_HEALTH = {"COOLOFF": 300}
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    assert env["SMS_TEST_CACHE_PREFIX"]  # tests/settings.py set it: the child uses the same keys
    breaker.health_keys("primary", "NO")  # noqa: B018  (the conftest forgets the pair after the test)
    done = subprocess.run(  # noqa: S603  (our own interpreter and script)
        [sys.executable, "-c", SUBPROCESS], env=env, capture_output=True, text=True, timeout=60,
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["[10]"]
    assert send() == SPARED
    assert send(SWEDEN) == SENT_BY_PRIMARY
    # The other process sent the signal; this one, reporting more, does not send it again.
    report(delivered=False, times=10)
    assert tripped == []


@pytest.mark.parametrize(("value", "fragment"), [
    ("on", "must be a dict or None"),
    ({"WINDOWS": 60}, "unknown key 'WINDOWS'"),
    ({"WINDOW": 0}, "OTP_SMS_DELIVERY_HEALTH['WINDOW'] must be a number of seconds more than 0"),
    ({"MIN_REPORTS": 0}, "OTP_SMS_DELIVERY_HEALTH['MIN_REPORTS'] must be a whole number of at least 1"),
    ({"MIN_REPORTS": 2.5}, "MIN_REPORTS"),
    ({"MAX_FAILURE_SHARE": 0}, "above 0 and at most 1"),
    ({"MAX_FAILURE_SHARE": 1.5}, "above 0 and at most 1"),
    ({"MAX_FAILURE_SHARE": True}, "above 0 and at most 1"),
    ({"COOLOFF": -1}, "OTP_SMS_DELIVERY_HEALTH['COOLOFF']"),
])
def test_a_wrong_setting_is_e033(value, fragment):
    with pytest.raises(ConfigurationError, match=fragment.replace("[", r"\[").replace("]", r"\]")) as raised:
        delivery_health(value)
    assert raised.value.check_id == E033


def test_the_setting_is_merged_over_its_defaults_and_none_turns_it_off(settings):
    from django.core.checks import run_checks

    assert delivery_health({"COOLOFF": 60}) == DeliveryHealthPolicy(900.0, 10, 0.5, 60.0)
    assert delivery_health(None) is None
    settings.OTP_SMS_DELIVERY_HEALTH = {"MIN_REPORTS": 0}
    assert [m.id for m in run_checks() if m.id == E033] == [E033]


@pytest.mark.django_db(transaction=True)
@pytest.mark.urls("tests.vendors.urls")
def test_failed_receipts_over_http_send_that_countrys_next_codes_through_the_next_vendor(live_server, sandbox,
                                                                                          settings, django_user_model,
                                                                                          sms_outbox):
    """Twilio in the sandbox accepts ten codes to Norway and posts its documented
    'undelivered' receipt for each; the next Norwegian code goes straight to
    the next gateway, while a Swedish one still goes through Twilio."""
    from django_sms_gateway.models import DeliveryRecord, SMSDevice

    from .vendors.helpers import gateway_entry

    callback = live_server.url + "/sms/webhooks/twilio/twilio/"
    settings.SMS_GATEWAYS = {"twilio": gateway_entry("twilio", sandbox, status_callback=callback),
                             "backup": {"BACKEND": LOCMEM}}
    settings.OTP_SMS_DELIVERY_HEALTH = {"WINDOW": WINDOW, "COOLOFF": COOLOFF}
    settings.OTP_SMS_DELIVERY_DEADLINE = None
    settings.OTP_SMS_LIMITS = None
    user = django_user_model.objects.create_user("health")
    norway = SMSDevice.objects.create(user=user, name="no", number=NORWAY, confirmed=True)
    sweden = SMSDevice.objects.create(user=user, name="se", number=SWEDEN, confirmed=True)

    sandbox.set_fault("twilio", "undelivered", count=10)
    failed = DeliveryRecord.objects.filter(gateway="twilio", delivery=DeliveryRecord.Delivery.FAILED)
    rerouted = DeliveryRecord.objects.filter(gateway="backup", outcome="sent")
    with fakes.signals_received("delivery_health_tripped") as tripped:
        for sent in range(1, 11):
            norway.generate_challenge()
            # One receipt at a time: its fail-over's record is the last thing its webhook writes.
            wait_until(lambda sent=sent: rerouted.count() == sent)
        assert failed.count() == 10
    assert [kwargs for _name, kwargs in tripped] == [
        {"alias": "twilio", "region": "NO", "failures": 10, "reports": 10, "cooloff": COOLOFF}
    ]

    assert rerouted.count() == 10
    twilio_sent = len([m for m in sandbox.messages if m["vendor"] == "twilio"])
    norway.generate_challenge()
    latest = DeliveryRecord.objects.filter(region="NO").order_by("-id")[:2]
    assert [(r.gateway, r.outcome, r.reason) for r in reversed(latest)] == [
        ("twilio", "skipped", breaker.UNHEALTHY), ("backup", "sent", "accepted")
    ]
    sweden.generate_challenge()
    assert DeliveryRecord.objects.filter(region="SE").get().gateway == "twilio"
    assert len([m for m in sandbox.messages if m["vendor"] == "twilio"]) == twilio_sent + 1


def wait_until(condition, seconds=10.0):
    """Poll ``condition`` (the sandbox's receipts come over HTTP from its threads) until true or ``seconds`` pass."""
    for _ in range(int(seconds / 0.05)):
        if condition():
            return
        threading.Event().wait(0.05)


@pytest.mark.parametrize(("cache", "debug", "health", "warned"), [
    ("django.core.cache.backends.locmem.LocMemCache", False, {}, True),
    ("django.core.cache.backends.locmem.LocMemCache", True, {}, False),
    ("django.core.cache.backends.locmem.LocMemCache", False, None, False),
    ("django.core.cache.backends.db.DatabaseCache", False, {}, False),
])
def test_w022_when_each_process_would_count_its_own_receipts(settings, cache, debug, health, warned):
    from django_sms_gateway.checks import W022
    from django_sms_gateway.conf import delivery_health_cache_problems

    settings.CACHES = {"default": {"BACKEND": cache, "LOCATION": "sms_cache"}}
    settings.DEBUG = debug
    settings.OTP_SMS_DELIVERY_HEALTH = health
    assert [p.check_id for p in delivery_health_cache_problems()] == ([W022] if warned else [])
