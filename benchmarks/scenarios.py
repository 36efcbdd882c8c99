"""The benchmark scenarios: each sets up gateways against the sandbox and measures.

Every scenario starts from a clean slate: the sandbox is reset (messages,
counters, faults, issued tokens), Django's cache is cleared (breaker and
limit state) and the gateways are rebuilt by ``override_settings``, so one
scenario's connections, tokens or open breaker never help or hurt another.
"""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import requests
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import connection, connections
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from django_sms_gateway import breaker, signals
from django_sms_gateway.backends.base import BaseBackend
from django_sms_gateway.dispatch import build_backend, build_message
from django_sms_gateway.dispatch import gateways as registry
from django_sms_gateway.models import DeliveryRecord, SMSDevice
from sms_sandbox import CREDENTIALS

from .measure import Samples, Throughput, sample, throughput
from .sandbox_process import SandboxProcess

__all__ = ["Bench", "Counts", "HungResult", "Interleaved", "Parts", "ThreadResult"]

NUMBER = "+4798765432"
SENDER = "Bench"
SIGNICAT = "django_sms_gateway.backends.signicat.SignicatBackend"
ZIGNSEC = "django_sms_gateway.backends.zignsec.ZignSecBackend"
UNREACHABLE_LIMITS = ("number", "prefix", "ip", "user", "global")
_CODE = re.compile(r"\b(\d{6})\b")


