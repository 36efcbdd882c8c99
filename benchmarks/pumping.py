"""``make pumping`` / ``python -m benchmarks.pumping``: an SMS pumping attack against the fraud guard.

Replays, on a simulated clock, a pumping attack mixed with honest traffic
through the send policy (``limits.check_send``) and the conversion signal
(``limits.note_verified``, which a successful ``verify_token`` calls), with
the fixed ``prefix``, ``ip``, ``user`` and ``global`` limits off so that the
guard stands alone (``number`` stays at its default, the owners' budget):

- honest traffic all along: ``--honest`` sends an hour to numbers all over the
  UK mobile space (thin ranges), ``--busy`` an hour to one busy range,
  a burst of sign-ups in one town (``--burst`` sends within three minutes),
  each code entered (with a delay of 10 s to 4 min) by ``--honest-conversion``
  of the users, 85 % in the busy range;
- after ``--warmup`` minutes, the attack: ``--attack`` sends an hour for
  ``--attack-minutes`` to random numbers of one range, from as many accounts
  and addresses, none ever entered;
- ``--owners`` confirmed owners inside the attacked range log in every
  20 minutes and enter their codes.

It runs once with ``MODE = "enforce"`` and once with ``"monitor"``, and prints
per run: attack sends refused (all, and after the first 60), honest sends
refused (other ranges), owners' sends refused, ``fraud_guard_tripped``
signals, and the SMS cost saved at ``--price`` per message. The counters are
in Redis when ``REDIS_URL`` is set (a key prefix of its own), else in the
local-memory cache. Exits 1 when a target of the issue is missed (unless
``--no-fail``).
"""

from __future__ import annotations

import argparse
import heapq
import logging
import os
import random
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import django
from django.conf import settings as django_settings

ROOT = Path(__file__).resolve().parent.parent
#: The fixed limits the issue switches off so that the guard stands alone (``number`` stays on).
FIXED_OFF = {"prefix": None, "ip": None, "user": None, "global": None}
#: The attacked range: a calling code and 6 national digits (1,000 numbers).
ATTACKED = "+44 791123"
BUSY = "+44 787654"
TOWN = "+44 745612"


def configure(redis_url: str | None, directory: str) -> None:
    cache = (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": redis_url,
         "KEY_PREFIX": f"sms-pumping-{uuid.uuid4().hex[:8]}",
         "OPTIONS": {"socket_timeout": 1, "socket_connect_timeout": 1}}
        if redis_url
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
    django_settings.configure(
        SECRET_KEY="pumping-bench-not-secret",  # noqa: S106 (a loopback benchmark)
        USE_TZ=True,
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
        INSTALLED_APPS=["django.contrib.auth", "django.contrib.contenttypes", "django_otp", "django_sms_gateway"],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.path.join(directory, "db.sqlite3")}},
        CACHES={"default": cache},
        OTP_SMS_LIMITS=FIXED_OFF,
        LOGGING_CONFIG=None,
    )
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


class Clock:
    """The simulated time the limits read (``limits.time`` is replaced by it)."""

    def __init__(self, start: float) -> None:
        self.now = start

    def time(self) -> float:
        return self.now

    @staticmethod
    def monotonic() -> float:
        return time.monotonic()


@dataclass
class Run:
    sent: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)
    #: Of ``refused``, those the fraud guard refused (the rest: the ``number`` limit).
    by_guard: Counter[str] = field(default_factory=Counter)
    attack_after_60: list[bool] = field(default_factory=list)
    signals: int = 0
    states: Counter[str] = field(default_factory=Counter)
    warnings: list[str] = field(default_factory=list)

    def share(self, kind: str) -> float:
        total = self.sent[kind] + self.refused[kind]
        return self.refused[kind] / total if total else 0.0


class _Keeper(logging.Handler):
    """Keeps the guard's WARNING lines (the other limits' lines are not printed)."""

    def __init__(self, kept: list[str]) -> None:
        super().__init__(logging.WARNING)
        self.kept = kept

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if "fraud guard" in message:
            self.kept.append(message)


