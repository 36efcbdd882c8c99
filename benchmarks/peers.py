"""``make bench-peers`` / ``python -m benchmarks.peers``: our SMS login step
beside django-two-factor-auth's and django-otp-twilio's, in one run.

All three send through the same fake vendor, the sandbox's Twilio imitation
answering after 20 ms, from the same process, database and cache:

- **ours**: ``SMSDevice.generate_challenge()`` with one gateway,
  ``TwilioBackend``, breaker on (the default), sending limits on (all five,
  caps out of reach) and off;
- **django-two-factor-auth**: ``PhoneDevice.generate_challenge()`` -> its
  Twilio gateway's ``send_sms`` (the twilio library);
- **django-otp-twilio**: ``TwilioSMSDevice.generate_challenge()``
  (``requests.post``);
- **floor**: a bare keep-alive ``requests.Session`` POST of the same form to
  the same Messages resource.

Measured: latency and process CPU per login step in interleaved blocks (each
round runs one block of every contender, in rotating order; ratios are of the
block medians within a round), SQL statements per send and per verify,
1-thread and 8-thread throughput, and what each does when its only vendor
refuses connections or accepts them and never answers (outcome and how long
the call held the worker). Runs only in ``.venv-peers`` (settings:
:mod:`benchmarks.peers_settings`).
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any

#: Seconds the sandbox waits before each answer (real vendors: 50-500 ms).
VENDOR_LATENCY = 0.02
NUMBER = "+4798765432"
_CODE = re.compile(r"\b(\d{6})\b")
_TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE", "ROLLBACK")

OURS = "ours, limits on"
OURS_OFF = "ours, limits off"
OURS_SECOND = "ours, limits on, a healthy second gateway"
TWO_FACTOR = "django-two-factor-auth (Twilio)"
OTP_TWILIO = "django-otp-twilio"
FLOOR = "floor: bare keep-alive POST"
PEERS = (TWO_FACTOR, OTP_TWILIO)


# -- results ------------------------------------------------------------------------------------------


@dataclass
class Blocks:
    """One contender's interleaved blocks: per round, the block's call durations and its CPU seconds."""

    name: str
    seconds: list[list[float]] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)

    def add(self, seconds: list[float], cpu: float) -> None:
        self.seconds.append(seconds)
        self.cpu.append(cpu)

    @property
    def calls(self) -> int:
        return sum(len(block) for block in self.seconds)

    @property
    def medians(self) -> list[float]:
        return [statistics.median(block) for block in self.seconds]

    @property
    def median_ms(self) -> float:
        return statistics.median(t for block in self.seconds for t in block) * 1000

    @property
    def cpu_ms(self) -> list[float]:
        """CPU milliseconds per call, one value per block."""
        return [cpu * 1000 / len(block) for cpu, block in zip(self.cpu, self.seconds, strict=True)]


def ratios(numerator: Sequence[float], denominator: Sequence[float]) -> list[float]:
    """Round by round ``numerator[i] / denominator[i]``."""
    return [a / b for a, b in zip(numerator, denominator, strict=True)]


def spread(values: Sequence[float]) -> tuple[float, float, float]:
    """(median, first quartile, third quartile) of ``values``."""
    if len(values) < 2:
        only = values[0]
        return only, only, only
    low, _, high = statistics.quantiles(values, n=4, method="inclusive")
    return statistics.median(values), low, high


def best_per_round(rounds: dict[str, Sequence[float]]) -> list[float]:
    """Round by round, the smallest value among ``rounds``' contenders."""
    return [min(values) for values in zip(*rounds.values(), strict=True)]


@dataclass
class Outcome:
    """What one login step did when its vendor failed."""

    description: str
    seconds: float
    finished: bool = True

    @property
    def held(self) -> str:
        return f"{self.seconds:.2f} s" if self.finished else f"> {self.seconds:.0f} s (still waiting)"


def describe(result: object = None, error: BaseException | None = None, *, hosts: Sequence[str] = ()) -> str:
    """A short, honest line for a return value or an exception; says when the
    exception's text (what django-otp's forms show the user) names the vendor's host."""
    if error is None:
        return f"returns {result!r}"[:90]
    kind = type(error).__qualname__
    text = str(error)
    if any(host and host in text for host in hosts):
        return f"raises {kind}; its text names the vendor's address"
    return f"raises {kind}: {text[:90]!r}"