@dataclass
class Counts:
    """What the sandbox and the database saw for sequential healthy sends."""

    messages: int = 0
    seconds: float = 0.0
    token_requests: int = 0
    token_ttl: int = 600
    connections: dict[str, int] = field(default_factory=dict)
    queries_generate: int = 0
    queries_verify_right: int = 0
    queries_verify_wrong: int = 0
    sql: dict[str, list[str]] = field(default_factory=dict)

    @property
    def token_lifetimes(self) -> int:
        """Token lifetimes the run spanned (a fresh token is due at each)."""
        return max(1, -(-int(self.seconds) // self.token_ttl))

    @property
    def tokens_per_1000(self) -> float:
        return 1000 * self.token_requests / self.messages if self.messages else 0.0


@dataclass(frozen=True)
class Parts:
    """The login step's own writes and read, timed in place (see :meth:`Bench.parts`)."""

    claim: Samples
    record: Samples
    breaker: Samples

    @property
    def total_ms(self) -> float:
        return self.claim.median_ms + self.record.median_ms + self.breaker.median_ms


@dataclass
class HungResult:
    """The hung-primary scenario: what opening the breaker cost, then samples."""

    opening_calls: int
    opening_seconds: float
    breaker_opened: bool
    samples: Samples


@dataclass
class Interleaved:
    """The five scenarios measured call by call together."""

    floor: Samples
    healthy: Samples
    refused: Samples
    hung: HungResult
    zignsec_alone: Samples
    zignsec_connections: int  # TCP connections the shared ZignSec backend opened


@dataclass
class ThreadResult:
    single: Throughput
    multi: Throughput
    sandbox_cpu_single: float | None  # cores busy in the sandbox process
    sandbox_cpu_multi: float | None
    token_requests_first_burst: int
    signicat_connections: int
    vendor_latency: float  # seconds the sandbox waited before each answer

    @property
    def ratio(self) -> float:
        return self.multi.per_second / self.single.per_second


class Bench:
    """Scenario runner bound to one sandbox process."""

    def __init__(self, sandbox: SandboxProcess, *, samples: int, warmup: int, timeout: float = 2.0,
                 hung_timeout: float = 0.5, token_ttl: int = 600) -> None:
        self.sandbox = sandbox
        self.samples = samples
        self.warmup = warmup
        self.timeout = timeout
        self.hung_timeout = hung_timeout
        self.token_ttl = token_ttl
        self._devices = 0

    # -- set-up helpers -------------------------------------------------------

    def signicat(self, base_url: str | None = None, *, timeout: float | None = None) -> dict[str, Any]:
        credentials = CREDENTIALS["signicat"]
        return {
            "BACKEND": SIGNICAT,
            "OPTIONS": {
                "client_id": credentials["client_id"],
                "client_secret": credentials["client_secret"],
                "base_url": base_url or self.sandbox.base_url("signicat"),
                "sender": SENDER,
            },
            "TIMEOUT": timeout or self.timeout,
        }

    def zignsec(self) -> dict[str, Any]:
        return {
            "BACKEND": ZIGNSEC,
            "OPTIONS": {
                "api_key": CREDENTIALS["zignsec"]["api_key"],
                "base_url": self.sandbox.base_url("zignsec"),
                "sender": SENDER,
            },
            "TIMEOUT": self.timeout,
        }

    @contextmanager
    def gateways(self, signicat: dict[str, Any] | None = None) -> Iterator[None]:
        """Signicat first, ZignSec second, on fresh backends and a clean sandbox and cache."""
        self.sandbox.reset()
        cache.clear()
        with override_settings(SMS_GATEWAYS={"signicat": signicat or self.signicat(), "zignsec": self.zignsec()}):
            yield
        cache.clear()

    def device(self, number: str = NUMBER) -> SMSDevice:
        self._devices += 1
        user = get_user_model().objects.create_user(f"bench-{self._devices}")
        return SMSDevice.objects.create(user=user, name="phone", number=number, confirmed=True)

    def _sample(self, name: str, call: Callable[[], object], **kwargs: int) -> Samples:
        kwargs.setdefault("samples", self.samples)
        kwargs.setdefault("warmup", self.warmup)
        return sample(name, call, **kwargs)

    def _vendor_call(self, session: requests.Session | None) -> tuple[Callable[[], object], str]:
        """A bare Signicat send of the same payload our backend posts, and the token it uses."""
        signicat = self.sandbox.base_url("signicat")
        credentials = CREDENTIALS["signicat"]
        answer = requests.post(
            f"{signicat}/oidc/token", auth=(credentials["client_id"], credentials["client_secret"]),
            data={"grant_type": "client_credentials", "scope": "client.sms.send"}, timeout=5,
        )
        answer.raise_for_status()
        headers = {"Authorization": f"Bearer {answer.json()['access_token']}"}
        payload = {"sender": SENDER, "recipient": NUMBER, "message": build_message(NUMBER, "123456").text}
        url = f"{signicat}/sms/messages"
        post = session.post if session is not None else requests.post

        def call() -> None:
            response = post(url, json=payload, headers=headers, timeout=self.timeout)
            if response.status_code != 200:
                raise RuntimeError(f"the sandbox refused the bare call: HTTP {response.status_code}")

        return call, headers["Authorization"]

    # -- scenarios ------------------------------------------------------------

    def floor_and_healthy(self, vendor_latency: float = 0.0, samples: int | None = None,
                          limits_on: bool = False) -> tuple[Samples, Samples]:
        """The bare keep-alive POST and ``generate_challenge()``, interleaved
        call by call so that both see the same machine state; the sandbox
        answers after ``vendor_latency`` seconds. ``limits_on`` counts every
        send against all five sending limits (caps too high to be reached)."""
        device = self.device()
        if limits_on:
            with override_settings(OTP_SMS_LIMITS=dict.fromkeys(UNREACHABLE_LIMITS, (10**9, 3600))):
                return self.floor_and_healthy(vendor_latency, samples)
        samples = self.samples if samples is None else samples
        warmup = min(self.warmup, 20) if vendor_latency else self.warmup  # slow calls warm up as quickly
        with self.gateways(), requests.Session() as session:
            self.sandbox.set_latency(vendor_latency)
            bare, _token = self._vendor_call(session)
            floor: list[float] = []
            healthy: list[float] = []
            clock = time.perf_counter
            for index in range(warmup + samples):
                pair = ((bare, floor), (device.generate_challenge, healthy))
                for call, into in pair if index % 2 else reversed(pair):
                    started = clock()
                    call()
                    if index >= warmup:
                        into.append(clock() - started)
        return Samples("floor", tuple(floor)), Samples("healthy", tuple(healthy))

    def interleaved(self, vendor_latency: float = 0.0, samples: int | None = None,
                    max_opening_calls: int = 20) -> Interleaved:
        """floor, healthy, primary refused, primary hung and ZignSec alone,
        interleaved call by call in rotating order, so that all five see the
        same machine state (measured one after the other, a scenario's median
        moved by up to 30% between runs on a shared machine). The sandbox
        answers after ``vendor_latency`` seconds; ``samples`` timed rounds
        (default: the bench's own).

        Each scenario keeps its own built backends, swapped into the gateway
        registry between calls (outside the timing), so its keep-alive
        connections, Signicat token and circuit breaker carry over from one
        of its calls to the next, as in a process serving logins. One ZignSec
        backend serves the three scenarios that use it. "Hung" is a loopback
        port that completes the TCP handshake and never answers.
        """
        self.sandbox.reset()
        self.sandbox.set_latency(vendor_latency)
        cache.clear()
        devices = {name: self.device() for name in ("healthy", "refused", "hung", "alone")}
        rounds = self.samples if samples is None else samples
        warmup = min(self.warmup, 20) if vendor_latency else self.warmup  # slow calls warm up as quickly
        opened_for: list[str] = []

        def on_opened(sender: object, alias: str, **kwargs: object) -> None:
            opened_for.append(alias)

        with socket.socket() as closed, socket.socket() as silent, requests.Session() as session:
            closed.bind(("127.0.0.1", 0))  # bound, not listening: connection refused
            silent.bind(("127.0.0.1", 0))
            silent.listen(64)  # the kernel completes handshakes; nobody ever reads or answers
            zignsec = build_backend("zignsec", self.zignsec())
            refused = build_backend("signicat-refused", self.signicat(_loopback_url(closed)))
            hung = build_backend("signicat-hung", self.signicat(_loopback_url(silent), timeout=self.hung_timeout))
            backends = {
                "healthy": {"signicat": build_backend("signicat", self.signicat()), "zignsec": zignsec},
                "refused": {refused.alias: refused, "zignsec": zignsec},
                "hung": {hung.alias: hung, "zignsec": zignsec},
                "alone": {"zignsec": zignsec},
            }
            bare, _token = self._vendor_call(session)
            calls: dict[str, Callable[[], object]] = {"floor": bare}
            for name, device in devices.items():
                calls[name] = device.generate_challenge
            signals.breaker_opened.connect(on_opened)
            try:
                registry._backends = backends["hung"]
                opening_calls, opening_started = 0, time.perf_counter()
                while hung.alias not in opened_for and opening_calls < max_opening_calls:
                    devices["hung"].generate_challenge()
                    opening_calls += 1
                opening_seconds = time.perf_counter() - opening_started
                opened = breaker.states([hung])[hung.alias].state == "open"
                if opened:
                    measured = self._rotate(calls, backends, rounds, warmup)
                else:  # no breaker: every hung call waits out the timeout; a few tell enough
                    measured = self._rotate({k: v for k, v in calls.items() if k != "hung"}, backends, rounds, warmup)
                    registry._backends = backends["hung"]
                    measured["hung"] = self._sample("primary hung", devices["hung"].generate_challenge,
                                                   samples=5, warmup=0)
            finally:
                self.sandbox.set_latency(0)
                signals.breaker_opened.disconnect(on_opened)
                registry._backends = None
                for backend in {id(b): b for group in backends.values() for b in group.values()}.values():
                    backend.close()
        connections_seen = self.sandbox.stats()["zignsec"]["connections"]
        cache.clear()
        return Interleaved(
            floor=measured["floor"],
            healthy=measured["healthy"],
            refused=measured["refused"],
            hung=HungResult(opening_calls, opening_seconds, opened, measured["hung"]),
            zignsec_alone=measured["alone"],
            zignsec_connections=connections_seen,
        )

    def _rotate(self, calls: dict[str, Callable[[], object]], backends: dict[str, dict[str, BaseBackend]],
                rounds: int, warmup: int) -> dict[str, Samples]:
        names = list(calls)
        timings: dict[str, list[float]] = {name: [] for name in names}
        clock = time.perf_counter
        for index in range(warmup + rounds):
            shift = index % len(names)
            for name in names[shift:] + names[:shift]:
                registry._backends = backends.get(name)
                started = clock()
                calls[name]()
                elapsed = clock() - started
                if index >= warmup:
                    timings[name].append(elapsed)
        return {name: Samples(name, tuple(seconds)) for name, seconds in timings.items()}

    def parts(self, vendor_latency: float = 0.0, samples: int | None = None) -> Parts:
        """The login step's own database writes and cache read, timed in
        place while ``generate_challenge()`` runs against a vendor answering
        after ``vendor_latency`` seconds: the claim (one conditional UPDATE,
        autocommit), the delivery record (one INSERT, autocommit) and the
        breaker's one cache read. Timed in place, not in a loop of their own:
        after a wait for the vendor the same statement takes longer (cold
        caches, an idle database process), and that is what a login pays."""
        device = self.device()
        samples = self.samples if samples is None else samples
        warmup = min(self.warmup, 20) if vendor_latency else self.warmup
        claim: list[float] = []
        record: list[float] = []
        read: list[float] = []
        with self.gateways(), _timed(SMSDevice, "_claim", claim), _timed(DeliveryRecord, "record", record), \
                _timed(breaker.Circuit, "read", read):
            self.sandbox.set_latency(vendor_latency)
            try:
                for _ in range(warmup + samples):
                    device.generate_challenge()
            finally:
                self.sandbox.set_latency(0)
        return Parts(Samples("claim", tuple(claim[warmup:])), Samples("record", tuple(record[warmup:])),
                     Samples("breaker", tuple(read[warmup:])))

    def naive(self, vendor_latency: float = 0.0, samples: int | None = None) -> Samples:
        """What peers do: ``requests.post`` per SMS, a new connection each time."""
        with self.gateways():
            self.sandbox.set_latency(vendor_latency)
            try:
                bare, _token = self._vendor_call(None)
                return self._sample("naive", bare, samples=samples or self.samples,
                                    warmup=min(self.warmup, 20) if vendor_latency else self.warmup)
            finally:
                self.sandbox.set_latency(0)

    def counts(self, messages: int = 1000) -> Counts:
        """Sequential healthy sends on fresh backends: tokens, connections, SQL."""
        device = self.device()
        result = Counts(messages=messages, token_ttl=self.token_ttl)
        with self.gateways():
            started = time.perf_counter()
            for _ in range(messages):
                device.generate_challenge()
            result.seconds = time.perf_counter() - started
            stats = self.sandbox.stats()
            result.token_requests = stats["signicat_token_requests"]
            result.connections = {vendor: stats[vendor]["connections"] for vendor in ("signicat", "zignsec")}

            with CaptureQueriesContext(connection) as ctx:
                device.generate_challenge()
            # Statements that do work; transaction control (BEGIN/COMMIT) is listed, not counted.
            result.queries_generate = len(_statements(ctx.captured_queries))
            result.sql["generate_challenge"] = [q["sql"] for q in ctx.captured_queries]
            match = _CODE.search(self.sandbox.messages()[-1]["text"])
            if match is None:
                raise RuntimeError("no code found in the last message the sandbox received")
            code = match.group(1)
            wrong = "000000" if code != "000000" else "111111"
            # The right code first: after a counted failure it would take the read path too.
            with CaptureQueriesContext(connection) as ctx:
                if not device.verify_token(code):
                    raise RuntimeError("the code that was sent was refused")
            result.queries_verify_right = len(_statements(ctx.captured_queries))
            result.sql["verify_token (right)"] = [q["sql"] for q in ctx.captured_queries]
            with CaptureQueriesContext(connection) as ctx:
                if device.verify_token(wrong):
                    raise RuntimeError("a wrong code was accepted")
            result.queries_verify_wrong = len(_statements(ctx.captured_queries))
            result.sql["verify_token (wrong)"] = [q["sql"] for q in ctx.captured_queries]
        return result

    def threads(self, threads: int = 8, per_thread: int = 60, single_calls: int = 150,
                vendor_latency: float = 0.02) -> ThreadResult:
        """Throughput of ``threads`` threads sending at once vs one thread,
        each thread with its own device (and database connection).

        The sandbox answers after ``vendor_latency`` seconds, as a vendor
        across the internet does (real ones take 50-500 ms): threads then
        overlap their waits unless something of ours serialises them. With an
        instant loopback answer the client's own CPU (one GIL, two cores
        shared with the sandbox) is the limit, whatever the code does."""
        devices = [self.device(f"+479876543{i % 10}") for i in range(threads)]
        calls = [d.generate_challenge for d in devices]
        close = connections.close_all  # per thread: each thread has its own connections
        with self.gateways():
            # All threads start on a fresh backend at once: still one token.
            throughput("burst", calls, per_thread=max(10, self.warmup // threads), teardown=close)
            token_requests = self.sandbox.stats()["signicat_token_requests"]

            self.sandbox.set_latency(vendor_latency)
            try:
                cpu = self.sandbox.cpu_seconds()
                single = throughput("1 thread", calls[:1], per_thread=single_calls, teardown=close)
                cpu_single = self._cores(cpu, single.wall_seconds)

                cpu = self.sandbox.cpu_seconds()
                multi = throughput(f"{threads} threads", calls, per_thread=per_thread, teardown=close)
                cpu_multi = self._cores(cpu, multi.wall_seconds)
            finally:
                self.sandbox.set_latency(0)
            signicat_connections = self.sandbox.stats()["signicat"]["connections"]
        return ThreadResult(single, multi, cpu_single, cpu_multi, token_requests, signicat_connections,
                            vendor_latency)

    def _cores(self, cpu_before: float | None, wall: float) -> float | None:
        cpu_after = self.sandbox.cpu_seconds()
        if cpu_before is None or cpu_after is None:
            return None
        return (cpu_after - cpu_before) / wall


@contextmanager
def _timed(owner: type, name: str, into: list[float]) -> Iterator[None]:
    """Append the duration of every call of ``owner.name`` to ``into`` while
    the block runs (a method or a classmethod; the original is put back)."""
    raw = vars(owner)[name]
    original = getattr(owner, name)
    clock = time.perf_counter

    def timed(*args: Any, **kwargs: Any) -> Any:
        started = clock()
        try:
            return original(*args, **kwargs)
        finally:
            into.append(clock() - started)

    setattr(owner, name, timed)
    try:
        yield
    finally:
        setattr(owner, name, raw)


def _loopback_url(sock: socket.socket) -> str:
    return f"http://127.0.0.1:{sock.getsockname()[1]}/signicat"


_TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE", "ROLLBACK")


def _statements(queries: list[dict[str, str]]) -> list[str]:
    """The captured SQL without transaction control."""
    return [q["sql"] for q in queries if not q["sql"].upper().startswith(_TRANSACTION_CONTROL)]
