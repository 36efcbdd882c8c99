"""``make soak`` / ``python -m benchmarks.soak``: the example site under faults.

Runs the example project as a production site would (``DEBUG = False``,
gunicorn with 4 sync workers, PostgreSQL, Django's RedisCache, the shipped
SMS step, Signicat -> ZignSec -> AccuAuth on the loopback sandbox answering
in 50 ms) and drives complete logins (password, send code, read it from the
sandbox, verify) from several client threads through these phases:

1. healthy;
2. the primary (Signicat) hangs;
3. a silent vendor: Signicat answers 500 and ZignSec accepts every SMS but
   never delivers it nor reports; with ``OTP_SMS_DELIVERY_DEADLINE`` of 2 s
   and ``smsfailover``'s sweep running every 0.5 s (the soak's stand-in for
   cron or a task worker, :mod:`benchmarks.soak_sweeper`), each challenge
   fails over to AccuAuth. Targets: at least 95 % of logins succeed, and
   every user gets AccuAuth's code within the deadline + 5 s of the send;
4. every vendor answers 500, then
5. every vendor is back;
6. Redis stalls (the soak's proxy in front of it stops forwarding);
7. PostgreSQL backends are terminated every second.

Per phase it prints logins that succeeded, friendly failures (a page that
says what happened), 500s, login time p50/p95/p99, and SMS delivered against
codes that were then accepted. It finally scans the site's log for codes and
full phone numbers. Every address is on loopback; every loop is bounded by
the phase time; needs PostgreSQL (127.0.0.1:5432) and Redis (127.0.0.1:6379).
"""

from __future__ import annotations

import argparse
import os
import queue
import random
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import requests

from .sandbox_process import SandboxProcess

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "soak-password"  # noqa: S105 (users of a throwaway database)
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
#: What the SMS step told the user: its notice after a send, its errors after a code.
SAID = re.compile(r'id="sms-(?:notice|errors)"[^>]*>(.*?)</(?:p|ul)>', re.S)


