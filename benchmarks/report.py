"""The targets of ``make bench`` and the tables that show each measurement
against them.

The latency targets are measured against a vendor that answers in 20 ms (the
sandbox's latency knob), as a real vendor never answers at once: a failover
behind an open breaker within 10% of sending to the second vendor alone. The
login step against the bare keep-alive POST (healthy / floor) is context: its
target is the peers' login step, measured by ``make bench-peers``
(:mod:`benchmarks.peers`, issue 22). The same pair against an instant
loopback answer shows our own CPU per login, which no vendor latency hides.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .measure import Samples
from .scenarios import Counts, HungResult, Parts, ThreadResult

__all__ = ["Check", "Results", "checks", "render"]

#: Targets (issue 12; the login step's own target is in benchmarks.peers).
REFUSED_OVER_ALONE = 1.10
HUNG_OVER_ALONE = 1.10
MAX_QUERIES_GENERATE = 3
#: A right code is spent in one UPDATE; a wrong one also reads the row and counts the failure.
MAX_QUERIES_VERIFY_RIGHT = 1
MAX_QUERIES_VERIFY_WRONG = 3
MIN_THREAD_SPEEDUP = 6.0


@dataclass
class Results:
    # floor, healthy, refused, hung and zignsec_alone: interleaved, the vendor answering in vendor_latency s.
    floor: Samples
    healthy: Samples
    refused: Samples
    refused_zignsec_connections: int
    hung: HungResult
    naive: Samples
    counts: Counts
    threads: ThreadResult
    # The floor/healthy pair again under other conditions, for context: (condition, floor, healthy).
    context: tuple[tuple[str, Samples, Samples], ...] = ()
    # ZignSec as the only gateway: the fallback scenarios' cost without any failing over.
    zignsec_alone: Samples | None = None
    vendor_latency: float = 0.0
    # The login step's own database writes and cache read, timed in place.
    parts: Parts | None = None


@dataclass(frozen=True)
class Check:
    label: str
    value: str
    target: str
    ok: bool | None  # None: shown for information, no target

    @property
    def verdict(self) -> str:
        return "" if self.ok is None else ("PASS" if self.ok else "FAIL")


def _ratio(a: Samples, b: Samples) -> float:
    return a.median_ms / b.median_ms


def latency_checks(r: Results) -> list[tuple[Samples, str, Check | None]]:
    """(samples, description, check of its ratio) per latency scenario."""
    alone = r.zignsec_alone if r.zignsec_alone is not None else r.healthy
    healthy_ratio = _ratio(r.healthy, r.floor)
    refused_ratio = _ratio(r.refused, alone)
    hung_ratio = _ratio(r.hung.samples, alone)
    naive_ratio = _ratio(r.naive, r.floor)
    hung_ok = r.hung.breaker_opened and hung_ratio <= HUNG_OVER_ALONE
    answers = f"vendor answers in {r.vendor_latency * 1000:.0f} ms"
    return [
        (r.floor, f"floor: bare keep-alive Session POST ({answers})", None),
        (r.healthy, "healthy: generate_challenge(), Signicat",
         Check("healthy / floor", f"{healthy_ratio:.3f}", "(context)", None)),
        (alone, "ZignSec alone (no failover)", None),
        (r.refused, "primary refused, breaker open -> ZignSec",
         Check("refused / alone", f"{refused_ratio:.3f}", f"<= {REFUSED_OVER_ALONE}",
               refused_ratio <= REFUSED_OVER_ALONE)),
        (r.hung.samples, "primary hung, breaker open -> ZignSec"
         if r.hung.breaker_opened else "primary hung, NO breaker -> ZignSec",
         Check("hung / alone", f"{hung_ratio:.3f}", f"<= {HUNG_OVER_ALONE}", hung_ok)),
        (r.naive, "naive: requests.post per SMS (same vendor)",
         Check("naive / floor", f"{naive_ratio:.2f}", "(peers)", None)),
        *_context_rows(r),
    ]


def _context_rows(r: Results) -> list[tuple[Samples, str, Check | None]]:
    rows: list[tuple[Samples, str, Check | None]] = []
    for condition, floor, healthy in r.context:
        ratio = _ratio(healthy, floor)
        rows.append((floor, f"floor, {condition}", None))
        rows.append((healthy, f"healthy, {condition}",
                     Check("healthy / floor", f"{ratio:.2f}", "(context)", None)))
    return rows


def count_checks(r: Results) -> list[Check]:
    c, t = r.counts, r.threads
    single, multi = t.single, t.multi

    def cores(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.2f}"

    return [
        Check(f"Signicat token requests / 1,000 SMS ({c.messages:,} sequential)",
              f"{c.tokens_per_1000:.1f} ({c.token_requests} in {c.seconds:.1f}s)",
              f"1 per {c.token_ttl}s lifetime", c.token_requests == c.token_lifetimes),
        Check(f"Signicat token requests, {multi.threads} threads on a fresh backend",
              str(t.token_requests_first_burst), "1", t.token_requests_first_burst == 1),
        Check(f"TCP connections Signicat ({c.messages:,} sequential SMS)",
              str(c.connections.get("signicat")), "1", c.connections.get("signicat") == 1),
        Check("TCP connections ZignSec (fallback scenarios)",
              str(r.refused_zignsec_connections), "1", r.refused_zignsec_connections == 1),
        Check(f"TCP connections Signicat ({multi.threads} threads)", str(t.signicat_connections),
              f"<= {multi.threads}", t.signicat_connections <= multi.threads),
        Check("SQL queries per generate_challenge()", str(c.queries_generate),
              f"<= {MAX_QUERIES_GENERATE}", c.queries_generate <= MAX_QUERIES_GENERATE),
        Check("SQL queries per verify_token() right / wrong",
              f"{c.queries_verify_right} / {c.queries_verify_wrong}",
              f"<= {MAX_QUERIES_VERIFY_RIGHT} / <= {MAX_QUERIES_VERIFY_WRONG}",
              c.queries_verify_right <= MAX_QUERIES_VERIFY_RIGHT
              and c.queries_verify_wrong <= MAX_QUERIES_VERIFY_WRONG),
        Check(f"throughput, 1 thread (SMS/s; vendor answers in {t.vendor_latency * 1000:.0f} ms)",
              f"{single.per_second:.0f}/s (client {single.cpu_share:.2f}, "
              f"sandbox {cores(t.sandbox_cpu_single)} cores)", "", None),
        Check(f"throughput, {multi.threads} threads (SMS/s; same vendor)",
              f"{multi.per_second:.0f}/s (client {multi.cpu_share:.2f}, "
              f"sandbox {cores(t.sandbox_cpu_multi)} cores)", "", None),
        Check(f"{multi.threads} threads / 1 thread", f"{t.ratio:.2f}", f">= {MIN_THREAD_SPEEDUP}",
              t.ratio >= MIN_THREAD_SPEEDUP),
    ]


def parts_rows(r: Results) -> list[tuple[str, str]]:
    """What the login step adds to the vendor call, and how much of it is
    the database and the cache (medians; the parts timed in place)."""
    if r.parts is None:
        return []
    p = r.parts
    added = r.healthy.median_ms - r.floor.median_ms
    answers = f"vendor answers in {r.vendor_latency * 1000:.0f} ms"
    return [
        (f"added: healthy - floor, {answers}", f"{added:.3f}"),
        ("of which the claim: one conditional UPDATE, autocommit", f"{p.claim.median_ms:.3f}"),
        ("of which the delivery record: one INSERT, autocommit", f"{p.record.median_ms:.3f}"),
        ("of which the breaker state: one cache read", f"{p.breaker.median_ms:.3f}"),
        ("the three together", f"{p.total_ms:.3f}"),
    ]


def checks(r: Results) -> list[Check]:
    """Every check that has a target."""
    found = [check for _, _, check in latency_checks(r) if check is not None] + count_checks(r)
    return [check for check in found if check.ok is not None]


def _table(header: tuple[str, ...], rows: Iterable[tuple[str, ...]], right: set[int]) -> str:
    rows = [header, *rows]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]

    def line(row: tuple[str, ...]) -> str:
        cells = [cell.rjust(widths[i]) if i in right else cell.ljust(widths[i]) for i, cell in enumerate(row)]
        return "| " + " | ".join(cells) + " |"

    separator = "|" + "|".join(("-" * (w + 1) + ":") if i in right else ("-" * (w + 2))
                               for i, w in enumerate(widths)) + "|"
    return "\n".join([line(rows[0]), separator, *(line(row) for row in rows[1:])])


def render(r: Results) -> str:
    """Markdown tables (latency, counts, where the added time goes) and the breaker note."""
    latency_rows = []
    for samples, description, check in latency_checks(r):
        latency_rows.append((
            description, str(len(samples)), f"{samples.median_ms:.3f}", f"{samples.p95_ms:.3f}",
            f"{check.label} = {check.value}" if check else "", check.target if check else "",
            check.verdict if check else "",
        ))
    latency = _table(("scenario", "n", "median ms", "p95 ms", "ratio", "target", "result"),
                     latency_rows, {1, 2, 3})
    counts = _table(("count", "value", "target", "result"),
                    [(c.label, c.value, c.target, c.verdict) for c in count_checks(r)], set())
    tables = [latency, counts]
    if r.parts is not None:
        tables.append(_table(("where the added time goes", "median ms"), parts_rows(r), {1}))
    hung = r.hung
    note = (
        f"Breaker: {hung.opening_calls} calls ({hung.opening_seconds:.2f}s) waited for the hung "
        f"vendor before calls stopped waiting."
        if hung.breaker_opened
        else f"Breaker: after {hung.opening_calls} calls ({hung.opening_seconds:.2f}s) every call still "
             "waited for the hung vendor's timeout; no breaker is active."
    )
    return "\n\n".join([*tables, note])
