"""The one retry of a vendor call: a connection that failed before the request
was sent (refused, or not made in time) is made once more, within what is
left of the call's deadline and without a pause; a request that may have
reached the vendor, and any answer (a 429 with ``Retry-After`` too), is
never repeated."""

from __future__ import annotations

import socket
import threading
import time

import pytest
from urllib3.util import connection

from django_sms_gateway.exceptions import GatewayConnectionError, GatewayTimeout

from .helpers import Probe, closed_port_url
from .hostile import Hostile

OK = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
THROTTLED = b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\nContent-Length: 2\r\n\r\n{}"


class Connects:
    """urllib3's ``create_connection``, failing the first ``failures`` calls
    with ``failure`` (after ``taking`` seconds); records each call's timeout."""

    def __init__(self, monkeypatch, failures: int = 0, failure: OSError | None = None, taking: float = 0.0):
        self.real, self.failures, self.failure, self.taking = connection.create_connection, failures, failure, taking
        self.timeouts: list[float] = []
        monkeypatch.setattr(connection, "create_connection", self)

    def __call__(self, address, timeout=None, *args, **kwargs):
        self.timeouts.append(timeout)
        if len(self.timeouts) <= self.failures:
            time.sleep(self.taking)
            raise self.failure or ConnectionRefusedError(111, "Connection refused")
        return self.real(address, timeout, *args, **kwargs)


def test_a_refused_connection_is_made_once_more_and_the_call_goes_through(monkeypatch):
    connects = Connects(monkeypatch, failures=1)
    server = Hostile(lambda: iter([OK]), pause=0)
    backend = Probe("probe", {"base_url": server.url})
    try:
        started = time.monotonic()
        response = backend.request("POST", "/x", timeout=2, json={})
    finally:
        backend.close()
        server.close()
    assert (response.status, response.body) == (200, b"{}")
    assert len(connects.timeouts) == 2 and time.monotonic() - started < 1  # no pause between the two
    assert server.request.startswith(b"POST /x ")


def test_a_connection_refused_twice_is_not_sent(monkeypatch):
    connects = Connects(monkeypatch)
    backend = Probe("probe", {"base_url": closed_port_url()})
    with pytest.raises(GatewayConnectionError) as info:
        backend.request("POST", "/x", timeout=2, json={})
    backend.close()
    assert info.value.reason == "connection refused" and info.value.not_sent
    assert len(connects.timeouts) == 2


@pytest.mark.parametrize(("timeout", "first_takes", "connections"), [(0.5, 0.3, 2), (0.3, 0.4, 1)],
                         ids=["time left for a second", "no time left"])
def test_the_second_connection_gets_only_what_is_left_of_the_deadline(monkeypatch, timeout, first_takes,
                                                                      connections):
    connects = Connects(monkeypatch, failures=2, failure=TimeoutError("timed out"), taking=first_takes)
    backend = Probe("probe", {"base_url": closed_port_url()})
    started = time.monotonic()
    with pytest.raises(GatewayTimeout) as info:
        backend.request("POST", "/x", timeout=timeout, json={})
    backend.close()
    assert info.value.reason == "timeout" and info.value.not_sent
    assert time.monotonic() - started < max(timeout, first_takes) + 0.25
    assert len(connects.timeouts) == connections
    assert connects.timeouts[0] == pytest.approx(timeout, abs=0.05)
    assert all(0 < left <= timeout - first_takes + 0.05 for left in connects.timeouts[1:])


class Counting:
    """A loopback server that counts connections and answers each with ``answer``
    (None: it reads the request and hangs up)."""

    def __init__(self, answer: bytes | None) -> None:
        self.answer, self.connections = answer, 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _addr = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            with conn:
                conn.recv(65536)
                if self.answer is not None:
                    conn.sendall(self.answer)

    def close(self) -> None:
        self.listener.close()


@pytest.mark.parametrize(("answer", "error"), [(None, GatewayConnectionError), (THROTTLED, None)],
                         ids=["hung up after the request", "429 with Retry-After"])
@pytest.mark.parametrize("method", ["POST", "GET"])
def test_a_request_that_reached_the_vendor_is_never_repeated(answer, error, method):
    server = Counting(answer)
    backend = Probe("probe", {"base_url": server.url})
    started = time.monotonic()
    try:
        if error is None:
            assert backend.request(method, "/x", timeout=2).status == 429
        else:
            with pytest.raises(error) as info:
                backend.request(method, "/x", timeout=2)
            assert not info.value.not_sent
    finally:
        backend.close()
        server.close()
    assert server.connections == 1 and time.monotonic() - started < 1