class StallableProxy:
    """A loopback TCP proxy in front of Redis whose forwarding can be paused:
    while stalled, connections stay open and bytes wait, as with a hung server."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.running = threading.Event()
        self.running.set()
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def stall(self) -> None:
        self.running.clear()

    def resume(self) -> None:
        self.running.set()

    def close(self) -> None:
        self.closed = True
        self.running.set()
        self.listener.close()

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        with source, sink:
            while not self.closed:
                try:
                    data = source.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                self.running.wait()
                try:
                    sink.sendall(data)
                except OSError:
                    return


@dataclass
class Phase:
    name: str
    logins: int = 0
    ok: int = 0
    friendly: int = 0
    errors_500: int = 0
    transport: int = 0
    delivered: int = 0
    usable: int = 0
    times: list[float] = field(default_factory=list)
    #: Sends marked missing and failed over during the phase (counted for the silent vendor only).
    failed_over: int = 0
    #: Seconds from the send's answer to the code in the inbox (None: no code came), where measured.
    waits: list[float | None] = field(default_factory=list)
    reasons: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, outcome: str, seconds: float, delivered: bool, usable: bool, reason: str = "") -> None:
        with self.lock:
            if reason:
                self.reasons[reason] += 1
            self.logins += 1
            self.times.append(seconds)
            self.delivered += delivered
            self.usable += usable
            if outcome == "ok":
                self.ok += 1
            elif outcome == "500":
                self.errors_500 += 1
            elif outcome == "transport":
                self.transport += 1
            else:
                self.friendly += 1

    def row(self) -> str:
        times = sorted(self.times) or [0.0]
        def pct(p: float) -> float:
            return times[min(len(times) - 1, int(p * len(times)))] * 1000
        return (f"| {self.name} | {self.logins} | {self.ok} | {self.friendly} | {self.errors_500} | "
                f"{self.transport} | {statistics.median(times) * 1000:.0f} | {pct(0.95):.0f} | {pct(0.99):.0f} | "
                f"{self.delivered} | {self.usable} |")


HEADER = ("| phase | logins | ok | friendly failures | 500s | no answer | p50 ms | p95 ms | p99 ms | "
          "SMS delivered | codes accepted |\n|---|---|---|---|---|---|---|---|---|---|---|")


@dataclass(frozen=True)
class User:
    username: str
    number: str
    device_id: str
    address: str


class Site:
    """The example site under gunicorn, on a fresh PostgreSQL database."""

    def __init__(self, env: dict[str, str], workers: int) -> None:
        self.env, self.workers = env, workers
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def manage(self, *args: str) -> None:
        subprocess.run([sys.executable, "example_project/manage.py", *args], cwd=ROOT, env=self.env, check=True,
                       stdout=subprocess.DEVNULL)

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "example_project.wsgi:application", "--workers", str(self.workers),
             "--bind", f"127.0.0.1:{self.port}", "--timeout", "30", "--graceful-timeout", "2", "--log-level",
             "warning"],
            cwd=ROOT / "example_project", env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                requests.get(self.url + "/accounts/login/", timeout=1)
                return
            except requests.RequestException:
                time.sleep(0.2)
        raise RuntimeError("gunicorn did not answer within 20 s")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()


Outcome = tuple[str, bool, bool, str]


def login(site: Site, sandbox: SandboxProcess, user: User, timeout: float, *, code_wait: float = 2.0,
          waits: list[float | None] | None = None) -> Outcome:
    """One whole login: ``(outcome, SMS delivered, code accepted, what the page said)``
    with outcome ``ok``, ``friendly`` (a page that said what went wrong), ``500`` or
    ``transport``. The code is awaited ``code_wait`` seconds; ``waits`` gets how
    long it took (None when it never came)."""
    delivered = False
    with requests.Session() as http:
        http.headers["X-Forwarded-For"] = user.address
        try:
            page = http.get(site.url + "/accounts/login/", timeout=timeout)
            answer = http.post(site.url + "/accounts/login/", timeout=timeout, data={
                "username": user.username, "password": PASSWORD, "csrfmiddlewaretoken": _csrf(page.text)})
            if answer.status_code >= 500:
                return "500", False, False, "password step"
            step = http.get(site.url + "/sms/verify/", timeout=timeout)
            if step.status_code >= 500:
                return "500", False, False, "SMS step page"
            before = _latest_code(sandbox, user.number)
            sent = http.post(site.url + "/sms/verify/", timeout=timeout, data={
                "otp_device": user.device_id, "otp_challenge": "1", "csrfmiddlewaretoken": _csrf(step.text)})
            if sent.status_code >= 500:
                return "500", False, False, "send"
            asked = time.monotonic()
            code = _wait_for_code(sandbox, user.number, before, timeout=code_wait)
            if waits is not None:
                waits.append(None if code is None else time.monotonic() - asked)
            delivered = code is not None
            if code is None:
                return "friendly", False, False, "send: " + _said(sent.text)
            verified = http.post(site.url + "/sms/verify/", timeout=timeout, allow_redirects=False, data={
                "otp_device": user.device_id, "otp_token": code, "csrfmiddlewaretoken": _csrf(sent.text)})
            if verified.status_code >= 500:
                return "500", True, False, "verify"
            accepted = verified.status_code == 302 and "/sms/verify/" not in verified.headers.get("Location", "")
            if accepted:
                return "ok", True, True, ""
            return "friendly", True, False, "verify: " + _said(verified.text)
        except requests.RequestException as exc:
            return "transport", delivered, False, type(exc).__name__


def _said(page: str) -> str:
    found = SAID.search(page)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", found.group(1))).strip() if found else "(no message)"


def _csrf(page: str) -> str:
    found = CSRF.search(page)
    return found.group(1) if found else ""


def _latest_code(sandbox: SandboxProcess, number: str) -> str | None:
    texts = [m["text"] for m in sandbox.messages() if m["recipient"] == number]
    found = re.search(r"\b([0-9]{6})\b", texts[-1]) if texts else None
    return found.group(1) if found else None


def _wait_for_code(sandbox: SandboxProcess, number: str, before: str | None, timeout: float) -> str | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        code = _latest_code(sandbox, number)
        if code is not None and code != before:
            return code
        time.sleep(0.05)
    return None


def drive(phase: Phase, seconds: float, clients: int, work: Callable[[], Outcome]) -> None:
    """Run ``work`` from ``clients`` threads until ``seconds`` have passed."""
    stop = time.monotonic() + seconds

    def client() -> None:
        while time.monotonic() < stop:
            started = time.monotonic()
            outcome, delivered, usable, reason = work()
            phase.add(outcome, time.monotonic() - started, delivered, usable, reason)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


@contextmanager
def terminating_backends(database: str, every: float) -> Iterator[None]:
    """Terminate every PostgreSQL backend of ``database`` each ``every`` seconds."""
    import psycopg

    stop = threading.Event()

    def loop() -> None:
        with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True) as admin:
            while not stop.wait(every):
                admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s "
                              "AND pid <> pg_backend_pid()", (database,))

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(5)


def create_users(env: dict[str, str], count: int) -> list[User]:
    """``count`` users with a confirmed phone each, written through the ORM."""
    os.environ.update(env)
    sys.path.insert(0, str(ROOT / "example_project"))
    import django

    django.setup()
    from django.contrib.auth import get_user_model

    from django_sms_gateway.models import SMSDevice

    users = []
    for index in range(count):
        user = get_user_model().objects.create_user(f"soak{index}", password=PASSWORD)
        number = f"+4798{index:06d}"
        device = SMSDevice.objects.create(user=user, name="phone", number=number, confirmed=True)
        users.append(User(user.username, number, device.persistent_id, f"198.51.{index // 250}.{index % 250 + 1}"))
    return users


def scan_log(path: Path, users: Sequence[User]) -> list[str]:
    """Lines of the site's log that hold a full phone number or a six-digit code."""
    text = path.read_text(errors="replace") if path.exists() else ""
    numbers = {u.number for u in users} | {u.number.lstrip("+") for u in users}
    return [line for line in text.splitlines()
            if any(n in line for n in numbers) or re.search(r"(?<![0-9A-Za-z+*])[0-9]{6}(?![0-9A-Za-z])", line)]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.soak", description=__doc__.split("\n\n")[0])
    parser.add_argument("--phase-seconds", type=float, default=12.0, help="length of each phase (default 12)")
    parser.add_argument("--clients", type=int, default=8, help="client threads (default 8)")
    parser.add_argument("--users", type=int, default=200, help="users with a phone (default 200)")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn sync workers (default 4)")
    parser.add_argument("--deadline", type=float, default=2.0,
                        help="OTP_SMS_DELIVERY_DEADLINE of the site, in seconds (default 2)")
    parser.add_argument("--terminate-every", type=float, default=1.0,
                        help="seconds between PostgreSQL backend terminations in the last phase (default 1)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if (not 1 <= args.phase_seconds <= 120 or not 1 <= args.clients <= 64 or not 1 <= args.users <= 5000
            or args.users < args.clients or not 0.5 <= args.deadline <= 60):
        print("--phase-seconds 1-120, --clients 1-64, --users 1-5000 and at least --clients, --deadline 0.5-60",
              file=sys.stderr)
        return 2
    for port, name in ((5432, "PostgreSQL"), (6379, "Redis")):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError:
            print(f"soak: needs {name} on 127.0.0.1:{port}", file=sys.stderr)
            return 2
    import psycopg

    database = f"sms_soak_{os.getpid()}"
    workdir = Path(tempfile.mkdtemp(prefix="sms-soak-"))
    log_file = workdir / "site.log"
    proxy = StallableProxy(("127.0.0.1", 6379))
    with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{database}"')
    site: Site | None = None
    try:
        with SandboxProcess() as sandbox:
            sandbox.set_latency(0.05)
            env = {**os.environ, "DJANGO_SETTINGS_MODULE": "benchmarks.soak_settings", "SOAK_DATABASE": database,
                   "SOAK_REDIS_URL": f"redis://127.0.0.1:{proxy.port}/0", "SOAK_SANDBOX_URL": sandbox.url,
                   "SOAK_LOG_FILE": str(log_file), "SOAK_DELIVERY_DEADLINE": str(args.deadline),
                   "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "example_project")])}
            site = Site(env, args.workers)
            env["SOAK_SITE_URL"] = site.url  # ZignSec's delivery webhook
            site.manage("migrate", "--noinput")
            users = create_users(env, args.users)
            site.start()
            sweeper = subprocess.Popen([sys.executable, "-m", "benchmarks.soak_sweeper"], cwd=ROOT, env=env,
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                phases = run_phases(site, sandbox, proxy, users, database, args)
            finally:
                sweeper.terminate()
                sweeper.wait(10)
        print(f"Soak: {args.clients} clients, gunicorn {args.workers} sync workers, PostgreSQL, Redis, "
              f"{args.phase_seconds:g} s per phase, vendors answer in 50 ms.\n")
        print(HEADER)
        for phase in phases:
            print(phase.row())
        for phase in phases:
            if phase.waits:
                print("\n" + silent_vendor_summary(phase, args.deadline))
        print("\nWhat failed logins were told (or where they broke), per phase:")
        for phase in phases:
            for reason, count in phase.reasons.most_common(4):
                print(f"  {phase.name}: {count} x {reason}")
        leaks = scan_log(log_file, users)
        print(f"\nSite log: {len(log_file.read_text(errors='replace').splitlines()) if log_file.exists() else 0} "
              f"lines; {len(leaks)} hold a full number or a code.")
        for line in leaks[:5]:
            print(f"  {line}")
        return 1 if leaks else 0
    finally:
        if site is not None:
            site.stop()
        proxy.close()
        with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


SILENT_VENDOR = "silent vendor"


def failed_over() -> int:
    """Sends to the silent vendor (ZignSec) marked missing and failed over, from
    the site's database (``create_users`` set Django up in this process)."""
    from django.db import connection

    from django_sms_gateway.models import DeliveryRecord

    connection.close()  # a connection of before the phase may have been dropped since
    return DeliveryRecord.objects.filter(gateway="zignsec", delivery=DeliveryRecord.Delivery.MISSING,
                                         failed_over_at__isnull=False).count()


def silent_vendor_summary(phase: Phase, deadline: float) -> str:
    """The silent-vendor phase against its targets: >= 95 % of logins succeed, and
    every code from the next vendor arrives within the deadline + 5 s of the send."""
    came = [wait for wait in phase.waits if wait is not None]
    within = sum(wait <= deadline + 5 for wait in came)
    share = phase.ok / phase.logins * 100 if phase.logins else 0.0
    slowest = f"{max(came):.2f}" if came else "-"
    return (f"Silent vendor (deadline {deadline:g} s): {phase.ok} of {phase.logins} logins succeeded ({share:.1f} %, "
            f"target >= 95 %); {within} of {len(phase.waits)} users got the next vendor's code within "
            f"{deadline + 5:g} s (slowest {slowest} s; median "
            f"{statistics.median(came) if came else 0:.2f} s); {phase.failed_over} silent sends marked missing "
            "and failed over.")


def run_phases(site: Site, sandbox: SandboxProcess, proxy: StallableProxy, users: Sequence[User], database: str,
               args: argparse.Namespace) -> list[Phase]:
    vendors = ("signicat", "zignsec", "accuauth")
    # No two clients sign in as the same user at once: a second login's code
    # replaces the first's, which would read as "delivered but unusable".
    free: queue.Queue[User] = queue.Queue()
    for user in random.Random(7).sample(list(users), len(users)):  # noqa: S311 (an order of users)
        free.put(user)

    def work(current: Phase) -> Outcome:
        user = free.get()
        try:
            if current.name == SILENT_VENDOR:
                return login(site, sandbox, user, timeout=20, code_wait=args.deadline + 5, waits=current.waits)
            return login(site, sandbox, user, timeout=20)
        finally:
            free.put(user)

    phases: list[Phase] = []
    counted: dict[str, int] = {}

    def phase(name: str, before: Callable[[], None], after: Callable[[], None]) -> None:
        current = Phase(name)
        before()
        try:
            drive(current, args.phase_seconds, args.clients, lambda: work(current))
        finally:
            after()
        current.failed_over = counted.get(name, 0)
        phases.append(current)

    def silent() -> None:
        sandbox.set_fault("signicat", "500")
        sandbox.set_fault("zignsec", "silent")

    def heard() -> None:
        sandbox.set_fault("signicat", None)
        sandbox.set_fault("zignsec", None)
        time.sleep(args.deadline + 1)  # the last sends' fail-overs
        counted[SILENT_VENDOR] = failed_over()

    def nothing() -> None:
        pass

    phase("healthy", nothing, nothing)
    phase("primary hangs", lambda: sandbox.set_fault("signicat", "hang"), lambda: sandbox.set_fault("signicat", None))
    # Before "all vendors down" opens every breaker: the silent vendor must still be tried.
    phase(SILENT_VENDOR, silent, heard)
    phase("all vendors down", lambda: [sandbox.set_fault(v, "500") for v in vendors], nothing)
    phase("all vendors back", lambda: [sandbox.set_fault(v, None) for v in vendors], nothing)
    phase("Redis stalls", proxy.stall, proxy.resume)
    with terminating_backends(database, every=args.terminate_every):
        phase("PostgreSQL backends terminated", nothing, nothing)
    return phases


if __name__ == "__main__":
    sys.exit(main())
