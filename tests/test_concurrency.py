"""Verification under real concurrency on PostgreSQL.

Each trial starts real threads, each with its own database connection, and
releases them together with a barrier. No row locks are taken anywhere:
single use comes from conditional UPDATEs and failure counts from atomic
increments. For contrast, django-otp's own EmailDevice (load without a lock,
compare, save) accepted the same code more than once in 19 of 20 such trials
and lost about 9 of 12 failure counts; these tests demand 0 and 0.

Run with ``DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres make test``.
The iP1 race without threads (any database) is in tests/vendors/test_ip1.py.
"""

from __future__ import annotations

import os
import queue
import threading
from collections import Counter
from collections.abc import Callable

import pytest
from django.db import connections
from django.utils import timezone

from django_sms_gateway import signals
from django_sms_gateway.models import SMSDevice
from django_sms_gateway.testing import last_code

from .vendors.helpers import LOCMEM_ENTRY, ip1_code, ip1_entry

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")),
        reason="needs PostgreSQL: set DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres",
    ),
    pytest.mark.django_db(transaction=True),
]

TRIALS = 20
THREADS = 12


class Racers:
    """Worker threads, each with its own database connection, that run one
    racer each per trial and are released together by a barrier. They live
    for a whole test, so connecting is paid once, not once per trial."""

    def __init__(self, size: int) -> None:
        self.inboxes: list[queue.Queue] = [queue.Queue() for _ in range(size)]
        self.results: queue.Queue = queue.Queue()
        self.threads = [threading.Thread(target=self._work, args=(i,), daemon=True) for i in range(size)]
        for thread in self.threads:
            thread.start()

    def _work(self, index: int) -> None:
        try:
            while (job := self.inboxes[index].get()) is not None:
                prepare, barrier = job
                try:
                    action = prepare()
                    barrier.wait()
                    self.results.put((index, action(), None))
                except BaseException as exc:  # reported in the main thread
                    barrier.abort()
                    self.results.put((index, None, exc))
        finally:
            connections.close_all()

    def race(self, prepared: list[Callable[[], Callable[[], bool]]]) -> list[bool]:
        """Run each ``prepare()`` in its own thread, then all the actions they
        return at the same moment; their results in order."""
        barrier = threading.Barrier(len(prepared), timeout=20)
        for inbox, prepare in zip(self.inboxes, prepared, strict=False):
            inbox.put((prepare, barrier))
        results: list[bool] = [False] * len(prepared)
        for _ in prepared:
            index, result, error = self.results.get(timeout=30)
            if error is not None:
                raise error
            results[index] = result
        return results

    def close(self) -> None:
        for inbox in self.inboxes:
            inbox.put(None)
        for thread in self.threads:
            thread.join(timeout=10)
        assert not any(t.is_alive() for t in self.threads), "a racing thread hung"


@pytest.fixture
def racers(transactional_db):
    pool = Racers(THREADS)
    yield pool
    pool.close()


def fresh_load(pk: int, code: object) -> Callable[[], Callable[[], bool]]:
    """A racer that loads its own copy of the device in its thread."""

    def prepare() -> Callable[[], bool]:
        device = SMSDevice.objects.get(pk=pk)
        return lambda: device.verify_token(code)

    return prepare


def given(device: SMSDevice, code: object) -> Callable[[], Callable[[], bool]]:
    """A racer that uses an instance loaded earlier (possibly shared)."""
    return lambda: (lambda: device.verify_token(code))


def wrong(code: str) -> str:
    return "".join(str((int(c) + 1) % 10) for c in code)


def failure_count(pk: int) -> int:
    return SMSDevice.objects.values_list("throttling_failure_count", flat=True).get(pk=pk)


@pytest.fixture
def refusals():
    """Reasons of every code_refused signal, from all threads."""
    seen: Counter[str] = Counter()
    lock = threading.Lock()

    def receiver(sender, reason, **kwargs):
        with lock:
            seen[reason] += 1

    signals.code_refused.connect(receiver)
    yield seen
    signals.code_refused.disconnect(receiver)


# -- our own codes ------------------------------------------------------------------------


@pytest.mark.parametrize("loading", ["fresh", "stale", "shared"])
def test_the_right_code_is_accepted_exactly_once(device, sms_outbox, settings, loading, racers):
    """However the device was loaded: each thread its own copy after the code
    was sent, its own copy from before, or one instance shared by all."""
    settings.OTP_SMS_THROTTLE_FACTOR = 0  # late racers find the code used: a counted failure
    settings.OTP_SMS_MAX_FAILURES = 0  # ... hundreds of them over the trials
    for _trial in range(TRIALS):
        stale = [SMSDevice.objects.get(pk=device.pk) for _ in range(THREADS)]
        device.generate_challenge()
        code = last_code()
        if loading == "fresh":
            contenders = [fresh_load(device.pk, code) for _ in range(THREADS)]
        elif loading == "stale":
            contenders = [given(copy, code) for copy in stale]
        else:
            contenders = [given(stale[0], code)] * THREADS
        results = racers.race(contenders)
        assert results.count(True) == 1, results
        assert SMSDevice.objects.values_list("token", flat=True).get(pk=device.pk) is None