@dataclass
class Failures:
    refused_first: Outcome
    refused_later: Outcome | None
    hung_first: Outcome
    hung_later: Outcome | None
    later_note: str = ""


@dataclass
class Rates:
    single: list[float] = field(default_factory=list)  # SMS/s, one value per round
    multi: list[float] = field(default_factory=list)

    @property
    def single_mean(self) -> float:
        return statistics.fmean(self.single)

    @property
    def multi_mean(self) -> float:
        return statistics.fmean(self.multi)

    @property
    def ratio(self) -> float:
        return self.multi_mean / self.single_mean


@dataclass
class Report:
    blocks: dict[str, Blocks]
    sql: dict[str, tuple[int, int, int]]  # send, verify right, verify wrong
    sql_text: dict[str, dict[str, list[str]]]
    rates: dict[str, Rates]
    failures: dict[str, Failures]
    threads: int
    header: str = ""


# -- contenders ---------------------------------------------------------------------------------------


@dataclass
class Contender:
    """A login step to time: ``call`` runs it; ``scope()`` wraps each block of calls (settings)."""

    name: str
    devices: list[Any]
    scope: Callable[[], Any] = nullcontext

    @property
    def call(self) -> Callable[[], object]:
        return self.devices[0].generate_challenge


def _limits_on() -> Any:
    from django.test import override_settings

    return override_settings(OTP_SMS_LIMITS=dict.fromkeys(("number", "prefix", "ip", "user", "global"),
                                                          (10**9, 3600)))


