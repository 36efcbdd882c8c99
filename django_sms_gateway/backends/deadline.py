"""A deadline for a whole vendor call, whatever the vendor sends.

Socket timeouts bound each read, not the call: a vendor trickling its status
line or headers a byte at a time, or sending ``100 Continue`` without end,
keeps every read short and the call going for ever. Here one watchdog
thread per process holds the deadline of every call under way; at a call's
deadline it shuts down the sockets that call is using, so the read blocked
on them returns at once and the call fails. :func:`expired` then tells that
failure apart from a broken connection, and the caller reports a timeout.

The sockets are found through the connection classes of
:class:`DeadlineAdapter`, which register the socket of each connection with
the call that uses it (see :func:`deadline`).
"""

from __future__ import annotations

import contextvars
import heapq
import itertools
import os
import socket
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool


def monotonic() -> float:
    """The system's monotonic clock, read so that test clocks (freezegun
    patches ``time.monotonic``) cannot move a deadline into the far future."""
    return time.clock_gettime(time.CLOCK_MONOTONIC)


#: Longest the watchdog sleeps before looking at its deadlines again.
MAX_WAIT = 0.1


class Call:
    """One vendor call with a deadline (seconds of :func:`monotonic`)."""

    __slots__ = ("deadline", "expired", "_done", "_sockets", "_lock")

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.expired = False
        self._done = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()

    def attach(self, sock: socket.socket | None) -> None:
        """Watch ``sock`` until the call ends; shut it down now if the deadline passed.

        The call becomes the socket's owner: a kept-alive connection that an
        earlier call returned to the pool is never shut down for that call.
        """
        if sock is None:
            return
        _owners[sock] = self
        with self._lock:
            if self._done:
                return
            if not self.expired:
                self._sockets.append(sock)
                return
        _shut_down(sock)

    def expire(self) -> None:
        """The deadline passed: shut down every socket of a call still under way."""
        with self._lock:
            if self._done:
                return
            self.expired = True
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            if _owners.get(sock) is self:
                _shut_down(sock)

    def finish(self) -> None:
        """The call ended: its sockets (maybe back in the pool) are no longer watched."""
        with self._lock:
            self._done = True
            self._sockets = []


#: The call each watched socket serves now.
_owners: weakref.WeakKeyDictionary[socket.socket, Call] = weakref.WeakKeyDictionary()


def _shut_down(sock: socket.socket) -> None:
    # socket.socket.shutdown on the file descriptor, bypassing SSLSocket.shutdown,
    # which would also unwrap TLS under a read still running in the caller's thread.
    try:
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:
        pass  # already closed or never connected


class Watchdog:
    """One thread expiring the calls whose deadline passed, earliest first."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._heap: list[tuple[float, int, Call]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    def watch(self, call: Call) -> None:
        with self._condition:
            heapq.heappush(self._heap, (call.deadline, next(self._order), call))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="sms-gateway-deadlines", daemon=True)
                self._thread.start()
            elif self._heap[0][2] is call:
                self._condition.notify()

    def _run(self) -> None:
        while True:
            with self._condition:
                while not self._heap:
                    self._condition.wait()
                deadline, _order, call = self._heap[0]
                wait = deadline - monotonic()
                if wait > 0:
                    self._condition.wait(min(wait, MAX_WAIT))
                    continue
                heapq.heappop(self._heap)
            call.expire()  # a no-op for a call that already finished

    def after_fork(self) -> None:
        """A forked child has no watchdog thread: start afresh."""
        self._condition = threading.Condition()
        self._heap = []
        self._thread = None


watchdog = Watchdog()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=watchdog.after_fork)

_current: contextvars.ContextVar[Call | None] = contextvars.ContextVar("sms_gateway_call", default=None)


@contextmanager
def deadline(seconds: float) -> Iterator[Call]:
    """Run the block as one call that ends within ``seconds``: requests made
    through a :class:`DeadlineAdapter` in it are cut off at the deadline."""
    call = Call(monotonic() + seconds)
    watchdog.watch(call)
    token = _current.set(call)
    try:
        yield call
    finally:
        _current.reset(token)
        call.finish()


def _attach_current(sock: socket.socket | None) -> None:
    call = _current.get()
    if call is not None:
        call.attach(sock)


class _WatchedConnection:
    """Registers the connection's socket with the call under way."""

    sock: socket.socket | None

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        _attach_current(self.sock)

    def request(self, *args: Any, **kwargs: Any) -> None:
        _attach_current(self.sock)  # a kept-alive connection, connected by an earlier call
        super().request(*args, **kwargs)  # type: ignore[misc]


class WatchedHTTPConnection(_WatchedConnection, HTTPConnection):
    pass


class WatchedHTTPSConnection(_WatchedConnection, HTTPSConnection):
    pass


class WatchedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = WatchedHTTPConnection


class WatchedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = WatchedHTTPSConnection


class DeadlineAdapter(HTTPAdapter):
    """An ``HTTPAdapter`` whose connections obey :func:`deadline`."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": WatchedHTTPConnectionPool,
            "https": WatchedHTTPSConnectionPool,
        }
