"""What the sandbox knows: its vendors, faults, received messages and counts.

:data:`VENDORS` is the registry of imitated vendors. :class:`SandboxState`
holds everything the HTTP handler reads and changes; it is thread-safe, and
:class:`~.http.Sandbox` adds the server.
"""

from __future__ import annotations

import importlib
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, cast

from . import zignsec
from .base import Headers, Vendor, is_loopback_host, iso_utc, utc_now

__all__ = [
    "COMMON_FAULTS", "CREDENTIALS", "FAULTS", "LOOKUP_SERVICES", "VENDORS", "VENDOR_CLASSES", "RecordedRequest",
    "SandboxState",
]

#: The imitated vendors, in the order the pages list them. Each name is a
#: module of this package that defines ``CREDENTIALS`` (what the imitation
#: accepts from clients) and ``VENDOR`` (its :class:`~.base.Vendor` subclass,
#: whose ``name`` is the module's name): a new vendor is its module and its
#: name here.
VENDORS: tuple[str, ...] = ("signicat", "zignsec", "accuauth", "ip1", "twilio", "vonage", "infobip", "sinch", "aws",
                            "camara", "twilio_lookup")
#: The imitated services among :data:`VENDORS` that look numbers up (SIM swap, line type) and send no SMS.
LOOKUP_SERVICES: tuple[str, ...] = ("camara", "twilio_lookup")

_MODULES = {name: importlib.import_module(f"{__package__}.{name}") for name in VENDORS}

#: Vendor name -> the class that imitates it.
VENDOR_CLASSES: Mapping[str, type[Vendor]] = MappingProxyType(
    {name: module.VENDOR for name, module in _MODULES.items()}
)

#: Faults every fault key accepts:
#:
#: ``500``, ``401``, ``429``: the vendor's own error answer with that status;
#: ``refuse``: read the request, then reset the connection (SO_LINGER 0) without
#: answering -- a true "connection refused" is tested by pointing a client at a
#: closed port; ``hang``: read the request and never answer until the fault is
#: changed or cleared, the sandbox stops or ``hang_seconds`` pass, then close
#: the connection; ``malformed``: 200 whose body is not valid JSON although it
#: says ``application/json``; ``oversized``: 200 with a 5 MiB JSON body.
COMMON_FAULTS = ("500", "401", "429", "refuse", "hang", "malformed", "oversized")

#: Fault key -> accepted fault names. Keys are the vendor names, plus
#: ``signicat-token`` for Signicat's token endpoint (``signicat`` covers
#: ``/sms/messages`` only).
FAULTS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    key: COMMON_FAULTS + variants
    for cls in VENDOR_CLASSES.values()
    for key, variants in cls.fault_variants.items()
})

#: What the sandbox accepts from clients, per vendor.
CREDENTIALS: Mapping[str, Mapping[str, str]] = MappingProxyType({
    name: module.CREDENTIALS for name, module in _MODULES.items()
})


@dataclass(frozen=True)
class RecordedRequest:
    """A request as a vendor endpoint received it, for assertions in tests.

    ``parsed`` is the body decoded by its Content-Type (JSON, or a dict for a
    form), ``None`` when it does not decode.
    """

    method: str
    path: str
    headers: Headers
    body: bytes
    parsed: Any


@dataclass
class _Fault:
    name: str
    remaining: int | None


def checked_latency(seconds: float) -> float:
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not 0 <= seconds <= 10:
        raise ValueError(f"latency must be a number of seconds from 0 to 10, not {seconds!r}")
    return float(seconds)