def mobile_in(prefix: str, rng: random.Random) -> str:
    """A valid UK mobile number in ``prefix`` (``"+44 7911"``), random otherwise."""
    import phonenumbers

    head = prefix.replace(" ", "")
    while True:
        number = head + "".join(rng.choice("0123456789") for _ in range(13 - len(head)))
        parsed = phonenumbers.parse(number, None)
        mobile = phonenumbers.number_type(parsed) == phonenumbers.PhoneNumberType.MOBILE
        if phonenumbers.is_valid_number(parsed) and mobile:
            return number


def replay(mode: str, args: argparse.Namespace) -> Run:
    from django.test import override_settings

    from django_sms_gateway import limits, signals
    from django_sms_gateway.exceptions import SendLimitExceeded

    rng = random.Random(args.seed)
    run = Run()
    clock = Clock(float(int(time.time())))
    start = clock.now
    events: list[tuple[float, int, str, str, object]] = []
    order = iter(range(10**9))

    def at(when: float, kind: str, number: str, user: object = None) -> None:
        heapq.heappush(events, (when, next(order), kind, number, user))

    minutes = args.warmup + args.attack_minutes + 10
    for _ in range(int(args.honest * minutes / 60)):
        at(start + rng.uniform(0, minutes * 60), "honest", mobile_in("+44 7", rng))
    for _ in range(int(args.busy * minutes / 60)):
        at(start + rng.uniform(0, minutes * 60), "busy", mobile_in(BUSY, rng))
    burst_at = start + args.warmup * 60 + 600
    for _ in range(args.burst):
        at(burst_at + rng.uniform(0, 180), "town", mobile_in(TOWN, rng))
    attack_start = start + args.warmup * 60
    for _ in range(int(args.attack * args.attack_minutes / 60)):
        at(attack_start + rng.uniform(0, args.attack_minutes * 60), "attack", mobile_in(ATTACKED, rng))
    for owner in range(args.owners):
        number = mobile_in(ATTACKED, rng)
        first = start + rng.uniform(0, 1200)
        for login in range(int(minutes / 20)):
            at(first + login * 1200, "owner", number, f"owner-{owner}")

    def tripped(**kwargs: object) -> None:
        run.signals += 1
        run.states[str(kwargs["state"])] += 1

    signals.fraud_guard_tripped.connect(tripped, weak=False, dispatch_uid="pumping-bench")
    log = logging.getLogger("django_sms_gateway")
    keeper = _Keeper(run.warnings)
    log.addHandler(keeper)
    log.propagate = False
    conversion: dict[str, float] = {"honest": args.honest_conversion, "town": args.honest_conversion,
                                    "busy": 0.85, "owner": 0.97, "attack": 0.0}
    attack_seen = 0
    real_time = limits.time
    limits.time = clock  # type: ignore[assignment]
    try:
        with override_settings(OTP_SMS_FRAUD_GUARD={"MODE": mode}):
            while events:
                when, _order, kind, number, user = heapq.heappop(events)
                clock.now = when
                if kind in ("verify", "owner-verify"):
                    limits.note_verified(number, owner=kind == "owner-verify")
                    continue
                try:
                    limits.check_send(number, user_id=user or f"acct-{next(order)}", confirmed=kind == "owner")
                except SendLimitExceeded as refused:
                    run.refused[kind] += 1
                    run.by_guard[kind] += refused.limit == "fraud_guard"
                    allowed = False
                else:
                    run.sent[kind] += 1
                    allowed = True
                if kind == "attack":
                    attack_seen += 1
                    if attack_seen > 60:
                        run.attack_after_60.append(not allowed)
                if allowed and rng.random() < conversion[kind]:
                    delay = rng.uniform(10, 60) if rng.random() < 0.8 else rng.uniform(60, 240)
                    at(when + delay, "owner-verify" if kind == "owner" else "verify", number)
    finally:
        limits.time = real_time
        signals.fraud_guard_tripped.disconnect(dispatch_uid="pumping-bench")
        log.removeHandler(keeper)
    return run