class PeersBench:
    """The measurements, bound to one sandbox process."""

    def __init__(self, sandbox: Any, *, block: int, rounds: int, warmup: int, threads: int,
                 hung_cap: float) -> None:
        self.sandbox = sandbox
        self.block = block
        self.rounds = rounds
        self.warmup = warmup
        self.threads = threads
        self.hung_cap = hung_cap
        self._users = 0

    # -- set-up ---------------------------------------------------------------------------------------

    def twilio_url(self) -> str:
        return self.sandbox.base_url("twilio")

    def ours_gateways(self, base_url: str, *, second: bool = False) -> dict[str, Any]:
        """Our one Twilio gateway at ``base_url``; ``second``: then the sandbox's Twilio as a second one."""
        from sms_sandbox.twilio import CREDENTIALS

        from .peers_settings import SENDER_NUMBER

        def twilio(url: str) -> dict[str, Any]:
            return {
                "BACKEND": "django_sms_gateway.backends.twilio.TwilioBackend",
                "OPTIONS": {"account_sid": CREDENTIALS["account_sid"], "auth_token": CREDENTIALS["auth_token"],
                            "base_url": url, "sender": SENDER_NUMBER},
            }

        gateways = {"twilio": twilio(base_url)}
        if second:
            gateways["twilio-second"] = twilio(self.twilio_url())
        return gateways

    @contextmanager
    def vendor(self, base_url: str, *, second: bool = False) -> Iterator[None]:
        """Every contender sends to ``base_url`` (the sandbox's Twilio, or a dead port)."""
        from django.core.cache import cache
        from django.test import override_settings

        cache.clear()
        with override_settings(SMS_GATEWAYS=self.ours_gateways(base_url, second=second),
                               BENCH_TWILIO_URL=base_url, OTP_TWILIO_URL=base_url):
            yield
        cache.clear()

    def _user(self) -> Any:
        from django.contrib.auth import get_user_model

        self._users += 1
        return get_user_model().objects.create_user(f"peers-{self._users}")

    def device(self, name: str) -> Any:
        if name in (OURS, OURS_OFF):
            from django_sms_gateway.models import SMSDevice

            return SMSDevice.objects.create(user=self._user(), name="phone", number=NUMBER, confirmed=True)
        if name == TWO_FACTOR:
            from two_factor.plugins.phonenumber.models import PhoneDevice

            return PhoneDevice.objects.create(user=self._user(), name="default", number=NUMBER, method="sms",
                                              confirmed=True)
        from otp_twilio.models import TwilioSMSDevice

        return TwilioSMSDevice.objects.create(user=self._user(), name="phone", number=NUMBER, confirmed=True)

    def contenders(self, devices: int = 1) -> list[Contender]:
        return [
            Contender(OURS, [self.device(OURS) for _ in range(devices)], _limits_on),
            Contender(OURS_OFF, [self.device(OURS_OFF) for _ in range(devices)]),
            Contender(TWO_FACTOR, [self.device(TWO_FACTOR) for _ in range(devices)]),
            Contender(OTP_TWILIO, [self.device(OTP_TWILIO) for _ in range(devices)]),
        ]

    def floor_call(self, session: Any) -> Callable[[], object]:
        from sms_sandbox.twilio import CREDENTIALS

        from .peers_settings import SENDER_NUMBER

        sid = CREDENTIALS["account_sid"]
        url = f"{self.twilio_url()}/2010-04-01/Accounts/{sid}/Messages.json"
        form = {"To": NUMBER, "From": SENDER_NUMBER, "Body": "Your code is 123456"}
        auth = (sid, CREDENTIALS["auth_token"])

        def call() -> None:
            response = session.post(url, data=form, auth=auth, timeout=5)
            if response.status_code != 201:
                raise RuntimeError(f"the sandbox refused the bare call: HTTP {response.status_code}")

        return call

    # -- latency and CPU ------------------------------------------------------------------------------

    def interleaved(self) -> dict[str, Blocks]:
        """``rounds`` rounds; in each, one block of ``block`` calls per contender, in rotating order."""
        import requests

        self.sandbox.reset()
        self.sandbox.set_latency(VENDOR_LATENCY)
        contenders = self.contenders()
        with self.vendor(self.twilio_url()), requests.Session() as session:
            entries = [Contender(FLOOR, [], nullcontext), *contenders]
            calls = {c.name: (self.floor_call(session) if c.name == FLOOR else c.call) for c in entries}
            for entry in entries:  # warm-up: connections, tokens, caches, first-use imports
                with entry.scope():
                    for _ in range(self.warmup):
                        calls[entry.name]()
            blocks = {entry.name: Blocks(entry.name) for entry in entries}
            clock, cpu_clock = time.perf_counter, time.process_time
            for index in range(self.rounds):
                shift = index % len(entries)
                for entry in entries[shift:] + entries[:shift]:
                    call, seconds = calls[entry.name], []
                    with entry.scope():
                        cpu_started = cpu_clock()
                        for _ in range(self.block):
                            started = clock()
                            call()
                            seconds.append(clock() - started)
                        cpu = cpu_clock() - cpu_started
                    blocks[entry.name].add(seconds, cpu)
        self.sandbox.set_latency(0)
        return blocks

    # -- SQL ------------------------------------------------------------------------------------------

    def sql(self) -> tuple[dict[str, tuple[int, int, int]], dict[str, dict[str, list[str]]]]:
        """Statements (transaction control not counted) of one send, one right
        and one wrong verify, each contender on a fresh device, outside any transaction."""
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        counts: dict[str, tuple[int, int, int]] = {}
        text: dict[str, dict[str, list[str]]] = {}
        self.sandbox.reset()
        with self.vendor(self.twilio_url()):
            for contender in self.contenders():
                with contender.scope():
                    device = contender.devices[0]
                    device.generate_challenge()  # first use of the device: nothing of it is cached
                    captured: dict[str, list[str]] = {}
                    with CaptureQueriesContext(connection) as ctx:
                        device.generate_challenge()
                    captured["send"] = [q["sql"] for q in ctx.captured_queries]
                    code = self._last_code()
                    wrong = "000000" if code != "000000" else "111111"
                    with CaptureQueriesContext(connection) as ctx:
                        if device.verify_token(wrong):
                            raise RuntimeError(f"{contender.name}: a wrong code was accepted")
                    captured["verify wrong"] = [q["sql"] for q in ctx.captured_queries]
                    # A fresh code: the wrong guess may have throttled the device (django-otp's back-off).
                    if hasattr(device, "throttle_reset"):
                        device.throttle_reset()
                    device.generate_challenge()
                    code = self._last_code()
                    with CaptureQueriesContext(connection) as ctx:
                        if not device.verify_token(code):
                            raise RuntimeError(f"{contender.name}: the code that was sent was refused")
                    captured["verify right"] = [q["sql"] for q in ctx.captured_queries]
                counts[contender.name] = (len(statements(captured["send"])),
                                          len(statements(captured["verify right"])),
                                          len(statements(captured["verify wrong"])))
                text[contender.name] = captured
        return counts, text

    def _last_code(self) -> str:
        match = _CODE.search(self.sandbox.messages()[-1]["text"])
        if match is None:
            raise RuntimeError("no code in the last message the sandbox received")
        return match.group(1)

    # -- throughput -----------------------------------------------------------------------------------

    def throughput(self, rounds: int = 2, single_calls: int = 100, per_thread: int = 40) -> dict[str, Rates]:
        """1 thread against ``threads`` threads (one device each), vendor
        answering in 20 ms; ``rounds`` rounds, contenders in rotating order."""
        from django.db import connections

        from .measure import throughput

        self.sandbox.reset()
        contenders = self.contenders(devices=self.threads)
        rates = {c.name: Rates() for c in contenders}
        close = connections.close_all
        with self.vendor(self.twilio_url()):
            self.sandbox.set_latency(VENDOR_LATENCY)
            try:
                for index in range(rounds):
                    shift = index % len(contenders)
                    for contender in contenders[shift:] + contenders[:shift]:
                        calls = [d.generate_challenge for d in contender.devices]
                        with contender.scope():
                            throughput("warm-up", calls, per_thread=5, teardown=close)
                            single = throughput("1", calls[:1], per_thread=single_calls, teardown=close)
                            multi = throughput("n", calls, per_thread=per_thread, teardown=close)
                        rates[contender.name].single.append(single.per_second)
                        rates[contender.name].multi.append(multi.per_second)
            finally:
                self.sandbox.set_latency(0)
        return rates

    # -- a dead vendor --------------------------------------------------------------------------------

    def failures(self) -> dict[str, Failures]:
        """Each contender's vendor refuses connections, then accepts them and
        never answers: ours alone (one gateway) and with a healthy second
        gateway (the sandbox's Twilio under another alias), each called until
        its breaker opens and once more; each peer once. A peer's call that
        still waits after ``hung_cap`` seconds is released by closing the
        listening socket."""
        from django_sms_gateway.conf import settings as ours

        found: dict[str, Failures] = {}
        threshold = ours.OTP_SMS_BREAKER_THRESHOLD
        contenders = {c.name: c for c in self.contenders()}
        variants = [(OURS, OURS, False), (OURS_SECOND, OURS, True), (TWO_FACTOR, TWO_FACTOR, False),
                    (OTP_TWILIO, OTP_TWILIO, False)]
        for label, name, second in variants:
            contender = contenders[name]
            is_ours = name == OURS
            repeat = threshold + 1 if is_ours else 1
            with socket.socket() as closed:
                closed.bind(("127.0.0.1", 0))  # bound, not listening: connection refused
                url = f"http://127.0.0.1:{closed.getsockname()[1]}/twilio"
                with self.vendor(url, second=second), contender.scope():
                    refused = [self._timed_call(contender, self.hung_cap) for _ in range(repeat)]
            silent = socket.socket()
            silent.bind(("127.0.0.1", 0))
            silent.listen(64)  # the kernel completes handshakes; nobody reads or answers
            url = f"http://127.0.0.1:{silent.getsockname()[1]}/twilio"
            try:
                with self.vendor(url, second=second), contender.scope():
                    hung = []
                    for _ in range(repeat):
                        hung.append(self._timed_call(contender, self.hung_cap, release=silent.close))
                        if not hung[-1].finished:
                            break
            finally:
                silent.close()
            note = f"call {repeat} (the breaker opened after {threshold})" if is_ours else ""
            found[label] = Failures(refused[0], refused[-1] if is_ours else None,
                                    hung[0], hung[-1] if is_ours and len(hung) > 1 else None, note)
        return found

    def _timed_call(self, contender: Contender, cap: float, release: Callable[[], object] | None = None,
                    hosts: Sequence[str] = ("127.0.0.1",)) -> Outcome:
        """Run one login step in a thread of its own; give up waiting after ``cap`` seconds."""
        from django.db import connections

        done: dict[str, Any] = {}

        def run() -> None:
            started = time.perf_counter()
            try:
                done["result"] = describe(contender.call(), hosts=hosts)
            except Exception as exc:  # noqa: BLE001 (the outcome is what is measured)
                done["result"] = describe(error=exc, hosts=hosts)
                done["kind"] = type(exc).__qualname__
            finally:
                done["seconds"] = time.perf_counter() - started
                connections.close_all()

        started = time.perf_counter()
        worker = threading.Thread(target=run, name=f"peers-{contender.name}", daemon=True)
        worker.start()
        worker.join(cap)
        if not worker.is_alive():
            return Outcome(done["result"], done["seconds"])
        if release is not None:
            release()
        worker.join(10)
        after = f"; closing the port then raised {done['kind']}" if "kind" in done else ""
        return Outcome(f"no answer and no timeout: still waiting{after}",
                       time.perf_counter() - started if worker.is_alive() else cap, finished=False)