class SandboxState:
    """Faults, messages, counts and the vendors' own state, for one sandbox.

    ``vendor_options`` gives a vendor class its keyword arguments by name
    (``{"signicat": {"token_ttl": 60}}``).
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        vendor_options: Mapping[str, Mapping[str, Any]] = MappingProxyType({}),
        hang_seconds: float = 30.0,
        latency: float = 0.0,
    ) -> None:
        if not is_loopback_host(host):
            raise ValueError(f"the sandbox only listens on loopback addresses, not {host!r}")
        self.host = host
        self.port = port
        self.hang_seconds = hang_seconds
        self.latency = self._start_latency = checked_latency(latency)
        self._cond = threading.Condition()
        self._messages: list[dict[str, str]] = []
        self._faults: dict[str, _Fault] = {}
        self._last: dict[str, RecordedRequest] = {}
        self._requests = dict.fromkeys((*VENDORS, *FAULTS), 0)
        self._connections = dict.fromkeys(VENDORS, 0)
        # A hung handler waits until the generation of its fault key changes.
        self._generations = dict.fromkeys(FAULTS, 0)
        self._stopping = False
        self.vendors: dict[str, Vendor] = {
            name: cls(self.record, **vendor_options.get(name, {})) for name, cls in VENDOR_CLASSES.items()
        }

    # -- addresses -----------------------------------------------------------

    @property
    def url(self) -> str:
        """Root URL, e.g. ``http://127.0.0.1:54321`` (the real port once started)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def base_url(self, vendor: str) -> str:
        """A backend's ``base_url`` for ``vendor``: ``{url}/{vendor}``."""
        if vendor not in VENDORS:
            raise ValueError(f"unknown vendor {vendor!r}; choose from {', '.join(VENDORS)}")
        return f"{self.url}/{vendor}"

    # -- faults ----------------------------------------------------------------

    def set_fault(self, vendor: str, fault: str | None, count: int | None = None) -> None:
        """Make requests for the fault key ``vendor`` fail with ``fault``.

        ``count=N`` affects only the next N requests; ``None`` lasts until
        cleared. ``fault=None`` (or ``""``) clears the key. Raises
        ``ValueError`` for an unknown key, fault or a count below 1.
        """
        if vendor not in FAULTS:
            raise ValueError(f"unknown fault key {vendor!r}; choose from {', '.join(FAULTS)}")
        if fault and fault not in FAULTS[vendor]:
            raise ValueError(f"unknown fault {fault!r} for {vendor}; choose from {', '.join(FAULTS[vendor])}")
        if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 1):
            raise ValueError(f"count must be a positive integer or None, not {count!r}")
        with self._cond:
            if fault:
                self._faults[vendor] = _Fault(fault, count)
            else:
                self._faults.pop(vendor, None)
            self._generations[vendor] += 1
            self._cond.notify_all()

    def set_latency(self, seconds: float) -> None:
        """Delay every vendor answer by ``seconds`` (0 to 10), as a vendor
        across the internet would; 0 answers at once. Raises ``ValueError``
        out of that range. Control endpoints are never delayed."""
        self.latency = checked_latency(seconds)

    def clear_faults(self) -> None:
        """Clear every fault (and release hung requests)."""
        with self._cond:
            self._faults.clear()
            self._bump_all()

    @property
    def faults(self) -> dict[str, dict[str, Any]]:
        """Active faults: ``{key: {"fault": name, "remaining": N or None}}``."""
        with self._cond:
            return {k: {"fault": f.name, "remaining": f.remaining} for k, f in self._faults.items()}

    def reset(self) -> None:
        """Forget messages, counters, faults, last requests and vendor state
        (Signicat tokens, ZignSec sessions, iP1 authentications); the latency
        returns to the one the sandbox was started with."""
        with self._cond:
            self.latency = self._start_latency
            self._messages.clear()
            self._faults.clear()
            self._last.clear()
            self._requests = dict.fromkeys(self._requests, 0)
            self._connections = dict.fromkeys(self._connections, 0)
            self._bump_all()
        for vendor in self.vendors.values():
            vendor.reset()

    # -- observations -------------------------------------------------------

    @property
    def messages(self) -> list[dict[str, str]]:
        """Messages received, oldest first: ``{vendor, recipient (E.164), text, at}``."""
        with self._cond:
            return [dict(m) for m in self._messages]

    @property
    def stats(self) -> dict[str, Any]:
        """``{vendor: {"requests", "connections"}}`` for every vendor, plus
        ``signicat_token_requests`` and ``zignsec_webhooks`` (sent, failed,
        skipped). ``requests`` counts every request under the vendor's prefix
        (Signicat's token requests included); a TCP connection counts for the
        vendor of its first request."""
        with self._cond:
            stats: dict[str, Any] = {
                v: {"requests": self._requests[v], "connections": self._connections[v]} for v in VENDORS
            }
            stats["signicat_token_requests"] = self._requests["signicat-token"]
        stats["zignsec_webhooks"] = cast(zignsec.ZignSec, self.vendors["zignsec"]).webhook_counts()
        return stats

    def last_request(self, vendor: str) -> RecordedRequest | None:
        """The latest request for a fault key (``signicat`` is ``/sms/messages``,
        ``signicat-token`` the token endpoint), or None."""
        if vendor not in FAULTS:
            raise ValueError(f"unknown key {vendor!r}; choose from {', '.join(FAULTS)}")
        with self._cond:
            return self._last.get(vendor)

    def state(self) -> dict[str, Any]:
        """What ``GET /_sandbox/state`` answers."""
        return {
            "url": self.url,
            "vendors": {v: self.base_url(v) for v in VENDORS},
            "faults": self.faults,
            "latency": self.latency,
            "stats": self.stats,
        }

    # -- used by the request handler ------------------------------------------

    def _bump_all(self) -> None:
        for key in self._generations:
            self._generations[key] += 1
        self._cond.notify_all()

    def record(self, vendor: str, recipient: str, text: str) -> None:
        """A vendor "sent" ``text`` to ``recipient``."""
        message = {"vendor": vendor, "recipient": recipient, "text": text, "at": iso_utc(utc_now())}
        with self._cond:
            self._messages.append(message)

    def note_request(self, vendor: str, key: str, recorded: RecordedRequest, new_connection: bool) -> None:
        with self._cond:
            self._requests[vendor] += 1
            if key != vendor:
                self._requests[key] += 1
            if new_connection:
                self._connections[vendor] += 1
            self._last[key] = recorded

    def take_fault(self, key: str) -> str | None:
        """The fault for this request, consuming one use of a counted fault."""
        with self._cond:
            fault = self._faults.get(key)
            if fault is None:
                return None
            if fault.remaining is not None:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    del self._faults[key]
            return fault.name

    def hang(self, key: str) -> None:
        """Block until the fault of ``key`` changes, the sandbox stops or
        ``hang_seconds`` pass."""
        deadline = time.monotonic() + self.hang_seconds
        with self._cond:
            generation = self._generations[key]
            while not self._stopping and self._generations[key] == generation:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                self._cond.wait(remaining)

    def stopping(self) -> None:
        """Release hung handlers and the vendors' background work."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        for vendor in self.vendors.values():
            vendor.stop()