def test_simultaneous_wrong_guesses_are_all_counted(device, sms_outbox, settings, refusals, racers):
    settings.OTP_SMS_THROTTLE_FACTOR = 0  # count without locking out, to see every increment
    settings.OTP_SMS_MAX_FAILURES = 0
    device.generate_challenge()
    bad = wrong(last_code())
    guesses = [bad, bad[:-1], f"{bad[:3]} {bad[3:]}", None]  # wrong, short, inner space, not a string
    for trial in range(TRIALS):
        before = failure_count(device.pk)
        stale = [SMSDevice.objects.get(pk=device.pk) for _ in range(THREADS // 2)]
        contenders = [fresh_load(device.pk, guesses[(trial + i) % len(guesses)]) for i in range(THREADS // 2)]
        contenders += [given(copy, bad) for copy in stale]
        assert racers.race(contenders) == [False] * THREADS
        assert failure_count(device.pk) == before + THREADS  # none lost
    assert refusals == {"wrong, expired or malformed code": TRIALS * THREADS}
    assert device.verify_token(last_code()) is True  # guesses never spent the code


def test_throttling_holds_under_concurrency(device, sms_outbox, settings, refusals, racers):
    """Once a failure is recorded, no racing request gets the right code in
    while the device is throttled; only guesses actually checked are counted."""
    settings.OTP_SMS_THROTTLE_FACTOR = 60
    for trial in range(TRIALS):
        SMSDevice.objects.filter(pk=device.pk).update(throttling_failure_count=0, throttling_failure_timestamp=None)
        device.generate_challenge()
        code = last_code()
        refusals.clear()
        right = trial % THREADS
        results = racers.race([fresh_load(device.pk, code if i == right else wrong(code)) for i in range(THREADS)])
        assert all(r is False for i, r in enumerate(results) if i != right)
        counted = refusals["wrong, expired or malformed code"]
        assert failure_count(device.pk) == counted  # no lost and no extra counts
        if not results[right]:
            # Refused because failures were recorded: throttled now, and the
            # code was not spent, so it works once the delay has passed.
            assert counted > 0
            assert device.verify_token(code) is False
            SMSDevice.objects.filter(pk=device.pk).update(throttling_failure_timestamp=None)  # delay over
            assert device.verify_token(code) is True


@pytest.mark.parametrize("loading", ["fresh", "stale"])
def test_a_throttled_device_lets_no_racer_in(device, sms_outbox, settings, refusals, loading, racers):
    settings.OTP_SMS_THROTTLE_FACTOR = 60
    for _trial in range(TRIALS // 4):
        stale = [SMSDevice.objects.get(pk=device.pk) for _ in range(THREADS)]  # not throttled in memory
        device.generate_challenge()
        code = last_code()
        SMSDevice.objects.filter(pk=device.pk).update(
            throttling_failure_count=1, throttling_failure_timestamp=timezone.now()
        )
        contenders = [fresh_load(device.pk, code) for _ in range(THREADS)] if loading == "fresh" else [
            given(copy, code) for copy in stale
        ]
        assert racers.race(contenders) == [False] * THREADS
        assert failure_count(device.pk) == 1  # throttled refusals are not counted
    assert refusals == {"throttled": TRIALS // 4 * THREADS}


# -- the lock-out is bounded ---------------------------------------------------------------


def test_a_burst_of_parallel_wrong_guesses_is_counted_exactly_but_locks_for_at_most_an_hour(
    device, sms_outbox, settings, refusals, racers
):
    """Parallel wrong guesses on a device that already failed 20 times:
    2^(n-1) seconds would lock it for weeks; the wait stops at
    OTP_SMS_THROTTLE_MAX_DELAY (1 hour), and no failure goes uncounted."""
    settings.OTP_SMS_THROTTLE_FACTOR = 1
    device.generate_challenge()
    bad = wrong(last_code())
    SMSDevice.objects.filter(pk=device.pk).update(throttling_failure_count=20, throttling_failure_timestamp=None)
    racers.race([fresh_load(device.pk, bad) for _ in range(THREADS)])
    failures = failure_count(device.pk)
    assert failures == 20 + refusals["wrong, expired or malformed code"] > 20  # exact
    assert refusals["wrong, expired or malformed code"] + refusals["throttled"] == THREADS
    locked = SMSDevice.objects.get(pk=device.pk)
    allowed, details = locked.verify_is_allowed()
    assert allowed is False and details["failure_count"] == failures
    assert (details["locked_until"] - locked.throttling_failure_timestamp).total_seconds() == 3600


def test_parallel_wrong_guesses_past_the_total_cap_need_a_new_binding(device, sms_outbox, settings, refusals, racers):
    """After OTP_SMS_MAX_FAILURES consecutive failures even the right code is
    refused (counted exactly, even when racers pass the cap together), until
    the number is bound again."""
    settings.OTP_SMS_THROTTLE_FACTOR = 0  # no waits: only the total cap stops the guesses
    settings.OTP_SMS_MAX_FAILURES = 10
    device.generate_challenge()
    code = last_code()
    for _burst in range(2):
        racers.race([fresh_load(device.pk, wrong(code)) for _ in range(THREADS)])
    assert failure_count(device.pk) == refusals["wrong, expired or malformed code"] >= 10
    assert refusals["too many failures"] >= THREADS - 10 + 1  # the second burst found it locked
    assert device.verify_token(code) is False
    device.refresh_from_db()
    device.rebind("+4798765432")  # the same number, bound again: confirmed again by a new code
    assert failure_count(device.pk) == 0 and device.confirmed is False
    device.generate_challenge()
    assert device.verify_token(last_code()) is True


# -- a code the vendor holds (iP1, over HTTP to the sandbox) --------------------------------


@pytest.fixture
def ip1_first(sandbox, settings):
    settings.SMS_GATEWAYS = {"ip1": ip1_entry(sandbox, timeout=5), "locmem": LOCMEM_ENTRY}
    return sandbox


def validations(sandbox) -> int:
    """Requests iP1 (the sandbox) received so far: read after the create
    request, the growth is the number of codes it was asked to check."""
    return sandbox.stats["ip1"]["requests"]


@pytest.mark.parametrize("loading", ["fresh", "stale"])
def test_an_ip1_code_is_accepted_once_and_checked_with_ip1_once(
    ip1_first, device, sms_outbox, settings, loading, racers
):
    settings.OTP_SMS_THROTTLE_FACTOR = 0
    for _trial in range(TRIALS // 2):
        stale = [SMSDevice.objects.get(pk=device.pk) for _ in range(THREADS)]
        device.generate_challenge()
        code = ip1_code(ip1_first)
        asked = validations(ip1_first)
        contenders = [fresh_load(device.pk, code) for _ in range(THREADS)] if loading == "fresh" else [
            given(copy, code) for copy in stale
        ]
        assert racers.race(contenders).count(True) == 1
        assert validations(ip1_first) == asked + 1  # the others never reached iP1


def test_right_and_wrong_ip1_codes_racing_never_burn_the_right_one(
    ip1_first, device, sms_outbox, settings, refusals, racers
):
    """The double-submit race: one right and one wrong submission at once.
    Every guess iP1 judged is counted once; a refused right code is still
    good afterwards (iP1 was not asked to spend it)."""
    settings.OTP_SMS_THROTTLE_FACTOR = 0
    for _trial in range(TRIALS):
        SMSDevice.objects.filter(pk=device.pk).update(throttling_failure_count=0)
        device.generate_challenge()
        code = ip1_code(ip1_first)
        bad = "".join("1" if c == "0" else "0" for c in code)
        refusals.clear()
        asked = validations(ip1_first)
        right_ok, wrong_ok = racers.race([fresh_load(device.pk, code), fresh_load(device.pk, bad)])
        assert wrong_ok is False
        judged_wrong = refusals["wrong, expired or malformed code"]
        assert judged_wrong <= 1 and validations(ip1_first) <= asked + int(right_ok) + judged_wrong
        if right_ok:  # the wrong guess came first (then the success reset the count) or after
            assert failure_count(device.pk) in (0, judged_wrong)
        else:  # it lost the reservation to the wrong guess, which iP1 judged and we counted
            assert refusals["check in progress"] == 1
            assert failure_count(device.pk) == judged_wrong == 1
            assert validations(ip1_first) == asked + 1
            assert device.verify_token(code) is True


def test_ip1_down_during_a_race_counts_nothing_and_keeps_the_code(
    ip1_first, device, sms_outbox, settings, refusals, racers
):
    settings.OTP_SMS_THROTTLE_FACTOR = 0
    device.generate_challenge()
    code = ip1_code(ip1_first)
    stored = SMSDevice.objects.get(pk=device.pk).token
    ip1_first.set_fault("ip1", "500")
    for _trial in range(TRIALS // 4):
        assert racers.race([fresh_load(device.pk, code) for _ in range(THREADS)]) == [False] * THREADS
        assert SMSDevice.objects.get(pk=device.pk).token == stored
    assert failure_count(device.pk) == 0
    assert set(refusals) <= {"vendor unavailable", "check in progress"}
    ip1_first.set_fault("ip1", None)
    assert device.verify_token(code) is True