def statements(queries: Sequence[str]) -> list[str]:
    """The captured SQL without transaction control."""
    return [sql for sql in queries if not sql.upper().startswith(_TRANSACTION_CONTROL)]


# -- tables -------------------------------------------------------------------------------------------


def _range(values: Sequence[float], digits: int) -> str:
    median, low, high = spread(values)
    return f"{median:.{digits}f} ({low:.{digits}f}-{high:.{digits}f})"


def targets(report: Report) -> list[tuple[str, str, str, bool]]:
    """(measurement, value, target, met) for the issue-22 targets: ours, limits
    and breaker on, against the best peer in the same run."""
    b = report.blocks
    peers = {name: b[name].medians for name in PEERS}
    latency = spread(ratios(b[OURS].medians, best_per_round(peers)))[0]
    cpu = spread(ratios(b[OURS].cpu_ms, best_per_round({n: b[n].cpu_ms for n in PEERS})))[0]
    best_multi = max(report.rates[name].multi_mean for name in PEERS)
    multi = report.rates[OURS].multi_mean
    return [
        ("login step latency, ours / best peer (per round)", f"{latency:.3f}", "<= 1.00", latency <= 1.0),
        ("CPU per login step, ours / best peer (per round)", f"{cpu:.3f}", "<= 1.00", cpu <= 1.0),
        (f"{report.threads}-thread throughput, ours / best peer", f"{multi:.0f}/s / {best_multi:.0f}/s = "
         f"{multi / best_multi:.3f}", ">= 1.00", multi >= best_multi),
    ]