def report(mode: str, run: Run, price: float) -> list[str]:
    attack_total = run.sent["attack"] + run.refused["attack"]
    after = run.attack_after_60
    honest = ("honest", "busy", "town")
    honest_sent = sum(run.sent[k] + run.refused[k] for k in honest)
    honest_refused = sum(run.refused[k] for k in honest)
    lines = [
        f"mode {mode}",
        f"  attack sends refused:           {run.refused['attack']} of {attack_total} "
        f"({100 * run.share('attack'):.1f} %; by the guard {run.by_guard['attack']}); after the first 60: "
        f"{sum(after)} of {len(after)} ({100 * sum(after) / max(len(after), 1):.1f} %)",
        f"  honest sends refused (other ranges): {honest_refused} of {honest_sent} "
        f"({100 * honest_refused / max(honest_sent, 1):.2f} %): thin ranges {run.refused['honest']}, "
        f"busy range {run.refused['busy']} of {run.sent['busy'] + run.refused['busy']}, "
        f"town burst {run.refused['town']} of {run.sent['town'] + run.refused['town']}",
        f"  confirmed owners in the attacked range: {run.sent['owner']} served, {run.refused['owner']} refused",
        f"  fraud_guard_tripped signals: {run.signals} "
        f"({', '.join(f'{state} {count}' for state, count in sorted(run.states.items()))})",
        f"  guard WARNING lines: {len(run.warnings)}" + "".join(f"\n    {line}" for line in run.warnings[:3]),
        f"  SMS cost saved at {price:.2f} per SMS: {run.refused['attack'] * price:,.2f} "
        f"(the attack still cost {run.sent['attack'] * price:,.2f})",
    ]
    return lines


def misses(enforced: Run, monitored: Run) -> list[str]:
    found = []
    after = enforced.attack_after_60
    if not after or sum(after) / len(after) < 0.90:
        found.append("fewer than 90 % of the attack sends after the first 60 were refused")
    honest_total = sum(enforced.sent[k] + enforced.refused[k] for k in ("honest", "busy", "town"))
    if sum(enforced.refused[k] for k in ("honest", "busy", "town")) > 0.01 * honest_total:
        found.append("more than 1 % of honest sends to other ranges were refused")
    if enforced.refused["owner"] or monitored.refused["owner"]:
        found.append("a confirmed owner in the attacked range was refused")
    if sum(monitored.by_guard.values()):
        found.append("the guard refused a send in monitor mode")
    if not monitored.signals:
        found.append("monitor mode sent no fraud_guard_tripped signal")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--honest", type=int, default=3000, help="honest sends an hour, all over the UK ranges")
    parser.add_argument("--busy", type=int, default=400, help="honest sends an hour to one busy range")
    parser.add_argument("--burst", type=int, default=150, help="sign-ups in one town within three minutes")
    parser.add_argument("--honest-conversion", type=float, default=0.9)
    parser.add_argument("--attack", type=int, default=2000, help="attack sends an hour to one range")
    parser.add_argument("--attack-minutes", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=30, help="minutes of honest traffic before the attack")
    parser.add_argument("--owners", type=int, default=20, help="confirmed owners in the attacked range")
    parser.add_argument("--price", type=float, default=0.25, help="cost of one SMS to the attacked range")
    parser.add_argument("--seed", type=int, default=23)
    parser.add_argument("--no-fail", action="store_true", help="report only; exit 0 even when a target is missed")
    args = parser.parse_args(argv)
    redis_url = os.environ.get("REDIS_URL")
    with tempfile.TemporaryDirectory() as directory:
        configure(redis_url, directory)
        print(f"SMS pumping replay: counters in {'Redis ' + redis_url if redis_url else 'local memory'}; "
              f"fixed limits prefix/ip/user/global off")
        runs: dict[str, Run] = {}
        for mode in ("enforce", "monitor"):
            began = time.perf_counter()
            runs[mode] = replay(mode, args)
            _clear_keys()  # the next run starts from nothing, as the first did
            for line in report(mode, runs[mode], args.price):
                print(line)
            print(f"  ({time.perf_counter() - began:.1f} s)")
    missed = misses(runs["enforce"], runs["monitor"])
    for line in missed:
        print(f"MISSED: {line}")
    if not missed:
        print("every target met")
    return 1 if missed and not args.no_fail else 0


def _clear_keys() -> None:
    from django.core.cache import cache

    clear: Callable[[], object] = cache.clear
    if hasattr(cache, "_cache"):  # Redis: only this run's keys (its own prefix), never the whole db
        client = cache._cache.get_client(write=True)
        for key in client.scan_iter(match=f"{django_settings.CACHES['default'].get('KEY_PREFIX', '')}:*"):
            client.delete(key)
        return
    clear()


if __name__ == "__main__":
    sys.exit(main())