def render(report: Report) -> str:
    from .report import _table

    b = report.blocks
    floor = b[FLOOR]
    rows = [(FLOOR, str(floor.calls), f"{floor.median_ms:.2f}", "1", _range(floor.cpu_ms, 2), "", "", "", "")]
    for name in (OURS, OURS_OFF, *PEERS):
        blocks, rates = b[name], report.rates[name]
        send, right, wrong = report.sql[name]
        rows.append((
            name, str(blocks.calls), f"{blocks.median_ms:.2f}", _range(ratios(blocks.medians, floor.medians), 3),
            _range(blocks.cpu_ms, 2), f"{send} / {right} ({wrong})", f"{rates.single_mean:.0f}",
            f"{rates.multi_mean:.0f}", f"{rates.ratio:.2f}",
        ))
    main = _table(("login step, vendor 20 ms", "n", "median ms", "/ floor (IQR)", "CPU ms (IQR)",
                   "SQL send / verify (wrong)", "1 thread /s", f"{report.threads} threads /s",
                   f"{report.threads} ÷ 1"), rows, {1, 2, 3, 4, 6, 7, 8})
    goal = _table(("target (issue 22)", "value", "target", "result"),
                  [(m, v, t, "PASS" if ok else "FAIL") for m, v, t, ok in targets(report)], set())
    dead = []
    for name, f in report.failures.items():
        dead.append((name, f.refused_first.description, f.refused_first.held, f.hung_first.description,
                     f.hung_first.held))
        if f.refused_later is not None or f.hung_later is not None:
            refused, hung = f.refused_later or f.refused_first, f.hung_later or f.hung_first
            dead.append((f"{name}, {f.later_note}", refused.description, refused.held, hung.description,
                         hung.held))
    failures = _table(("vendor dead", "refused: outcome", "held", "hung: outcome", "held"), dead, {2, 4})
    return "\n\n".join([main, goal, failures])


# -- command line -------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.peers", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=12, help="interleaved rounds (default 12)")
    parser.add_argument("--block", type=int, default=25, help="calls per contender per round (default 25)")
    parser.add_argument("--warmup", type=int, default=20, help="untimed calls per contender first (default 20)")
    parser.add_argument("--threads", type=int, default=8, help="threads of the throughput scenario (default 8)")
    parser.add_argument("--hung-cap", type=float, default=8.0,
                        help="seconds to wait for a step whose vendor never answers (default 8)")
    parser.add_argument("--no-fail", action="store_true", help="exit 0 even when a target is missed")
    parser.add_argument("--show-sql", action="store_true", help="also print the SQL of each send and verify")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.rounds < 2 or args.block < 5 or args.threads < 2 or args.warmup < 0 or args.hung_cap <= 0:
        print("--rounds >= 2, --block >= 5, --threads >= 2, --warmup >= 0, --hung-cap > 0", file=sys.stderr)
        return 2
    try:
        import otp_twilio  # noqa: F401
        import twilio  # noqa: F401
        import two_factor  # noqa: F401
    except ImportError as exc:
        print(f"the peers are not installed here ({exc}); run `make bench-peers`, which installs them "
              "in .venv-peers", file=sys.stderr)
        return 2
    from .run import _stop_on_sigterm

    _stop_on_sigterm()
    workdir = tempfile.mkdtemp(prefix="sms-bench-peers-")
    os.environ["SMS_BENCH_SQLITE_PATH"] = os.path.join(workdir, "bench.sqlite3")
    os.environ["DJANGO_SETTINGS_MODULE"] = "benchmarks.peers_settings"
    try:
        return _run(args)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _versions() -> str:
    from importlib.metadata import version

    names = ("Django", "django-otp", "django-two-factor-auth", "twilio", "django-otp-twilio", "requests")
    return ", ".join(f"{name} {version(name)}" for name in names)


def _run(args: argparse.Namespace) -> int:
    import django

    django.setup()
    from django.conf import settings
    from django.core.cache import caches

    from . import database
    from .sandbox_process import SandboxProcess

    old_name = settings.DATABASES["default"]["NAME"]
    database.create()
    try:
        with SandboxProcess() as sandbox:
            bench = PeersBench(sandbox, block=args.block, rounds=args.rounds, warmup=args.warmup,
                               threads=args.threads, hung_cap=args.hung_cap)
            started = time.perf_counter()
            blocks = bench.interleaved()
            sql, sql_text = bench.sql()
            rates = bench.throughput()
            failures = bench.failures()
            elapsed = time.perf_counter() - started
        cache = "Redis" if "redis" in type(caches["default"]).__module__ else "local-memory"
        from django_sms_gateway.models import WaitingRecords

        if getattr(settings, "OTP_SMS_DELIVERY_RECORD_CACHE", None):
            cache += f" cache, where our delivery records wait to go in by batches of {WaitingRecords.batch};"
        else:
            cache += " cache;"
        report = Report(blocks, sql, sql_text, rates, failures, args.threads, header=(
            f"Peers benchmark: {args.rounds} interleaved rounds of {args.block} calls per contender, "
            f"vendor (the sandbox's Twilio) answering in {VENDOR_LATENCY * 1000:.0f} ms; {database.describe()}, "
            f"{cache} Python {platform.python_version()}, {os.cpu_count()} CPUs (load average at the end "
            f"{os.getloadavg()[0]:.1f}); {_versions()}; {elapsed:.0f}s."
        ))
        print(report.header + "\n")
        print(render(report))
        if args.show_sql:
            for name, captured in sql_text.items():
                for what, queries in captured.items():
                    print(f"\n{name}, {what}:")
                    for query in queries:
                        print(f"  {query}")
    finally:
        database.destroy(old_name)
    missed = [row for row in targets(report) if not row[3]]
    if missed:
        print(f"\n{len(missed)} target(s) missed: " + "; ".join(f"{m} = {v}" for m, v, _, _ in missed))
        return 0 if args.no_fail else 1
    print("\nAll targets met.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
